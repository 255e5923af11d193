"""``python -m hw.build``: the build's command line (:func:`hw.build.cli.main`)."""

import sys

from hw.build.cli import main

sys.exit(main())

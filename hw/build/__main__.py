"""``python -m hw.build``: the build's command line (:func:`hw.build.main`)."""

import sys

from hw.build import main

sys.exit(main())

"""``python -m hw.fit``: the fit check's command line (:func:`hw.fit.cli.main`)."""

import sys

from hw.fit.cli import main

sys.exit(main())

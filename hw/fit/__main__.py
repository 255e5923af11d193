"""``python -m hw.fit``: the fit check's command line (:func:`hw.fit.main`)."""

import sys

from hw.fit import main

sys.exit(main())

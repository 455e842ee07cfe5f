"""``python -m perf.cli`` = ``perf``."""

import sys

from perf.cli import main

sys.exit(main())

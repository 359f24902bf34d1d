"""``python -m mission_control.cli`` — same as the ``mission-control`` console script."""

import sys

from mission_control.cli import main

sys.exit(main())

"""``python -m DiffusionSynthLib.cli``."""

import sys

from .main import main

sys.exit(main())

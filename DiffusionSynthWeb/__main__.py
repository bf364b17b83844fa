"""``python -m DiffusionSynthWeb``: the browser front end (``DiffusionSynthWeb.cli``)."""

import sys

from .cli import main

sys.exit(main())

"""`python -m bot ...` is `dis-bot ...`."""

import sys

from bot.cli import main

sys.exit(main())

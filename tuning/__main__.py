"""``python -m tuning``: the ``tuning`` command (`tuning.cli`)."""

import sys

from tuning.cli import main

sys.exit(main())

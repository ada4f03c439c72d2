"""``python -m tuning.inspect RUN_DIR``: the report of a run, read back from its directory
(`tuning.reports.inspection`).

Kept at this path because every run prints the command.
"""

import sys

from tuning.reports.inspection import main

if __name__ == "__main__":
    sys.exit(main())

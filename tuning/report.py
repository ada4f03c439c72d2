"""``python -m tuning.report RUN_DIR``: write the run's HTML report (`tuning.reports.html`).

Kept at this path because every run prints the command; the text report is
`tuning.reports.text`.
"""

import sys

from tuning.reports.html import main

if __name__ == "__main__":
    sys.exit(main())

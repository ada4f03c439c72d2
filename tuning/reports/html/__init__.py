"""The HTML report of a run: plain data from ``summary.json``, matplotlib figures, one page.

``data`` says what the plots show, ``figures`` draws them, ``page`` writes the HTML and
holds the ``python -m tuning.report RUN_DIR`` command.
"""

from tuning.reports.html.data import report_data
from tuning.reports.html.page import REPORT_FILE, main, render_html, write_report

__all__ = ["REPORT_FILE", "main", "render_html", "report_data", "write_report"]

"""HTML reports with plots and CSV/JSON tables."""

from taskmix.report.html import write_report

__all__ = ["write_report"]

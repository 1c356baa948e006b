"""`saeeval report`: a results folder in, a Markdown report with tables and figures out."""

from saeeval.reports.build import build_report

__all__ = ["build_report"]

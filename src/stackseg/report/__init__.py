"""Markdown reports comparing the workspace's results with a base revision (for CML comments)."""

from __future__ import annotations

from stackseg.report.build import ReportOptions, write_report
from stackseg.report.markdown import COMMENT_LIMIT

__all__ = ["COMMENT_LIMIT", "ReportOptions", "write_report"]

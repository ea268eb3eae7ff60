"""The console's HTML pages under `/console/` (Jinja2, HTMX, ECharts, SSE, export, login): built on the Python API
of `hq_console.insights`; `router` is mounted by `hq_console.app.create_app`."""

from __future__ import annotations

from hq_console.web.pages import router

__all__ = ["router"]

"""The web dashboard (extra ``ferroflow[dashboard]``): live watch events, runs, schedules.

See docs/dashboard.md.
"""

from __future__ import annotations

from .app import (
    DashboardServer,
    create_dashboard_app,
    create_dashboard_routes,
    run_with_dashboard,
    serve_dashboard,
    stop_dashboard,
)

__all__ = [
    "DashboardServer",
    "create_dashboard_app",
    "create_dashboard_routes",
    "run_with_dashboard",
    "serve_dashboard",
    "stop_dashboard",
]

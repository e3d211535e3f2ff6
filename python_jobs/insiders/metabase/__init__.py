"""Metabase as code: dashboards described in ``metabase/*.yml``."""

from insiders.metabase.spec import CardSpec, DashboardSpec, load_dashboards

__all__ = ["CardSpec", "DashboardSpec", "load_dashboards"]

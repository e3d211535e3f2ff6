"""Metabase as code: dashboards described in ``metabase/*.yml`` pushed idempotently, dbt docs as metadata.

``push(settings, folder, manifest=..., dry_run=...)`` is what ``insiders metabase push`` calls.
"""

from insiders.metabase.client import MetabaseClient
from insiders.metabase.descriptions import load_model_docs, push_descriptions
from insiders.metabase.push import push, push_dashboards
from insiders.metabase.report import PushReport
from insiders.metabase.settings import MetabaseSettings
from insiders.metabase.spec import CardSpec, DashboardSpec, load_dashboards

__all__ = [
    "CardSpec",
    "DashboardSpec",
    "MetabaseClient",
    "MetabaseSettings",
    "PushReport",
    "load_dashboards",
    "load_model_docs",
    "push",
    "push_dashboards",
    "push_descriptions",
]

"""Metabase settings, read from environment variables with the prefix ``INSIDERS_METABASE_``.

Authentication is an API key (``INSIDERS_METABASE_API_KEY``, sent as the ``x-api-key`` header) or, when
no key is set, a username and password exchanged for a session token. Both secrets are ``SecretStr``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from insiders.settings import PROJECT_ROOT


class MetabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INSIDERS_METABASE_", extra="ignore")

    url: str | None = None  # e.g. https://metabase.example.com (the root, without /api)
    api_key: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    # The name of the Metabase "database" object (Admin > Databases) that points at the warehouse.
    database: str = "Insiders"
    timeout_seconds: float = 30.0
    # After asking Metabase to sync the schema (dbt documents a mart Metabase does not know yet), how
    # long the push waits for the tables to appear before it reports them as not synced yet.
    sync_timeout_seconds: float = 30.0
    # Dashboards as code: one YAML file per dashboard.
    folder: Path = PROJECT_ROOT / "metabase"

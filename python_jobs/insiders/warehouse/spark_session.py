"""The job's SparkSession: the same warehouse directory and Derby metastore as the dbt profile's
`spark` target (profiles.yml.example), so dbt and the job see the same tables.

Derby admits one JVM per metastore, and dbt-spark's session method runs Spark inside the dbt process
with ``SparkSession.builder.getOrCreate()``: when the job and dbt run in one Python process (a cycle:
dbt is invoked in-process by insiders.dbt.run_dbt) they share ONE JVM and one SparkContext. The job
builds that base session first with the profile's settings; dbt's getOrCreate then returns it. dbt
forces ``spark.sql.ansi.enabled=false`` on it at every statement, so the job never runs its own SQL on
the base session: it uses ``base.newSession()``, which shares the SparkContext, the catalog and the
warehouse but has its own SQL configuration (ANSI on, Arrow on).
"""

from __future__ import annotations

import logging
from pathlib import Path

from insiders.settings import Settings

log = logging.getLogger(__name__)


LOG4J2 = Path(__file__).with_name("log4j2.properties")  # Spark's warnings without three per-statement ones


def base_conf(settings: Settings) -> dict[str, str]:
    """The settings of the profile's `spark` target (server_side_parameters), with INSIDERS_HOME's paths."""
    home = Path(settings.home)
    return {
        "spark.master": settings.spark_master,
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.sql.warehouse.dir": f"{home}/spark/warehouse",
        "spark.hadoop.javax.jdo.option.ConnectionURL": (
            f"jdbc:derby:;databaseName={home}/spark/metastore_db;create=true"
        ),
        "spark.driver.extraJavaOptions": (
            f"-Dderby.system.home={home}/spark -Dlog4j2.configurationFile={LOG4J2}"
        ),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": "4",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",  # no progress bars in the cycle's log
    }


JOB_CONF = {
    "spark.sql.ansi.enabled": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",  # an Arrow problem is an error
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
}


def base_session(settings: Settings):
    """The process's one SparkSession (created with the profile's settings when there is none yet)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:  # pragma: no cover - depends on the install
        from insiders.errors import UserError

        raise UserError(
            "INSIDERS_TARGET=spark needs the spark extra: pip install -c constraints.txt '.[spark]'"
        ) from None
    home = Path(settings.home)
    (home / "spark").mkdir(parents=True, exist_ok=True)
    builder = SparkSession.builder.enableHiveSupport().appName("insiders")
    for key, value in base_conf(settings).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def job_session(settings: Settings):
    """A session of the job's own: shares the base session's JVM, catalog and warehouse; ANSI and
    Arrow on whatever dbt sets on the base session."""
    # pyspark logs every failed statement with its JVM stack trace (pages of JSON) before raising it;
    # the raised error is what the job reports, in one line
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
    logging.getLogger("py4j").setLevel(logging.WARNING)  # "Closing down clientserver connection" ...
    session = base_session(settings).newSession()
    for key, value in JOB_CONF.items():
        session.conf.set(key, value)
    return session


def forget_cached_tables(session) -> None:
    """Drop ``session``'s cached table metadata and file listings. dbt-spark's session and the job's
    share one JVM and catalog but not these caches: a table rewritten by one is read by the other from
    its old files ([FAILED_READ_FILE.FILE_NOT_EXIST]) until the other forgets them. Called when the
    turn passes between the two (before each dbt call, before each job read)."""
    session.catalog.clearCache()
    session._jsparkSession.sessionState().catalog().invalidateAllCachedTables()


def forget_cached_tables_of_active_session() -> None:
    """forget_cached_tables on the process's base session, if there is one (dbt is about to read)."""
    from pyspark.sql import SparkSession

    base = SparkSession._instantiatedSession  # what dbt-spark's getOrCreate() returns; None before it
    if base is not None:
        forget_cached_tables(base)

"""``SparkWarehouse``: the job's side of the warehouse on Spark (docs/spark.md sections 7 and 8).

One job session (spark_session.job_session: ANSI and Arrow on) sharing the JVM, catalog and warehouse
with dbt-spark's session in the same process. Frames come to the driver through Arrow, and only
frames of one row per customer (marts), never the transactions.

- ml writes: a unit (a segmentation run) is one partition ``run_id`` per table, written first, then its
  row in the run table last: the commit marker. Readers (``read_run_table``, dbt's staging through the
  run table) only see runs that have a run row; partitions without one are dropped before a write.
- lock: a one-row ``ops.cycle_lock`` table with owner and heartbeat; cooperative (a stale lock is taken
  over after ``stale_after_s``). Locally Derby's one-JVM-per-metastore rule is a second guard.
- job runs: ``ops.job_runs`` is append-only; a status change is a new row, the latest row wins.
- publish: the marts are built into a build database; ``marts.<name>`` become views over its tables,
  one ``create or replace view`` each (not one transaction: section 8).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Mapping
from contextlib import contextmanager
from datetime import UTC, datetime

import pandas as pd

from insiders.errors import LockBusyError
from insiders.load import LoadResult
from insiders.warehouse import spark_load
from insiders.warehouse.spark_schema import TABLES, column_types, columns, ensure_tables
from insiders.warehouse.spark_session import forget_cached_tables

log = logging.getLogger(__name__)

OWNER = f"{socket.gethostname()}:{os.getpid()}"


def _literal(value: str) -> str:
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _arrow_type(kind: str):
    import pyarrow as pa

    simple = {
        "string": pa.string(), "int": pa.int32(), "bigint": pa.int64(), "double": pa.float64(),
        "boolean": pa.bool_(), "timestamp": pa.timestamp("us", tz="UTC"), "date": pa.date32(),
        "array<string>": pa.list_(pa.string()),
    }  # fmt: skip
    return simple[kind]


def _cell(value, kind: str):
    """A frame value as Arrow takes it for a column of Spark type ``kind`` (numpy → Python, NaN →
    null, dicts/lists → JSON text for string columns)."""
    from insiders.segment.store import plain

    if hasattr(value, "tolist") and not isinstance(value, pd.Timestamp):  # numpy arrays and scalars
        value = value.tolist()
    value = plain(value)
    if value is None or (not isinstance(value, dict | list) and pd.isna(value)):  # NaN, NaT
        return None
    if kind == "string" and isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if kind in ("int", "bigint") and isinstance(value, float):
        return int(value)
    if kind == "timestamp" and isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def arrow_table(frame: pd.DataFrame, table: str):
    """``frame``'s columns of ``table`` (its partition column aside) as an Arrow table of its types."""
    import pyarrow as pa

    partition = TABLES[table][1]
    kinds = {c: k for c, k in column_types(table).items() if c != partition}
    arrays = [
        pa.array([_cell(v, kind) for v in frame[c].tolist()] if c in frame else [None] * len(frame),
                 type=_arrow_type(kind))
        for c, kind in kinds.items()
    ]  # fmt: skip
    return pa.Table.from_arrays(arrays, names=list(kinds))


class SparkWarehouse:
    """The warehouse on Spark (see the module doc)."""

    engine = "spark"

    def __init__(self, spark) -> None:
        self.spark = spark

    @classmethod
    def open(cls, settings) -> SparkWarehouse:
        from insiders.warehouse.spark_session import job_session

        return cls(job_session(settings))

    def close(self) -> None:  # the JVM is the process's (dbt shares it): stopped when the process ends
        pass

    # ------------------------------------------------------------------------------------ raw
    def load_file(self, path, **kwargs) -> LoadResult:
        return spark_load.load_file(self.spark, path, **kwargs)

    # ---------------------------------------------------------------------------------- reads
    def read_frame(self, query: str, args: Mapping[str, object] | None = None) -> pd.DataFrame:
        """The rows of a query (or ``select * from`` a relation given by name) as pandas, via Arrow."""
        sql = query if " " in query.strip() else f"select * from {query}"
        forget_cached_tables(self.spark)  # dbt may have rewritten it since (spark_session)
        return self.spark.sql(sql, args=dict(args or {})).toPandas()

    def relation_columns(self, schema: str, table: str) -> list[str]:
        if not self.spark.catalog.tableExists(f"{schema}.{table}"):
            return []
        return [c.name for c in self.spark.catalog.listColumns(f"{schema}.{table}")]

    def read_run_table(self, table: str, run_table: str = "ml.segmentation_runs", **where) -> pd.DataFrame:
        """The rows of ``table`` of the runs that have a run row (unfinished runs are invisible)."""
        conditions = "".join(f" and t.{k} = :{k}" for k in where)
        return self.read_frame(
            f"select t.* from {table} t left semi join {run_table} r on t.run_id = r.run_id where true"
            + conditions,
            where,
        )

    # --------------------------------------------------------------------------------- ml writes
    def drop_unfinished_runs(self, tables, run_table: str = "ml.segmentation_runs") -> list[str]:
        """Drop the partitions of runs that never wrote their run row; their ids. A table's partition
        column (run_id, backtest_id) is the run table's id column."""
        dropped: set[str] = set()
        for table in tables:
            key = TABLES[table][1]
            known = {str(r[0]) for r in self.spark.sql(f"select {key} from {run_table}").collect()}
            for row in self.spark.sql(f"show partitions {table}").collect():
                unit = row[0].split("=", 1)[1]
                if unit not in known:
                    self.spark.sql(f"alter table {table} drop if exists partition ({key} = {_literal(unit)})")
                    dropped.add(unit)
        if dropped:
            log.warning("dropped the rows of unfinished runs %s", ", ".join(sorted(dropped)))
        return sorted(dropped)

    def insert_frame(self, table: str, frame: pd.DataFrame, run_id: str | None = None) -> int:
        """Append ``frame`` to ``table`` (into partition ``run_id`` when the table is partitioned)."""
        view = "insiders_write_" + table.replace(".", "_")
        self.spark.createDataFrame(arrow_table(frame, table)).createOrReplaceTempView(view)
        key = TABLES[table][1]
        names = [c for c in columns(table) if c != key]
        casts = ", ".join(f"cast({c} as {column_types(table)[c]}) as {c}" for c in names)
        partition = f" partition ({key} = {_literal(run_id)})" if key is not None else ""
        self.spark.sql(f"insert into {table}{partition} select {casts} from {view}")
        self.spark.catalog.dropTempView(view)
        return len(frame)

    def write_ml_run(
        self,
        run_row: Mapping[str, object],
        tables: Mapping[str, pd.DataFrame],
        run_table: str = "ml.segmentation_runs",
    ) -> None:
        """The rows of one run: every table's partition (``run_id``, ``backtest_id``) first, the run row
        last."""
        ensure_tables(self.spark, "ml")
        key = next((TABLES[t][1] for t in tables), "run_id")
        run_id = str(run_row[key])
        self.drop_unfinished_runs(list(tables), run_table)
        for table, frame in tables.items():
            if len(frame):
                self.insert_frame(table, frame, run_id)
        self.insert_frame(run_table, pd.DataFrame([dict(run_row)]))  # the commit marker

    # -------------------------------------------------------------------------------------- lock
    @contextmanager
    def cycle_lock(
        self, *, wait: bool = False, stale_after_s: float = 6 * 3600, wait_timeout_s: float = 3600.0
    ):
        """Hold ``ops.cycle_lock`` for the block (module doc: cooperative, taken over when stale)."""
        ensure_tables(self.spark, "ops")
        deadline = time.monotonic() + wait_timeout_s
        while True:
            holder = self._lock_holder()
            now = datetime.now(UTC)
            stale = holder is not None and (now - holder["heartbeat_at"]).total_seconds() > stale_after_s
            if holder is None or stale or holder["owner"] == OWNER:
                if stale:
                    log.warning("taking over the stale cycle lock of %s", holder["owner"])
                self._write_lock(OWNER, now)
                if self._lock_holder()["owner"] == OWNER:
                    break
            if not wait or time.monotonic() > deadline:
                raise LockBusyError(
                    f"another insiders cycle is running (lock held by {holder['owner']} since "
                    f"{holder['acquired_at']:%Y-%m-%d %H:%M:%S}); use --wait to wait for it"
                )
            time.sleep(5.0)
        try:
            yield
        finally:
            self.spark.sql("truncate table ops.cycle_lock")

    def heartbeat(self) -> None:
        holder = self._lock_holder()
        if holder is not None and holder["owner"] == OWNER:
            self._write_lock(OWNER, holder["acquired_at"], heartbeat=datetime.now(UTC))

    def _lock_holder(self) -> dict | None:
        rows = self.spark.sql("select owner, acquired_at, heartbeat_at from ops.cycle_lock").collect()
        if not rows:
            return None
        row = rows[0].asDict()
        for key in ("acquired_at", "heartbeat_at"):
            row[key] = row[key].replace(tzinfo=UTC) if row[key].tzinfo is None else row[key]
        return row

    def _write_lock(self, owner: str, acquired_at: datetime, heartbeat: datetime | None = None) -> None:
        frame = pd.DataFrame(
            [{"owner": owner, "acquired_at": acquired_at, "heartbeat_at": heartbeat or acquired_at}]
        )
        self.spark.createDataFrame(arrow_table(frame, "ops.cycle_lock")).createOrReplaceTempView(
            "insiders_lock"
        )
        self.spark.sql("insert overwrite table ops.cycle_lock select * from insiders_lock")
        self.spark.catalog.dropTempView("insiders_lock")

    # -------------------------------------------------------------------------------- job runs
    def start_job_run(self, command: str, sources: list[str]) -> int:
        """Append a 'running' row; runs left running by a dead process get an 'abandoned' row."""
        ensure_tables(self.spark, "ops")
        latest = self._latest_job_runs()
        now = datetime.now(UTC)
        for row in latest[latest["status"] == "running"].to_dict("records"):
            self._append_job_run({**row, "status": "abandoned", "finished_at": now,
                                  "error": "process ended without finishing (killed?)"})  # fmt: skip
        job_run_id = int(latest["job_run_id"].max()) + 1 if len(latest) else 1
        self._append_job_run({
            "job_run_id": job_run_id, "command": command, "started_at": now, "status": "running",
            "sources": list(sources), "hostname": socket.gethostname(), "pid": os.getpid(),
            "files_loaded": 0, "files_skipped": 0, "files_failed": 0, "rows_loaded": 0, "rows_rejected": 0,
            "step_seconds": "{}",
        })  # fmt: skip
        return job_run_id

    def finish_job_run(self, job_run_id: int, update) -> None:
        """Append the end of a run (an ops.JobRunUpdate) to its history."""
        latest = self._latest_job_runs()
        start = latest[latest["job_run_id"] == job_run_id].to_dict("records")
        base = start[0] if start else {"job_run_id": job_run_id}
        self._append_job_run({
            **base, "finished_at": datetime.now(UTC), "status": update.status, "exit_code": update.exit_code,
            "step_seconds": json.dumps(update.step_seconds), "files_loaded": update.files_loaded,
            "files_skipped": update.files_skipped, "files_failed": update.files_failed,
            "rows_loaded": update.rows_loaded, "rows_rejected": update.rows_rejected,
            "segmentation_run_id": update.segmentation_run_id, "error": update.error,
        })  # fmt: skip

    def job_runs(self) -> pd.DataFrame:
        """The latest row of each job run, newest first."""
        return self._latest_job_runs().sort_values("job_run_id", ascending=False).reset_index(drop=True)

    def _latest_job_runs(self) -> pd.DataFrame:
        return self.read_frame(
            "select * except (rn) from (select *, row_number() over (partition by job_run_id "
            "order by recorded_at desc) as rn from ops.job_runs) where rn = 1"
        )

    def _append_job_run(self, row: dict) -> None:
        self.insert_frame("ops.job_runs", pd.DataFrame([{**row, "recorded_at": datetime.now(UTC)}]))
        time.sleep(0.001)  # recorded_at orders a run's rows

    # ---------------------------------------------------------------------------------- publish
    def publish(self, build_schema: str, live_schema: str = "marts", keep: tuple[str, ...] = ()) -> list[str]:
        """Point a view ``<live_schema>.<name>`` at each table of ``build_schema``; drop the live views
        whose table is gone and the older build databases (``<live_schema>__build_*`` not in ``keep``)."""
        self.spark.sql(f"create database if not exists {live_schema}")
        tables = [t.name for t in self.spark.catalog.listTables(build_schema) if not t.isTemporary]
        live = {t.name: t.tableType for t in self.spark.catalog.listTables(live_schema) if not t.isTemporary}
        for name in tables:
            if live.get(name, "VIEW") != "VIEW":  # e.g. a `dbt build` by hand into marts: views live here
                log.warning("publish: %s.%s was a table, replaced by the published view", live_schema, name)
                self.spark.sql(f"drop table {live_schema}.{name}")
            self.spark.sql(
                f"create or replace view {live_schema}.{name} as select * from {build_schema}.{name}"
            )
        for view in self.spark.catalog.listTables(live_schema):
            if view.name not in tables and view.tableType == "VIEW":
                self.spark.sql(f"drop view if exists {live_schema}.{view.name}")
        for db in self.spark.catalog.listDatabases():
            if db.name.startswith(f"{live_schema}__build_") and db.name not in (build_schema, *keep):
                self.spark.sql(f"drop database if exists {db.name} cascade")
        log.info("published %d marts as views of %s (BI grants are not managed on Spark: docs/spark.md)",
                 len(tables), build_schema)  # fmt: skip
        return tables

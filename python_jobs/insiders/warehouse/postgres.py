"""``PostgresWarehouse``: the ``Warehouse`` interface over today's Postgres code, unchanged — COPY
loader (insiders.load), advisory cycle lock and ops.job_runs (insiders.ops), schema-swap publish
(insiders.publish). It only wraps them around one psycopg2 connection; the steps themselves are not
rewritten (their behaviour, transactions and errors are the Postgres ones)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import pandas as pd
from psycopg2 import sql
from psycopg2.extras import Json, execute_values

from insiders import load, ops, publish
from insiders.load import LoadResult


def _value(value):
    from insiders.segment.store import plain

    value = plain(value)
    return Json(value) if isinstance(value, dict) else value


class PostgresWarehouse:
    engine = "postgres"

    def __init__(self, conn) -> None:
        self.conn = conn

    @classmethod
    def open(cls, url) -> PostgresWarehouse:
        from insiders import db

        return cls(db.connect_raw(url, keepalives=True))

    def close(self) -> None:
        self.conn.close()

    def load_file(self, path, **kwargs) -> LoadResult:
        load.ensure_raw_schema(self.conn)
        return load.load_file(self.conn, path, **kwargs)

    def read_frame(self, query: str, args: Mapping[str, object] | None = None) -> pd.DataFrame:
        """``query`` may use ``%(name)s`` parameters; a bare name reads the whole relation."""
        text = query if " " in query.strip() else f"select * from {query}"
        with self.conn.cursor() as cur:
            cur.execute(text, dict(args or {}))
            names = [d[0] for d in cur.description]
            frame = pd.DataFrame(cur.fetchall(), columns=names)
        self.conn.rollback()
        return frame

    def write_ml_run(
        self,
        run_row: Mapping[str, object],
        tables: Mapping[str, pd.DataFrame],
        run_table: str = "ml.segmentation_runs",
    ) -> None:
        """One transaction (the run row first: the ml tables' foreign keys reference it)."""
        try:
            with self.conn.cursor() as cur:
                for table, frame in {run_table: pd.DataFrame([dict(run_row)]), **tables}.items():
                    if not len(frame):
                        continue
                    if table != run_table and "run_id" not in frame:
                        frame = frame.assign(run_id=run_row["run_id"])
                    target = sql.Identifier(*table.split("."))
                    names = sql.SQL(", ").join(map(sql.Identifier, frame.columns))
                    rows = [tuple(_value(v) for v in r) for r in frame.astype(object).itertuples(index=False)]
                    execute_values(cur, sql.SQL("insert into {} ({}) values %s").format(target, names), rows)
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise

    @contextmanager
    def cycle_lock(self, *, wait: bool = False) -> Iterator[None]:
        ops.ensure_ops_schema(self.conn)
        ops.acquire_cycle_lock(self.conn, wait=wait)
        try:
            yield
        finally:
            self.conn.rollback()
            ops.release_cycle_lock(self.conn)

    def start_job_run(self, command: str, sources: list[str]) -> int:
        return ops.start_job_run(self.conn, command, sources)

    def finish_job_run(self, job_run_id: int, update) -> None:
        ops.finish_job_run(self.conn, job_run_id, update)

    def publish(self, build_schema: str = publish.BUILD_SCHEMA, live_schema: str = publish.LIVE_SCHEMA,
                readers: list[str] | None = None, job_run_id: int | None = None) -> None:  # fmt: skip
        if (build_schema, live_schema) != (publish.BUILD_SCHEMA, publish.LIVE_SCHEMA):
            raise ValueError("the Postgres publish swaps marts__build into marts")
        publish.publish(self.conn, readers, lock_pid=self.conn.get_backend_pid(), job_run_id=job_run_id)

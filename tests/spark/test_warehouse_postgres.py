"""PostgresWarehouse: the Warehouse interface over today's Postgres code (runs without Spark)."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from insiders import db
from insiders.errors import LockBusyError
from insiders.segment import store
from insiders.warehouse import open_warehouse
from insiders.warehouse.postgres import PostgresWarehouse
from tests.helpers import HEADER, write_export

GOOD = "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom"


@pytest.fixture
def wh(database_url, settings_for):
    warehouse = open_warehouse(settings_for(database_url), database_url)
    yield warehouse
    warehouse.close()


def _run(run_id: str) -> tuple[dict, dict[str, pd.DataFrame]]:
    now = datetime.now(UTC)
    row = {"run_id": run_id, "status": "succeeded", "started_at": now, "finished_at": now,
           "code_version": "test", "random_seed": 1, "purpose": "cycle", "parameters": {"fit": "fitted"},
           "features": ["gross_revenue"]}  # fmt: skip
    segments = pd.DataFrame([{"segment_id": 1, "archetype": "Insiders", "is_insider": True, "model_label": 0,
                              "size": 1, "centre": {"g": 1.0}, "centre_original": {"g": 9.0},
                              "profile": {}, "matched_by": None, "match_cost": None}])  # fmt: skip
    customers = pd.DataFrame([{"customer_id": "12346", "segment_id": 1, "distance_to_centre": 0.5,
                               "probability": None, "features": {"g": 9.0}}])  # fmt: skip
    return row, {"ml.segments": segments, "ml.customer_segments": customers}


def test_open_warehouse_is_postgres_by_default_and_loads_like_the_loader(wh, tmp_path):
    assert isinstance(wh, PostgresWarehouse) and wh.engine == "postgres"
    path = write_export(tmp_path / "a.csv", [HEADER, GOOD, "bad,line"])
    result = wh.load_file(path)
    assert (result.status, result.rows_in_file, result.rows_loaded, result.rows_rejected) == (
        "loaded",
        2,
        1,
        1,
    )
    assert wh.load_file(path).status == "skipped"
    assert wh.read_frame("raw.transactions")["invoice_no"].tolist() == ["536365"]


def test_an_ml_run_is_one_transaction_and_reads_back(wh):
    store.ensure_ml_schema(wh.conn)
    row, tables = _run("r1")
    wh.write_ml_run(row, tables)
    previous = store.read_previous(wh.conn)
    assert (previous.run_id, previous.labels.to_dict()) == ("r1", {"12346": 1})
    assert previous.segments["centre_original"].tolist() == [{"g": 9.0}]

    row, tables = _run("r2")
    tables["ml.customer_segments"] = tables["ml.customer_segments"].assign(segment_id=99)  # no such segment
    with pytest.raises(Exception, match="foreign key"):
        wh.write_ml_run(row, tables)
    runs = wh.read_frame("select run_id from ml.segmentation_runs")["run_id"].tolist()
    assert runs == ["r1"]  # nothing of r2: not its run row, not its segments
    assert wh.read_frame("select count(*) as n from ml.segments")["n"].iloc[0] == 1


def test_the_cycle_lock_is_the_advisory_lock(wh, database_url):
    other = db.connect_raw(database_url)
    try:
        with wh.cycle_lock():
            from insiders import ops

            with pytest.raises(LockBusyError):
                ops.acquire_cycle_lock(other)
        ops.acquire_cycle_lock(other)  # released at the end of the block
    finally:
        other.close()


def test_the_spark_tables_have_the_postgres_columns(wh):
    """raw and ml on Spark are derived from the Postgres DDL: the same columns, partition column last."""
    from insiders.forecast_job import ensure_forecast_schema
    from insiders.load import ensure_raw_schema
    from insiders.warehouse.spark_schema import TABLES, columns

    ensure_raw_schema(wh.conn)
    store.ensure_ml_schema(wh.conn)
    ensure_forecast_schema(wh.conn)
    found = wh.read_frame(
        "select table_schema || '.' || table_name as t, column_name as c from information_schema.columns "
        "where table_schema in ('raw', 'ml')"
    )
    on_postgres = found.groupby("t")["c"].apply(set).to_dict()
    derived = {t: set(columns(t)) for t in TABLES if t.split(".")[0] in ("raw", "ml")}
    assert derived == on_postgres
    assert TABLES["raw.transactions"][1] == "file_id" and TABLES["ml.customer_segments"][1] == "run_id"
    assert TABLES["ml.segmentation_runs"][1] is None and TABLES["ml.forecast_fits"][1] is None

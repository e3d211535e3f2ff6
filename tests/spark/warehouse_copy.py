"""Postgres tables copied into Spark tables: the stand-ins of the comparison suite.

- ``copy_raw_to_spark``: what the Spark loader (issue 12, python_jobs/insiders/warehouse/, being
  written) will do — the raw tables the real Postgres loader filled, as Spark tables.
- ``copy_ml_to_spark``: what the job's Spark writes will do — the ``ml`` rows the segmentation,
  forecast and backtest wrote on Postgres, as Spark tables, so both engines build the downstream
  marts from the same rows.

Each is one function, so it can be swapped for the real Spark path when it lands. Types follow the
Postgres columns (information_schema): numeric → decimal(38,10) (type_exact_decimal on Spark), jsonb →
its JSON text (Spark models read JSON text), timestamps as Spark timestamps (session time zone UTC).
"""

from __future__ import annotations

from psycopg2 import sql

_SPARK_TYPES = {
    "text": "string",
    "character varying": "string",
    "character": "string",
    "uuid": "string",
    "json": "string",
    "jsonb": "string",
    "integer": "int",
    "smallint": "smallint",
    "bigint": "bigint",
    "double precision": "double",
    "real": "float",
    "numeric": "decimal(38,10)",
    "boolean": "boolean",
    "date": "date",
    "timestamp without time zone": "timestamp",
    "timestamp with time zone": "timestamp",
    "ARRAY _text": "array<string>",
    "ARRAY _int4": "array<int>",
    "ARRAY _int8": "array<bigint>",
    "ARRAY _float8": "array<double>",
}


def copy_raw_to_spark(pg_conn, spark, file_ids: list[int] | None = None) -> dict[str, int]:
    """raw.* of Postgres into Spark database ``raw`` (stand-in for the Spark loader); rows per table.
    ``file_ids``: only the rows of those loaded files (as if only they had been loaded so far)."""
    return copy_schema(pg_conn, spark, "raw", file_ids)


def copy_ml_to_spark(pg_conn, spark) -> dict[str, int]:
    """ml.* of Postgres into Spark database ``ml`` (stand-in for the job's Spark writes); rows per table."""
    return copy_schema(pg_conn, spark, "ml")


def copy_schema(
    pg_conn, spark, schema: str, file_ids: list[int] | None = None, batch_rows: int = 20_000
) -> dict[str, int]:
    """Every base table of ``schema`` as a Parquet table of the same name in Spark database ``schema``
    (replaced if there). Rows are streamed in batches of ``batch_rows`` (a server-side cursor).
    ``file_ids``: of the tables with a file_id column, only those files' rows."""
    from pyspark.sql.types import _parse_datatype_string

    spark.sql(f"create database if not exists {schema}")
    copied = {}
    with pg_conn.cursor() as cur:
        cur.execute(
            """select table_name from information_schema.tables
               where table_schema = %s and table_type = 'BASE TABLE' order by 1""",
            (schema,),
        )
        tables = [name for (name,) in cur.fetchall()]
    for table in tables:
        columns = _columns(pg_conn, schema, table)
        spark_schema = _parse_datatype_string(", ".join(f"`{n}` {_spark_type(t)}" for n, t in columns))
        select = sql.SQL("select {} from {}").format(
            sql.SQL(", ").join(
                sql.SQL("{}::text").format(sql.Identifier(n))
                if t in ("json", "jsonb", "uuid")
                else sql.Identifier(n)
                for n, t in columns
            ),
            sql.Identifier(schema, table),
        )
        if file_ids is not None and "file_id" in dict(columns):
            select += sql.SQL(" where file_id = any({})").format(sql.Literal(list(file_ids)))
        target, mode, rows = f"{schema}.{table}", "overwrite", 0
        with pg_conn.cursor(name=f"copy_{schema}_{table}") as cur:
            cur.itersize = batch_rows
            cur.execute(select)
            while True:
                batch = cur.fetchmany(batch_rows)
                if not batch and mode == "append":
                    break
                frame = spark.createDataFrame(batch, spark_schema)
                frame.write.format("parquet").mode(mode).saveAsTable(target)
                rows, mode = rows + len(batch), "append"
                if len(batch) < batch_rows:
                    break
        pg_conn.rollback()
        copied[table] = rows
    return copied


def _columns(pg_conn, schema: str, table: str) -> list[tuple[str, str]]:
    with pg_conn.cursor() as cur:
        cur.execute(
            """select column_name,
                      case when data_type = 'ARRAY' then 'ARRAY ' || udt_name else data_type end
               from information_schema.columns
               where table_schema = %s and table_name = %s order by ordinal_position""",
            (schema, table),
        )
        return cur.fetchall()


def _spark_type(postgres_type: str) -> str:
    if postgres_type not in _SPARK_TYPES:
        raise ValueError(f"no Spark type for the Postgres type {postgres_type}")
    return _SPARK_TYPES[postgres_type]

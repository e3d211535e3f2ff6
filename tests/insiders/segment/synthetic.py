"""Synthetic customer_features tables for the segmentation tests (the real table is dbt's), and small
query helpers."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
from psycopg2.extras import execute_values

AS_OF = date(2011, 12, 10)

FEATURES_DDL = """
create schema if not exists {schema};
create table {schema}.customer_features (
    customer_id                text primary key,
    as_of_date                 date not null,
    gross_revenue              numeric(14, 2) not null,
    recency_days               integer not null,
    purchases                  integer not null,
    items                      integer not null,
    products                   integer not null,
    avg_order_value            numeric(14, 2) not null,
    avg_days_between_purchases numeric(10, 2),
    purchase_frequency         numeric(10, 4) not null,
    returned_items             integer not null,
    avg_basket_size            numeric(12, 2) not null,
    avg_basket_products        numeric(12, 2) not null,
    first_purchase_at          timestamp not null,
    last_purchase_at           timestamp not null,
    country                    text,
    r_score                    integer,
    f_score                    integer,
    m_score                    integer,
    returns_rate               numeric(10, 4),
    revenue_returned           numeric(14, 2)
)
"""

# Four groups far apart in (log) feature space: (name, share, revenue, purchases, recency, products).
SEPARATED_GROUPS = (
    ("insiders", 0.10, 25_000.0, 40, 3, 300),
    ("regulars", 0.30, 2_000.0, 8, 25, 60),
    ("new", 0.30, 180.0, 1, 8, 12),
    ("lost", 0.30, 150.0, 1, 300, 10),
)


def customers_frame(revenue, purchases, recency, products, rng, *, as_of: date = AS_OF) -> pd.DataFrame:
    """A customer_features frame whose columns are consistent with the four drivers given."""
    n = len(revenue)
    revenue = np.round(np.asarray(revenue, dtype=float), 2)
    purchases = np.maximum(1, np.asarray(purchases, dtype=int))
    recency = np.clip(np.asarray(recency, dtype=int), 1, 373)
    products = np.maximum(1, np.asarray(products, dtype=int))
    tenure = np.where(
        purchases > 1, np.minimum(373, recency + 7 * purchases + rng.integers(0, 60, n)), recency
    )
    cadence = np.where(purchases > 1, (tenure - recency) / np.maximum(purchases - 1, 1), np.nan)
    items = np.maximum(purchases, (revenue / rng.uniform(1.5, 4.0, n)).astype(int))
    returned = np.where(rng.random(n) < 0.25, (items * rng.uniform(0, 0.1, n)).astype(int), 0)
    as_of_ts = datetime.combine(as_of, datetime.min.time())
    last = [as_of_ts - timedelta(days=int(d)) + timedelta(hours=10) for d in recency]
    first = [as_of_ts - timedelta(days=int(d)) + timedelta(hours=9) for d in tenure]
    return pd.DataFrame(
        {
            "customer_id": [f"{12346 + i}" for i in range(n)],
            "as_of_date": as_of,
            "gross_revenue": revenue,
            "recency_days": recency,
            "purchases": purchases,
            "items": items,
            "products": products,
            "avg_order_value": np.round(revenue / purchases, 2),
            "avg_days_between_purchases": np.round(cadence, 2),
            "purchase_frequency": np.round(purchases / np.maximum(tenure, 1), 4),
            "returned_items": returned,
            "avg_basket_size": np.round(items / purchases, 2),
            "avg_basket_products": np.round(np.minimum(products, products / np.sqrt(purchases)), 2),
            "first_purchase_at": first,
            "last_purchase_at": last,
            "country": "United Kingdom",
            "r_score": 5 - np.minimum(4, recency // 75),
            "f_score": np.minimum(5, 1 + purchases // 3),
            "m_score": np.minimum(5, 1 + (np.log10(np.maximum(revenue, 1))).astype(int)),
            "returns_rate": np.round(returned / items, 4),
            "revenue_returned": np.round(returned * 2.5, 2),
        }
    )


def separated_customers(n: int = 300, seed: int = 7) -> tuple[pd.DataFrame, np.ndarray]:
    """Customers of SEPARATED_GROUPS (with modest noise) and each one's generating group index."""
    rng = np.random.default_rng(seed)
    sizes = [round(share * n) for _, share, *_ in SEPARATED_GROUPS]
    group = np.repeat(np.arange(len(SEPARATED_GROUPS)), sizes)
    params = np.array([g[2:] for g in SEPARATED_GROUPS], dtype=float)[group]
    noise = rng.lognormal(0.0, 0.15, size=(len(group), 4))
    purchases = np.where(params[:, 1] == 1, 1, np.round(params[:, 1] * noise[:, 1]))
    frame = customers_frame(
        params[:, 0] * noise[:, 0], purchases, params[:, 2] * noise[:, 2], params[:, 3] * noise[:, 3], rng
    )
    order = rng.permutation(len(frame))  # ids do not follow the groups
    frame["customer_id"] = frame["customer_id"].to_numpy()[order]
    return frame, group


def retail_like_customers(n: int = 4400, seed: int = 11) -> pd.DataFrame:
    """Skewed, overlapping customers resembling a gift shop's year: a third buy once, revenue is
    log-normal over 4 orders of magnitude and grows with the number of orders, recency is spread."""
    rng = np.random.default_rng(seed)
    engagement = rng.gamma(0.9, 1.0, n)  # latent: how much the customer buys from the shop
    purchases = np.where(rng.random(n) < 0.33, 1, 1 + rng.poisson(2.5 * engagement**1.4))
    order_value = rng.lognormal(5.6, 0.7, n) * (1 + 0.3 * np.log1p(engagement))
    revenue = purchases * order_value * rng.lognormal(0, 0.25, n)
    lapse = rng.exponential(60 / np.sqrt(purchases), n) + rng.choice([0, 150], n, p=[0.75, 0.25])
    recency = 1 + lapse
    products = 1 + rng.poisson(8 * purchases**0.8 * rng.lognormal(0, 0.5, n))
    return customers_frame(revenue, purchases, recency, products, rng)


def write_features(conn, frame: pd.DataFrame, schema: str = "marts") -> None:
    with conn.cursor() as cur:
        cur.execute(FEATURES_DDL.format(schema=schema))
        cols = list(frame.columns)
        rows = [
            tuple(None if (isinstance(v, float) and np.isnan(v)) else v for v in row)
            for row in frame.astype(object).itertuples(index=False)
        ]
        execute_values(cur, f"insert into {schema}.customer_features ({', '.join(cols)}) values %s", rows)
    conn.commit()


def query(conn, sql: str, params=()) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    conn.rollback()
    return rows


def labels_of(conn, run_id: str) -> dict[str, int]:
    rows = query(
        conn, "select customer_id, segment_id from ml.customer_segments where run_id = %s", (run_id,)
    )
    return dict(rows)

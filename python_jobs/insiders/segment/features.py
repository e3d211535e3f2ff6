"""The customer features the segmentation reads, and the one sklearn preparation that turns them into
the space clusters are fitted in.

Clustering features (original units, one row per customer from ``<schema>.customer_features``):

- ``gross_revenue``  monetary value (M): what Insiders are about.
- ``recency_days``   days since the last purchase (R): separates active customers from lapsed ones.
- ``purchases``      number of orders (F).
- ``products``       distinct products bought: breadth of engagement with the assortment.
- ``avg_order_value`` value of a typical order: separates a few big orders (resellers) from many small.
- ``avg_days_between_purchases`` purchase cadence; null for customers who bought on one day only.

Left out on purpose: ``items`` and ``avg_basket_size`` (near duplicates of revenue and order value),
``purchase_frequency`` (about 1 for a customer who bought yesterday for the first time: it carves out a
tiny cluster of brand-new customers), returns (zero for most customers: a scaled sparse column makes a
"returners" cluster that does not help targeting), ``country`` (categorical, mostly one value) and the
r/f/m scores (quantised copies of R, F and M).

Preparation, in one Pipeline saved with the model: impute, ``log1p`` (all six are non-negative and
right-skewed, and 1,000 vs 2,000 matters as much as 10 vs 20), standardise, then weigh. Imputation: a
customer who bought on one day only has shown no repeat cycle, so the cadence is set to
``ONE_DAY_CADENCE`` ("less than once a year", slower than nearly every repeat customer). A constant,
not a statistic of the data: the same customer gets the same value in every run, so segment centres
stay comparable from run to run (see matching). Anything else missing gets the median.

Weights: after standardising, revenue is multiplied by ``REVENUE_WEIGHT`` and the five behaviour
features by 1. Why: the Insiders are a loyalty programme's list of the customers who bring the money;
with equal weights the five behaviour features, which mostly say "engaged", outvote revenue five to
one, and the top segment becomes the engaged mid-revenue buyers rather than the customers who go on
spending most. The weight was chosen on backtests (README, "Why the segmentation is set as it is"),
so those are not an independent test of it. The price: segments are mostly bands of value with a
behaviour profile each, less a picture of buying habits. Known gap: revenue is gross, so a customer who
returned what he bought still counts it; net revenue would change ``FEATURES``, which
``marts.customer_segments`` and the HTML report read by name.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from psycopg2 import sql
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from insiders.errors import UserError

CADENCE = "avg_days_between_purchases"
ONE_DAY_CADENCE = 365.0  # days; the cadence given to customers who bought on one day only
REVENUE_WEIGHT = 4.0  # revenue's weight in distances; every other feature weighs 1 (see above)
FEATURES: tuple[str, ...] = (
    "gross_revenue",
    "recency_days",
    "purchases",
    "products",
    "avg_order_value",
    CADENCE,  # last: the ColumnTransformer below outputs it last
)
FEATURE_WEIGHTS: dict[str, float] = {c: REVENUE_WEIGHT if c == "gross_revenue" else 1.0 for c in FEATURES}
FEATURES_TABLE = "customer_features"
KEY_COLUMNS = ("customer_id", "as_of_date")


# -------------------------------------------------------------------------------------------- reading
def read_features(conn, schema: str = "marts", as_of_date=None) -> pd.DataFrame:
    """One row per customer, sorted by customer_id, with ``KEY_COLUMNS + FEATURES`` (one query).

    Takes the table's latest ``as_of_date`` unless one is given. Raises UserError when the table or a
    column is missing, when there are no rows for the date or when a customer appears twice.
    """
    with conn.cursor() as cur:
        cur.execute(
            "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
            (schema, FEATURES_TABLE),
        )
        present = {row[0] for row in cur.fetchall()}
        if not present:
            raise UserError(f"{schema}.{FEATURES_TABLE} does not exist: build the marts first (dbt build)")
        missing = [c for c in (*KEY_COLUMNS, *FEATURES) if c not in present]
        if missing:
            raise UserError(f"{schema}.{FEATURES_TABLE} lacks column(s): {', '.join(missing)}")
        table = sql.Identifier(schema, FEATURES_TABLE)
        query = sql.SQL(
            "select {cols} from {table} "
            "where as_of_date = coalesce(%s::date, (select max(as_of_date) from {table})) "
            "order by customer_id"
        ).format(cols=sql.SQL(", ").join(map(sql.Identifier, (*KEY_COLUMNS, *FEATURES))), table=table)
        cur.execute(query, (as_of_date,))
        rows = cur.fetchall()
    conn.rollback()  # end the read-only transaction; the job writes in its own
    frame = pd.DataFrame(rows, columns=[*KEY_COLUMNS, *FEATURES])
    return checked_frame(frame, f"{schema}.{FEATURES_TABLE}", as_of_date)


def checked_frame(frame: pd.DataFrame, relation: str, as_of_date) -> pd.DataFrame:
    """The features read from ``relation`` (any engine), refused when empty or not one row per
    customer, then prepared for the model."""
    if frame.empty:
        when = f"as of {as_of_date}" if as_of_date else "at all"
        raise UserError(f"{relation} has no customers {when}")
    frame["customer_id"] = frame["customer_id"].astype(str)
    duplicated = frame["customer_id"][frame["customer_id"].duplicated()]
    if not duplicated.empty:
        raise UserError(
            f"{relation} has {duplicated.nunique()} customer(s) on several rows "
            f"(e.g. {duplicated.iloc[0]}); expected one row per customer"
        )
    return prepare_frame(frame)


def prepare_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Features as floats, rows sorted by customer_id (byte order, whatever the database collation)."""
    out = frame.copy()
    for col in FEATURES:
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
    values = out[list(FEATURES)].to_numpy()
    if np.isinf(values).any():
        bad = [c for c in FEATURES if np.isinf(out[c]).any()]
        raise UserError(f"infinite values in feature(s): {', '.join(bad)}")
    return out.sort_values("customer_id", kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------------------- preparation
def log1p_nonnegative(x):
    return np.log1p(np.clip(x, 0, None))


def weigh(x, weights):
    return np.asarray(x) * weights


def unweigh(x, weights):
    return np.asarray(x) / weights


def build_preparation() -> Pipeline:
    """Impute → log1p → standardise → weigh, on ``FEATURES``; outputs columns in ``FEATURES`` order."""
    others = [c for c in FEATURES if c != CADENCE]
    one_day = SimpleImputer(strategy="constant", fill_value=ONE_DAY_CADENCE, keep_empty_features=True)
    impute = ColumnTransformer(  # outputs "others" then the cadence: FEATURES order (cadence is last)
        [
            ("others", SimpleImputer(strategy="median", keep_empty_features=True), others),
            ("cadence", one_day, [CADENCE]),
        ],
        verbose_feature_names_out=False,
    )
    return Pipeline(
        [
            ("impute", impute),
            ("log1p", FunctionTransformer(log1p_nonnegative, np.expm1, feature_names_out="one-to-one")),
            ("scale", StandardScaler()),
            ("weigh", _weighing(np.array([FEATURE_WEIGHTS[c] for c in FEATURES]))),
        ]
    )


def _weighing(weights: np.ndarray) -> FunctionTransformer:
    """Multiply each column by its weight; the weights travel with the saved Pipeline."""
    return FunctionTransformer(
        weigh,
        unweigh,
        kw_args={"weights": weights},
        inv_kw_args={"weights": weights},
        feature_names_out="one-to-one",
    )


def to_original_units(preparation: Pipeline, points: np.ndarray) -> pd.DataFrame:
    """Points of the fitted space (e.g. cluster centres) in original feature units."""
    unweighed = preparation.named_steps["weigh"].inverse_transform(np.atleast_2d(points))
    unscaled = preparation.named_steps["scale"].inverse_transform(unweighed)
    return pd.DataFrame(np.expm1(unscaled), columns=list(FEATURES))


def to_fitted_space(preparation: Pipeline, frame: pd.DataFrame) -> np.ndarray:
    return preparation.transform(frame[list(FEATURES)])

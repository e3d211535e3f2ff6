"""The whole shared file through the whole cycle, checked against an independent pandas computation."""

from __future__ import annotations

import csv
from datetime import date

import pandas as pd
import pytest

from insiders.settings import PROJECT_ROOT
from tests.conftest import require_shared_file

KNOWN_CUSTOMERS = ["12346", "12347", "12748", "13047", "14646", "17850", "18102"]


@pytest.fixture(scope="module")
def expected_features() -> pd.DataFrame:
    """Customer features computed from the CSV with pandas, following the README's definitions."""
    raw = pd.read_csv(require_shared_file(), dtype=str, keep_default_na=False, encoding="utf-8")
    with open(PROJECT_ROOT / "seeds" / "non_product_stock_codes.csv", newline="") as fh:
        seed = list(csv.DictReader(fh))
    exact = {r["stock_code"].upper() for r in seed if r["match_type"] == "exact"}
    prefixes = tuple(r["stock_code"].upper() for r in seed if r["match_type"] == "prefix")
    code = raw["StockCode"].str.strip().str.upper()
    df = pd.DataFrame(
        {
            "invoice": raw["InvoiceNo"],
            "code": code,
            "qty": raw["Quantity"].astype(int),
            "price": raw["UnitPrice"].astype(float),
            "at": pd.to_datetime(raw["InvoiceDate"], format="%m/%d/%Y %H:%M"),
            "customer": raw["CustomerID"].str.replace(r"\.0$", "", regex=True),
            "country": raw["Country"],
        }
    )
    is_product = ~code.isin(exact) & ~code.str.startswith(prefixes)
    identified = df["customer"] != ""
    buys = df[
        ~df["invoice"].str[0].isin(["C", "A"]) & (df.qty > 0) & (df.price > 0) & is_product & identified
    ]
    returns = df[df["invoice"].str.startswith("C") & (df.qty < 0) & is_product & identified]
    as_of = buys["at"].max().normalize() + pd.Timedelta(days=1)
    buys = buys.assign(revenue=buys.qty * buys.price, day=buys["at"].dt.normalize())
    g = buys.groupby("customer")
    out = pd.DataFrame(
        {
            "gross_revenue": g["revenue"].sum(),
            "purchases": g["invoice"].nunique(),
            "items": g["qty"].sum(),
            "products": g["code"].nunique(),
            "first_day": g["day"].min(),
            "last_day": g["day"].max(),
            "days": g["day"].nunique(),
        }
    )
    out["recency_days"] = (as_of - out["last_day"]).dt.days
    span = (out["last_day"] - out["first_day"]).dt.days
    out["avg_days_between_purchases"] = (span / (out["days"] - 1)).where(out["days"] > 1)
    out["avg_basket_products"] = (
        buys.groupby(["customer", "invoice"])["code"].nunique().groupby("customer").mean()
    )
    returned = (-returns["qty"]).groupby(returns["customer"]).sum()
    out["returned_items"] = returned.reindex(out.index).fillna(0).astype(int)
    out.attrs["as_of"] = as_of.date()
    return out


def test_every_row_of_the_file_is_loaded_or_rejected(full_cycle):
    [(rows_in, loaded, rejected, status)] = full_cycle.query(
        "select rows_in_file, rows_loaded, rows_rejected, status from raw.files"
    )
    assert (rows_in, loaded, rejected, status) == (541_909, 541_909, 0, "loaded")
    assert full_cycle.query("select count(*) from raw.transactions") == [(541_909,)]
    assert full_cycle.query("select count(*) from marts.data_quality where rows_with_cast_errors > 0") == [
        (0,)
    ]


def test_customer_features_match_an_independent_computation(full_cycle, expected_features):
    expected = expected_features
    assert full_cycle.query("select count(*), min(as_of_date) from marts.customer_features") == [
        (len(expected), date(2011, 12, 10))
    ]
    assert expected.attrs["as_of"] == date(2011, 12, 10)
    rows = full_cycle.query(
        """select customer_id, gross_revenue, purchases, items, products, recency_days,
                  avg_days_between_purchases, avg_basket_products, returned_items
           from marts.customer_features where customer_id = any(%s)""",
        (KNOWN_CUSTOMERS,),
    )
    assert len(rows) == len(KNOWN_CUSTOMERS)
    for customer_id, revenue, purchases, items, products, recency, gap, basket, returned in rows:
        want = expected.loc[customer_id]
        assert float(revenue) == pytest.approx(want.gross_revenue, abs=0.005), customer_id
        got = [int(v) for v in (purchases, items, products, recency, returned)]
        wanted = [int(want[c]) for c in ("purchases", "items", "products", "recency_days", "returned_items")]
        assert got == wanted, customer_id
        if pd.isna(want.avg_days_between_purchases):
            assert gap is None, customer_id
        else:
            assert float(gap) == pytest.approx(want.avg_days_between_purchases), customer_id
        assert float(basket) == pytest.approx(want.avg_basket_products), customer_id
    total = full_cycle.query("select sum(gross_revenue) from marts.customer_features")[0][0]
    assert float(total) == pytest.approx(expected["gross_revenue"].sum(), rel=1e-9)


def test_the_insiders_are_few_and_bring_much_of_the_revenue(full_cycle):
    [(share, revenue_share)] = full_cycle.query(
        "select share_of_customers, share_of_revenue from marts.segment_summary where is_insider"
    )
    assert 0.03 <= float(share) <= 0.25
    assert float(revenue_share) >= 0.4
    assert full_cycle.query("select count(*) from marts.insiders") == full_cycle.query(
        "select count(*) from marts.customer_segments where is_insider"
    )


def test_every_segment_has_a_recommended_action_and_shares_add_up(full_cycle):
    [(n, without_action, customers, revenue)] = full_cycle.query(
        """select count(*), count(*) filter (where recommended_action is null),
                  sum(share_of_customers), sum(share_of_revenue) from marts.segment_summary"""
    )
    assert n >= 3 and without_action == 0
    assert float(customers) == pytest.approx(1.0) and float(revenue) == pytest.approx(1.0)


def test_the_control_group_is_about_a_fifth_of_the_insiders_and_stable(full_cycle):
    [(insiders, control)] = full_cycle.query(
        "select count(*), count(*) filter (where is_control) from marts.insiders"
    )
    assert 0.14 <= control / insiders <= 0.26  # insiders_control_share_pct: 20 by default


def test_the_cycle_recorded_its_run_and_the_backtest_has_four_groups(full_cycle):
    [(status, steps)] = full_cycle.query(
        "select status, step_seconds from ops.job_runs order by job_run_id desc limit 1"
    )
    assert status == "succeeded"
    assert {"load", "dbt build upstream", "segment", "forecast", "publish"} <= set(steps)
    groups = dict(full_cycle.query("select group_name, share_of_future_revenue from marts.backtest_results"))
    assert set(groups) == {"insiders", "top_past_revenue", "top_rfm", "oracle"}
    assert max(groups.values()) == groups["oracle"]


def test_backtest_at_2011_09_09_for_91_days_reports_the_four_groups(full_cycle):
    from insiders.backtest import ALL_CUSTOMERS
    from insiders.cycle import CyclePlan, run_cycle

    outcome = run_cycle(full_cycle.settings, plan=CyclePlan.for_backtest(date(2011, 9, 9), 91))
    result = outcome.backtest  # through the cycle: lock, build aside, publish
    [(published,)] = full_cycle.query("select count(*) from marts.backtest_results where is_latest")
    assert published == 4
    groups = pd.DataFrame(
        full_cycle.query(
            "select group_name, share_of_future_revenue, customers, verdict, diff_ci_low, diff_ci_high "
            "from marts.backtest_results where is_latest"
        ),
        columns=["group_name", "share_of_future_revenue", "customers", "verdict", "low", "high"],
    )
    shares = groups.set_index("group_name")["share_of_future_revenue"]
    assert set(shares.index) == {"insiders", "top_past_revenue", "top_rfm", "oracle"}
    assert result.cutoff == date(2011, 9, 9)
    assert 3_000 < result.customers_at_cutoff < 4_334
    assert shares["oracle"] == shares.max() and shares.between(0, 1).all()
    assert (groups["customers"] == result.group_size).all()
    # measured: +0.2 points, 95% interval -0.2 to +0.7: inside the noise
    assert (
        (groups["verdict"] == "level with").all() and (groups["low"] < 0).all() and (groups["high"] > 0).all()
    )
    [(customers,)] = full_cycle.query(
        "select count(*) from marts.backtest_customer_predictions where cutoff_date = '2011-09-09'"
    )
    assert customers == result.customers_at_cutoff
    validation = result.validation.set_index("segment_name")
    assert validation.loc[ALL_CUSTOMERS, "actual_revenue"] == pytest.approx(result.future_revenue)
    print("\n" + result.summary_text())  # the figures for the issue note (pytest -s)

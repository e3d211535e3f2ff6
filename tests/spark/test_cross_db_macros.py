"""Every macro of macros/cross_db gives the same answer on Postgres and on Spark (dbt show --inline).

The expected values are written once and checked on both engines: a macro whose Spark version drifts
from its Postgres default (a regex guard losing its backslash, a back-reference, a rounded decimal, a
0-based index, another hash) fails here on one engine.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from decimal import Decimal

from tests.spark.conftest import show_rows


def _bucket(text: str, buckets: int) -> int:
    return int(hashlib.md5(text.encode()).hexdigest()[:8], 16) % buckets


def lit(value: str) -> str:
    return "{{ insiders.sql_text_literal(" + repr(value) + ") }}"


# (column, SQL expression in dbt Jinja, expected value)
CASES = [
    ("quote_literal", lit("it's a \\ backslash"), "it's a \\ backslash"),
    ("regex_whole_number", "{{ regex_matches(" + repr("'12.0'") + ", '^[0-9]+\\\\.0*$') }}", True),
    # without the backslash reaching Spark's regex, `\.` would be "any character" and 1205 would match
    ("regex_dot_is_literal", "{{ regex_matches(" + repr("'1205'") + ", '^[0-9]+\\\\.0*$') }}", False),
    ("regex_digit_class", "{{ regex_matches(" + repr("'At risk (2)'") + ", ' \\\\(\\\\d+\\\\)$') }}", True),
    ("regex_quote_in_pattern", '{{ regex_matches(insiders.sql_text_literal("it\'s"), "^it\'s$") }}', True),
    ("regex_null", "{{ regex_matches('cast(null as ' ~ dbt.type_string() ~ ')', '^a') }}", None),
    ("replace_backref", "{{ regex_replace(" + repr("'12.00'") + ", '^([0-9]+)\\\\.0*$', '\\\\1') }}", "12"),
    ("replace_every_match", "{{ regex_replace(" + repr("'a1b22c'") + ", '[0-9]+', '#') }}", "a#b#c"),
    (
        "replace_suffix",
        "{{ regex_replace(" + repr("'At risk (2)'") + ", ' \\\\(\\\\d+\\\\)$', '') }}",
        "At risk",
    ),
    ("replace_dollar", "{{ regex_replace(" + repr("'cost 5'") + ", '([0-9])', '$\\\\1') }}", "cost $5"),
    ("decimal_exact", "cast(" + lit("2.55") + " as {{ type_exact_decimal() }})", Decimal("2.55")),
    ("decimal_sum", "cast(" + lit("0.1") + " as {{ type_exact_decimal() }}) * 3", Decimal("0.3")),
    ("double_is_64_bit", "cast(1 as {{ type_double() }}) / 3", 1 / 3),
    ("double_sum", "cast(0.1 as {{ type_double() }}) + cast(0.2 as {{ type_double() }})", 0.1 + 0.2),
    (
        "days_between",
        "{{ dbt.datediff(\"cast('2011-01-01' as date)\", \"cast('2011-12-10' as date)\", 'day') }}",
        343,
    ),
    (
        "days_between_null",
        "{{ dbt.datediff('cast(null as date)', \"cast('2011-12-10' as date)\", 'day') }}",
        None,
    ),
    ("add_one_day", "{{ add_days(\"cast('2011-12-09' as date)\", 1) }}", date(2011, 12, 10)),
    ("add_minus_days", "{{ add_days(\"cast('2011-03-01' as date)\", -1) }}", date(2011, 2, 28)),
    ("array_second", "{{ array_element(split_to_array(" + repr("'12/1/2010'") + ", '/'), 2) }}", "1"),
    ("array_past_end", "{{ array_element(split_to_array(" + repr("'12/1/2010'") + ", '/'), 5) }}", None),
    ("array_dot_is_literal", "{{ array_element(split_to_array(" + repr("'a..b'") + ", '.'), 2) }}", ""),
    ("array_of_empty_text", "{{ array_element(split_to_array(\"''\", ' '), 1) }}", None),
    (
        "array_cast_part",
        "cast({{ array_element(split_to_array(" + repr("'8 26'") + ", ' '), 2) }} as {{ dbt.type_int() }})",
        26,
    ),
    (
        "bucket_a",
        "{{ hash_bucket(" + repr("'12346:2011-12-10'") + ", 100) }}",
        _bucket("12346:2011-12-10", 100),
    ),
    (
        "bucket_b",
        "{{ hash_bucket(" + repr("'17850:2011-12-10'") + ", 100) }}",
        _bucket("17850:2011-12-10", 100),
    ),
    ("bucket_high_bit", "{{ hash_bucket(" + repr("'x'") + ", 1000) }}", _bucket("x", 1000)),
    (
        "starts_with_underscore",
        "{{ text_starts_with(" + repr("'GIFT_0001_10'") + ", " + repr("'GIFT_'") + ") }}",
        True,
    ),
    (
        "underscore_not_wildcard",
        "{{ text_starts_with(" + repr("'GIFTX0001'") + ", " + repr("'GIFT_'") + ") }}",
        False,
    ),
    ("text_of_int", "{{ dbt.cast('42', dbt.type_string()) }}", "42"),
    ("text_of_date", "{{ dbt.cast(\"cast('2011-12-10' as date)\", dbt.type_string()) }}", "2011-12-10"),
    (
        "text_concat",
        "{{ dbt.cast('7', dbt.type_string()) }} || '-' || {{ dbt.cast('12', dbt.type_string()) }}",
        "7-12",
    ),
]


def _normal(value):
    if isinstance(value, Decimal):
        return value.normalize()
    if isinstance(value, datetime):  # a date column can come back as a midnight datetime
        return value.date()
    return value


def test_the_bucket_expectations_are_not_trivial():
    assert _bucket("x", 1000) != _bucket("12346:2011-12-10", 1000)
    assert int(hashlib.md5(b"x").hexdigest()[:8], 16) >= 2**31  # the unsigned reading matters


def test_every_macro_gives_the_expected_value(dbt_on):
    engine, run = dbt_on
    sql = "select\n" + ",\n".join(f"    {expression} as {column}" for column, expression, _ in CASES)
    (row,) = show_rows(run, sql)
    wrong = {}
    for column, _, expected in CASES:
        got = _normal(row[column])
        if isinstance(expected, float):
            ok = isinstance(got, float | Decimal) and float(got) == expected
        elif isinstance(expected, Decimal):
            ok = got is not None and Decimal(str(got)) == expected
        elif isinstance(expected, bool) or expected is None:
            ok = got is expected
        else:
            ok = got == expected
        if not ok:
            wrong[column] = (got, expected)
    assert not wrong, f"{engine}: (got, expected) {wrong}"


def test_json_key_value_rows(dbt_on):
    engine, run = dbt_on
    json_text = '{"recency_days": 12, "avg_order_value": 2.55, "share": 1e-07}'
    value = lit(json_text)
    if engine == "postgres":
        value = f"cast({value} as jsonb)"
    before = lit('{"recency_days": 40, "avg_order_value": 3.5}')
    if engine == "postgres":
        before = f"cast({before} as jsonb)"
    sql = f"""
    with memberships as (select {value} as features_now, {before} as features_before)
    select
        now_values.key as feature,
        cast(now_values.value as {{{{ type_double() }}}}) as value_now,
        cast(before_values.value as {{{{ type_double() }}}}) as value_before
    from memberships
    cross join lateral {{{{ json_each_text('memberships.features_now') }}}} as now_values
    left join lateral {{{{ json_each_text('memberships.features_before') }}}} as before_values
        on now_values.key = before_values.key
    order by feature
    """
    rows = show_rows(run, sql)
    got = [
        (r["feature"], float(r["value_now"]), None if r["value_before"] is None else float(r["value_before"]))
        for r in rows
    ]
    assert got == [
        ("avg_order_value", 2.55, 3.5),
        ("recency_days", 12.0, 40.0),
        ("share", 1e-07, None),
    ], engine


def test_not_materialized_hint(dbt_on):
    engine, run = dbt_on
    sql = "with numbers as {{ not_materialized() }} (select 2 as n) select n * 21 as answer from numbers"
    assert [r["answer"] for r in show_rows(run, sql)] == [42], engine

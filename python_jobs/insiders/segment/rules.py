"""Readable entry rules for the Insiders: a shallow decision tree on original-unit features.

The tree (depth <= 3, at least 1% of customers per leaf, fixed random_state so ties between equally
good splits always break the same way) learns is_insider from the customers' features as a marketer
knows them (money, counts, days; no log or scaling). Each leaf is one rule, the conjunction of the
conditions on its path, merged per feature ("1,000.00 < gross_revenue <= 5,000.00"); sibling leaves
that predict the same class are merged first, so no rule is split for nothing.

Each rule's conditions are also kept as rows (``Condition``: feature, ``>`` or ``<=``, the tree's
threshold; one lower and one upper bound per feature at most) so dbt can compute what a customer lacks
to meet a rule (marts.customer_next_steps).

Per rule: support = customers it matches; precision = share of them in the class the rule predicts;
recall = share of that class's customers it matches. Fidelity = accuracy of the tree against the
cluster labels on all customers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeClassifier

RULE_FEATURES = ("gross_revenue", "purchases", "recency_days", "products", "avg_order_value")
MAX_DEPTH = 3


@dataclass(frozen=True)
class Condition:
    feature: str
    operator: str  # ">" or "<=": the tree's own test, on the original-unit feature
    threshold: float


@dataclass(frozen=True)
class Rule:
    rule_id: int
    rule_text: str
    predicts_insider: bool
    support: int
    precision: float
    recall: float
    conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class RuleSet:
    rules: list[Rule]
    fidelity: float
    features: tuple[str, ...]


def insider_rules(frame: pd.DataFrame, is_insider: np.ndarray, *, max_depth: int = MAX_DEPTH) -> RuleSet:
    x = frame[list(RULE_FEATURES)].astype(float)
    x = x.fillna(x.median()).fillna(0.0)
    y = np.asarray(is_insider, dtype=bool)
    tree = DecisionTreeClassifier(
        max_depth=max_depth, min_samples_leaf=max(5, math.ceil(0.01 * len(x))), random_state=0
    ).fit(x.to_numpy(), y)
    predicted = tree.predict(x.to_numpy()).astype(bool)
    integer_valued = {c: bool(np.all(np.mod(x[c].to_numpy(), 1) == 0)) for c in RULE_FEATURES}
    leaves = _merged_leaves(tree, 0, [])
    node_of_row = tree.apply(x.to_numpy())
    rules = []
    for path, nodes, predicts in leaves:
        matched = np.isin(node_of_row, nodes)
        support = int(matched.sum())
        in_class = y == predicts
        hits = int((matched & in_class).sum())
        rules.append(
            (
                not predicts,
                -support,
                _path_text(path, integer_valued),
                _conditions(path),
                predicts,
                support,
                hits / support if support else 0.0,
                hits / int(in_class.sum()) if in_class.any() else 0.0,
            )
        )
    rules.sort()
    out = [
        Rule(i, text, bool(pred), support, float(prec), float(rec), conditions)
        for i, (_, _, text, conditions, pred, support, prec, rec) in enumerate(rules, start=1)
    ]
    return RuleSet(out, float((predicted == y).mean()), RULE_FEATURES)


def _merged_leaves(tree: DecisionTreeClassifier, node: int, path: list) -> list[tuple[list, list[int], bool]]:
    """(conditions, leaf node ids, predicted class) per rule under ``node``, merging same-class siblings."""
    t = tree.tree_
    left, right = t.children_left[node], t.children_right[node]
    if left == -1:
        return [(path, [node], bool(tree.classes_[np.argmax(t.value[node][0])]))]
    feature, threshold = RULE_FEATURES[t.feature[node]], float(t.threshold[node])
    below = _merged_leaves(tree, left, [*path, (feature, "<=", threshold)])
    above = _merged_leaves(tree, right, [*path, (feature, ">", threshold)])
    if len(below) == 1 and len(above) == 1 and below[0][2] == above[0][2]:
        return [(path, below[0][1] + above[0][1], below[0][2])]
    return below + above


def _bounds(path: list) -> dict[str, list]:
    """The path's conditions merged per feature: [lowest bound (x > low), highest (x <= high)]."""
    bounds: dict[str, list] = {}
    for feature, op, threshold in path:
        low, high = bounds.setdefault(feature, [None, None])
        if op == ">":
            bounds[feature][0] = threshold if low is None else max(low, threshold)
        else:
            bounds[feature][1] = threshold if high is None else min(high, threshold)
    return bounds


def _conditions(path: list) -> tuple[Condition, ...]:
    out = []
    for feature, (low, high) in _bounds(path).items():
        if low is not None:
            out.append(Condition(feature, ">", float(low)))
        if high is not None:
            out.append(Condition(feature, "<=", float(high)))
    return tuple(out)


def _path_text(path: list, integer_valued: dict[str, bool]) -> str:
    if not path:
        return "all customers"
    bounds = _bounds(path)
    parts = []
    for feature, (low, high) in bounds.items():
        if integer_valued[feature]:
            # x > 7.5 is x >= 8 and x <= 7.5 is x <= 7 for whole numbers
            lo = None if low is None else math.floor(low) + 1
            hi = None if high is None else math.floor(high)
            if lo is not None and hi is not None:
                parts.append(f"{feature} = {lo:,}" if lo == hi else f"{feature} between {lo:,} and {hi:,}")
            elif lo is not None:
                parts.append(f"{feature} >= {lo:,}")
            else:
                parts.append(f"{feature} <= {hi:,}")
        elif low is not None and high is not None:
            parts.append(f"{low:,.2f} < {feature} <= {high:,.2f}")
        elif low is not None:
            parts.append(f"{feature} > {low:,.2f}")
        else:
            parts.append(f"{feature} <= {high:,.2f}")
    return " and ".join(parts)

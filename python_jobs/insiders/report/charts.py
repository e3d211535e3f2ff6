"""The report's charts: matplotlib figures drawn with the Agg canvas, returned as PNG bytes.

No pyplot: each function builds its own ``Figure``, so nothing global changes and charts can be drawn
from any thread. One colour per segment across every chart (``segment_colours``).
"""

from __future__ import annotations

import io
import textwrap

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from insiders.report.stats import FEATURE_LABELS, Profile, Projection

INSIDERS_COLOUR = "#6a3d9a"
OTHER_COLOURS = ("#1f78b4", "#33a02c", "#e6850e", "#b15928", "#e7298a", "#17becf", "#8c8c00", "#7f7f7f")
MUTED = "#c9ced6"
INK = "#1f2933"
DPI = 144  # pixels per inch of the PNGs; the page shows them at 96 per inch (sharp on high-DPI screens)
SCREEN_DPI = 96

_STYLE = {
    "font.size": 11,
    "axes.edgecolor": "#9aa5b1",
    "axes.labelcolor": INK,
    "axes.titleweight": "bold",
    "xtick.color": "#52606d",
    "ytick.color": "#52606d",
    "text.color": INK,
}


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _axes(fig: Figure, *args):
    ax = fig.add_subplot(*args)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return ax


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height in pixels, from the PNG header."""
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def to_png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()


def money(value: float) -> str:
    """£1.35M, £904k, £1,234."""
    if value is None or pd.isna(value):
        return "–"
    size = abs(value)
    if size >= 1e6:
        return f"£{value / 1e6:,.2f}M"
    if size >= 1e4:
        return f"£{value / 1e3:,.0f}k"
    return f"£{value:,.0f}"


def segment_colours(segments: pd.DataFrame) -> dict[str, str]:
    """Insiders purple, the other segments by segment id from a fixed palette."""
    colours, others = {}, iter(OTHER_COLOURS * 4)
    for row in segments.sort_values("segment_id").itertuples():
        colours[row.segment_name] = INSIDERS_COLOUR if row.is_insider else next(others)
    return colours


def _top(*columns: pd.Series) -> float:
    """The largest finite value of the columns (1 when there is none): an axis limit that never fails."""
    values = pd.concat([pd.to_numeric(c, errors="coerce") for c in columns]).to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    return float(values.max()) if values.size and values.max() > 0 else 1.0


def _colour(colours: dict[str, str], name: str) -> str:
    return colours.get(name, OTHER_COLOURS[-1])


# ------------------------------------------------------------------------------------------- charts
def segment_shares(segments: pd.DataFrame, colours: dict[str, str]) -> bytes:
    """Per segment: share of customers (grey) next to share of revenue (segment colour)."""
    data = segments.sort_values("share_of_revenue", ascending=True)
    with rc_context(_STYLE):
        fig = _figure(10.5, 0.55 * len(data) + 1.0)
        ax = _axes(fig, 1, 1, 1)
        y = np.arange(len(data))
        customers = ax.barh(y + 0.2, data["share_of_customers"], 0.38, color=MUTED)
        revenue = ax.barh(
            y - 0.2, data["share_of_revenue"], 0.38, color=[_colour(colours, s) for s in data["segment_name"]]
        )
        ax.bar_label(
            customers, labels=[f"{v:.0%} of customers" for v in data["share_of_customers"]], padding=4
        )
        ax.bar_label(revenue, labels=[f"{v:.0%} of revenue" for v in data["share_of_revenue"]], padding=4)
        ax.set_yticks(y, data["segment_name"])
        ax.set_xlim(0, min(1.0, _top(data["share_of_customers"], data["share_of_revenue"]) * 1.35))
        ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
        ax.legend(
            handles=[
                _legend_patch(MUTED, 1, "share of customers"),
                _legend_patch(INK, 1, "share of revenue"),
            ],
            loc="lower right",
            frameon=False,
        )
        return to_png(fig)


def profile_heatmap(profile: Profile) -> bytes:
    """Colour: mean of the standardised log feature per segment; text: the segment's median."""
    means, medians = profile.standardized_means, profile.medians
    with rc_context(_STYLE):
        fig = _figure(11, 0.6 * len(means) + 1.5)
        ax = fig.add_subplot(1, 1, 1)
        limit = max(1.0, float(np.nanmax(np.abs(means.to_numpy()))) if means.size else 1.0)
        image = ax.imshow(
            means.to_numpy(dtype=float), cmap="RdBu_r", norm=TwoSlopeNorm(0, -limit, limit), aspect="auto"
        )
        labels = [textwrap.fill(FEATURE_LABELS.get(c, c), 14) for c in means.columns]
        ax.set_xticks(range(means.shape[1]), labels)
        ax.set_yticks(range(means.shape[0]), means.index)
        ax.tick_params(length=0)
        ax.xaxis.tick_top()
        for spine in ax.spines.values():
            spine.set_visible(False)
        for i, segment in enumerate(means.index):
            for j, feature in enumerate(means.columns):
                z = means.iloc[i, j]
                text = _feature_value(feature, medians.loc[segment, feature])
                ax.text(j, i, text, ha="center", va="center", color="white" if abs(z) > 0.55 * limit else INK)
        bar = fig.colorbar(image, ax=ax, shrink=0.8, pad=0.01)
        bar.set_label("vs average customer (std. dev.)")
        return to_png(fig)


def _feature_value(feature: str, value) -> str:
    if value is None or pd.isna(value):
        return "–"
    if feature in ("gross_revenue", "avg_order_value"):
        return money(value)
    return f"{value:,.0f}"


def projection_scatter(proj: Projection, colours: dict[str, str]) -> bytes:
    """The sampled customers on the first two principal components, Insiders drawn last (on top)."""
    points = proj.points
    segments = list(points["segment_name"].unique())
    drawn = sorted(segments, key=lambda s: (colours.get(s) == INSIDERS_COLOUR, s))
    with rc_context(_STYLE):
        fig = _figure(10.5, 6.5)
        ax = _axes(fig, 1, 1, 1)
        handles = {}
        for segment in drawn:
            part = points[points["segment_name"] == segment]
            handles[segment] = ax.scatter(
                part["pc1"],
                part["pc2"],
                s=9,
                alpha=0.55,
                color=_colour(colours, segment),
                linewidths=0,
                label=f"{segment} ({len(part):,})",
            )
        listed = [s for s in colours if s in handles] + [s for s in segments if s not in colours]
        ax.legend(handles=[handles[s] for s in listed], markerscale=2.2, frameon=False, fontsize=9)
        ax.set_xlabel(f"component 1 ({proj.explained[0]:.0%} of the variation) →")
        ax.set_ylabel(f"component 2 ({proj.explained[1]:.0%} of the variation) →")
        ax.set_xticks([])
        ax.set_yticks([])
        return to_png(fig)


def forecast_bars(forecasts: pd.DataFrame, colours: dict[str, str]) -> bytes:
    """Expected revenue over the next 30/90/180 days per segment."""
    data = forecasts.sort_values("expected_revenue_180d", ascending=True)
    horizons = [
        ("expected_revenue_30d", "30 days", 0.35),
        ("expected_revenue_90d", "90 days", 0.65),
        ("expected_revenue_180d", "180 days", 1.0),
    ]
    with rc_context(_STYLE):
        fig = _figure(10.5, 0.55 * len(data) + 1.0)
        ax = _axes(fig, 1, 1, 1)
        y = np.arange(len(data))
        height = 0.27
        for i, (col, label, alpha) in enumerate(horizons):
            bars = ax.barh(
                y + (1 - i) * height,
                data[col],
                height,
                alpha=alpha,
                label=f"next {label}",
                color=[_colour(colours, s) for s in data["segment_name"]],
            )
            if col == "expected_revenue_180d":
                ax.bar_label(bars, labels=[money(v) for v in data[col]], padding=4, fontsize=9)
        ax.set_yticks(y, data["segment_name"])
        ax.xaxis.set_major_formatter(lambda v, _: money(v))
        ax.set_xlim(0, _top(data["expected_revenue_180d"]) * 1.18)
        handles = [_legend_patch(INK, alpha, f"next {label}") for _, label, alpha in horizons]
        ax.legend(handles=handles, loc="lower right", frameon=False)
        return to_png(fig)


def _legend_patch(colour: str, alpha: float, label: str) -> Patch:
    return Patch(facecolor=colour, alpha=alpha, label=label)


def validation_bars(validation: pd.DataFrame, colours: dict[str, str]) -> bytes:
    """The latest backtest's predicted vs actual revenue per segment, with the error in %."""
    data = validation[validation["segment_name"] != "All customers"]
    with rc_context(_STYLE):
        fig = _figure(10.5, 3.8)
        ax = _axes(fig, 1, 1, 1)
        x = np.arange(len(data))
        fill = [_colour(colours, s) for s in data["segment_name"]]
        ax.bar(x - 0.2, data["predicted_revenue"], 0.38, color=fill, alpha=0.4, label="predicted")
        actual = ax.bar(x + 0.2, data["actual_revenue"], 0.38, color=fill, label="actual")
        errors = ["" if pd.isna(v) else f"error {v:+.0%}" for v in data["revenue_error_pct"]]
        ax.bar_label(actual, labels=errors, padding=3, fontsize=9)
        ax.set_xticks(x, data["segment_name"])
        ax.yaxis.set_major_formatter(lambda v, _: money(v))
        ax.set_ylim(0, _top(data["predicted_revenue"], data["actual_revenue"]) * 1.15)
        ax.legend(
            handles=[_legend_patch(INK, 0.4, "predicted at the cutoff"), _legend_patch(INK, 1.0, "actual")],
            frameon=False,
            loc="upper right",
        )
        return to_png(fig)


def backtest_bars(backtest: pd.DataFrame) -> bytes:
    """Share of the horizon's revenue captured by each equal-size group chosen at the cutoff."""
    data = backtest.iloc[::-1]
    palette = {"insiders": INSIDERS_COLOUR, "oracle": "#e4e7eb"}
    with rc_context(_STYLE):
        fig = _figure(10.5, 0.5 * len(data) + 1.0)
        ax = _axes(fig, 1, 1, 1)
        y = np.arange(len(data))
        bars = ax.barh(
            y,
            data["share_of_future_revenue"],
            0.6,
            color=[palette.get(g, "#9aa5b1") for g in data["group_name"]],
            edgecolor=["#9aa5b1" if g == "oracle" else "none" for g in data["group_name"]],
        )
        ax.bar_label(bars, labels=[f"{v:.1%}" for v in data["share_of_future_revenue"]], padding=4)
        ax.set_yticks(y, data["group_label"].fillna(data["group_name"]))
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
        ax.set_xlabel("share of all customers' revenue in the following days")
        return to_png(fig)


def selection_lines(
    candidates: pd.DataFrame,
    insiders_band: tuple[float, float] | None = None,
    k_band: tuple[int, int] | None = None,
) -> bytes:
    """Silhouette and Insiders share of every candidate by k; the chosen one starred."""
    with rc_context(_STYLE):
        fig = _figure(11, 3.6)
        left, right = _axes(fig, 1, 2, 1), _axes(fig, 1, 2, 2)
        for (algorithm, part), colour in zip(
            candidates.groupby("algorithm"), ("#1f78b4", "#e6850e", "#33a02c"), strict=False
        ):
            part = part.sort_values("k")
            left.plot(part["k"], part["silhouette"], marker="o", ms=4, color=colour, label=algorithm)
            right.plot(part["k"], part["insiders_share"], marker="o", ms=4, color=colour, label=algorithm)
        chosen = candidates[candidates["is_chosen"].astype(bool)]
        for ax, col in ((left, "silhouette"), (right, "insiders_share")):
            ax.scatter(
                chosen["k"], chosen[col], marker="*", s=260, color=INSIDERS_COLOUR, zorder=5, label="chosen"
            )
            ax.set_xlabel("number of segments (k)")
            ax.xaxis.get_major_locator().set_params(integer=True)
        if k_band:
            for ax in (left, right):
                label = "allowed k" if ax is left else None
                ax.axvspan(k_band[0] - 0.3, k_band[1] + 0.3, color="#9aa5b1", alpha=0.15, lw=0, label=label)
        if insiders_band:
            right.axhspan(*insiders_band, color=INSIDERS_COLOUR, alpha=0.08, label="allowed Insiders share")
        left.set_title("Silhouette (higher = better separated)", fontsize=10)
        right.set_title("Share of customers in the Insiders", fontsize=10)
        right.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
        left.legend(frameon=False, fontsize=9)
        right.legend(frameon=False, fontsize=9)
        return to_png(fig)


def flow_matrix(flows: pd.DataFrame, order: list[str] | None = None) -> bytes:
    """Customers from each previous segment (rows) to each segment now (columns)."""
    matrix = flows.pivot_table(
        index="from_segment", columns="to_segment", values="customers", aggfunc="sum", fill_value=0
    )
    if order:
        rank = {name: i for i, name in enumerate(order)}
        matrix = matrix.loc[
            sorted(matrix.index, key=lambda s: (rank.get(s, len(rank)), s)),
            sorted(matrix.columns, key=lambda s: (rank.get(s, len(rank)), s)),
        ]
    with rc_context(_STYLE):
        fig = _figure(min(9, 2.4 + 1.1 * matrix.shape[1]), 0.42 * matrix.shape[0] + 1.3)
        ax = fig.add_subplot(1, 1, 1)
        values = matrix.to_numpy(dtype=float)
        ax.imshow(np.log1p(values), cmap="Purples", aspect="auto")
        ax.set_xticks(range(matrix.shape[1]), [textwrap.fill(c, 14) for c in matrix.columns])
        ax.set_yticks(range(matrix.shape[0]), matrix.index)
        ax.xaxis.tick_top()
        ax.tick_params(length=0, labelsize=9)
        for spine in ax.spines.values():
            spine.set_visible(False)
        top = np.log1p(values.max()) if values.size else 1
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                dark = np.log1p(values[i, j]) > 0.6 * top
                colour = "white" if dark else (INK if values[i, j] else "#9aa5b1")
                ax.text(j, i, f"{values[i, j]:,.0f}", ha="center", va="center", color=colour, fontsize=9)
        ax.set_ylabel("previous run", fontsize=9)
        ax.set_xlabel("this run", fontsize=9)
        ax.xaxis.set_label_position("top")
        return to_png(fig)


def calibration_plot(deciles: pd.DataFrame) -> bytes:
    """Per decile: mean predicted probability vs actual share of buyers (calibrated = on the diagonal)."""
    with rc_context(_STYLE):
        fig = _figure(6.0, 4.6)
        ax = _axes(fig, 1, 1, 1)
        ax.plot([0, 1], [0, 1], color=MUTED, linewidth=1.5, label="perfectly calibrated")
        ax.plot(
            deciles["mean_predicted"], deciles["actual_share"], marker="o", color=INSIDERS_COLOUR,
            label="deciles of the holdout",
        )  # fmt: skip
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("predicted probability of buying")
        ax.set_ylabel("share who bought")
        ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
        ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
        ax.legend(frameon=False, loc="upper left")
        return to_png(fig)

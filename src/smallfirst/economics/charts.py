"""PNG charts of the economics report. matplotlib loads only here, on the Agg backend."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from smallfirst.economics.analysis import ScenarioResult
from smallfirst.economics.policy import ThresholdCurve

_COST, _CAPTURED, _SURPLUS, _LOSS = "#8c8c8c", "#2b7bba", "#66bb6a", "#d9534f"


def _plt():  # noqa: ANN202
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path, bottom: float = 0.0) -> Path:  # noqa: ANN001
    fig.tight_layout(rect=(0, bottom, 1, 1))
    fig.savefig(path, dpi=110)
    _plt().close(fig)
    return path


def value_sticks(results: Sequence[ScenarioResult], path: Path) -> Path:
    """One stick per scenario, per 1,000 requests: cost C, then value captured up to P, then customer surplus
    up to B. A segment drawn red is negative (price below cost, or benefit below price)."""
    plt = _plt()
    fig, axes = plt.subplots(
        1, len(results), figsize=(2.6 * len(results) + 1, 4.2), sharey=True, squeeze=False
    )
    for ax, r in zip(axes[0], results, strict=True):
        s = r.stick
        c, p, b = (float(s.per_1k(x)) for x in (s.cost, s.price, s.benefit))
        ax.bar(0, c, color=_COST, width=0.6, label="cost C")
        ax.bar(
            0, p - c, bottom=c, color=_CAPTURED if p >= c else _LOSS, width=0.6, label="value captured P-C"
        )
        ax.bar(
            0, b - p, bottom=p, color=_SURPLUS if b >= p else _LOSS, width=0.6, label="customer surplus B-P"
        )
        for y, lab in ((c, "C"), (p, "P"), (b, "B")):
            ax.annotate(f"{lab} ${y:,.2f}", (0.33, y), fontsize=8, va="center")
        ax.axhline(0, color="black", lw=0.6)
        ax.set_xlim(-0.5, 1.3)
        ax.set_xticks([])
        ax.set_title(f"{r.name}\ncreated ${float(s.per_1k(s.value_created)):,.2f}", fontsize=9)
    axes[0][0].set_ylabel("USD per 1,000 requests")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=3)
    fig.suptitle("Value stick per scenario (value created = B - C)", fontsize=10)
    return _save(fig, path, bottom=0.08)


def profit_vs_threshold(curve: ThresholdCurve, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4))
    x = curve.large_share * 100
    ax.plot(x, curve.value_created, label="value created (B - C)", color=_SURPLUS)
    ax.plot(x, curve.profit, label="value captured (P - C)", color=_CAPTURED)
    b = curve.best
    ax.scatter([x[b]], [curve.value_created[b]], color="black", zorder=3)
    right = x[b] > 50
    ax.annotate(
        f"optimum: {x[b]:.0f}% to the large model\n${curve.value_created[b]:,.2f} per 1k",
        (x[b], curve.value_created[b]),
        textcoords="offset points",
        xytext=(-8 if right else 8, -30),
        ha="right" if right else "left",
        fontsize=8,
    )
    ax.set_xlabel("requests sent to the large model (%): the routing threshold falls to the right")
    ax.set_ylabel("USD per 1,000 requests")
    ax.set_title("Profit against routing threshold", fontsize=10)
    ax.legend(fontsize=8)
    return _save(fig, path)


def cost_quality(results: Sequence[ScenarioResult], curve: ThresholdCurve | None, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4))
    if curve is not None:
        ax.plot(curve.cost, curve.quality * 100, color="#bbbbbb", label="router threshold sweep")
    top = max(float(r.stick.per_1k(r.stick.cost)) for r in results) or 1.0
    for k, r in enumerate(results):
        q = (r.stick.quality or 0) * 100
        c = float(r.stick.per_1k(r.stick.cost))
        ax.scatter([c], [q], zorder=3)
        right = c > 0.7 * top  # labels of the costliest points go left so they stay inside the axes
        ax.annotate(
            r.name,
            (c, q),
            textcoords="offset points",
            xytext=(-6 if right else 6, (8, -14, 20, 8)[k % 4]),
            ha="right" if right else "left",
            fontsize=8,
        )
    ax.set_xlabel("cost per 1,000 requests (USD)")
    ax.set_ylabel("quality (% good answers)")
    ax.set_title("Cost-quality frontier of the scenarios", fontsize=10)
    if curve is not None:
        ax.legend(fontsize=8)
    return _save(fig, path)


def break_even(results: Sequence[ScenarioResult], path: Path) -> Path:
    """Monthly profit against monthly volume: Q*(P - c) - F; each line crosses zero at its break-even."""
    import numpy as np

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4))
    finite = [float(r.break_even) for r in results if r.break_even is not None]
    top = max([float(results[0].volume_per_month) * 2, *(x * 1.5 for x in finite)])
    q = np.linspace(0, top, 200)
    for r in results:
        margin = float(r.unit_price - r.unit_cost)
        ax.plot(q, q * margin - float(r.fixed_per_month), label=r.name)
        if r.break_even is not None:
            ax.scatter([float(r.break_even)], [0], s=18, zorder=3)
    ax.axhline(0, color="black", lw=0.6)
    ax.axvline(results[0].volume_per_month, color="#999999", ls=":", lw=1, label="configured volume")
    ax.xaxis.set_major_formatter(lambda v, _pos: f"{v:,.0f}")
    ax.set_xlabel("requests per month")
    ax.set_ylabel("profit per month (USD)")
    ax.set_title("Break-even: profit against volume", fontsize=10)
    ax.legend(fontsize=8)
    return _save(fig, path)

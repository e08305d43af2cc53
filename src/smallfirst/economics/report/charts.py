"""PNG charts of the economics report. matplotlib loads only here, on the Agg backend."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from smallfirst.economics.decision import Assumption, Decision
from smallfirst.economics.maths import ScenarioResult
from smallfirst.economics.workload import ThresholdCurve

_COST, _CAPTURED, _SURPLUS, _LOSS = "#8c8c8c", "#2b7bba", "#66bb6a", "#d9534f"


def _plt():  # noqa: ANN202
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path, bottom: float = 0.0) -> Path:  # noqa: ANN001
    """Write ``fig`` as PNG atomically (a temporary file, then a rename) and close it."""
    fig.tight_layout(rect=(0, bottom, 1, 1))
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, dpi=110, format="png")
    _plt().close(fig)
    tmp.replace(path)
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
    """Value created and value captured per 1,000 requests along a router's threshold sweep, optimum marked."""
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


def cost_quality(
    results: Sequence[ScenarioResult], curve: ThresholdCurve | None, path: Path, decision: Decision | None = None
) -> Path:
    """Every scenario on cost per 1,000 requests against quality, the Pareto frontier through the undominated
    ones, dominated scenarios hollow, and the router's threshold sweep in grey."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    if curve is not None:
        ax.plot(curve.cost, curve.quality * 100, color="#bbbbbb", label="router threshold sweep")
    graded = [r for r in results if r.stick.quality is not None]
    if not graded:
        ax.text(0.5, 0.5, "no graded requests: quality unknown", ha="center", transform=ax.transAxes)
        return _save(fig, path)
    top = max(float(r.stick.per_1k(r.stick.cost)) for r in graded) or 1.0
    beaten = {d.name for d in decision.dominated} if decision is not None else set()
    on_front = decision.frontier if decision is not None else []
    front = [r for name in on_front for r in graded if r.name == name]
    if len(front) > 1:
        ax.plot([float(r.stick.per_1k(r.stick.cost)) for r in front], [r.stick.quality * 100 for r in front],
                color=_CAPTURED, lw=1, ls="--", label="Pareto frontier")
    for k, r in enumerate(graded):
        q = r.stick.quality * 100
        c = float(r.stick.per_1k(r.stick.cost))
        hollow = r.name in beaten
        ax.scatter([c], [q], zorder=3, facecolors="none" if hollow else None,
                   edgecolors=_LOSS if hollow else None, color=None if hollow else f"C{k % 10}")
        right = c > 0.7 * top  # labels of the costliest points go left so they stay inside the axes
        ax.annotate(
            r.name + (" (dominated)" if hollow else ""),
            (c, q),
            textcoords="offset points",
            xytext=(-6 if right else 6, (8, -14, 20, 8)[k % 4]),
            ha="right" if right else "left",
            fontsize=8,
        )
    ax.set_xlabel("cost per 1,000 requests (USD)")
    ax.set_ylabel("quality (% good answers)")
    ax.set_title("Cost-quality frontier of the scenarios (hollow: dominated)", fontsize=10)
    if curve is not None or len(front) > 1:
        ax.legend(fontsize=8)
    return _save(fig, path)


_SHORT = {
    "p": "price P",
    "fixed_small": "fixed costs of the small stack",
    "fixed_all": "fixed costs of every scenario",
    "volume": "volume",
    "hw_price": "hardware price",
    "hw_utilisation": "hardware utilisation",
    "large": "large model's price",
}


def _plain(text: str) -> str:
    """Text matplotlib must not read as mathtext (two dollar signs would)."""
    return text.replace("$", r"\$")


def tornado(rows: Sequence[Assumption], llm: str, small_first: str, path: Path) -> Path:
    """One bar per assumption: the monthly profit of ``small_first`` minus ``llm`` as the assumption moves over
    its stated range (under each label), widest swing on top; the line at zero is where the verdict flips, the
    dotted line the configured advantage."""
    from smallfirst.economics.report.verdict import value_of

    plt = _plt()
    ranked = sorted((a for a in rows if a.ranked), key=lambda a: abs(a.delta_high - a.delta_low))
    fig, ax = plt.subplots(figsize=(9, 0.62 * max(len(ranked), 1) + 1.7))
    base = float(ranked[0].delta_base) if ranked else 0.0
    for y, a in enumerate(ranked):
        lo, hi = float(a.delta_low), float(a.delta_high)
        for end in (lo, hi):
            ax.barh(y, end - base, left=base, color=_LOSS if end < base else _SURPLUS, height=0.6)
        if a.break_even is not None:
            ax.annotate(_plain(f"flips at {value_of(a, a.break_even)}"), (max(lo, hi, base), y), xytext=(4, 0),
                        textcoords="offset points", va="center", fontsize=7)
    labels = [
        _plain(f"{_SHORT.get(a.key, 'B of ' + a.key[2:] if a.key.startswith('b:') else a.key)}\n"
               f"{value_of(a, a.low)} / {value_of(a, a.high)}".replace(" requests/month", ""))
        for a in ranked
    ]
    ax.set_yticks(range(len(ranked)))
    ax.set_yticklabels(labels, fontsize=7)
    ax.axvline(0, color="black", lw=0.8)
    ax.axvline(base, color="#555555", ls=":", lw=1, label=f"configured: {base:,.0f}")
    ax.xaxis.set_major_formatter(lambda v, _pos: f"{v:,.0f}")
    ax.set_xlabel(f"monthly profit of {small_first} minus {llm} (USD); left of 0 {llm} wins", fontsize=8)
    ax.set_title("Sensitivity of the verdict: each assumption over its stated range (low / high)", fontsize=10)
    lo_x, hi_x = ax.get_xlim()
    ax.set_xlim(lo_x, hi_x + 0.25 * (hi_x - lo_x))  # room for the flip labels
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def break_even(results: Sequence[ScenarioResult], path: Path) -> Path:
    """Monthly profit against monthly volume under the demand model, V * M / n - F; each line crosses zero at
    its break-even."""
    import numpy as np

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4))
    finite = [float(r.break_even) for r in results if r.break_even is not None]
    top = max([float(results[0].volume_per_month) * 2, *(x * 1.5 for x in finite)])
    q = np.linspace(0, top, 200)
    for r in results:
        ax.plot(q, q * float(r.margin) - float(r.fixed_per_month), label=r.name)
        if r.break_even is not None:
            ax.scatter([float(r.break_even)], [0], s=18, zorder=3)
    ax.axhline(0, color="black", lw=0.6)
    ax.axvline(results[0].volume_per_month, color="#999999", ls=":", lw=1, label="configured volume")
    ax.xaxis.set_major_formatter(lambda v, _pos: f"{v:,.0f}")
    ax.set_xlabel("requests per month" + ("" if results[0].demand.fixed else " in the market"))
    ax.set_ylabel("profit per month (USD)")
    ax.set_title("Break-even: profit against volume", fontsize=10)
    ax.legend(fontsize=8)
    return _save(fig, path)

"""Metric tables (Markdown, CSV) and plots (PNG) of router results."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

from smallfirst.evaluate.crossfit import RouterResult

__all__ = ["markdown_table", "write_csv", "plot_share", "plot_cost"]

_COLS = ("router", "APGR", "APGR (deciles)", "CPT(50%)", "CPT(80%)", "cost cut @95%", "AIQ",
         "latency ms (b=1)", "prompts/s (b=64)")


def _row(r: RouterResult) -> list[str]:
    def _f(x: float | None, pct: bool = False) -> str:
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return "-"
        return f"{x:.1%}" if pct else f"{x:.3f}"

    def _sd(x: float | None, pct: bool = False) -> str:
        if x is None or math.isnan(x):
            return ""
        return f" ± {x:.1%}" if pct else f" ± {x:.3f}"

    return [r.name, _f(r.apgr) + _sd(r.apgr_sd), _f(r.apgr_deciles), _f(r.cpt50, True) + _sd(r.cpt50_sd, True),
            _f(r.cpt80, True),
            _f(r.cost_reduction_95, True), _f(r.aiq), "-" if r.latency_ms is None else f"{r.latency_ms:.2f}",
            "-" if r.throughput_64 is None else f"{r.throughput_64:.0f}"]


def markdown_table(results: Sequence[RouterResult]) -> str:
    """A Markdown table, one row per router: APGR, APGR (deciles) and AIQ to 3 decimals, CPT and the cost cut
    as percentages, latency in ms at batch 1, prompts/s at batch 64; "-" where not measured. APGR and CPT(50%)
    carry "± sd" over fold seeds where measured, explained in a note under the table."""
    lines = ["| " + " | ".join(_COLS) + " |", "|" + "---|" * len(_COLS)]
    lines += ["| " + " | ".join(_row(r)) + " |" for r in results]
    seeds = max((r.seeds for r in results), default=1)
    note = f"\n± is the standard deviation over {seeds} fold seeds.\n" if seeds > 1 else ""
    return "\n".join(lines) + "\n" + note


#: The CSV is for programs: raw numbers (shares as fractions, not percentages), empty where not measured.
_CSV_COLS = ("router", "apgr", "apgr_deciles", "cpt50", "cpt80", "cost_reduction_95", "aiq", "latency_ms",
             "throughput_64", "apgr_sd", "cpt50_sd")


def write_csv(results: Sequence[RouterResult], path: Path) -> Path:
    """Write the table as CSV for programs (``_CSV_COLS``: shares as fractions, full precision, empty where not
    measured); returns ``path``."""

    def _raw(x: float | None) -> str:
        return "" if x is None or math.isnan(x) else repr(float(x))

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(_CSV_COLS)
        w.writerows([r.name, *(_raw(getattr(r, c)) for c in _CSV_COLS[1:])] for r in results)
    return path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_share(results: Sequence[RouterResult], path: Path, title: str) -> Path:
    """PNG of each router's quality against strong-model calls (%), with the weak and strong models' qualities
    as dashed lines (taken from the first result). Needs matplotlib (loaded here); returns ``path``."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 5))
    for r in results:
        ax.plot(r.curve.share * 100, r.curve.quality, label=f"{r.name} (APGR {r.apgr:.3f})", lw=1.2)
    c = results[0].curve
    ax.axhline(c.weak, color="grey", ls="--", lw=0.8, label="weak model")
    ax.axhline(c.strong, color="red", ls="--", lw=0.8, label="strong model")
    ax.set(xlabel="strong-model calls (%)", ylabel="quality", title=title)
    ax.legend(fontsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_cost(results: Sequence[RouterResult], path: Path, title: str) -> Path:
    """PNG of each router's quality against USD per 1,000 requests, or against the strong share (a weak call free,
    a strong one 1) when the outcome data carry no cost. Needs matplotlib (loaded here); returns ``path``."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 5))
    for r in results:
        x = r.curve.cost * 1000 if r.curve.cost is not None else r.curve.share
        ax.plot(x, r.curve.quality, label=r.name, lw=1.2)
    has_cost = results[0].curve.cost is not None
    ax.set(xlabel="USD per 1,000 requests" if has_cost else "relative cost (weak call free, strong call 1)",
           ylabel="quality", title=title)
    ax.legend(fontsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path

"""Write the economics report: one self-contained HTML page, the same numbers as Markdown and CSV beside it,
and the PNG charts (value stick, cost-quality frontier, tornado, break-even, profit against threshold).

``write(report, out_dir, sections)`` is the entry point (a ``Section`` is what another part of smallfirst adds);
``verdict.verdict(report)`` gives the verdict's sentences.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from smallfirst.economics.report import charts
from smallfirst.economics.report.render import Section, markdown, to_html, write_csv, write_sensitivity_csv
from smallfirst.economics.report.verdict import verdict
from smallfirst.economics.workload import EconomicsReport

__all__ = ["ReportFiles", "Section", "write"]


@dataclass(frozen=True)
class ReportFiles:
    """The files one report wrote."""

    html: Path
    markdown: Path
    csv: Path
    pngs: dict[str, Path]
    sensitivity_csv: Path | None = None


def _write_text(path: Path, text: str) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def write(report: EconomicsReport, out_dir: str | Path, sections: tuple[Section, ...] = ()) -> ReportFiles:
    """Write report.html, report.md, report.csv, sensitivity.csv and the PNGs into ``out_dir`` (created if
    missing); each file is written to a temporary name and renamed, so none is ever half-written. ``sections``
    (added by other parts of smallfirst, e.g. the demo's replayed learning curve) go before "What this rests on",
    in the HTML and the Markdown."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    d = report.decision
    pngs = {
        "value_stick": charts.value_sticks(report.results, out / "value_stick.png"),
        "cost_quality": charts.cost_quality(report.results, report.curve, out / "cost_quality.png", d),
        "break_even": charts.break_even(report.results, out / "break_even.png"),
    }
    if d is not None and d.small_first is not None and any(a.ranked for a in d.sensitivity):
        pngs["tornado"] = charts.tornado(d.sensitivity, d.llm, d.small_first, out / "tornado.png")
    if report.curve is not None:
        pngs["profit_threshold"] = charts.profit_vs_threshold(report.curve, out / "profit_threshold.png")
    lines = verdict(report)
    md = _write_text(out / "report.md", markdown(report, lines, sections))
    path_csv = write_csv(report, out / "report.csv")
    sens = write_sensitivity_csv(report, out / "sensitivity.csv")
    page = _write_text(out / "report.html", to_html(report, lines, pngs, sections))
    return ReportFiles(page, md, path_csv, pngs, sens)

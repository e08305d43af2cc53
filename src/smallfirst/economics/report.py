"""Write the economics report: one self-contained HTML file (charts as data URIs, CSS inline, nothing
fetched), the same numbers as Markdown and CSV, and the PNG charts."""

from __future__ import annotations

import base64
import csv
import html
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from smallfirst.economics import charts
from smallfirst.economics.analysis import ScenarioResult
from smallfirst.economics.stick import ValueStick
from smallfirst.economics.verdict import usd, verdict, volume
from smallfirst.economics.workload import EconomicsReport

_CSV_PLACES = Decimal("1e-10")

_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.3em .6em;
text-align:right}th:first-child,td:first-child{text-align:left}img{max-width:100%}.verdict{background:#f3f7fb;
padding:1em 1.5em;border-left:4px solid #2b7bba}code{background:#f4f4f4;padding:0 .2em}"""


@dataclass(frozen=True)
class Section:
    """A section another part of smallfirst adds to the report (the demo's replayed learning curve): a title,
    paragraphs, an optional table (``head`` and ``rows`` of cells) and PNG images (alt text -> file)."""

    title: str
    paragraphs: tuple[str, ...] = ()
    head: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    images: tuple[tuple[str, Path], ...] = ()


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    markdown: Path
    csv: Path
    pngs: dict[str, Path]


COLUMNS = (
    "scenario",
    "requests",
    "quality %",
    "cost / 1k",
    "rho",
    "value created / 1k",
    "value captured / 1k",
    "customer surplus / 1k",
    "gross margin",
    "break-even (req/month)",
    "best price / req",
    "profit / month",
)


def _row(name: str, s: ValueStick, r: ScenarioResult | None = None) -> list[str]:
    gm = s.gross_margin
    return [
        name,
        f"{s.n:,}",
        "n/a" if s.quality is None else f"{s.quality * 100:.1f}",
        usd(s.per_1k(s.cost)),
        "n/a" if s.rho is None else f"{float(s.rho):.3f}",
        usd(s.per_1k(s.value_created)),
        usd(s.per_1k(s.value_captured)),
        usd(s.per_1k(s.customer_surplus)),
        "n/a" if gm is None else f"{float(gm) * 100:.1f}%",
        "" if r is None else ("never" if r.break_even is None else f"{float(r.break_even):,.0f}"),
        "" if r is None else usd(r.best_price.price, 4),
        "" if r is None else usd(r.monthly_profit),
    ]


def table_rows(report: EconomicsReport) -> list[list[str]]:
    return [_row(r.name, r.stick, r) for r in report.results]


def task_rows(report: EconomicsReport) -> list[list[str]]:
    return [_row(f"{r.name} / {task}", s)[:9] for r in report.results for task, s in r.tasks.items()]


def rho_rows(report: EconomicsReport) -> list[list[str]]:
    return [
        [
            r.name,
            f"{float(r.rho.f) * 100:.1f}%",
            f"{float(r.rho.f_weighted) * 100:.1f}%",
            f"{float(r.rho.r):.4f}",
            f"{float(r.rho.wasted_term):.4f}",
            f"{float(r.rho.overhead_term):.4f}",
            r.rho.formula,
        ]
        for r in report.results
    ]


def write(report: EconomicsReport, out_dir: str | Path, sections: tuple[Section, ...] = ()) -> ReportFiles:
    """Write report.html, report.md, report.csv and the charts to ``out_dir``; ``sections`` go before "What this
    rests on", in the HTML and the Markdown."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pngs = {
        "value_stick": charts.value_sticks(report.results, out / "value_stick.png"),
        "cost_quality": charts.cost_quality(report.results, report.curve, out / "cost_quality.png"),
        "break_even": charts.break_even(report.results, out / "break_even.png"),
    }
    if report.curve is not None:
        pngs["profit_threshold"] = charts.profit_vs_threshold(report.curve, out / "profit_threshold.png")
    lines = verdict(report)
    md = out / "report.md"
    md.write_text(markdown(report, lines, sections), encoding="utf-8")
    path_csv = out / "report.csv"
    write_csv(report, path_csv)
    page = out / "report.html"
    page.write_text(to_html(report, lines, pngs, sections), encoding="utf-8")
    return ReportFiles(page, md, path_csv, pngs)


def _md_table(head: tuple[str, ...] | list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


_RHO_HEAD = (
    "scenario",
    "f (requests kept small)",
    "f (cost-weighted)",
    "r",
    "wasted attempts",
    "overhead",
    "break-down",
)


def _facts(report: EconomicsReport) -> list[str]:
    facts = [f"Workload: {report.source}", f"Baseline (LLM-only) model: {report.baseline}"]
    facts += [f"Price of {m}: {src}" for m, src in report.prices.items()]
    facts.append(f"Hardware profile: {report.hardware}")
    facts += [
        f"Sample: {r.name}: {r.stick.n:,} requests ({', '.join(f'{m} {k:,}' for m, k in r.models.items())})"
        for r in report.results
    ]
    if report.config is not None:
        facts.append(
            f"Fixed costs: {usd(report.config.fixed.per_month())}/month for every scenario, plus "
            f"{usd(report.config.fixed_small.per_month())}/month where a small model is used; "
            f"monthly volume {report.config.volume_per_month:,} requests"
        )
    return facts + report.notes


def markdown(report: EconomicsReport, lines: list[str], added: tuple[Section, ...] = ()) -> str:
    parts = [
        f"# {report.title}",
        "",
        "## Verdict",
        "",
        *[f"- {x}" for x in lines],
        "",
        "## Scenarios (value created = B - C, value captured = P - C, customer surplus = B - P)",
        "",
        _md_table(COLUMNS, table_rows(report)),
        "",
        "## Cost ratio rho against LLM-only",
        "",
        _md_table(_RHO_HEAD, rho_rows(report)),
        "",
        "## Per task type",
        "",
        _md_table(COLUMNS[:9], task_rows(report)),
        "",
    ]
    for name, periods in report.periods.items():
        parts += [
            f"## {name} by period",
            "",
            _md_table(("period", *COLUMNS[1:9]), [_row(k, s)[:9] for k, s in periods.items()]),
            "",
        ]
    for sec in added:
        parts += [f"## {sec.title}", ""]
        for text in sec.paragraphs:
            parts += [text, ""]
        if sec.head:
            parts += [_md_table(sec.head, [list(r) for r in sec.rows]), ""]
        parts += [f"![{alt}]({path.name})" for alt, path in sec.images] + ([""] if sec.images else [])
    parts += ["## What this rests on", "", *[f"- {f}" for f in _facts(report)], ""]
    return "\n".join(parts)


def _money(x: Decimal) -> str:
    return str(x.quantize(_CSV_PLACES))


def write_csv(report: EconomicsReport, path: Path) -> Path:
    head = [
        "scenario",
        "task",
        "period",
        "requests",
        "quality",
        "benefit",
        "price",
        "cost",
        "baseline_cost",
        "value_created",
        "value_captured",
        "customer_surplus",
        "gross_margin",
        "rho",
        "break_even_per_month",
        "best_price",
        "monthly_profit",
    ]

    def line(name: str, task: str, period: str, s: ValueStick, r: ScenarioResult | None) -> list[str]:
        gm, rho = s.gross_margin, s.rho
        return [
            name,
            task,
            period,
            str(s.n),
            "" if s.quality is None else f"{s.quality:.6f}",
            *(
                _money(x)
                for x in (
                    s.benefit,
                    s.price,
                    s.cost,
                    s.baseline_cost,
                    s.value_created,
                    s.value_captured,
                    s.customer_surplus,
                )
            ),
            "" if gm is None else _money(gm),
            "" if rho is None else _money(rho),
            "" if r is None or r.break_even is None else _money(r.break_even),
            "" if r is None else _money(r.best_price.price),
            "" if r is None else _money(r.monthly_profit),
        ]

    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(head)
        for r in report.results:
            w.writerow(line(r.name, "(all)", "(all)", r.stick, r))
            for task, s in r.tasks.items():
                w.writerow(line(r.name, task, "(all)", s, None))
            for period, s in report.periods.get(r.name, {}).items():
                w.writerow(line(r.name, "(all)", period, s, None))
    return path


def _html_table(head: tuple[str, ...] | list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<p><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></p>'


def to_html(report: EconomicsReport, lines: list[str], pngs: dict[str, Path],
            added: tuple[Section, ...] = ()) -> str:
    e = html.escape
    sections = [
        f"<h1>{e(report.title)}</h1>",
        "<div class='verdict'><h2>Verdict</h2><ul>"
        + "".join(f"<li>{e(x)}</li>" for x in lines)
        + "</ul></div>",
        "<h2>The value stick</h2><p>For each scenario: B is what the answers are worth to the customer, "
        "P what the customer pays, C what the answers cost us. <b>value created</b> = B &minus; C, "
        "<b>value captured</b> by the firm = P &minus; C, customer surplus = B &minus; P. "
        "A deal is possible only when WTS &le; C &le; P &le; B.</p>",
        _img(pngs["value_stick"], "value stick per scenario"),
        _html_table(COLUMNS, table_rows(report)),
    ]
    if "profit_threshold" in pngs and report.curve is not None:
        c = report.curve
        sections += [
            "<h2>Profit against routing threshold</h2>",
            f"<p>The optimum sends {c.large_share[c.best] * 100:.1f}% of requests to the large model and "
            f"creates {usd(c.value_created[c.best])} per 1,000 requests.</p>",
            _img(pngs["profit_threshold"], "profit against routing threshold"),
        ]
    sections += [
        "<h2>Cost&ndash;quality frontier</h2>",
        _img(pngs["cost_quality"], "cost-quality frontier"),
        "<h2>Cost ratio &rho; against LLM-only</h2>",
        _html_table(_RHO_HEAD, rho_rows(report)),
        "<h2>Break-even</h2>",
        _img(pngs["break_even"], "break-even"),
        _html_table(
            (
                "scenario",
                "fixed costs / month",
                "price / request",
                "cost / request",
                "break-even",
                "small stack vs LLM-only",
            ),
            [
                [
                    r.name,
                    usd(r.fixed_per_month),
                    usd(r.unit_price, 4),
                    usd(r.unit_cost, 6),
                    volume(r.break_even),
                    "" if r.fixed_small_per_month == 0 else volume(r.break_even_local_vs_api),
                ]
                for r in report.results
            ],
        ),
        "<h2>Per task type</h2>",
        _html_table(COLUMNS[:9], task_rows(report)),
    ]
    for name, periods in report.periods.items():
        sections += [
            f"<h2>{e(name)} by period</h2>",
            _html_table(("period", *COLUMNS[1:9]), [_row(k, s)[:9] for k, s in periods.items()]),
        ]
    for sec in added:
        sections.append(f"<h2>{e(sec.title)}</h2>" + "".join(f"<p>{e(t)}</p>" for t in sec.paragraphs))
        if sec.head:
            sections.append(_html_table(sec.head, [list(r) for r in sec.rows]))
        sections += [_img(path, alt) for alt, path in sec.images]
    sections += [
        "<h2>What this rests on</h2><ul>" + "".join(f"<li>{e(f)}</li>" for f in _facts(report)) + "</ul>"
    ]
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{e(report.title)}</title><style>{_CSS}</style></head><body>"
        + "\n".join(sections)
        + "</body></html>\n"
    )

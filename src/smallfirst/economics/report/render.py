"""The report's tables, and the three forms they are written in: one self-contained HTML page (charts as data
URIs, CSS inline, nothing fetched), Markdown, and CSV."""

from __future__ import annotations

import base64
import csv
import html
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from smallfirst.economics.decision import Decision
from smallfirst.economics.maths import RHO_CLAIM, ScenarioResult, ValueStick
from smallfirst.economics.report.verdict import flip_words, usd, value_of, volume
from smallfirst.economics.workload import EconomicsReport

_CSV_PLACES = Decimal("1e-10")

_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.3em .6em;
text-align:right}th:first-child,td:first-child{text-align:left}img{max-width:100%}.verdict{background:#f3f7fb;
padding:1em 1.5em;border-left:4px solid #2b7bba}code{background:#f4f4f4;padding:0 .2em}"""

@dataclass(frozen=True)
class Section:
    """A section another part of smallfirst adds to the report (the demo's replayed learning curve): a title,
    paragraphs, an optional table (``head`` and ``rows`` of cells) and PNG images (alt text -> file). It goes
    before "What this rests on", in the HTML and the Markdown."""

    title: str
    paragraphs: tuple[str, ...] = ()
    head: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    images: tuple[tuple[str, Path], ...] = ()


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
    best = "" if r is None else ("n/a" if r.best_price is None else usd(r.best_price.price, 4))
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
        best,
        "" if r is None else usd(r.monthly_profit),
    ]


def table_rows(report: EconomicsReport) -> list[list[str]]:
    """One row of COLUMNS per scenario."""
    return [_row(r.name, r.stick, r) for r in report.results]


def task_rows(report: EconomicsReport) -> list[list[str]]:
    """The first nine COLUMNS per scenario and task family."""
    return [_row(f"{r.name} / {task}", s)[:9] for r in report.results for task, s in r.tasks.items()]


_RHO_HEAD = (
    "scenario",
    "f (requests kept small)",
    "f (cost-weighted)",
    "r",
    "wasted attempts",
    "overhead",
    "break-down",
)


def rho_rows(report: EconomicsReport) -> list[list[str]]:
    """rho's break-down per scenario."""
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


PROFIT_HEAD = (
    "scenario",
    "B / request",
    "P / request",
    "C / request",
    "value created / 1k",
    "value captured / 1k",
    "customer surplus / 1k",
    "bought at P",
    "profit / month",
    "rho",
    "f for rho = 1/6 (at measured r)",
    "r for rho = 1/6 (at measured f)",
)


def profit_rows(report: EconomicsReport) -> list[list[str]]:
    """The section "Is small-model-first profitable here?": B, P, C per request, the three values per 1,000,
    monthly profit under the demand model, rho and what rho = 1/6 would take."""
    d = report.decision
    out = []
    for r in report.results:
        s = r.stick
        t = d.rho_targets.get(r.name) if d is not None else None

        def _need(x: Decimal | None, share: bool, t=t) -> str:  # noqa: ANN001
            if t is None:
                return ""
            if t.reached:
                return "reached"
            if x is None:
                return "out of reach"
            return f"{float(x) * 100:.1f}%" if share else f"{float(x):.4f}"

        out.append([
            r.name,
            usd(s.per_request(s.benefit), 5),
            usd(s.per_request(s.price), 5),
            usd(s.per_request(s.cost), 6),
            usd(s.per_1k(s.value_created)),
            usd(s.per_1k(s.value_captured)),
            usd(s.per_1k(s.customer_surplus)),
            f"{float(r.bought) * 100:.0f}%",
            usd(r.monthly_profit),
            "n/a" if s.rho is None else f"{float(s.rho):.3f}",
            _need(None if t is None else t.f_needed, True),
            _need(None if t is None else t.r_needed, False),
        ])
    return out


def profit_text(report: EconomicsReport) -> list[str]:
    """The paragraphs above the profitability table: what rho is measured against the 1/6 claim."""
    d = report.decision
    out = [
        "B is what the answers are worth to the customer, P what the customer pays, C what they cost to serve, "
        "each per request served; value created = B - C = value captured (P - C) + customer surplus (B - P).",
    ]
    if d is not None:
        out.append(f"Demand model, used by every monthly figure: {d.demand.describe()}.")
    if d is None or d.small_first is None:
        return out
    t = d.rho_targets.get(d.small_first)
    if t is None:
        return out
    claim = f"{float(RHO_CLAIM):.3f}"
    if t.reached:
        out.append(
            f"{d.small_first} measures rho = {float(t.rho):.3f}: at or below the common claim that small-model-"
            f"first costs about 1/6 ({claim}) of LLM-only."
        )
        return out
    parts = [
        f"{d.small_first} measures rho = {float(t.rho):.3f} against the common claim of about 1/6 ({claim}), "
        f"with f = {float(t.f) * 100:.1f}% of LLM-only's cost kept small at a small/large cost ratio "
        f"r = {float(t.r):.4f}."
    ]
    parts.append(
        f"At that r, rho reaches 1/6 when {float(t.f_needed) * 100:.1f}% (cost-weighted) is kept small."
        if t.f_needed is not None
        else "At that r no share kept small reaches 1/6 (the small model is not cheap enough)."
    )
    parts.append(
        f"At that f, it reaches 1/6 when the small model costs r = {float(t.r_needed):.4f} of the large one."
        if t.r_needed is not None
        else "At that f no price ratio reaches 1/6: the requests left to the large model alone cost more."
    )
    out.append(" ".join(parts))
    return out


SENS_HEAD = ("assumption", "configured", "range (low / high)", "advantage at low", "advantage configured",
             "advantage at high", "break-even", "kind", "distance (range half-widths)", "note")


def sensitivity_rows(decision: Decision | None) -> list[list[str]]:
    """One row per assumption: range, the advantage of small-first over LLM-only (USD a month), break-even."""
    if decision is None:
        return []
    return [
        [
            a.label,
            value_of(a, a.base),
            f"{value_of(a, a.low)} / {value_of(a, a.high)}",
            usd(a.delta_low),
            usd(a.delta_base),
            usd(a.delta_high),
            "never" if a.break_even is None else value_of(a, a.break_even),
            a.kind,
            "" if a.distance is None else f"{float(a.distance):.2f}",
            a.note,
        ]
        for a in decision.sensitivity
    ]


SPREAD_HEAD = ("scenario", "requests", "quality % (95% CI)", "cost / 1k (95% CI)", "value created / 1k (95% CI)")


def spread_rows(decision: Decision | None) -> list[list[str]]:
    """Bootstrap intervals per scenario."""
    if decision is None:
        return []

    def _iv(i, pct: bool = False) -> str:  # noqa: ANN001
        if i is None:
            return "n/a"
        if pct:
            return f"{i.estimate * 100:.1f} ({i.low * 100:.1f} to {i.high * 100:.1f})"
        return f"{usd(i.estimate)} ({usd(i.low)} to {usd(i.high)})"

    return [
        [s.name, f"{s.n:,}", _iv(s.quality, True), _iv(s.cost_per_1k), _iv(s.value_per_1k)]
        for s in decision.spreads.values()
    ]


COMPARE_HEAD = ("comparison", "metric", "difference (95% CI)", "resampled", "told apart?")


def comparison_rows(decision: Decision | None) -> list[list[str]]:
    """The recommended scenario against every other: the difference and whether the sample separates them."""
    if decision is None:
        return []
    return [
        [
            f"{c.a} - {c.b}",
            c.metric,
            f"{c.diff.estimate:+.4g} ({c.diff.low:+.4g} to {c.diff.high:+.4g})",
            "paired by prompt" if c.paired else "independently",
            "yes" if c.distinguishable else "no: cannot be told apart at this sample size",
        ]
        for c in decision.comparisons
    ]


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
    if report.decision is not None:
        facts.append(f"Demand model: {report.decision.demand.describe()}")
    return facts + report.notes


def _sensitivity_text(report: EconomicsReport) -> list[str]:
    d = report.decision
    if d is None or d.small_first is None:
        return ["No scenario keeps requests small, so there is no small-model-first verdict to test."]
    out = [
        f"Each assumption moves alone over the stated range while the routing stays as measured; the advantage "
        f"is the monthly profit of {d.small_first} minus {d.llm} under the demand model (configured: "
        f"{usd(d.delta)} a month). The break-even is the value at which it changes sign: a crossing where the two "
        f"profits are equal, a step where a task type's buyers drop out at once."
    ]
    most = d.most_sensitive
    if most is not None:
        out.append(f"The verdict is most sensitive to {most.label}, which {flip_words(most)}.")
    return out


def _md_table(head: tuple[str, ...] | list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def markdown(report: EconomicsReport, lines: list[str], added: tuple[Section, ...] = ()) -> str:
    """The report as Markdown: the same numbers as the HTML page, without its own charts; ``added`` sections go
    before "What this rests on" (their images linked by file name, beside the report)."""
    d = report.decision
    parts = [
        f"# {report.title}",
        "",
        "## Verdict",
        "",
        *[f"- {x}" for x in lines],
        "",
        "## Is small-model-first profitable here?",
        "",
        *[f"{p}\n" for p in profit_text(report)],
        _md_table(PROFIT_HEAD, profit_rows(report)),
        "",
        "## Scenarios (value created = B - C, value captured = P - C, customer surplus = B - P)",
        "",
        _md_table(COLUMNS, table_rows(report)),
        "",
        "## Sensitivity of the verdict",
        "",
        *[f"{p}\n" for p in _sensitivity_text(report)],
        _md_table(SENS_HEAD, sensitivity_rows(d)),
        "",
        "## Uncertainty (bootstrap over requests)",
        "",
        _md_table(SPREAD_HEAD, spread_rows(d)),
        "",
        _md_table(COMPARE_HEAD, comparison_rows(d)),
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


CSV_HEAD = [
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
    "bought_share",
    "dominated_by",
    "quality_ci_low",
    "quality_ci_high",
    "cost_per_1k_ci_low",
    "cost_per_1k_ci_high",
    "value_created_per_1k_ci_low",
    "value_created_per_1k_ci_high",
]


def write_csv(report: EconomicsReport, path: Path) -> Path:
    """Sums per scenario (then per task family and period) as CSV, money to 10 decimals; the scenario rows also
    carry the share bought, dominance and the bootstrap intervals."""
    d = report.decision

    def _line(name: str, task: str, period: str, s: ValueStick, r: ScenarioResult | None) -> list[str]:
        gm, rho = s.gross_margin, s.rho
        extra = ["", "", "", "", "", "", "", ""]
        if r is not None:
            sp = d.spreads.get(r.name) if d is not None else None
            by = next((x.by for x in d.dominated if x.name == r.name), "") if d is not None else ""
            extra = [
                f"{float(r.bought):.6f}",
                by,
                *(("", "") if sp is None or sp.quality is None
                  else (f"{sp.quality.low:.6f}", f"{sp.quality.high:.6f}")),
                *(("", "") if sp is None else (f"{sp.cost_per_1k.low:.8f}", f"{sp.cost_per_1k.high:.8f}")),
                *(("", "") if sp is None else (f"{sp.value_per_1k.low:.8f}", f"{sp.value_per_1k.high:.8f}")),
            ]
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
            "" if r is None or r.best_price is None else _money(r.best_price.price),
            "" if r is None else _money(r.monthly_profit),
            *extra,
        ]

    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_HEAD)
        for r in report.results:
            w.writerow(_line(r.name, "(all)", "(all)", r.stick, r))
            for task, s in r.tasks.items():
                w.writerow(_line(r.name, task, "(all)", s, None))
            for period, s in report.periods.get(r.name, {}).items():
                w.writerow(_line(r.name, "(all)", period, s, None))
    tmp.replace(path)
    return path


def write_sensitivity_csv(report: EconomicsReport, path: Path) -> Path:
    """The sensitivity table as CSV: raw values, the advantage in USD a month, break-even and its kind."""
    d = report.decision
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["assumption", "key", "unit", "configured", "low", "high", "advantage_low", "advantage_configured",
                    "advantage_high", "break_even", "kind", "distance_half_widths", "ranked", "small_first", "llm"])
        for a in d.sensitivity if d is not None else []:
            w.writerow([a.label, a.key, a.unit, a.base, a.low, a.high, _money(a.delta_low), _money(a.delta_base),
                        _money(a.delta_high), "" if a.break_even is None else a.break_even, a.kind,
                        "" if a.distance is None else f"{float(a.distance):.6f}", a.ranked, d.small_first, d.llm])
    tmp.replace(path)
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
    """The whole report as one HTML page that fetches nothing: CSS inline, charts as data URIs; ``added``
    sections go before "What this rests on"."""
    e = html.escape
    d = report.decision
    para = lambda texts: "".join(f"<p>{e(t)}</p>" for t in texts)  # noqa: E731
    sections = [
        f"<h1>{e(report.title)}</h1>",
        "<div class='verdict'><h2>Verdict</h2><ul>"
        + "".join(f"<li>{e(x)}</li>" for x in lines)
        + "</ul></div>",
        "<h2>Is small-model-first profitable here?</h2>",
        para(profit_text(report)),
        _html_table(PROFIT_HEAD, profit_rows(report)),
        "<h2>The value stick</h2><p>For each scenario: B is what the answers are worth to the customer, "
        "P what the customer pays, C what the answers cost us. <b>value created</b> = B &minus; C, "
        "<b>value captured</b> by the firm = P &minus; C, customer surplus = B &minus; P. "
        "A deal is possible only when WTS &le; C &le; P &le; B.</p>",
        _img(pngs["value_stick"], "value stick per scenario"),
        _html_table(COLUMNS, table_rows(report)),
        "<h2>Sensitivity of the verdict</h2>",
        para(_sensitivity_text(report)),
    ]
    if "tornado" in pngs:
        sections.append(_img(pngs["tornado"], "tornado chart of the verdict's sensitivity"))
    sections.append(_html_table(SENS_HEAD, sensitivity_rows(d)))
    sections += [
        "<h2>Cost&ndash;quality frontier and dominance</h2>",
        para([x for x in lines if "dominated" in x] or ["No scenario is dominated."]),
        _img(pngs["cost_quality"], "cost-quality frontier"),
        "<h2>Uncertainty</h2><p>Intervals are bootstrap percentiles over requests (1,000 resamples, 95%); "
        "comparisons resample by prompt where both scenarios served the same prompts.</p>",
        _html_table(SPREAD_HEAD, spread_rows(d)),
        _html_table(COMPARE_HEAD, comparison_rows(d)),
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
        sections.append(f"<h2>{e(sec.title)}</h2>" + para(sec.paragraphs))
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

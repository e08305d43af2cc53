"""``GET /dashboard``: recent requests, totals and savings as one self-contained HTML page (no scripts from
anywhere else, so it works offline and behind a strict CSP). Prompts and answers are not shown."""

from __future__ import annotations

from html import escape

from smallfirst.store.request_record import RequestRecord
from smallfirst.store.requests import Totals

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#222}
h1{font-size:1.3rem}table{border-collapse:collapse;width:100%}
th,td{padding:.25rem .5rem;border-bottom:1px solid #ddd;text-align:left;white-space:nowrap}
td.r{text-align:right;font-variant-numeric:tabular-nums}.err{color:#b00}
.cards{display:flex;gap:1rem;margin:1rem 0}.card{border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem}
.card b{display:block;font-size:1.2rem}
"""


def _usd(x: object) -> str:
    return f"${float(x):.6f}"  # type: ignore[arg-type]


def render(rows: list[RequestRecord], totals: Totals, *, auth: str, learning: list[str] | None = None) -> str:
    """The dashboard page as HTML: the totals' cards (requests, failures, tokens, cost, baseline, saving in USD),
    what learning has learned (``learning``: the lines of ``smallfirst learn status``), and the recent ``rows``;
    ``auth`` ("open" or "keys") is shown in its header."""
    pct = f"{totals.saving_usd / totals.baseline_usd * 100:.0f}%" if totals.baseline_usd > 0 else "n/a"
    cards = [
        ("requests", f"{totals.requests}"),
        ("failed", f"{totals.errors}"),
        ("tokens", f"{totals.prompt_tokens}+{totals.completion_tokens}"),
        ("cost", _usd(totals.cost_usd)),
        ("baseline", _usd(totals.baseline_usd)),
        ("saved", f"{_usd(totals.saving_usd)} ({pct})"),
    ]
    body = []
    for r in rows:
        status = "ok" if r.status == "ok" else f"{r.http_status}: {r.error or ''}"
        cls = "" if r.status == "ok" else " class=err"
        body.append(
            f"<tr{cls}><td>{r.created_at:%Y-%m-%d %H:%M:%S}</td><td>{escape(r.key_id or '')}</td>"
            f"<td>{escape(r.requested_model)}</td><td>{escape(r.model)}</td><td>{escape(r.policy or '')}</td>"
            f"<td class=r>{r.prompt_tokens}+{r.completion_tokens}</td><td class=r>{r.latency_s:.3f}s</td>"
            f"<td class=r>{_usd(r.cost_usd)}</td><td class=r>{_usd(r.baseline_usd)}</td>"
            f"<td>{escape(status[:160])}</td></tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "time (UTC)",
            "key",
            "asked for",
            "answered by",
            "route",
            "tokens",
            "latency",
            "cost",
            "baseline",
            "status",
        )
    )
    card_html = "".join(f"<div class=card>{escape(k)}<b>{escape(v)}</b></div>" for k, v in cards)
    if learning:
        card_html += "<h2>learning</h2><ul>" + "".join(f"<li>{escape(line)}</li>" for line in learning) + "</ul>"
    return (
        f"<!doctype html><html><head><meta charset=utf-8><meta http-equiv=refresh content=10>"
        f"<title>smallfirst</title><style>{_STYLE}</style></head><body><h1>smallfirst gateway</h1>"
        f"<p>auth: {escape(auth)} &middot; refreshes every 10 s &middot; <a href=/metrics>metrics</a></p>"
        f"<div class=cards>{card_html}</div><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></body></html>"
    )

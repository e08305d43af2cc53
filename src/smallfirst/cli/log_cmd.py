"""smallfirst log: recent requests and totals."""

from __future__ import annotations

import typer
from rich.table import Table

from smallfirst.cli.output import console, saving_pct, usd
from smallfirst.config import load_settings


def register(app: typer.Typer) -> None:
    """Add `smallfirst log` (recent requests and totals) to the CLI ``app``
    (``cli.main`` calls each command module's ``register``)."""
    app.command("log")(log)


def log(limit: int = typer.Option(20, "--limit", "-n", min=1, help="How many recent requests to show."),
        tag: str = typer.Option(None, help="Only requests with this tag (e.g. a demo scenario)."),
        show_text: bool = typer.Option(False, "--text", help="Show prompt and answer.")) -> None:
    """Show recent requests, with cost, baseline and saving, and the totals."""
    from smallfirst.store.db import get_engine
    from smallfirst.store.requests import list_requests, totals

    settings = load_settings()
    engine = get_engine(settings.db_url)
    rows = list_requests(engine, limit=limit, tag=tag, newest_first=True)
    table = Table(title=f"last {len(rows)} requests")
    for col in ("time (UTC)", "source", "model", "route", "tokens", "latency", "cost", "baseline", "status"):
        table.add_column(col, overflow="fold")
    for r in reversed(rows):
        route = f"{r.policy}: {r.decision_reason}" if r.policy and r.policy != "direct" else (r.policy or "")
        if r.score is not None:
            route += f" (score {r.score:.3f}"
            route += f", threshold {r.threshold:g})" if r.threshold is not None else ")"
        status = r.status if r.status == "ok" else f"{r.status} {r.http_status}: {r.error or ''}"
        table.add_row(r.created_at.strftime("%Y-%m-%d %H:%M:%S"), r.source, r.model or r.requested_model, route,
                      f"{r.prompt_tokens}+{r.completion_tokens}", f"{r.latency_s:.2f}s", usd(r.cost_usd),
                      usd(r.baseline_usd), status)
        if show_text:
            table.add_row("", "", "", f"> {r.prompt or ''}\n< {r.response or ''}", "", "", "", "", "")
    console.print(table)
    t = totals(engine, tag=tag)
    console.print(f"all requests: {t.requests} ({t.errors} failed) · {t.prompt_tokens}+{t.completion_tokens} tokens · "
                  f"cost {usd(t.cost_usd)} · baseline {usd(t.baseline_usd)} · saved {usd(t.saving_usd)} "
                  f"({saving_pct(t.cost_usd, t.baseline_usd)})")

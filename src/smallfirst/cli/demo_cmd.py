"""smallfirst demo: the main job. Serves a mixed workload under four deployments and prints the verdict."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from smallfirst.cli.output import console, usd
from smallfirst.config import load_settings
from smallfirst.errors import DataError


def register(app: typer.Typer) -> None:
    """Add `smallfirst demo` (the main job) to the CLI ``app``
    (``cli.main`` calls each command module's ``register``)."""
    app.command()(demo)


def _mix(text: str | None) -> dict[str, int] | None:
    if not text:
        return None
    out = {}
    for part in text.split(","):
        name, _, n = part.partition("=")
        if not n.strip().isdigit():
            raise DataError(f"bad --mix entry {part!r}", hint="use task=count pairs, e.g. banking77=30,gsm8k=8")
        out[name.strip()] = int(n)
    return out


def demo(workload: Path = typer.Option(None, help="Workload JSONL (format: docs/formats.md; default: the shipped "
                                                  "mixed enterprise workload)."),
         mix: str = typer.Option("banking77=30,cuad=30,mmlu=30,gsm8k=6,kpi=4", help="Items per task type."),
         full: bool = typer.Option(False, "--full", help="Serve the whole workload, ignoring --mix."),
         econ: str = typer.Option("demo", help="B and P per task type: a TOML file, or a shipped config's name."),
         outcomes: str = typer.Option("local-ladder", help="Router training outcomes: a file or a shipped set."),
         data_dir: Path = typer.Option(None, help="Full data sets to train the specialists on, in their upstream "
                                                  "layout (default: the slices that ship with smallfirst)."),
         out: Path = typer.Option(Path("reports/demo"), help="Where the report goes."),
         run: str = typer.Option(None, help="Run name; an interrupted run of the same name resumes (default: "
                                             "named after the plan, so the same items and models resume)."),
         fresh: bool = typer.Option(False, help="Discard this run's earlier progress."),
         small: str = typer.Option(None, help="Small tier (default: routing.small)."),
         large: str = typer.Option(None, help="Large tier (default: routing.large; an API model if configured)."),
         learn_from: str = typer.Option("qwen2.5-coder-0.5b,qwen2.5-coder-1.5b",
                                        help="Weak,strong model names in the outcome file the router learns from."),
         specialist_limit: int = typer.Option(None, help="Train specialists on at most this many examples."),
         replay: int = typer.Option(3000, min=0, max=3000, help="Recorded requests the report's learning section "
                                                               "replays (no model compute; 0 leaves it out).")) -> None:
    """Is small-model-first profitable for this workload? Serve it four ways and measure."""
    from smallfirst.cli.shipped import economics_config
    from smallfirst.datasets import bundled
    from smallfirst.demo.pipeline import run_demo
    from smallfirst.demo.plan import SCENARIOS, DemoPlan

    settings = load_settings()
    small = small or settings.routing.small
    large = large or settings.routing.large
    weak, _, strong = learn_from.partition(",")
    plan = DemoPlan(workload=workload or bundled("workload/mixed.jsonl"), outcomes=outcomes,
                    econ_config=economics_config(econ), data_dir=data_dir, out_dir=out,
                    run_dir=settings.home / "demo" / (run or ""), mix=None if full else _mix(mix),
                    per_plan=run is None, fresh=fresh, replay=replay)
    with Progress(TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        bars = {s: progress.add_task(s, total=None) for s in SCENARIOS}

        def _tick(scenario: str, done: int, total: int) -> None:
            progress.update(bars[scenario], completed=done, total=total)

        result = run_demo(settings, plan, small=small, large=large, learn_from=(weak, strong),
                          log=lambda s: progress.console.print(f"[dim]{s}[/]"), tick=_tick,
                          specialist_limit=specialist_limit)
    print_verdict(result)


def print_verdict(result) -> None:  # type: ignore[no-untyped-def]
    """Print the demo's verdict table for a ``DemoResult``: per scenario its quality, cost and value created and
    captured per 1,000 requests (USD), cost ratio to LLM-only, break-even requests a month, and the models used."""
    from smallfirst.economics.report.verdict import verdict

    report = result.report
    by_name = {r.name: r for r in report.results}
    llm = by_name.get("LLM-only")
    table = Table(title=f"verdict: {len(result.items)} requests per scenario, small tier {result.small}, "
                        f"large tier {result.large}")
    for col in ("scenario", "quality", "cost / 1k req", "rho vs LLM-only", "value created / 1k", "value captured / 1k",
                "break-even / month", "models used"):
        table.add_column(col, justify="right" if col not in ("scenario", "models used") else "left")
    for name in ("LLM-only", "SLM-only", "hybrid", "hybrid+specialised"):
        r = by_name.get(name)
        if r is None:
            continue
        n = Decimal(max(r.stick.n, 1))
        q = result.quality(name)
        rho = (r.stick.cost / llm.stick.cost) if llm and llm.stick.cost else None
        table.add_row(name, f"{q:.1%}" if q is not None else "n/a", usd(r.stick.cost / n * 1000, 4),
                      f"{rho:.3f}" if rho is not None else "n/a", usd(r.stick.value_created / n * 1000, 2),
                      usd(r.stick.value_captured / n * 1000, 2),
                      f"{r.break_even:,.0f}" if r.break_even is not None else "never",
                      ", ".join(f"{m} {c}" for m, c in sorted(result.models_used(name).items())))
    console.print(table)
    for line in verdict(report):
        console.print(line, markup=False, highlight=False)
    console.print(f"report: {result.files.html}")
    console.print(f"finished in {result.seconds / 60:.1f} min; {result.memo_hits} completions reused across scenarios")

"""smallfirst collect: outcome data for the local model ladder, resumable."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from smallfirst.cli.output import console
from smallfirst.config import load_settings

LADDER = "smollm2-135m,qwen2.5-coder-0.5b,qwen2.5-coder-1.5b"
#: splits disjoint from the demo workload (drawn from the test splits), so routers never see demo items
TRAIN_SPLITS = {"banking77": "train", "cuad": "train", "gsm8k": "train", "mmlu": "val"}


def register(app: typer.Typer) -> None:
    """Add `smallfirst collect` (run models over labelled task sets into an outcome file) to the CLI ``app``
    (``cli.main`` calls each command module's ``register``)."""
    app.command()(collect)


def collect(tasks: str = typer.Option("banking77,cuad,gsm8k,mmlu",
                                      help="Comma-separated task types, each optionally with its own count: gsm8k:40."),
            n: int = typer.Option(100, min=1, help="Items per task without a count of its own."),
            models: str = typer.Option(LADDER, help="Comma-separated models, cheapest first."),
            out: Path = typer.Option(Path("outcomes/local-ladder.jsonl"), help="Outcome file to write."),
            data_dir: Path = typer.Option(None, help="Folder holding the data sets in their upstream layout "
                                                     "(default: the installed sets, `smallfirst data pull NAME`)."),
            seed: int = typer.Option(0),
            assemble_only: bool = typer.Option(False, "--assemble-only",
                                               help="Write what every model has finished; run nothing."),
            ) -> None:
    """Run the model ladder over labelled items and save graded outcomes (resumes after an interruption)."""
    from smallfirst.service import Service
    from smallfirst.tasks import collect as collect_mod
    from smallfirst.tasks import sources

    model_list = [m.strip() for m in models.split(",") if m.strip()]
    items = []
    for spec in (t.strip() for t in tasks.split(",") if t.strip()):
        name, _, count = spec.partition(":")
        items += sources.build(name, data_dir, int(count) if count else n, seed=seed,
                               split=TRAIN_SPLITS.get(name, "test"))
    service = None if assemble_only else Service(load_settings(), log=False)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=console) as progress:
        bar = progress.add_task("collecting", total=len(items) * len(model_list))

        def _tick(model: str, item, rec: dict) -> None:
            progress.update(bar, advance=1, description=f"{model} on {item.task.split('/')[0]}")

        outcomes = collect_mod.collect(service, items, model_list, out, assemble_only=assemble_only,
                                       labels=lambda t: sources.labels_for(t, data_dir), on_result=_tick)
    for j, model in enumerate(outcomes.models):
        right = outcomes.quality[:, j].sum()
        console.print(f"{model}: {right:.0f}/{len(outcomes)} correct ({right / len(outcomes):.1%})")
    console.print(f"wrote {len(outcomes)} prompts x {len(model_list)} models to {out}")

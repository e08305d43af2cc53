"""smallfirst specialize: train a small classifier for one niche, evaluate it, register it as a tier."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from smallfirst.cli.output import console
from smallfirst.config import load_settings


def register(app: typer.Typer) -> None:
    """Add `smallfirst specialize` (train and register a niche classifier) to the CLI ``app``
    (``cli.main`` calls each command module's ``register``)."""
    app.command("specialize")(specialize)


def specialize(
    task: str = typer.Option(..., "--task", help="Name of the new model tier, e.g. banking77."),
    train: Path = typer.Option(None, "--train", help="Training file: CSV, TSV or JSONL."),
    eval_file: Path = typer.Option(None, "--eval", help="Held-out labelled file to evaluate on."),
    text_col: str = typer.Option("text", "--text-col", help="Column holding the text."),
    label_col: str = typer.Option("label", "--label-col", help="Column holding the label."),
    teacher: str = typer.Option(None, "--teacher", help="Label --train's texts with this configured model."),
    labels_from_log: bool = typer.Option(
        False, "--labels-from-log", help="Train on the large model's answers in the request log."
    ),
    log_model: str = typer.Option(
        None, "--log-model", help="With --labels-from-log: whose answers (default: routing.large)."
    ),
    classes: str = typer.Option(
        None, "--classes", help="Comma-separated label set for a teacher or the log."
    ),
    target_precision: float = typer.Option(
        0.99,
        "--target-precision",
        min=0.5,
        max=1.0,
        help="Precision the answered items must reach; the rest escalate.",
    ),
    artifact: Path = typer.Option(
        None, "--artifact", help="Where to write the artefact (default: under <home>/specialized/<task>)."
    ),
) -> None:
    """Train a specialised classifier (MiniLM + linear head), evaluate it and register it as a model tier."""
    from smallfirst.specialize.classifier import TrainConfig
    from smallfirst.specialize.workflow import specialize as run

    if teacher and labels_from_log:
        raise typer.BadParameter("use one of --teacher and --labels-from-log")
    settings = load_settings()
    names = {
        "teacher": "teacher labels",
        "embed": "embed training texts",
        "fit": "fit head + calibrate",
        "evaluate": "evaluate",
    }
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as bars:
        ids: dict[str, int] = {}

        def _progress(stage: str, done: int, total: int) -> None:
            if stage not in ids:
                ids[stage] = bars.add_task(names.get(stage, stage), total=total)
            bars.update(ids[stage], completed=done, total=total)

        result = run(
            task,
            settings,
            train=train,
            eval_file=eval_file,
            text_col=text_col,
            label_col=label_col,
            teacher=teacher,
            labels_from_log=labels_from_log,
            log_model=log_model,
            classes=[c.strip() for c in classes.split(",")] if classes else None,
            artifact=artifact,
            config=TrainConfig(target_precision=target_precision),
            progress=_progress,
        )
    table = Table(title=f"specialised model {result.task!r}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    cal = result.calibration
    rows = [
        ("training examples", f"{result.n_train:,} ({len(result.classes)} classes)"),
        ("source", result.source),
        ("held-out accuracy", f"{cal.holdout_accuracy:.4f} (n={cal.n_holdout})"),
        ("temperature", f"{cal.temperature:.3f}"),
        ("ECE before / after", f"{cal.ece_before:.4f} / {cal.ece_after:.4f}"),
        (f"escalation threshold ({target_precision:.0%} precision)", f"{cal.threshold:.3f}"),
    ]
    if result.dropped_classes:
        d = result.dropped_classes
        rows.append(("classes left out (too rare in the labels to learn)",
                     f"{len(d)}, {sum(d.values())} texts: " + ", ".join(list(d)[:5]) + (" ..." if len(d) > 5 else "")))
    if result.teacher_agreement is not None:
        rows.append(("agreement with teacher (held out)", f"{result.teacher_agreement:.4f}"))
    if result.gold_accuracy is not None:
        rows.append(("accuracy against gold", f"{result.gold_accuracy:.4f}"))
    ev = result.evaluation
    if ev is not None:
        rows += [
            ("eval accuracy", f"{ev.accuracy:.4f} (n={ev.n})"),
            ("eval answered locally", f"{ev.escalation.answered_share:.3f}"),
            ("eval accuracy of answered", f"{ev.escalation.answered_accuracy:.4f}"),
        ]
        if ev.unseen_labels:
            rows.append(("eval labels never trained on", ", ".join(ev.unseen_labels[:5])))
    rows += [("artefact", str(result.artifact.path)), ("tier manifest", str(result.tier_manifest))]
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)
    console.print(f'ask it: smallfirst ask --model {result.task} "..."')

"""`smallfirst economics`: the value stick of each scenario, written as HTML, Markdown, CSV and PNG."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from smallfirst.errors import ConfigError, DataError

if TYPE_CHECKING:
    import numpy as np

    from smallfirst.outcomes import Outcomes


def register(app: typer.Typer) -> None:
    """Add `smallfirst economics` (the value-stick report) to the CLI ``app``
    (``cli.main`` calls each command module's ``register``)."""
    app.command()(economics)


def economics(
    config: str = typer.Option(
        ...,
        "--config",
        "-c",
        help="Economics config (TOML): B and P per task type, prices, hardware, fixed costs; or a shipped one by "
        "name: demo (the demo workload's tasks), routellm (MMLU and GSM8K).",
    ),
    out: Path = typer.Option(Path("reports/economics"), "--out", "-o", help="Folder for the report files."),
    from_log: bool = typer.Option(
        False, "--from-log", help="Read the workload from the request log; each tag is a scenario."
    ),
    outcomes: list[str] = typer.Option(
        None,
        "--outcomes",
        help="Outcome data: a JSONL/CSV file, a shipped set (local-ladder, cascade-pair), routellm-mmlu, "
        "routellm-gsm8k, or routellm (both). Repeatable.",
    ),
    data_dir: Path = typer.Option(
        None, help="Folder holding routellm/ (default: the installed data set, `smallfirst data pull routellm`)."
    ),
    since: datetime = typer.Option(None, help="--from-log: first moment of the period."),
    until: datetime = typer.Option(None, help="--from-log: end of the period (exclusive)."),
    tag: str = typer.Option(None, help="--from-log: only this scenario tag."),
    period: str = typer.Option("month", help="--from-log: group by day, week or month."),
    db_url: str = typer.Option(None, help="--from-log: database URL (default: the configured log)."),
    title: str = typer.Option(None, help="Report title."),
    hybrid: list[str] = typer.Option(
        None, "--hybrid", help="--outcomes: a router's decisions as NAME=FILE (CSV id,model). Repeatable."
    ),
) -> None:
    """Is small-model-first profitable here? Value created, captured and left to customers, per scenario."""
    from smallfirst.cli.shipped import economics_config
    from smallfirst.config import load_settings
    from smallfirst.economics.assumptions import load_config
    from smallfirst.economics.report import write
    from smallfirst.economics.report.verdict import verdict

    if from_log == bool(outcomes):
        raise ConfigError("give exactly one workload", hint="pass --from-log or --outcomes FILE")
    # without its own [hardware], the report uses the profile the request log is priced with
    econ = load_config(economics_config(config), hardware=load_settings().hardware)
    if from_log:
        report = _from_log(
            econ,
            since=since,
            until=until,
            tag=tag,
            period=period,
            db_url=db_url,
            title=title or "smallfirst economics: request log",
        )
    else:
        from smallfirst.economics.workload import from_outcomes
        from smallfirst.evaluate.routellm import load_workload

        workload, notes = load_workload(outcomes, data_dir)
        hybrids = {name: load_decisions(path, workload) for name, path in map(parse_hybrid, hybrid or [])}
        report = from_outcomes(
            workload,
            econ,
            title=title or f"smallfirst economics: {' + '.join(outcomes)}",
            hybrids=hybrids,
            notes=notes,
        )
    files = write(report, out)
    _print(report, verdict(report), files.html)


def parse_hybrid(spec: str) -> tuple[str, Path]:
    """``--hybrid NAME=FILE`` as (name, path); DataError naming the right form otherwise."""
    name, sep, path = spec.partition("=")
    if not sep or not name or not path:
        raise DataError(
            f"--hybrid {spec!r} is not NAME=FILE", hint="e.g. --hybrid knn=runs/knn-decisions.csv"
        )
    return name, Path(path)


def load_decisions(path: Path, outcomes: Outcomes) -> np.ndarray:
    """A router's decisions made elsewhere: CSV with columns ``id,model``, one row per prompt id of the outcome
    set, read as the model index chosen per prompt. DataError for a missing file, column or prompt."""
    import numpy as np

    if not path.exists():
        raise DataError(f"decisions file {path} does not exist")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not {"id", "model"} <= set(reader.fieldnames or []):
            raise DataError(f"{path}: needs columns id,model", hint=f"columns found: {reader.fieldnames}")
        chosen = {row["id"]: row["model"] for row in reader}
    missing = [i for i in outcomes.ids if i not in chosen]
    if missing:
        raise DataError(
            f"{path}: no decision for {len(missing)} prompts, e.g. {missing[:3]}",
            hint="give one row per prompt id of the outcome set",
        )
    return np.array([outcomes.model_index(chosen[i]) for i in outcomes.ids], dtype=int)


def _from_log(econ, *, since, until, tag, period, db_url, title):  # noqa: ANN001, ANN202
    from smallfirst.economics.workload import from_log

    try:
        from smallfirst.store.db import get_engine
        from smallfirst.store.requests import list_requests
    except ImportError as exc:
        raise DataError(
            f"the request log is not available in this build ({exc})", hint="use --outcomes FILE instead"
        ) from None
    records = list_requests(get_engine(db_url), since=since, until=until, tag=tag)
    if not records:
        raise DataError(
            f"the period {since or '...'} to {until or '...'} has no requests"
            + (f" tagged {tag!r}" if tag else ""),
            hint="widen --since/--until, drop --tag, or run `smallfirst demo` first",
        )
    return from_log(records, econ, since=since, until=until, period=period, title=title)


def _print(report, lines: list[str], html_path: Path) -> None:  # noqa: ANN001
    from rich.table import Table

    from smallfirst.cli.output import console
    from smallfirst.economics.report.render import COLUMNS, table_rows

    keep = (0, 2, 3, 4, 5, 6, 9)  # the terminal shows the headline columns; the files hold them all
    table = Table(title=report.title)
    for i in keep:
        table.add_column(COLUMNS[i], justify="left" if i == 0 else "right")
    for row in table_rows(report):
        table.add_row(*(row[i] for i in keep))
    console.print(table)
    for line in lines:
        console.print(f"- {line}")
    console.print(f"report: {html_path}")

"""`smallfirst economics`: the value stick of each scenario, written as HTML, Markdown, CSV and PNG."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from smallfirst.errors import ConfigError, DataError


def register(app: typer.Typer) -> None:
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
    from smallfirst.economics.config import load_config
    from smallfirst.economics.report import write
    from smallfirst.economics.verdict import verdict

    if from_log == bool(outcomes):
        raise ConfigError("give exactly one workload", hint="pass --from-log or --outcomes FILE")
    econ = load_config(economics_config(config))
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
        from smallfirst.economics.decisions import load_decisions, parse_hybrid

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
    from smallfirst.economics.report import COLUMNS, table_rows

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

"""smallfirst sql: a business question answered with SQL on a database, read-only."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from smallfirst.cli.output import console
from smallfirst.config import ModelSpec, load_settings

#: exit status when the pipeline wrote no query that runs (2 is a user error, 1 a bug)
NO_ANSWER_EXIT = 3


def register(app: typer.Typer) -> None:
    """Add `smallfirst sql` to the CLI."""
    app.command()(sql)


def sql(question: str = typer.Argument(..., help="The question, e.g. 'What was revenue after discounts in 2017?'"),
        db: str = typer.Option(None, help="A SQLite file, or a sqlite:/// or postgresql:// URL, opened read-only "
                                          "(default: the shipped Northwind sales database)."),
        small: str = typer.Option(None, help="The model that tries first (default: routing.small)."),
        large: str = typer.Option(None, help="The model it escalates to; '' for none (default: routing.large)."),
        examples: int = typer.Option(None, min=0, help="Retrieved solved questions in the prompt (default 3)."),
        examples_file: Path = typer.Option(None, help="JSONL of {question, sql} solved questions to retrieve from."),
        notes_file: Path = typer.Option(None, help="Business definitions shown under the schema."),
        repair: bool = typer.Option(True, help="Repair a failing query once with the database's error."),
        link: bool = typer.Option(False, help="Show the models only the tables the question links to."),
        max_tokens: int = typer.Option(None, min=16, help="Most tokens a model may write per attempt (default 256)."),
        ) -> None:
    """Answer a KPI question: the number or table, the SQL, the model that wrote it, and what it cost.

    The model writes SQL; smallfirst validates it (one SELECT over known tables and columns, with a LIMIT), runs it
    on a read-only connection, repairs it once with the database's error, then escalates to the large model. A
    question that asks to change data is refused (exit status 2). When no attempt yields a query that runs, the
    answer says so and the exit status is 3. The same pipeline serves as the `northwind-kpi` model tier."""
    from smallfirst.cli.core_cmd import cost_line
    from smallfirst.kpi.kpitier import NO_ANSWER
    from smallfirst.service import RequestContext, Service

    settings = load_settings()
    options: dict[str, object] = {}
    for key, value in (("db", db), ("small", small), ("large", large), ("examples", examples),
                       ("examples_file", examples_file), ("notes_file", notes_file), ("max_tokens", max_tokens)):
        if value is not None:
            options[key] = str(value) if isinstance(value, Path) else value
    if not repair:
        options["repair"] = False
    if link:
        options["link"] = True
    name = "northwind-kpi"
    if options:
        name = f"kpi:{Path(db).name}" if db and "://" not in db else "kpi"
        base = settings.models.get("northwind-kpi")
        merged = {**(base.options if base is not None and base.backend == "kpi" else {}), **options}
        settings.models = {**settings.models, name: ModelSpec(backend="kpi", options=merged)}
    service = Service(settings)
    try:
        answer = service.answer([{"role": "user", "content": question}], name,
                                ctx=RequestContext(source="cli", task="kpi"))
    finally:
        service.close()
    c, cost = answer.completion, answer.cost
    console.print(c.text.strip(), markup=False, highlight=False)
    console.print(cost_line(c.model, c.usage.prompt_tokens, c.usage.completion_tokens, c.wall_seconds, cost.amount,
                            cost.baseline, cost.baseline_model), style="dim", markup=False, highlight=False)
    if c.text.startswith(NO_ANSWER):
        sys.exit(NO_ANSWER_EXIT)

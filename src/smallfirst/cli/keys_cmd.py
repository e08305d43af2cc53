"""smallfirst keys create|list|revoke: gateway API keys, stored hashed."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import typer
from rich.table import Table

from smallfirst.cli.output import console, err_console, usd
from smallfirst.config import load_settings
from smallfirst.errors import ConfigError

keys_app = typer.Typer(
    help="Gateway API keys: each with an optional budget, rate limit and allowed models.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the `smallfirst keys` group (gateway keys) to the CLI ``app``
    (``cli.main`` calls each command module's ``register``)."""
    app.add_typer(keys_app, name="keys")


def _engine():  # noqa: ANN202 - sqlalchemy is imported lazily
    from smallfirst.store.db import get_engine

    return get_engine(load_settings().db_url)


@keys_app.command()
def create(
    name: str = typer.Argument(..., help="Who or what the key is for."),
    budget_usd: str = typer.Option(None, "--budget-usd", help="Spend limit per period, in USD."),
    period: str = typer.Option("month", help="Budget period: day, week, month (UTC) or total."),
    rpm: int = typer.Option(None, min=1, help="Requests per minute allowed (per replica)."),
    models: str = typer.Option(None, help="Comma-separated models and policies allowed (default: any)."),
) -> None:
    """Create a key. Its secret is printed once and stored only as a hash."""
    from smallfirst.store import keys

    budget = None
    if budget_usd is not None:
        try:
            budget = Decimal(budget_usd)
        except InvalidOperation:
            raise ConfigError(
                f"--budget-usd {budget_usd!r} is not a number", hint="e.g. --budget-usd 5"
            ) from None
        if budget < 0:
            raise ConfigError("--budget-usd must not be negative", hint="e.g. --budget-usd 5")
    allowed = tuple(m.strip() for m in models.split(",") if m.strip()) if models else ()
    record, secret = keys.create_key(
        _engine(), name, budget_usd=budget, period=period, rate_limit_rpm=rpm, allowed_models=allowed
    )
    console.print(f"created {record.id} ({name})")
    console.print(secret, soft_wrap=True, highlight=False)
    err_console.print("[yellow]This is the only time the secret is shown; store it now.[/]")


@keys_app.command("list")
def list_() -> None:
    """List keys with their limits and what they spent this period (never their secrets)."""
    from smallfirst.store import keys

    table = Table(title="API keys")
    table.add_column("id", no_wrap=True, min_width=16)  # people copy it into `keys revoke`
    for col in ("name", "prefix", "budget", "spent", "rpm", "models"):
        table.add_column(col)
    table.add_column("status", no_wrap=True)
    for k in keys.list_keys(_engine()):
        budget = f"{usd(k.budget_usd, 4)}/{k.budget_period}" if k.budget_usd is not None else "none"
        table.add_row(
            k.id,
            k.name,
            k.prefix + "...",
            budget,
            usd(k.spent_usd),
            str(k.rate_limit_rpm or "none"),
            ", ".join(k.allowed_models) or "any",
            "active" if k.active else "revoked",
        )
    console.print(table)


@keys_app.command()
def revoke(
    key_id: str = typer.Argument(..., help="The key's id, as `smallfirst keys list` shows it."),
) -> None:
    """Revoke a key; requests with it get 401 from then on."""
    from smallfirst.store import keys

    if not keys.revoke_key(_engine(), key_id):
        raise ConfigError(f"no active key {key_id!r}", hint="see `smallfirst keys list`")
    console.print(f"revoked {key_id}")

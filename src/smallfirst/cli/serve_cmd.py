"""smallfirst serve: the OpenAI-compatible gateway under uvicorn."""

from __future__ import annotations

from pathlib import Path

import typer

from smallfirst.cli.output import err_console
from smallfirst.config import load_settings


def register(app: typer.Typer) -> None:
    """Add `smallfirst serve` (the gateway) to the CLI ``app``
    (``cli.main`` calls each command module's ``register``)."""
    app.command()(serve)


def serve(
    host: str = typer.Option(None, help="Interface to bind (default: server.host, 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default: server.port, 8000)."),
    config: Path = typer.Option(None, help="Config file (default: ./smallfirst.toml or ~/.smallfirst)."),
    log_level: str = typer.Option("warning", help="uvicorn log level."),
) -> None:
    """Serve the OpenAI-compatible gateway. Clients change only base_url (and the key)."""
    import uvicorn

    from smallfirst.server import create_app
    from smallfirst.server.auth import is_loopback
    from smallfirst.store import keys

    settings = load_settings(config)
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    if overrides:
        settings.server = settings.server.model_copy(update=overrides)
    s = settings.server
    app = create_app(settings)
    service = app.state.gateway.service
    have_keys = keys.any_keys(service.engine)
    if not have_keys and is_loopback(s.host):
        err_console.print(
            "[bold red]WARNING: no API keys exist, so this gateway runs OPEN: anyone who can reach "
            f"{s.host}:{s.port} can use it without a key.[/]\n"
            "[yellow]It listens on loopback only. Run `smallfirst keys create NAME` to require "
            "keys (enforced within two seconds).[/]"
        )
    elif not have_keys:
        err_console.print(
            f"[bold red]{s.host} is beyond loopback, so every request needs an API key, and none "
            "exists yet: all requests get 401.[/]\n[yellow]Run `smallfirst keys create NAME`.[/]"
        )
    else:
        err_console.print("API keys are required (manage them with `smallfirst keys`).")
    policies = ", ".join(service.policies)
    err_console.print(
        f"smallfirst gateway on http://{s.host}:{s.port}/v1 · policies: {policies} · "
        f"dashboard: http://{s.host}:{s.port}/dashboard · log: "
        f"{service.engine.url.render_as_string(hide_password=True)}"
    )
    # No access log (the request log has every request) and no Server header (it names the stack to anyone).
    uvicorn.run(app, host=s.host, port=s.port, log_level=log_level, access_log=False, server_header=False)

"""`smallfirst`: the entry point. Errors a user can act on print as one message with its way out."""

from __future__ import annotations

import importlib
import sys

import typer

from smallfirst.cli.output import err_console
from smallfirst.errors import SmallfirstError

app = typer.Typer(help="Answer every request with the smallest model that does the job, and measure whether "
                       "that pays.", no_args_is_help=True, pretty_exceptions_enable=False,
                  context_settings={"help_option_names": ["-h", "--help"]})

# Each module adds its commands with register(app); the order is the order of `smallfirst --help`.
_COMMAND_MODULES = ["core_cmd", "sql_cmd", "log_cmd", "serve_cmd", "keys_cmd", "collect_cmd", "eval_cmd",
                    "economics_cmd", "specialize_cmd", "demo_cmd"]

for _name in _COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"smallfirst.cli.{_name}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"smallfirst.cli.{_name}":
            raise
        continue
    _module.register(app)


def main() -> None:
    try:
        app(standalone_mode=False)
    except SmallfirstError as exc:
        err_console.print(f"[bold red]error:[/] {exc.message}")
        if exc.hint:
            err_console.print(f"[yellow]hint:[/] {exc.hint}")
        sys.exit(1)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # click's usage errors carry their own exit code
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        raise

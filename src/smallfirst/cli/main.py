"""`smallfirst`: the entry point, and the one error path every command shares.

A user error (a ``SmallfirstError``, a missing or unreadable file, a bad option) prints one line, the cause
and the way out, and exits with status 2. Anything else is a bug: one line names it and the file its traceback
was written to (``$SMALLFIRST_HOME/crashes/``), exit status 1; ``smallfirst --debug ...`` (or
``SMALLFIRST_DEBUG=1``) prints the traceback instead.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import traceback
from datetime import UTC, datetime
from pathlib import Path

import typer

from smallfirst.cli.output import err_console
from smallfirst.errors import SmallfirstError

#: exit status of a user error (click uses the same for usage errors)
USER_ERROR = 2

app = typer.Typer(help="Answer every request with the smallest model that does the job, and measure whether "
                       "that pays.", no_args_is_help=True, pretty_exceptions_enable=False,
                  context_settings={"help_option_names": ["-h", "--help"]})


@app.callback()
def _options(debug: bool = typer.Option(False, "--debug", help="Print the traceback of an unexpected error.")
             ) -> None:
    """Answer every request with the smallest model that does the job, and measure whether that pays."""


# Each module adds its commands with register(app); the order is the order of `smallfirst --help`. A module that
# fails to import is a broken install, and says so, rather than a command that silently disappears.
_COMMAND_MODULES = ["core_cmd", "sql_cmd", "log_cmd", "serve_cmd", "keys_cmd", "data_cmd", "collect_cmd",
                    "eval_cmd", "economics_cmd", "specialize_cmd", "learn_cmd", "demo_cmd"]

for _name in _COMMAND_MODULES:
    importlib.import_module(f"smallfirst.cli.{_name}").register(app)


def _debug() -> bool:
    return "--debug" in sys.argv[1:] or os.environ.get("SMALLFIRST_DEBUG", "") not in ("", "0")


def _say(line: str) -> None:
    # markup=False: a hint such as "[models.x]" must print as written, not vanish as a style tag
    err_console.print(line, markup=False, highlight=False, soft_wrap=True)


def _crash_file(text: str) -> Path:
    """Write a traceback where the user can find it: the home's crashes/ folder, else the temp folder."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    home = Path(os.environ.get("SMALLFIRST_HOME", "~/.smallfirst")).expanduser()
    for folder in (home / "crashes", Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"smallfirst-{stamp}-{os.getpid()}.txt"
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            continue
    raise OSError("no writable folder for the traceback")


def main() -> None:
    """Run the CLI; map every exception to one line and an exit status (see the module docstring)."""
    import click

    try:
        app(standalone_mode=False)
    except SmallfirstError as exc:
        _say(f"error: {exc}")
        sys.exit(USER_ERROR)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        _say(f"error: cannot read or write{where}: {exc.strerror or exc}; check the path and its permissions")
        sys.exit(USER_ERROR)
    except (typer.Abort, click.exceptions.Abort):
        _say("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        _say("interrupted")
        sys.exit(130)
    except click.exceptions.ClickException as exc:  # usage errors: bad option, missing argument
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:
        if _debug():
            raise
        text = traceback.format_exc()
        try:
            where = f"traceback in {_crash_file(text)}"
        except OSError:
            where = "run again with --debug for the traceback"
        _say(f"internal error: {type(exc).__name__}: {exc}; {where}; please report it")
        sys.exit(1)

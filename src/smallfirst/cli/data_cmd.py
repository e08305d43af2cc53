"""`smallfirst data list|pull`: the data catalogue, and installing a data set into the cache."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from smallfirst.cli.output import console
from smallfirst.errors import DataError

data_app = typer.Typer(help="Data sets: the catalogue, and pulling a set into the cache (sha256-checked).",
                       no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the `smallfirst data` group (list and pull data sets) to the CLI ``app``
    (``cli.main`` calls each command module's ``register``)."""
    app.add_typer(data_app, name="data")


@data_app.command("list")
def list_sets() -> None:
    """Every data set smallfirst knows: licence, size, source, and whether it is installed."""
    from smallfirst.datasets import BUNDLED, CATALOGUE, bundled_dir, data_root, installed

    table = Table(title=f"data sets (cache: {data_root()})")
    for col in ("name", "licence", "size", "status", "source"):
        table.add_column(col)
    for name, entry in CATALOGUE.items():
        shipped = [p for p in entry.files if (bundled_dir(name) / p).is_file()]
        if installed(name):
            status = "installed"
        elif shipped:
            status = f"{len(shipped)}/{len(entry.files)} files ship"
        else:
            status = "not installed"
        table.add_row(name, entry.licence.split(" ")[0], f"{entry.size_bytes / 1e6:.1f} MB", status,
                      f"{entry.repository}@{entry.commit}")
    for name in BUNDLED:
        if name not in CATALOGUE and name != "licences":
            table.add_row(name, "see folder", "", "ships", "smallfirst")
    console.print(table)
    console.print("install: smallfirst data pull NAME (from upstream), or add --from DIR for a local copy")


@data_app.command()
def pull(names: list[str] = typer.Argument(None, help="Data sets to install (see `smallfirst data list`)."),
         all_sets: bool = typer.Option(False, "--all", help="Install every data set in the catalogue."),
         source: Path = typer.Option(None, "--from", help="A local copy holding <name>/ in the upstream layout "
                                                          "(default: $SMALLFIRST_DATA, else download upstream)."),
         ) -> None:
    """Install data sets into the cache, checking every file against its pinned sha256."""
    from smallfirst.datasets import CATALOGUE, dataset, installed
    from smallfirst.datasets import pull as pull_set

    chosen = list(CATALOGUE) if all_sets else list(names or [])
    if not chosen:
        raise DataError("name at least one data set, or pass --all", hint=f"known: {', '.join(CATALOGUE)}")
    entries = [dataset(n) for n in chosen]  # unknown names fail before anything is written
    if source is None and os.environ.get("SMALLFIRST_DATA"):
        source = Path(os.environ["SMALLFIRST_DATA"]).expanduser()
    if source is not None and not source.is_dir():
        raise DataError(f"--from {source} is not a folder", hint="give the folder that holds <name>/ subfolders")
    for entry in entries:
        if installed(entry.name):
            console.print(f"{entry.name}: already installed")
            continue
        with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                      console=console, transient=True) as progress:
            bar = progress.add_task(f"{entry.name}", total=entry.size_bytes)
            path = pull_set(entry.name, source=source, progress=lambda n, bar=bar: progress.advance(bar, n))
        origin = f"from {source}" if source is not None else f"from {entry.repository}"
        console.print(f"{entry.name}: {len(entry.files)} files, {entry.size_bytes / 1e6:.1f} MB, sha256 checked, "
                      f"installed {origin} into {path}")

"""Files that ship with smallfirst and serve as command defaults, so that every command works from any folder
of a clean install: the example economics configs (``defaults/economics/``). The shipped data (workload,
outcomes, training slices) is the data catalogue's (``smallfirst.datasets``)."""

from __future__ import annotations

from pathlib import Path

from smallfirst.errors import ConfigError

_DEFAULTS = Path(__file__).resolve().parents[1] / "defaults"

#: names of the shipped economics configs: ``--config demo`` is the demo workload's B and P
ECONOMICS_CONFIGS = ("demo", "routellm")


def economics_config(ref: str | Path) -> Path:
    """A path to an economics config (TOML), or the name of a shipped one (``demo``, ``routellm``).

    Raises ConfigError when ``ref`` is neither an existing file nor a shipped name."""
    path = Path(ref).expanduser()
    if path.is_file():
        return path
    if str(ref) in ECONOMICS_CONFIGS:
        return _DEFAULTS / "economics" / f"{ref}.toml"
    raise ConfigError(f"economics config {ref} does not exist",
                      hint=f"give a TOML file, or a shipped config by name ({', '.join(ECONOMICS_CONFIGS)}); "
                           f"copy {_DEFAULTS / 'economics' / 'demo.toml'} to start your own")

"""Make a finished artefact routable: ``<home>/specialized/<name>/tier.json``, written last and atomically,
is what ``smallfirst.models.registry.registered_tiers`` reads."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from smallfirst.errors import ConfigError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_name(name: str) -> str:
    """``name`` unchanged if it can name a tier (1-64 letters, digits, '.', '_' or '-', starting with a letter or
    digit, so it is also a safe folder name); raises ConfigError otherwise."""
    if not _NAME.match(name):
        raise ConfigError(
            f"invalid task name {name!r}",
            hint="use letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return name


def tier_dir(home: Path, name: str) -> Path:
    """``<home>/specialized/<name>``, the folder of tier ``name``; raises ConfigError for an invalid name."""
    return Path(home).expanduser() / "specialized" / check_name(name)


def default_artifact_path(home: Path, name: str) -> Path:
    """Where ``smallfirst specialize`` saves tier ``name``'s artefact unless told otherwise."""
    return tier_dir(home, name) / "artifact"


def register_tier(home: Path, name: str, artifact: str | Path, backend: str = "classifier") -> Path:
    """Write the tier manifest, replacing any older one in one rename."""
    d = tier_dir(home, name)
    d.mkdir(parents=True, exist_ok=True)
    body = {"name": name, "backend": backend, "artifact": str(Path(artifact).expanduser().resolve())}
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tier.", suffix=".json")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(body, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        target = d / "tier.json"
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def unregister_tier(home: Path, name: str) -> None:
    """Make tier ``name`` unroutable by deleting its manifest (the artefact stays); no error if absent."""
    (tier_dir(home, name) / "tier.json").unlink(missing_ok=True)

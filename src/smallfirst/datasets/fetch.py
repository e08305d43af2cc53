"""Pull a data set into the cache, verified file by file, and find the folder that holds it.

The cache keeps one folder per set under ``<cache>/data/<name>/`` (``<cache>`` is ``$SMALLFIRST_CACHE``, else
``~/.cache/smallfirst``), in the upstream layout, next to nothing else. A set is installed whole or not at all:
its files are written and checked into a staging folder, which is renamed into place last, with a stamp naming
the manifest it was checked against.

Sources: the upstream repository (needs internet), or a local copy (``--from DIR``, or ``$SMALLFIRST_DATA``)
laid out as ``DIR/<name>/...``. With ``$SMALLFIRST_DATA`` set, a command that needs a set not yet in the cache
installs it from there on first use, with the same checks.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tarfile
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from smallfirst.checksums import BLOCK, Progress, write_verified
from smallfirst.config import cache_root
from smallfirst.datasets.sets import DataSet, bundled_dir, dataset, manifest
from smallfirst.errors import DataError, UpstreamError

__all__ = ["data_root", "dataset_dir", "installed", "pull", "source_folder"]

_STAMP = ".installed.json"


def data_root() -> Path:
    """``<cache>/data``: one folder per installed set."""
    return cache_root() / "data"


def _stamp(name: str) -> dict[str, object]:
    files = manifest(name)
    return {"name": name, "files": len(files), "bytes": sum(s for _, s in files.values()),
            "sha256": {p: sha for p, (sha, _) in sorted(files.items())}}


def installed(name: str) -> bool:
    """True when the cache holds ``name``, checked against its current manifest."""
    stamp = data_root() / name / _STAMP
    with contextlib.suppress(OSError, ValueError):
        return json.loads(stamp.read_text(encoding="utf-8")) == _stamp(name)
    return False


def source_folder(name: str, root: Path) -> Path:
    """The folder holding set ``name`` in a local copy: ``root/<name>``, or ``root`` itself. Raises DataError."""
    files = manifest(name)
    probe = next(iter(files))
    for candidate in (root / name, root):
        if (candidate / probe).is_file():
            return candidate
    raise DataError(f"{root} holds no copy of data set {name!r} (looked for {root / name / probe})",
                    hint=f"give the folder that contains {name}/, laid out as the upstream set")


def pull(name: str, *, source: Path | None = None, progress: Progress | None = None,
         on_stage: Callable[[str], None] | None = None) -> Path:
    """Install data set ``name`` into the cache and return its folder. Idempotent.

    ``source`` is a local copy (``source/<name>/...`` or the set's own folder); None downloads each file from
    the upstream source. Every file must match its pinned sha256 (DataError otherwise, and nothing is
    installed); a failed download raises UpstreamError. ``progress`` receives byte counts; ``on_stage`` a line
    per step.
    """
    entry = dataset(name)
    target = data_root() / name
    if installed(name):
        return target
    files = manifest(name)
    data_root().mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.partial-", dir=data_root()))
    upstream = None
    try:
        origin = source_folder(name, source) if source is not None else None
        if origin is None:
            upstream = _Upstream(entry, on_stage)
        blocks = upstream if upstream is not None else _local_blocks(origin)  # type: ignore[arg-type]
        for rel, (sha, _) in files.items():
            if on_stage:
                on_stage(f"{name}/{rel}")

            def _refused(actual: str, rel: str = rel, sha: str = sha) -> DataError:
                where = origin / rel if origin is not None else entry.rule_for(rel).fill(entry.rule_for(rel).url, rel)
                return DataError(f"refusing {name}/{rel} from {where}: sha256 {actual[:12]}..., pinned {sha[:12]}...",
                                 hint="the copy differs from the one smallfirst pins; use an unchanged copy of the "
                                      f"upstream set ({entry.repository} @ {entry.commit})")

            write_verified(staging / rel, blocks(rel), sha, mismatch=_refused, progress=progress)
        (staging / _STAMP).write_text(json.dumps(_stamp(name)), encoding="utf-8")
        staging.chmod(0o755)  # mkdtemp makes it private; an installed set is readable like any cache file
        _swap_in(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if upstream is not None:
            upstream.close()
    return target


def _swap_in(staging: Path, target: Path) -> None:
    """Rename ``staging`` onto ``target``; an older copy is moved aside first and removed after."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        target.rename(old)
    staging.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _local_blocks(origin: Path) -> Callable[[str], Iterator[bytes]]:
    def _read(rel: str) -> Iterator[bytes]:
        path = origin / rel
        if not path.is_file():
            raise DataError(f"the local copy {origin} lacks {rel}",
                            hint="give a complete, unchanged copy of the upstream set")
        with path.open("rb") as fh:
            yield from iter(lambda: fh.read(BLOCK), b"")
    return _read


class _Upstream:
    """Reads each file of a set from its upstream URL; files inside an archive come from one download of it,
    kept in a temporary file until ``close``."""

    def __init__(self, entry: DataSet, on_stage: Callable[[str], None] | None) -> None:
        self.entry, self.on_stage = entry, on_stage
        self.archives: dict[str, Path] = {}

    def __call__(self, rel: str) -> Iterator[bytes]:
        rule = self.entry.rule_for(rel)
        url = rule.fill(rule.url, rel)
        if rule.member is None:
            yield from _http_blocks(url, self.entry.name)
            return
        if url not in self.archives:
            if self.on_stage:
                self.on_stage(f"downloading {url}")
            fd, tmp = tempfile.mkstemp(prefix=".archive-", dir=data_root())
            self.archives[url] = Path(tmp)
            with os.fdopen(fd, "wb") as out:
                for block in _http_blocks(url, self.entry.name):
                    out.write(block)
        member = rule.fill(rule.member, rel)
        with tarfile.open(self.archives[url]) as tar:
            fh = tar.extractfile(member)
            if fh is None:
                raise DataError(f"{url} has no file {member}")
            yield from iter(lambda: fh.read(BLOCK), b"")

    def close(self) -> None:
        """Delete the downloaded archives (each a temporary file in the data cache)."""
        for path in self.archives.values():
            path.unlink(missing_ok=True)


def _http_blocks(url: str, name: str) -> Iterator[bytes]:
    import httpx

    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=60.0) as resp:
            if resp.status_code != 200:
                raise UpstreamError(
                    f"{url} answered HTTP {resp.status_code}", upstream_status=resp.status_code,
                    hint=f"retry later, or install from a local copy: `smallfirst data pull {name} --from DIR`")
            yield from resp.iter_bytes(BLOCK)
    except httpx.HTTPError as exc:
        raise UpstreamError(
            f"cannot download {url} ({type(exc).__name__})",
            hint=f"without internet, install from a local copy: `smallfirst data pull {name} --from DIR`") from None


def dataset_dir(name: str, needs: Sequence[str] = ()) -> Path:
    """The folder that holds data set ``name`` in its upstream layout, for a caller that reads ``needs``.

    Looks in the cache first; then, when every file in ``needs`` ships with the package, in the bundled slice;
    then installs from ``$SMALLFIRST_DATA`` if that is set. Otherwise raises DataError whose hint names the
    command that installs the set.
    """
    entry = dataset(name)
    if installed(name):
        return data_root() / name
    bundled = bundled_dir(name)
    if needs and all((bundled / rel).is_file() for rel in needs):
        return bundled
    local = os.environ.get("SMALLFIRST_DATA")
    if local:
        return pull(name, source=Path(local).expanduser())
    what = f" ({', '.join(needs)})" if needs else ""
    raise DataError(f"data set {name!r}{what} is not installed",
                    hint=f"run `smallfirst data pull {name}` (downloads {entry.size_bytes / 1e6:.1f} MB from "
                         f"{entry.repository}), or `smallfirst data pull {name} --from DIR` from a local copy")

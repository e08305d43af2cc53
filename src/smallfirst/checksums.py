"""Files pinned by sha256: hash them, and write them so that a file which fails its check never appears.

Models (``models/files.py``) and data sets (``datasets/``) are both artefacts pulled into the cache by name and
verified against a pinned sha256; this is the one place that hashes and writes them. Imports nothing else of
smallfirst but its errors.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from smallfirst.errors import SmallfirstError

__all__ = ["BLOCK", "Progress", "sha256_file", "write_verified"]

#: bytes read or written at a time (4 MiB)
BLOCK = 1 << 22
#: called with the number of bytes just processed, e.g. to advance a progress bar
Progress = Callable[[int], None]


def sha256_file(path: Path, progress: Progress | None = None) -> str:
    """The hex sha256 of the file at ``path``, read in ``BLOCK``-sized pieces. Raises OSError if unreadable."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(BLOCK), b""):
            h.update(block)
            if progress:
                progress(len(block))
    return h.hexdigest()


def write_verified(target: Path, blocks: Iterable[bytes], sha256: str, *,
                   mismatch: Callable[[str], SmallfirstError], progress: Progress | None = None) -> Path:
    """Write ``blocks`` to ``target`` atomically, and only if their sha256 equals ``sha256``.

    The bytes go to a temporary file beside ``target``, are fsynced and hashed on the way, and are renamed onto
    ``target`` only when the hash matches; otherwise the temporary file is removed and ``mismatch(actual_sha)``
    is raised. An exception from ``blocks`` (a failed download)
    leaves nothing behind either. Returns ``target``.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for block in blocks:
                out.write(block)
                h.update(block)
                if progress:
                    progress(len(block))
            out.flush()
            os.fsync(out.fileno())
        actual = h.hexdigest()
        if actual != sha256:
            raise mismatch(actual)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target

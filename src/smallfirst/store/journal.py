"""A write-ahead journal of request-log rows, so that an acknowledged request's row survives ``kill -9``.

The gateway writes log rows on a background thread in batches (``writer.py``); a row still in memory when the
process dies would be lost although its client got an answer. So before a response completes, its row is
appended to a journal file with one ``write(2)`` (about 20 µs with the JSON encoding): once the call returns the
bytes are the kernel's, and survive the process. The writer marks rows written once their batch commits; a
journal segment whose rows are all written is deleted. The next process to start on the same home replays the
segments of any process that died (it can take their ``flock``) into the log, skipping rows already there.

What it does not cover: a power cut before the kernel flushes its page cache (the database's own commit has
the same exposure with SQLite's ``synchronous=NORMAL``).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from dataclasses import fields
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic_core import from_json, to_json
from sqlalchemy import Engine

from smallfirst.store.request_record import RequestRecord

__all__ = ["Journal", "recover"]

_SEGMENT_BYTES = 4 << 20
_FIELDS = {f.name for f in fields(RequestRecord)}
log = logging.getLogger("smallfirst.store")


class Journal:
    """The journal of one process (``owner``, a unique id) in ``directory``: ``append`` before acknowledging a
    request, ``written`` once the row is in the database. Thread-safe."""

    def __init__(self, directory: Path, owner: str, segment_bytes: int = _SEGMENT_BYTES) -> None:
        self.directory, self.owner, self.segment_bytes = directory, owner, segment_bytes
        directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(directory / f"{owner}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)  # held for the life of the process: it says "alive"
        self._lock = threading.Lock()
        self._segment = -1
        self._fd = -1
        self._size = 0
        self._appended: dict[int, int] = {}
        self._written: dict[int, int] = {}
        self._rotate()

    def _path(self, segment: int) -> Path:
        return self.directory / f"{self.owner}.{segment:06d}.jsonl"

    def _rotate(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self._segment += 1
        self._fd = os.open(self._path(self._segment), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._size = 0
        self._appended[self._segment] = 0
        self._written[self._segment] = 0

    def append(self, record: RequestRecord) -> int:
        """Write ``record`` to the journal; returns the segment it went to (hand it to :meth:`written`)."""
        line = to_json(record) + b"\n"
        with self._lock:
            os.write(self._fd, line)
            segment = self._segment
            self._appended[segment] += 1
            self._size += len(line)
            if self._size >= self.segment_bytes:
                self._rotate()
        return segment

    def written(self, segments: list[int]) -> None:
        """Note rows (by their segments) as committed to the database; delete finished old segments."""
        with self._lock:
            for segment in segments:
                self._written[segment] += 1
            for segment in [s for s in self._appended if s != self._segment]:
                if self._written[segment] >= self._appended[segment]:
                    with contextlib.suppress(FileNotFoundError):
                        self._path(segment).unlink()
                    del self._appended[segment], self._written[segment]

    def pending(self) -> int:
        """Rows appended and not yet written."""
        with self._lock:
            return sum(self._appended[s] - self._written[s] for s in self._appended)

    def close(self) -> None:
        """Close the journal; its files are deleted when every row was written, else kept for the next start."""
        with self._lock:
            clean = all(self._written[s] >= self._appended[s] for s in self._appended)
            os.close(self._fd)
            self._fd = -1
            if clean:
                for segment in list(self._appended):
                    with contextlib.suppress(FileNotFoundError):
                        self._path(segment).unlink()
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            if clean:
                with contextlib.suppress(FileNotFoundError):
                    (self.directory / f"{self.owner}.lock").unlink()


def recover(directory: Path, engine: Engine) -> tuple[int, list[str]]:
    """Replay the journals of dead processes in ``directory`` into the request log behind ``engine``; returns
    the rows replayed (those not logged already) and the owners whose journals were replayed. A journal whose
    owner is alive (holds its lock) is left alone; a line cut short by the crash is skipped."""
    from smallfirst.store.requests import insert_many, logged_ids

    if not directory.is_dir():
        return 0, []
    replayed, owners = 0, []
    for lock_path in sorted(directory.glob("*.lock")):
        owner = lock_path.stem
        fd = os.open(lock_path, os.O_RDWR)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its process is alive
            records = [r for path in sorted(directory.glob(f"{owner}.*.jsonl")) for r in _read(path)]
            if records:
                known = logged_ids(engine, [r.id for r in records])
                missing = list({r.id: r for r in records if r.id not in known}.values())
                if missing:
                    insert_many(engine, missing, skip_existing=True)
                replayed += len(missing)
            for path in directory.glob(f"{owner}.*.jsonl"):
                path.unlink()
            lock_path.unlink()
            owners.append(owner)
        finally:
            os.close(fd)
    if replayed:
        log.warning("replayed %d request-log rows from the journals of %d stopped gateway processes",
                    replayed, len(owners))
    return replayed, owners


def _read(path: Path) -> list[RequestRecord]:
    out = []
    for line in path.read_bytes().splitlines():
        try:
            out.append(_record(from_json(line)))
        except (ValueError, TypeError, KeyError):
            continue  # the line the crash cut short
    return out


def _record(data: dict[str, Any]) -> RequestRecord:
    values = {k: v for k, v in data.items() if k in _FIELDS}
    values["created_at"] = datetime.fromisoformat(values["created_at"])
    for money in ("cost_usd", "baseline_usd"):
        values[money] = Decimal(str(values.get(money, 0)))
    values["attempted"] = tuple(values.get("attempted") or ())
    return RequestRecord(**values)

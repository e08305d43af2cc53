"""Writes request-log rows on a background thread, in batches, so that an async server never waits on the
database to answer. ``flush`` waits until everything submitted so far is written (and observed).

The writer shares the GIL with the event loop, so its cost per row is the gateway's cost per request: rows go
in as one Core ``INSERT ... executemany`` (about a third of the ORM unit of work), and the thread lingers a
few milliseconds after the first row so that steady traffic is written in batches rather than row by row."""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine, insert

from smallfirst.redact import redact
from smallfirst.store.records import RequestRecord
from smallfirst.store.tables import Request

_FIELDS = [f.name for f in dataclasses.fields(RequestRecord)]
_BATCH = 256
_LINGER_S = 0.02
log = logging.getLogger("smallfirst.store")


def insert_many(engine: Engine, records: list[RequestRecord]) -> None:
    rows = []
    for record in records:
        values = {name: getattr(record, name) for name in _FIELDS}
        values["attempted"] = list(record.attempted)
        values["error"] = redact(record.error)
        rows.append(values)
    with engine.begin() as conn:
        conn.execute(insert(Request), rows)


class LogWriter:
    """``observe`` (metrics, say) sees each record on the writer thread, so the request path only enqueues."""

    def __init__(self, engine: Callable[[], Engine], observe: Callable[[RequestRecord], None] | None = None) -> None:
        self._engine = engine
        self._observe = observe
        self._queue: queue.Queue[RequestRecord | threading.Event | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="sf-log-writer", daemon=True)
        self._thread.start()

    def submit(self, record: RequestRecord) -> None:
        self._queue.put(record)

    def flush(self, timeout: float = 30.0) -> bool:
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        self.flush(timeout)
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            batch: list[RequestRecord] = []
            events: list[threading.Event] = []
            stop = False
            until = time.monotonic() + _LINGER_S
            while True:
                if item is None:
                    stop = True
                elif isinstance(item, threading.Event):
                    events.append(item)
                else:
                    batch.append(item)
                if len(batch) >= _BATCH or stop or events:
                    break  # a flush or close is waiting: write now
                try:
                    item = self._queue.get(timeout=max(0.0, until - time.monotonic()))
                except queue.Empty:
                    break
            if batch and self._observe is not None:
                for record in batch:
                    try:
                        self._observe(record)
                    except Exception:  # metrics must never cost a log row
                        log.exception("observing request %s failed", record.id)
            if batch:
                try:
                    insert_many(self._engine(), batch)
                except Exception:  # a lost batch must not kill the writer; the server keeps answering
                    log.exception("could not write %d request-log rows", len(batch))
            for event in events:
                event.set()
            if stop:
                return

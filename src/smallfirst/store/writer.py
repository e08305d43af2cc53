"""Writes request-log rows on a background thread, in batches, so that an async server never waits on the
database to answer. ``flush`` waits until everything submitted so far is written."""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from smallfirst.redact import redact
from smallfirst.store.records import RequestRecord
from smallfirst.store.tables import Request

_FIELDS = [f.name for f in dataclasses.fields(RequestRecord)]
_BATCH = 256
log = logging.getLogger("smallfirst.store")


def insert_many(engine: Engine, records: list[RequestRecord]) -> None:
    rows = []
    for record in records:
        values = {name: getattr(record, name) for name in _FIELDS}
        values["attempted"] = list(record.attempted)
        values["error"] = redact(record.error)
        rows.append(Request(**values))
    with Session(engine) as session, session.begin():
        session.add_all(rows)


class LogWriter:
    def __init__(self, engine: Callable[[], Engine]) -> None:
        self._engine = engine
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
            while True:
                if item is None:
                    stop = True
                elif isinstance(item, threading.Event):
                    events.append(item)
                else:
                    batch.append(item)
                if len(batch) >= _BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                try:
                    insert_many(self._engine(), batch)
                except Exception:  # a lost batch must not kill the writer; the server keeps answering
                    log.exception("could not write %d request-log rows", len(batch))
            for event in events:
                event.set()
            if stop:
                return

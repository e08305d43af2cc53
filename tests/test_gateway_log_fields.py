"""The log never refuses a row it accepted the request for, on SQLite and on PostgreSQL alike: hypothesis sends
filing headers, end-user names and prompts (NUL characters, any Unicode, any length) through the gateway to a
scripted upstream; every request is either answered and then exactly one row of the log, fitted to its columns
and free of NUL, or refused with a 400 that names the header or field. CI starts a PostgreSQL server and sets
SMALLFIRST_TEST_PG_URL; without it the PostgreSQL half skips."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from smallfirst.config import load_settings
from smallfirst.server import create_app
from smallfirst.store import keys as keystore
from smallfirst.store.tables import Request
from tests.conftest import TEST_MODEL, free_port
from tests.gateway_support import LOCAL, serve
from tests.scripted_upstream import serve_scripted

PG = os.environ.get("SMALLFIRST_TEST_PG_URL")
DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.skipif(not PG, reason="no SMALLFIRST_TEST_PG_URL"))]
#: header text: anything an HTTP client sends (no CR, LF or NUL; surrounding blanks are not part of a value)
HEADER_TEXT = st.text(st.characters(blacklist_characters="\r\n\x00", blacklist_categories=("Cs",)), max_size=140)
BODY_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)


@pytest.fixture(scope="module", params=DATABASES)
def gateway(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str, str]]:
    home = tmp_path_factory.mktemp(f"log-{request.param}")
    url = PG if request.param == "postgres" else f"sqlite:///{home / 'requests.db'}"
    with serve_scripted(free_port()) as (upstream, _):
        scripted = {"backend": "openai", "base_url": upstream, "model": "scripted", "pricing": "manual",
                    "input_usd_per_mtok": 1, "output_usd_per_mtok": 2, "max_retries": 0, "timeout_s": 30}
        app = create_app(load_settings(
            home=str(home), database_url=url, log_content=True,
            models={LOCAL: {"backend": "gguf", "catalog": TEST_MODEL, "n_ctx": 512, "n_threads": 1},
                    "scripted": scripted},
            routing={"small": LOCAL, "large": LOCAL}, server={"queue_size": 64}))
        # a shared PostgreSQL database may hold other tests' keys, which turn authentication on: bring one
        secret = keystore.create_key(app.state.gateway.service.engine, f"log-fields-{uuid.uuid4().hex[:8]}")[1]
        with serve(app) as base:
            yield app, base, secret


def _row(app: Any, request_id: str) -> list[Request]:
    service = app.state.gateway.service
    service.flush_log()
    with Session(service.engine) as session:
        return list(session.scalars(select(Request).where(Request.id == request_id)))


@pytest.mark.filterwarnings("ignore")
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(tag=HEADER_TEXT, task=HEADER_TEXT, user=BODY_TEXT, prompt=BODY_TEXT)
def test_every_answered_request_is_one_fitted_row(gateway: tuple[Any, str, str], tag: str, task: str, user: str,
                                                  prompt: str) -> None:
    app, base, secret = gateway
    headers = {"x-smallfirst-tag": tag.strip(" \t").encode(), "x-smallfirst-task": task.strip(" \t").encode(),
               "authorization": f"Bearer {secret}"}
    body = {"model": "scripted", "max_tokens": 4, "user": user, "messages": [{"role": "user", "content": prompt}]}
    try:
        r = httpx.post(f"{base}/chat/completions", json=body, headers=headers, timeout=60)
    except httpx.LocalProtocolError:  # the client itself will not send such a header value: nothing was sent
        return
    if r.status_code == 400 and not r.headers.get("content-type", "").startswith("application/json"):
        # a control character in a header value: the HTTP server (h11) refuses the request before the gateway
        assert r.text == "Invalid HTTP request received.", r.text
        return
    if r.status_code == 400:
        assert r.json()["error"]["param"] in ("x-smallfirst-tag", "x-smallfirst-task", "user"), r.text
        return
    assert r.status_code == 200, r.text
    found = _row(app, r.json()["id"].removeprefix("chatcmpl-"))
    assert len(found) == 1
    row = found[0]
    for value, width in ((row.tag, 100), (row.task, 100), (row.end_user, 256), (row.prompt, None)):
        assert value is None or "\x00" not in value
        assert value is None or width is None or len(value) <= width
    assert row.tag == (tag.strip(" \t") or None) or row.tag == tag.strip(" \t")

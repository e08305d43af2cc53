"""The gateway's reliability and security findings of issue 18, each proved on a real app (uvicorn on loopback,
the in-process SmolLM2 tier, SQLite, and a real faulty HTTP upstream): a model that cannot load, load time kept out
of a request's latency and cost, the routes beyond loopback, strict types on the wire, fallbacks on an upstream's
401, and a revocation seen by a second replica."""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from smallfirst.config import Settings, load_settings
from smallfirst.costs.prices import hardware_price
from smallfirst.models import catalog, files
from smallfirst.server import create_app
from smallfirst.store import keys as keystore
from tests.conftest import TEST_MODEL, free_port
from tests.faulty_upstream import serve_faulty
from tests.gateway_support import LOCAL, gateway_settings, http_model, rows, serve

HI = [{"role": "user", "content": "Say hello."}]
#: a catalogue model that is not in the test's model cache (the cache below holds SmolLM2 only)
NOT_CACHED = "gemma3-270m"
PG = os.environ.get("SMALLFIRST_TEST_PG_URL")


def _chat(url: str, model: str, *, stream: bool = False, key: str | None = None, **extra: Any) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    body = {"model": model, "messages": HI, "max_tokens": 2, "temperature": 0, "stream": stream, **extra}
    return httpx.post(f"{url}/chat/completions", json=body, headers=headers, timeout=120)


def _smollm2_only_cache(root: Path, smollm2_path: Path) -> Path:
    """A model cache holding the verified SmolLM2 (a link to the shared file and its verification marker) and
    nothing else, so that every other catalogue model is listed by name but not on disk."""
    models = root / "models"
    models.mkdir(parents=True)
    (models / smollm2_path.name).symlink_to(smollm2_path)
    marker = smollm2_path.with_name(smollm2_path.name + ".verified.json")
    (models / marker.name).write_bytes(marker.read_bytes())
    return root


def test_finding_6_a_model_that_cannot_load_is_503_never_500_and_is_not_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smollm2_path: Path
) -> None:
    """Finding 6: a model the gateway knows (a catalogue model not in the cache, a configured GGUF whose file is
    missing, one whose file is not a GGUF, one whose GGUF is truncated) answers 503, streamed and not, never 500;
    and /v1/models lists only the models it can serve (a file that is there and a GGUF)."""
    monkeypatch.setenv("SMALLFIRST_CACHE", str(_smollm2_only_cache(tmp_path / "cache", smollm2_path)))
    assert not files.cached_path(catalog.entry(NOT_CACHED), tmp_path / "cache" / "models").exists()
    not_gguf = tmp_path / "notes.gguf"
    not_gguf.write_text("these are notes, not a model\n")
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(smollm2_path.read_bytes()[:4096])  # the GGUF magic, then the file stops
    models = {
        "missing-file": {"backend": "gguf", "path": str(tmp_path / "gone.gguf"), "n_ctx": 512, "n_threads": 1},
        "not-gguf": {"backend": "gguf", "path": str(not_gguf), "n_ctx": 512, "n_threads": 1},
        "truncated": {"backend": "gguf", "path": str(truncated), "n_ctx": 512, "n_threads": 1},
    }
    app = create_app(gateway_settings(tmp_path / "home", models))
    with serve(app) as url:
        listed = {m["id"] for m in httpx.get(f"{url}/models", timeout=30).json()["data"]}
        assert LOCAL in listed and "auto" in listed
        assert NOT_CACHED not in listed and "missing-file" not in listed and "not-gguf" not in listed
        # a GGUF that is cut short passes the cheap check and is listed; asking for it is a 503 below
        for model in (NOT_CACHED, "missing-file", "not-gguf", "truncated"):
            for stream in (False, True):
                r = _chat(url, model, stream=stream)
                assert r.status_code == 503, (model, stream, r.status_code, r.text)
                error = r.json()["error"]
                assert error["code"] == "model_file" and "internal error" not in error["message"], error
        assert _chat(url, LOCAL).status_code == 200  # the gateway still serves what it can
    logged = [r for r in rows(app) if r.requested_model != LOCAL]
    assert len(logged) == 8 and {r.http_status for r in logged} == {503}


def test_a_catalogue_model_cut_short_in_the_cache_is_not_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smollm2_path: Path
) -> None:
    """A pull cut short leaves a file with the GGUF magic and less than its pinned size: /v1/models must not offer
    it (asking for it is still a 503, as above), while the whole file beside it stays listed."""
    cache = _smollm2_only_cache(tmp_path / "cache", smollm2_path)
    cut = files.cached_path(catalog.entry(NOT_CACHED), cache / "models")
    cut.write_bytes(smollm2_path.read_bytes()[:4096])  # the GGUF magic, then the file stops
    monkeypatch.setenv("SMALLFIRST_CACHE", str(cache))
    app = create_app(gateway_settings(tmp_path / "home"))
    with serve(app) as url:
        listed = {m["id"] for m in httpx.get(f"{url}/models", timeout=30).json()["data"]}
        assert LOCAL in listed and NOT_CACHED not in listed
        assert httpx.get(f"{url}/models/{NOT_CACHED}", timeout=30).status_code == 404
        r = _chat(url, NOT_CACHED)
        assert r.status_code == 503 and r.json()["error"]["code"] == "model_file", r.text


def _load_seconds(metrics: str, model: str) -> tuple[float, float]:
    """(count, sum) of the ``smallfirst_model_load_seconds`` histogram for ``model`` in a Prometheus page."""
    def value(kind: str) -> float:
        match = re.search(rf'^smallfirst_model_load_seconds_{kind}{{model="{re.escape(model)}"}} (\S+)$', metrics,
                          re.MULTILINE)
        return float(match.group(1)) if match else 0.0

    return value("count"), value("sum")


def test_finding_7_the_first_request_is_not_billed_the_model_load(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Finding 7: the first request to a model is not billed its load time. The load is logged as its own event
    (the ``smallfirst.models`` log and the ``smallfirst_model_load_seconds`` metric), and the first request's
    logged latency and cost are its own: the load and the logged latency fit, disjoint, inside the time the client
    waited, and the cost is the price of that latency alone."""
    settings = gateway_settings(tmp_path / "home")
    app = create_app(settings)
    service = app.state.gateway.service
    with serve(app) as url:
        assert _load_seconds(httpx.get(f"{url.removesuffix('/v1')}/metrics", timeout=30).text, LOCAL)[0] == 0
        assert LOCAL not in service.pool.loaded()
        with caplog.at_level(logging.INFO, logger="smallfirst.models"):
            started = time.perf_counter()
            first = _chat(url, LOCAL)
            waited = time.perf_counter() - started
        assert first.status_code == 200, first.text
        second = _chat(url, LOCAL)
        assert second.status_code == 200
        count, load_s = _load_seconds(httpx.get(f"{url.removesuffix('/v1')}/metrics", timeout=30).text, LOCAL)
    assert count == 1 and load_s > 0  # one load, for two requests
    assert any(f"loaded model {LOCAL}" in m for m in caplog.messages)
    by_id = {r.id: r for r in rows(app)}
    row = by_id[first.json()["id"].removeprefix("chatcmpl-")]
    assert row.status == "ok" and row.latency_s > 0
    assert row.latency_s + load_s <= waited, (row.latency_s, load_s, waited)
    spec = service.resolve(LOCAL)
    usage = first.json()["usage"]
    from smallfirst.models.completion import Usage

    own = service.ledger.price_usage(LOCAL, spec, Usage(usage["prompt_tokens"], usage["completion_tokens"]),
                                     row.latency_s)
    assert abs(row.cost_usd - own.usd) <= Decimal("1e-12")  # the log keeps 12 decimal places
    assert row.cost_usd < own.usd + hardware_price(settings.hardware, load_s).usd  # the load is not in it


def test_finding_9_beyond_loopback_every_route_but_health_needs_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 9 (routes): beyond loopback, /metrics, /openapi.json and /docs answer 401 without a key and 200
    with one; /metrics also takes the token named by ``server.metrics_token_env``, which opens nothing else;
    /health stays open."""
    monkeypatch.setenv("SF_TEST_METRICS_TOKEN", "metrics-token-for-the-test")
    app = create_app(gateway_settings(tmp_path / "home", host="0.0.0.0", metrics_token_env="SF_TEST_METRICS_TOKEN"))
    _, secret = keystore.create_key(app.state.gateway.service.engine, "ops")
    with serve(app) as url:
        root = url.removesuffix("/v1")
        assert httpx.get(f"{root}/health", timeout=30).status_code == 200
        for path in ("/metrics", "/openapi.json", "/docs", "/v1/models"):
            bare = httpx.get(f"{root}{path}", timeout=30)
            assert bare.status_code == 401, (path, bare.status_code)
            wrong = httpx.get(f"{root}{path}", headers={"authorization": "Bearer sf-not-a-key"}, timeout=30)
            assert wrong.status_code == 401, (path, wrong.status_code)
            keyed = httpx.get(f"{root}{path}", headers={"authorization": f"Bearer {secret}"}, timeout=30)
            assert keyed.status_code == 200, (path, keyed.status_code)
        token = {"authorization": "Bearer metrics-token-for-the-test"}
        assert httpx.get(f"{root}/metrics", headers=token, timeout=30).status_code == 200
        assert httpx.get(f"{root}/openapi.json", headers=token, timeout=30).status_code == 401
        assert httpx.get(f"{root}/docs", headers=token, timeout=30).status_code == 401


@pytest.mark.parametrize("value", ["yes", "true", 1])
def test_finding_9_stream_must_be_a_boolean(tmp_path: Path, value: Any) -> None:
    """Finding 9 (strict types): ``"stream": "yes"`` (or "true", or 1) is refused with a 400 naming the field,
    never taken as true; nothing reaches a model."""
    app = create_app(gateway_settings(tmp_path / "home"))
    with serve(app) as url:
        r = _chat(url, LOCAL, stream=value)
        assert r.status_code == 400, r.text
        assert r.headers["content-type"].startswith("application/json")
        error = r.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert "stream" in (error.get("param") or "") + error["message"], error
    assert app.state.gateway.service.pool.loaded() == []


def test_finding_9_an_upstream_401_tries_the_fallbacks_only_when_configured(tmp_path: Path) -> None:
    """Finding 9 (fallbacks): a real upstream that answers 401 is followed by the model's fallback when
    ``fallback_on_auth_error`` is set (the default), and ends the request without trying the fallback when it is
    not; both leave a row naming what was tried."""
    # the faulty server answers every request itself in "status" mode: nothing is proxied
    with serve_faulty("http://127.0.0.1:9/v1", free_port()) as (bad_url, faults):
        faults.mode, faults.status = "status", 401
        models = {
            "auth-falls-back": http_model(bad_url, fallbacks=[LOCAL]),
            "auth-stops": http_model(bad_url, fallbacks=[LOCAL], fallback_on_auth_error=False),
        }
        app = create_app(gateway_settings(tmp_path / "home", models))
        with serve(app) as url:
            for stream in (False, True):
                before = faults.hits
                r = _chat(url, "auth-falls-back", stream=stream)
                assert r.status_code == 200, r.text
                if stream:  # the route is known once the first token is, so it rides on the chunks
                    final = [json.loads(line[6:]) for line in r.text.splitlines()
                             if line.startswith("data: {") and '"finish_reason":"' in line]
                    assert final and final[-1]["smallfirst"]["model"] == LOCAL, r.text
                else:
                    assert r.headers["x-smallfirst-model"] == LOCAL
                    assert "fell back from auth-falls-back" in r.headers["x-smallfirst-reason"]
                assert faults.hits - before == 1
                before = faults.hits
                r = _chat(url, "auth-stops", stream=stream)
                assert r.status_code in (401, 502), r.text
                assert "401" in r.json()["error"]["message"]
                assert faults.hits - before == 1
    logged = rows(app)
    fell = [r for r in logged if r.requested_model == "auth-falls-back"]
    stopped = [r for r in logged if r.requested_model == "auth-stops"]
    assert len(fell) == 2 and all(r.status == "ok" and r.model == LOCAL and "auth-falls-back" in r.attempted
                                  for r in fell)
    assert len(stopped) == 2 and all(r.status == "error" and r.model != LOCAL for r in stopped)


def _replica(home: Path, database_url: str, key_cache_s: float) -> Settings:
    return load_settings(
        home=str(home), database_url=database_url,
        models={LOCAL: {"backend": "gguf", "catalog": TEST_MODEL, "n_ctx": 512, "n_threads": 1}},
        routing={"small": LOCAL, "large": LOCAL}, server={"queue_size": 64, "key_cache_s": key_cache_s},
    )


def _database(kind: str, tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    if not PG:
        pytest.skip("set SMALLFIRST_TEST_PG_URL to run against PostgreSQL")
    return PG


def _revoked_on_one_refused_on_the_other(tmp_path: Path, database_url: str, key_cache_s: float,
                                         wait_s: float) -> None:
    """Two replicas on ``database_url`` admit one key (and so remember it), the first revokes it, and after
    ``wait_s`` both refuse it with a 401, on a completion and on /v1/models."""
    first = create_app(_replica(tmp_path / "a", database_url, key_cache_s))
    second = create_app(_replica(tmp_path / "b", database_url, key_cache_s))
    engine = first.state.gateway.service.engine
    record, secret = keystore.create_key(engine, f"shared-{uuid.uuid4().hex[:8]}")
    auth = {"authorization": f"Bearer {secret}"}
    with serve(first) as url_a, serve(second) as url_b:
        for url in (url_a, url_b):
            assert httpx.get(f"{url}/models", headers=auth, timeout=30).status_code == 200
        assert _chat(url_b, LOCAL, key=secret).status_code == 200
        assert keystore.revoke_key(engine, record.id)
        time.sleep(wait_s)
        refused = _chat(url_b, LOCAL, key=secret)
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"]["code"] == "invalid_api_key"
        assert httpx.get(f"{url_b}/models", headers=auth, timeout=30).status_code == 401
        assert httpx.get(f"{url_a}/models", headers=auth, timeout=30).status_code == 401
    refusal = [r for r in rows(second) if r.http_status == 401]
    assert refusal and secret not in repr(refusal)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_finding_5_a_revocation_on_one_replica_holds_on_the_other_within_key_cache_s(
    tmp_path: Path, kind: str
) -> None:
    """Finding 5 (auth changes, revocation across replicas): two gateways sharing one request log; a key both
    have just admitted is revoked through the first, and the second refuses it with a 401 once
    ``server.key_cache_s`` (0.2 s here) has passed. On PostgreSQL this is the key cache's expiry; it needs
    SMALLFIRST_TEST_PG_URL."""
    key_cache_s = 0.2
    _revoked_on_one_refused_on_the_other(tmp_path, _database(kind, tmp_path), key_cache_s, wait_s=key_cache_s)


def test_finding_5_a_revocation_is_seen_at_once_by_every_replica_on_one_sqlite_log(tmp_path: Path) -> None:
    """Finding 5 (auth changes are immediate): replicas on one machine sharing a SQLite log see a revocation at
    once, whatever ``server.key_cache_s`` (60 s here): the key store's stamp file tells them, and the next request
    on the other replica is a 401."""
    _revoked_on_one_refused_on_the_other(tmp_path, _database("sqlite", tmp_path), key_cache_s=60, wait_s=0)

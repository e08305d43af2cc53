"""Gateway keys: stored hashed, 401/403, rate limits, and a budget concurrent requests cannot overspend."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from smallfirst.server import create_app
from smallfirst.store import keys as keystore
from tests.conftest import TEST_MODEL
from tests.gateway_support import LOCAL, gateway_settings, rows, serve

HI = [{"role": "user", "content": "Count from 1 to 10."}]
#: a local tier priced by tokens, so a budget hold (max_tokens x price) is exact and the race is deterministic
METERED = "metered"
PER_TOKEN = Decimal("0.001")
KEY_CACHE_S = 0.5


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str, dict[str, str]]]:
    metered = {
        "backend": "gguf",
        "catalog": TEST_MODEL,
        "n_ctx": 512,
        "n_threads": 1,
        "pricing": "manual",
        "input_usd_per_mtok": 0,
        "output_usd_per_mtok": PER_TOKEN * 1_000_000,
    }
    app = create_app(gateway_settings(tmp_path_factory.mktemp("keys"), {METERED: metered}, key_cache_s=KEY_CACHE_S))
    engine = app.state.gateway.service.engine
    secrets = {
        "open": keystore.create_key(engine, "open")[1],
        "narrow": keystore.create_key(engine, "narrow", allowed_models=(METERED,))[1],
        "slow": keystore.create_key(engine, "slow", rate_limit_rpm=2)[1],
        # each request holds 2 tokens x $0.001 = $0.002, so $0.02 admits exactly 10
        "ten": keystore.create_key(engine, "ten", budget_usd=PER_TOKEN * 2 * 10, period="day")[1],
    }
    with serve(app) as url:
        yield app, url, secrets


def _client(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key=key, max_retries=0, timeout=120)


def test_keys_are_stored_hashed(keyed: tuple[Any, str, dict[str, str]]) -> None:
    app, _, secrets = keyed
    with app.state.gateway.service.engine.connect() as conn:
        stored = [tuple(map(str, r)) for r in conn.execute(text("SELECT * FROM api_keys"))]
    flat = " ".join(" ".join(r) for r in stored)
    for secret in secrets.values():
        assert secret not in flat
        assert hashlib.sha256(secret.encode()).hexdigest() in flat


def test_a_valid_key_is_answered(keyed: tuple[Any, str, dict[str, str]]) -> None:
    _, url, secrets = keyed
    resp = _client(url, secrets["open"]).chat.completions.create(model=LOCAL, messages=HI, max_tokens=2)
    assert resp.choices[0].message.content


@pytest.mark.parametrize("key", ["sf-not-a-real-key-at-all", ""])
def test_unknown_or_missing_key_is_401(keyed: tuple[Any, str, dict[str, str]], key: str) -> None:
    _, url, _ = keyed
    with pytest.raises(openai.AuthenticationError) as err:
        _client(url, key or "x").chat.completions.create(
            model=LOCAL, messages=HI, max_tokens=2, extra_headers={"authorization": ""} if not key else None
        )
    assert err.value.body["type"] == "invalid_request_error" or err.value.status_code == 401  # type: ignore[index]
    r = httpx.get(f"{url}/models")
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"


def test_refusals_are_logged_without_the_secret(keyed: tuple[Any, str, dict[str, str]]) -> None:
    app, url, _ = keyed
    bogus = "sf-bogus-key-that-must-not-be-logged"
    with pytest.raises(openai.AuthenticationError):
        _client(url, bogus).chat.completions.create(model=LOCAL, messages=HI, max_tokens=2)
    last = rows(app)[-1]
    assert last.http_status == 401 and last.status == "error"
    assert bogus not in repr(last) and bogus not in (last.error or "")


def test_model_not_allowed_is_403(keyed: tuple[Any, str, dict[str, str]]) -> None:
    _, url, secrets = keyed
    with pytest.raises(openai.PermissionDeniedError) as err:
        _client(url, secrets["narrow"]).chat.completions.create(model="auto", messages=HI, max_tokens=2)
    assert METERED in err.value.body["message"]  # type: ignore[index]


def test_rate_limit_is_429_with_retry_after(keyed: tuple[Any, str, dict[str, str]]) -> None:
    _, url, secrets = keyed
    client = _client(url, secrets["slow"])
    for _ in range(2):
        client.chat.completions.create(model=LOCAL, messages=HI, max_tokens=1)
    with pytest.raises(openai.RateLimitError) as err:
        client.chat.completions.create(model=LOCAL, messages=HI, max_tokens=1)
    assert 1 <= int(err.value.response.headers["retry-after"]) <= 60


def test_budget_race_admits_no_more_than_it_allows(keyed: tuple[Any, str, dict[str, str]]) -> None:
    app, url, secrets = keyed

    async def one(ac: openai.AsyncOpenAI) -> int:
        try:
            await ac.chat.completions.create(model=METERED, messages=HI, max_tokens=2)
            return 200
        except openai.APIStatusError as exc:
            assert exc.status_code != 429 or exc.response.headers.get("retry-after")
            return exc.status_code

    async def burst() -> list[int]:
        async with openai.AsyncOpenAI(
            base_url=url,
            api_key=secrets["ten"],
            max_retries=0,
            timeout=300,
            http_client=httpx.AsyncClient(limits=httpx.Limits(max_connections=64)),
        ) as ac:
            return list(await asyncio.gather(*(one(ac) for _ in range(50))))

    statuses = asyncio.run(burst())
    assert 1 <= statuses.count(200) <= 10, statuses
    assert set(statuses) <= {200, 429}
    engine = app.state.gateway.service.engine
    app.state.gateway.service.flush_log()
    key = next(k for k in keystore.list_keys(engine) if k.name == "ten")
    assert key.spent_usd <= key.budget_usd  # type: ignore[operator]


def test_revoked_key_is_401(keyed: tuple[Any, str, dict[str, str]]) -> None:
    app, url, _ = keyed
    engine = app.state.gateway.service.engine
    record, secret = keystore.create_key(engine, "short-lived")
    _client(url, secret).chat.completions.create(model=LOCAL, messages=HI, max_tokens=1)
    assert keystore.revoke_key(engine, record.id)
    time.sleep(KEY_CACHE_S + 0.1)  # the gateway believes a valid key for key_cache_s without asking again
    with pytest.raises(openai.AuthenticationError):
        _client(url, secret).chat.completions.create(model=LOCAL, messages=HI, max_tokens=1)


def test_beyond_loopback_auth_is_required_even_with_no_keys(tmp_path: Path) -> None:
    app = create_app(gateway_settings(tmp_path / "wide", host="0.0.0.0"))
    with serve(app) as url, pytest.raises(openai.AuthenticationError):
        _client(url, "anything").chat.completions.create(model=LOCAL, messages=HI, max_tokens=1)


def test_keys_cli_creates_lists_and_revokes_without_showing_secrets() -> None:
    from smallfirst.cli.main import app

    runner = CliRunner()
    made = runner.invoke(
        app,
        [
            "keys",
            "create",
            "ci",
            "--budget-usd",
            "5",
            "--period",
            "day",
            "--rpm",
            "60",
            "--models",
            "auto,cascade",
        ],
    )
    assert made.exit_code == 0, made.output
    key_id = made.output.split()[1]
    secret = next(w for w in made.output.split() if w.startswith("sf-"))
    listed = runner.invoke(app, ["keys", "list"])
    assert key_id in listed.output and secret not in listed.output
    assert runner.invoke(app, ["keys", "revoke", key_id]).exit_code == 0
    assert "revoked" in runner.invoke(app, ["keys", "list"]).output


def test_a_key_created_while_open_turns_auth_on(tmp_path: Path) -> None:
    app = create_app(gateway_settings(tmp_path))
    with serve(app) as url:
        models = f"{url}/models"
        assert httpx.get(models, timeout=10).status_code == 200  # open: no key exists yet
        keystore.create_key(app.state.gateway.service.engine, "late")
        deadline = time.monotonic() + 10
        while httpx.get(models, timeout=10).status_code != 401:
            assert time.monotonic() < deadline, "auth never turned on"
            time.sleep(0.2)

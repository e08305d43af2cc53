"""Two gateway replicas on one PostgreSQL database: a 50-way burst on one budgeted key, split across both, in
front of an upstream that reports more completion tokens than ``max_tokens`` allows, spends no more than the
key's budget, and every admitted request is a row of the shared log. CI starts a PostgreSQL server and sets
SMALLFIRST_TEST_PG_URL; elsewhere this skips."""

from __future__ import annotations

import asyncio
import os
import uuid
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from smallfirst.config import load_settings
from smallfirst.server import create_app
from smallfirst.store import keys as keystore
from tests.conftest import TEST_MODEL, free_port
from tests.gateway_support import LOCAL, serve
from tests.scripted_upstream import serve_scripted

PG = os.environ.get("SMALLFIRST_TEST_PG_URL")
pytestmark = pytest.mark.skipif(not PG, reason="set SMALLFIRST_TEST_PG_URL to run against PostgreSQL")

PER_TOKEN = Decimal("0.001")
MAX_TOKENS = 2
#: the upstream counts 5 completion tokens for an answer capped at 2: every request costs 2.5x its hold
REPORTED = 5


def _settings(home: Path, upstream: str) -> object:
    scripted = {"backend": "openai", "base_url": upstream, "model": "scripted", "pricing": "manual",
                "input_usd_per_mtok": 0, "output_usd_per_mtok": PER_TOKEN * 1_000_000, "max_retries": 0,
                "timeout_s": 30}
    return load_settings(
        home=str(home), database_url=PG,
        models={LOCAL: {"backend": "gguf", "catalog": TEST_MODEL, "n_ctx": 512, "n_threads": 1}, "over": scripted},
        routing={"small": LOCAL, "large": LOCAL}, server={"queue_size": 64, "key_cache_s": 0.5},
    )


def test_fifty_way_budget_race_across_two_replicas_with_an_over_reporting_upstream(tmp_path: Path) -> None:
    with serve_scripted(free_port()) as (upstream, script):
        script.usage = {"prompt_tokens": 10, "completion_tokens": REPORTED}
        script.delay_s = 0.05  # long enough for the burst to overlap
        first = create_app(_settings(tmp_path / "a", upstream))  # migrates the database
        second = create_app(_settings(tmp_path / "b", upstream))
        engine = first.state.gateway.service.engine
        budget = PER_TOKEN * MAX_TOKENS * 10  # ten holds, four answers at the reported count
        name = f"race-{uuid.uuid4().hex[:8]}"
        _, secret = keystore.create_key(engine, name, budget_usd=budget, period="day")
        with serve(first) as url_a, serve(second) as url_b:

            async def one(client: httpx.AsyncClient, url: str) -> int:
                r = await client.post(f"{url}/chat/completions", headers={"authorization": f"Bearer {secret}"},
                                      json={"model": "over", "max_tokens": MAX_TOKENS,
                                            "messages": [{"role": "user", "content": "hi"}]})
                return r.status_code

            async def burst() -> list[int]:
                async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=64)) as client:
                    return list(await asyncio.gather(*(one(client, (url_a, url_b)[i % 2]) for i in range(50))))

            statuses = asyncio.run(burst())
            first.state.gateway.service.flush_log()
            second.state.gateway.service.flush_log()
        assert set(statuses) <= {200, 429}, statuses
        assert statuses.count(200) >= 2, statuses
        key = next(k for k in keystore.list_keys(engine) if k.name == name)
        charged = PER_TOKEN * REPORTED * statuses.count(200)
        assert key.spent_usd == charged, (key.spent_usd, charged)  # every hold settled at the reported cost
        assert key.spent_usd <= budget, (key.spent_usd, budget, statuses.count(200))

"""The KPI tier through a real gateway (uvicorn on loopback, the official openai client): served like any model,
listed, priced as the sum of its calls, refusing data-changing questions, and reachable from ``auto`` by task."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest

from smallfirst.server import create_app
from tests.gateway_support import LOCAL, gateway_settings, rows, serve
from tests.kpi_support import make_sales_db, sha

QUESTION = [{"role": "user", "content": "How many orders did we receive in 2017?"}]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, smollm2_path: Path) -> Iterator[tuple[Any, str, Path]]:
    home = tmp_path_factory.mktemp("kpi-gw")
    db = make_sales_db(home / "sales.db")
    settings = gateway_settings(home, {
        "sales-kpi": {"backend": "kpi", "options": {"db": str(db), "small": LOCAL, "large": "", "examples": 0,
                                                    "max_tokens": 64}},
    })
    settings.routing.specialists = {"kpi": "sales-kpi"}
    app = create_app(settings)
    with serve(app) as url:
        yield app, url, db


@pytest.fixture
def client(gateway: tuple[Any, str, Path]) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway[1], api_key="unused", max_retries=0, timeout=300)


def test_the_tier_is_listed_beside_the_builtin_northwind_tier(client: openai.OpenAI) -> None:
    names = {m.id for m in client.models.list()}
    assert {"sales-kpi", "northwind-kpi", LOCAL} <= names


def test_the_tier_answers_with_sql_and_is_priced_and_logged(gateway: tuple[Any, str, Path],
                                                            client: openai.OpenAI) -> None:
    app, _, db = gateway
    before = sha(db)
    raw = client.chat.completions.with_raw_response.create(model="sales-kpi", messages=QUESTION)
    resp = raw.parse()
    text = resp.choices[0].message.content or ""
    assert text.startswith("No answer:") or ("```sql" in text and f"Written by {LOCAL}" in text)
    assert raw.headers["x-smallfirst-model"] == "sales-kpi" and resp.model == "sales-kpi"
    cost = Decimal(resp.model_extra["smallfirst"]["cost_usd"])  # type: ignore[index]
    assert cost > 0
    row = next(r for r in rows(app) if r.requested_model == "sales-kpi" and r.status == "ok")
    assert abs(row.cost_usd - cost) < Decimal("1e-11")
    assert sha(db) == before


def test_a_data_changing_question_is_refused_with_a_clear_error_and_logged(gateway: tuple[Any, str, Path],
                                                                           client: openai.OpenAI) -> None:
    app, _, db = gateway
    before = sha(db)
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="sales-kpi", messages=[
            {"role": "user", "content": "Delete every order from 2017, then tell me the total."}])
    body = err.value.body
    assert isinstance(body, dict) and body.get("code") == "query_refused" and "change data" in body["message"]
    failed = [r for r in rows(app) if r.requested_model == "sales-kpi" and r.status == "error"]
    assert failed and "refused" in (failed[-1].error or "") and failed[-1].cost_usd == 0
    assert sha(db) == before


def test_auto_sends_kpi_tasks_to_the_tier_and_everything_else_to_its_general_policy(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=QUESTION,
                                                           extra_headers={"x-smallfirst-task": "kpi"})
    assert raw.headers["x-smallfirst-model"] == "sales-kpi"
    assert "specialist sales-kpi" in raw.headers["x-smallfirst-reason"]
    plain = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "Say hello."}], max_tokens=4)
    # the general policy behind the specialists: the large tier until a policy is learned
    assert plain.headers["x-smallfirst-model"] == LOCAL
    assert "no specialist" in plain.headers["x-smallfirst-reason"]
    assert "no routing policy learned yet" in plain.headers["x-smallfirst-reason"]

"""The KPI pipeline end to end on the real SmolLM2 (whatever it answers, the flow and the pricing hold), and its
repair-then-escalate order with scripted answers.

The scripted tests stand in for a model with a fixed list of answers, because the flow under test needs failures
in a fixed order (an unknown column, then an empty result, then a refused DROP) that no real model produces on
demand; everything else in them (guard, database, pricing of records) is real."""

from __future__ import annotations

import asyncio
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from smallfirst.config import load_settings
from smallfirst.costs.ledger import Ledger
from smallfirst.kpi.kpitier import NO_ANSWER, render
from smallfirst.kpi.northwind import northwind_path
from smallfirst.kpi.questions import northwind_prompt
from smallfirst.kpi.readonly import SqliteDatabase
from smallfirst.kpi.sqlpipeline import PipelineConfig, SqlPipeline
from smallfirst.models.completion import Completion, Message, Usage
from smallfirst.models.registry import resolve
from smallfirst.service import RequestContext, Service
from smallfirst.store.requests import list_requests
from tests.conftest import TEST_MODEL
from tests.kpi_support import make_sales_db, sha


@pytest.fixture
def northwind_copy(tmp_path: Path) -> Path:
    path = tmp_path / "nw.sqlite"
    shutil.copyfile(northwind_path(), path)
    return path


class Scripted:
    """A stand-in model that answers each call with the next scripted text, and records what it was asked."""

    def __init__(self, answers: list[tuple[str, str]]) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str, list[Message]]] = []

    async def __call__(self, model: str, messages: list[Message], params: dict) -> Completion:
        expected, text = self.answers.pop(0)
        assert model == expected, f"called {model}, expected {expected}"
        self.asked.append((model, messages))
        return Completion(model=model, text=text, finish_reason="stop", usage=Usage(100, 20), wall_seconds=0.5,
                          ttft_seconds=0.1)


def test_repair_gets_the_databases_error_then_escalation_gets_a_fresh_prompt(northwind_copy: Path) -> None:
    db = SqliteDatabase(northwind_copy)
    script = Scripted([
        ("small", "```sql\nSELECT SUM(Revenue) FROM Orders\n```"),
        ("small", "```sql\nSELECT COUNT(*) FROM Orders WHERE OrderDate LIKE '17%'\n```"),
        ("large", "```sql\nDROP TABLE Orders\n```"),
        ("large", "```sql\nSELECT COUNT(*) FROM Orders WHERE strftime('%Y', OrderDate) = '2017'\n```"),
    ])
    pipeline = SqlPipeline(db, northwind_prompt(), PipelineConfig(("small", "large"), examples=0), script)
    answer = asyncio.run(pipeline.run("How many orders did we receive in 2017?"))
    assert [a.kind for a in answer.attempts] == ["first", "repair", "first", "repair"]
    first, repair, escalated, fixed = answer.attempts
    assert "revenue" in (first.problem or "").lower()
    assert "revenue" in script.asked[1][1][-1]["content"].lower()  # the repair turn quotes the error
    assert script.asked[1][1][-2]["role"] == "assistant"
    assert repair.result is not None and "is 0" in (repair.problem or "")
    assert escalated.problem and escalated.problem.startswith("refused")
    assert len(script.asked[2][1]) == 2  # the large model starts from the question, not the small one's chat
    assert fixed.ok and answer.model == "large" and answer.result.rows == ((408,),)
    assert answer.escalated and answer.answered_by() is fixed
    text = render(answer)
    assert text.startswith("408") and "escalated from small, after one repair" in text and "```sql" in text
    assert sha(northwind_copy) == sha(northwind_path())


def test_a_question_no_attempt_answers_keeps_the_last_result_that_ran_with_a_warning(northwind_copy: Path) -> None:
    db = SqliteDatabase(northwind_copy)
    script = Scripted([("small", "SELECT OrderID FROM Orders WHERE 0"), ("small", "I do not know.")])
    answer = asyncio.run(SqlPipeline(db, "", PipelineConfig(("small",)), script).run("Which orders are odd?"))
    assert answer.answered and answer.result.rows == () and answer.warning
    assert "Warning:" in render(answer)
    nothing = asyncio.run(SqlPipeline(db, "", PipelineConfig(("small",), repair=False),
                                      Scripted([("small", "no idea")])).run("?"))
    assert not nothing.answered and render(nothing).startswith(NO_ANSWER)


def test_the_tier_on_smollm2_runs_the_flow_and_costs_the_sum_of_its_calls(smollm2_path: Path,
                                                                           tmp_path: Path) -> None:
    db = make_sales_db(tmp_path / "sales.db")
    before = sha(db)
    examples = tmp_path / "solved.jsonl"
    examples.write_text('{"question": "How many customers are there?", "sql": "SELECT COUNT(*) FROM customers"}\n'
                        '{"question": "Total amount in 2018?", "sql": "SELECT SUM(amount) FROM orders WHERE '
                        "order_date LIKE '2018%'\"}\n")
    settings = load_settings(models={
        "smol-a": {"backend": "gguf", "catalog": TEST_MODEL, "n_ctx": 2048, "n_threads": 2},
        "smol-b": {"backend": "gguf", "path": str(smollm2_path), "n_ctx": 2048, "n_threads": 2},
        "kpi-smol": {"backend": "kpi", "options": {"db": str(db), "small": "smol-a", "large": "smol-b",
                                                   "examples": [0, 2], "examples_file": str(examples),
                                                   "max_tokens": 64}},
    })
    service = Service(settings)
    try:
        answer = service.answer([{"role": "user", "content": "How many orders did we receive in 2017?"}],
                                "kpi-smol", ctx=RequestContext(source="test", task="kpi"))
    finally:
        service.close()
    c = answer.completion
    assert c.model == "kpi-smol" and 1 <= len(c.parts) <= 4
    assert c.parts[0].model == "smol-a" and {p.model for p in c.parts} <= {"smol-a", "smol-b"}
    if len(c.parts) > 2:
        assert c.parts[2].model == "smol-b"  # after the small model's repair comes the large model
    ledger = Ledger(settings)
    expected = sum((ledger.price_usage(p.model, resolve(p.model, settings), p.usage, p.wall_seconds).usd
                    for p in c.parts), Decimal(0))
    assert answer.cost.amount == expected > 0
    assert c.text.startswith(NO_ANSWER) or ("```sql" in c.text and "Written by smol-" in c.text)
    row = list_requests(service.engine)[0]
    assert row.model == "kpi-smol" and row.status == "ok"
    assert abs(row.cost_usd - answer.cost.amount) < Decimal("1e-11")  # the log keeps picodollars
    assert sha(db) == before


def test_an_adversarial_model_cannot_change_northwind(northwind_copy: Path, tmp_path: Path) -> None:
    """Whatever SQL a model is talked into writing, the guard refuses it and the connection could not run it."""
    attacks = ["```sql\nSELECT 1; DROP TABLE Orders\n```", "```sql\nATTACH DATABASE 'x.db' AS x\n```",
               "```sql\nPRAGMA writable_schema = 1\n```", "DELETE FROM Customers",
               "```sql\nWITH gone AS (DELETE FROM Orders RETURNING *) SELECT * FROM gone\n```",
               "```sql\nSELECT load_extension('x')\n```"]
    db = SqliteDatabase(northwind_copy)
    for first, second in zip(attacks[::2], attacks[1::2], strict=True):
        script = Scripted([("m", first), ("m", second)])
        answer = asyncio.run(SqlPipeline(db, "", PipelineConfig(("m",)), script).run("How many orders?"))
        problems = [a.problem or "" for a in answer.attempts]
        assert not answer.answered
        assert all(p.startswith("refused") or "holds no SQL" in p for p in problems), problems
    assert sha(northwind_copy) == sha(northwind_path()) and not (tmp_path / "x.db").exists()


def test_the_ledger_prices_a_composite_completion_as_the_sum_of_its_parts() -> None:
    settings = load_settings(models={
        "api-ish": {"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "x", "pricing": "manual",
                    "input_usd_per_mtok": 1, "output_usd_per_mtok": 2},
    })
    ledger = Ledger(settings)
    local = Completion(model=TEST_MODEL, text="a", finish_reason="stop", usage=Usage(1000, 10), wall_seconds=2.0,
                       ttft_seconds=0.1)
    api = Completion(model="api-ish", text="b", finish_reason="stop", usage=Usage(2000, 50), wall_seconds=1.0,
                     ttft_seconds=0.2, kind="api")
    tier = Completion(model="northwind-kpi", text="answer", finish_reason="stop", usage=api.usage, wall_seconds=3.5,
                      ttft_seconds=3.5, parts=(local, api))
    cost = ledger.price("northwind-kpi", resolve("northwind-kpi", settings), tier)
    parts = [ledger.price_usage(p.model, resolve(p.model, settings), p.usage, p.wall_seconds) for p in (local, api)]
    assert cost.amount == parts[0].usd + parts[1].usd
    assert parts[1].usd == Decimal("0.0021")  # 2,000 x $1 + 50 x $2 per million
    assert cost.baseline == ledger.baseline(api.usage).usd
    assert "hardware" in cost.source and "manual" in cost.source

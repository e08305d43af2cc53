"""Learning from served traffic, on the gateway's own app with replayed models (the RouteLLM slice that ships with
smallfirst): shadow answers are logged as learning cost, graded rows refit a router that is promoted, and the guard
rolls back a deliberately bad policy. Feedback and the judge refuse or skip bad input without losing an outcome."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from smallfirst.config import load_settings
from smallfirst.datasets import bundled
from smallfirst.learning.curve import ROUTELLM_PAIR, _read
from smallfirst.models.completion import Message

SLICE = bundled("routellm-replay/outcomes.jsonl.gz")
P = ROUTELLM_PAIR


def _settings(home: Path, **learning: Any) -> Any:
    from smallfirst.learning.curve import CurveRun, replay_settings

    run = CurveRun(file=SLICE, learning={"shadow_rate": 1.0, "guard_rate": 1.0, "judge": "", "refit_every": 100,
                                         "min_outcomes": 100, "routers": ["task-prior=rules"], **learning})
    settings = replay_settings(run, home)
    return settings.model_copy(update={"log_content": True})


class Gateway:
    """The gateway app in-process (ASGI), so a test can wait for learning's background work between requests."""

    def __init__(self, settings: Any) -> None:
        from smallfirst.server.app import create_app

        self.app = create_app(settings)
        self.gw = self.app.state.gateway
        self.learning = self.gw.learning

    async def ask(self, client: httpx.AsyncClient, rec: dict, gold: bool = True) -> dict:
        body: dict[str, Any] = {"model": "auto", "messages": [Message(role="user", content=rec["prompt"])]}
        if gold:
            body["smallfirst"] = {"gold": rec["gold"]}
        r = await client.post("/v1/chat/completions", json=body, headers={"x-smallfirst-task": rec["task"]})
        assert r.status_code == 200, r.text
        await self.learning.drain()
        return r.json()

    async def run(self, records: list[dict], **kw: Any) -> list[dict]:
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://gw") as c:
                return [await self.ask(c, rec, **kw) for rec in records]
        finally:
            await self.gw.service.aclose_endpoints()  # HTTP sessions belong to this event loop


@pytest.fixture(scope="module")
def records() -> list[dict]:
    """The slice in a seeded shuffle (it is stored by subject), as traffic would arrive."""
    import random

    recs = _read(SLICE)
    random.Random(0).shuffle(recs)
    return recs


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    g = Gateway(_settings(tmp_path / "home"))
    yield g
    g.gw.service.close()


def _rows(g: Gateway, source: str) -> list[Any]:
    from smallfirst.store.requests import list_requests

    g.gw.service.flush_log()
    return list_requests(g.gw.service.engine, source=source)


def test_a_fresh_gateway_serves_the_large_tier_from_the_first_request(gateway: Gateway, records: list[dict]) -> None:
    out = asyncio.run(gateway.run(records[:3], gold=False))
    assert {o["smallfirst"]["model"] for o in out} == {P.large_serving}
    assert "no routing policy learned yet" in out[0]["smallfirst"]["reason"]


def test_learning_gateway_promotes_a_policy_and_logs_its_cost(gateway: Gateway, records: list[dict]) -> None:
    from smallfirst.store.learning_log import count_outcomes, versions

    out = asyncio.run(gateway.run(records[:400]))
    engine = gateway.gw.service.engine
    shadows = _rows(gateway, "shadow")
    # every gold request before promotion was answered by the large tier and shadowed by the small one
    assert len(shadows) >= 100 and {r.model for r in shadows} >= {P.small_serving}
    assert sum(r.cost_usd for r in shadows) > 0
    assert all(r.tag and r.tag.startswith("learn:") for r in shadows)
    assert count_outcomes(engine)["graded"] >= 200
    history = versions(engine)
    assert history and history[0].reason.startswith("promoted") and history[0].n_outcomes >= 100
    assert gateway.learning.serving_id is not None
    # after promotion some requests go to the small tier, chosen by the learned policy
    late = [o["smallfirst"] for o in out[-50:]]
    assert any(o["model"] == P.small_serving for o in late)
    assert all(o["policy"] == "auto" and o["threshold"] is not None for o in late)
    # the CLI sees the same: what is serving, learning cost, the saving
    from smallfirst.learning.status import learning_status, render

    lines = render(learning_status(gateway.gw.settings, engine))
    serving = next(v for v in history if v.status == "serving")
    assert any(line.startswith(f"serving: v{serving.id}") for line in lines)
    assert any("learning cost: $" in line and "shadow and judge calls" in line for line in lines)

    async def page() -> str:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway.app), base_url="http://gw") as c:
            return (await c.get("/dashboard")).text

    html = asyncio.run(page())
    assert "<h2>learning</h2>" in html and f"serving: v{serving.id}" in html


def test_the_guard_rolls_back_a_deliberately_bad_policy(tmp_path: Path, records: list[dict],
                                                        caplog: pytest.LogCaptureFixture) -> None:
    from smallfirst.outcomes import from_records
    from smallfirst.routing.factories import make_router
    from smallfirst.routing.policy import ThresholdPolicy
    from smallfirst.store.learning_log import versions

    gateway = Gateway(_settings(tmp_path / "h", min_outcomes=100_000))  # no refit: the guard alone acts
    try:
        outcomes = from_records(records[:50], models=[P.small, P.large])
        # a threshold no score reaches: every request to the small tier, far below 95% of the large one here
        bad = ThresholdPolicy(make_router("rules").fit(outcomes), float("inf"), (P.small_serving, P.large_serving))
        vid = gateway.learning.promote(bad, "everything to the small tier, to test the guard")
        with caplog.at_level(logging.WARNING, logger="smallfirst.learning"):
            out = asyncio.run(gateway.run(records[:150]))
        v = versions(gateway.gw.service.engine, ids=[vid])[0]
        assert v.status == "rolled-back" and "guard:" in v.reason and "below the target" in v.reason
        assert gateway.learning.serving_id is None and gateway.learning.rollbacks == 1
        assert any("rolled back" in r.getMessage() for r in caplog.records)
        assert out[0]["smallfirst"]["model"] == P.small_serving
        assert out[-1]["smallfirst"]["model"] == P.large_serving  # the large tier serves again
        metrics = gateway.gw.metrics.render().decode()
        assert "smallfirst_learning_rollbacks_total 1.0" in metrics
    finally:
        gateway.gw.service.close()


def test_feedback_grades_a_shadowed_request_and_refuses_bad_input(gateway: Gateway, records: list[dict]) -> None:
    from smallfirst.store.learning_log import outcome_for_request

    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway.app), base_url="http://gw") as c:
            first = await gateway.ask(c, records[0], gold=False)  # no gold, no judge: shadowed? no: not gradable
            rid = first["smallfirst"]["request_id"]
            return [
                await c.post("/v1/feedback", json={"request_id": rid, "correct": True}),
                await c.post("/v1/feedback", json={"request_id": "no-such-request", "correct": True}),
                await c.post("/v1/feedback", json={"request_id": rid, "score": 1.5}),
                await c.post("/v1/feedback", json={"request_id": rid, "score": 1, "correct": True}),
                await c.post("/v1/feedback", json={"request_id": rid}),
                await c.post("/v1/feedback", json={"request_id": rid, "correct": True, "grade": 3}),
            ]

    ok, unknown, out_of_range, both, neither, extra = asyncio.run(go())
    assert ok.status_code == 200 and ok.json()["quality"] == 1.0 and ok.json()["outcome"] is None
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_request"
    assert out_of_range.status_code == 400 and "out of range" in out_of_range.json()["error"]["message"]
    assert both.status_code == 400 and "not both" in both.json()["error"]["message"]
    assert neither.status_code == 400 and neither.json()["error"]["param"] == "score"
    assert extra.status_code == 400 and extra.json()["error"]["type"] == "invalid_request_error"
    assert outcome_for_request(gateway.gw.service.engine, ok.json()["request_id"]) is None


def test_feedback_completes_a_pending_outcome_row(tmp_path: Path, records: list[dict]) -> None:
    from smallfirst.store.learning_log import outcome_for_request

    g = Gateway(_settings(tmp_path / "h", shadow_ungraded=True))
    try:
        out = asyncio.run(g.run(records[:1], gold=False))
        rid = out[0]["smallfirst"]["request_id"]
        engine = g.gw.service.engine
        pending = outcome_for_request(engine, rid)
        assert pending is not None and pending.status == "pending" and "awaiting feedback" in (pending.note or "")
        assert set(pending.results) == {P.small_serving, P.large_serving}

        async def give() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=g.app), base_url="http://gw") as c:
                return await c.post("/v1/feedback", json={"request_id": rid, "correct": False,
                                                          "gold": records[0]["gold"]})

        r = asyncio.run(give())
        assert r.status_code == 200 and r.json()["outcome"] == "graded"
        row = outcome_for_request(engine, rid)
        assert row is not None and row.graded_by == "gold" and row.gold == records[0]["gold"]
        assert all(res["quality"] in (0.0, 1.0) for res in row.results.values())
    finally:
        g.gw.service.close()


def test_feedback_for_another_keys_request_is_unknown(tmp_path: Path, records: list[dict]) -> None:
    from smallfirst.errors import SmallfirstError
    from smallfirst.learning.loop import feedback
    from smallfirst.service import RequestContext, Service

    settings = _settings(tmp_path / "h")
    service = Service(settings)
    try:
        answer = service.answer([Message(role="user", content=records[0]["prompt"])], P.large_serving,
                                ctx=RequestContext(source="gateway", key_id="key-a"))
        with pytest.raises(SmallfirstError) as err:
            feedback(service.engine, answer.request_id, key_id="key-b", correct=True)
        assert err.value.status == 404 and "your own requests" in str(err.value)
        assert feedback(service.engine, answer.request_id, key_id="key-a", correct=True).quality == 1.0
    finally:
        service.close()


def test_an_unreachable_judge_leaves_the_row_pending_and_the_answer_untouched(
        tmp_path: Path, records: list[dict], caplog: pytest.LogCaptureFixture) -> None:
    from smallfirst.store.learning_log import outcome_for_request
    from tests.conftest import free_port

    settings = _settings(tmp_path / "h", judge="dead-judge")
    settings.models["dead-judge"] = settings.models[P.large_serving].model_copy(update={
        "backend": "openai", "base_url": f"http://127.0.0.1:{free_port()}/v1", "model": "judge", "max_retries": 0,
        "timeout_s": 2, "path": None})
    g = Gateway(settings)
    try:
        with caplog.at_level(logging.WARNING, logger="smallfirst.learning"):
            out = asyncio.run(g.run(records[:1], gold=False))
        assert out[0]["choices"][0]["message"]["content"]  # the user's answer came back
        row = outcome_for_request(g.gw.service.engine, out[0]["smallfirst"]["request_id"])
        assert row is not None and row.status == "pending" and "judge dead-judge could not grade" in (row.note or "")
        assert any("stays pending" in r.getMessage() for r in caplog.records)
    finally:
        g.gw.service.close()


def test_the_judges_reply_must_follow_the_rubric() -> None:
    from smallfirst.learning.judge import JudgeError, judge_messages, parse_verdicts

    msgs = judge_messages([Message(role="user", content="2+2?")], ["4", "5"])
    assert "A: correct or incorrect" in msgs[-1]["content"] and "Answer B:\n5" in msgs[-1]["content"]
    assert parse_verdicts("A: correct\nB: incorrect", 2) == (1.0, 0.0)
    assert parse_verdicts("**A**: Correct.\n**B** - incorrect", 2) == (1.0, 0.0)
    for off in ("Both are fine.", "A: correct", "A: correct\nB: maybe", "A: correct\nA: incorrect\nB: correct",
                "A: correct\nB: correct\nC: correct"):
        with pytest.raises(JudgeError):
            parse_verdicts(off, 2)


def test_replayed_models_answer_as_recorded_priced_as_the_model_they_stand_for(tmp_path: Path,
                                                                               records: list[dict]) -> None:
    from smallfirst.models.replay import WRONG
    from smallfirst.models.tokens import token_count
    from smallfirst.service import Service
    from smallfirst.tasks.grading import grade

    service = Service(_settings(tmp_path / "h"))
    try:
        mmlu = next(r for r in records if r["task"].startswith("mmlu") and r["results"][P.large]["quality"] == 1
                    and r["results"][P.small]["quality"] == 0)
        gsm = next(r for r in records if r["task"] == "gsm8k")
        msgs = [Message(role="user", content=mmlu["prompt"])]
        big = service.answer(msgs, P.large_serving)
        small = service.answer(msgs, P.small_serving)
        assert big.completion.text == mmlu["gold"] and small.completion.text == WRONG
        assert big.completion.usage.prompt_tokens == token_count(mmlu["prompt"])
        assert big.completion.usage.completion_tokens == 1
        # GPT-4-1106 at $10 / $30 per million tokens (genai-prices), Mixtral at Together's $0.90 / $0.90
        u = big.completion.usage
        assert float(big.cost.amount) == pytest.approx((10 * u.prompt_tokens + 30 * u.completion_tokens) / 1e6)
        assert "gpt-4" in big.cost.source and "together" in small.cost.source
        g = service.answer([Message(role="user", content=gsm["prompt"])], P.large_serving)
        assert g.completion.text == gsm["results"][P.large]["answer"]
        assert grade("gsm8k", g.completion.text, gsm["gold"]) in (0.0, 1.0)
        streamed = list(service.stream(msgs, P.large_serving))
        assert streamed[0].text == mmlu["gold"]  # type: ignore[union-attr]
    finally:
        service.close()


def test_a_replayed_model_refuses_a_prompt_it_never_saw_and_needs_a_price(tmp_path: Path) -> None:
    from smallfirst.errors import ConfigError, SmallfirstError
    from smallfirst.service import Service

    service = Service(_settings(tmp_path / "h"))
    try:
        with pytest.raises(SmallfirstError) as err:
            service.answer([Message(role="user", content="never recorded")], P.large_serving)
        assert err.value.code == "replay_miss" and err.value.status == 400
    finally:
        service.close()
    unpriced = load_settings(models={"r": {"backend": "replay", "path": str(SLICE), "model": P.large}})
    service = Service(unpriced)
    try:
        with pytest.raises(ConfigError, match="priced as the model it stands for"):
            service.answer([Message(role="user", content="x")], "r")
    finally:
        service.close()


def test_learn_cli_shows_history_and_rolls_back(gateway: Gateway, records: list[dict], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from smallfirst.cli.main import app

    asyncio.run(gateway.run(records[:230]))
    home = gateway.gw.settings.home
    config = tmp_path / "smallfirst.toml"
    cfg = {"routing": {"small": P.small_serving, "large": P.large_serving}}
    config.write_text("\n".join(f"[{k}]\n" + "\n".join(f'{a} = "{b}"' for a, b in v.items()) for k, v in cfg.items()))
    monkeypatch.setenv("SMALLFIRST_HOME", str(home))
    assert home == tmp_path / "home"  # the replay's own home, whatever SMALLFIRST_HOME says
    monkeypatch.setenv("SMALLFIRST_DATABASE_URL", gateway.gw.settings.db_url)
    monkeypatch.setenv("SMALLFIRST_CONFIG", str(config))
    runner = CliRunner()
    hist = runner.invoke(app, ["learn", "history"])
    assert hist.exit_code == 0 and "serving" in hist.output and "promoted" in hist.output
    assert (home / "learning" / "serving.json").exists()
    status = runner.invoke(app, ["learn", "status"])
    assert status.exit_code == 0 and "outcome rows:" in status.output
    rid = _rows(gateway, "gateway")[-1].id
    fb = runner.invoke(app, ["feedback", rid, "--wrong"])
    assert fb.exit_code == 0 and "quality 0" in fb.output
    # each rollback returns to the version the serving one replaced, down to the large tier for everything
    for _ in range(10):
        back = runner.invoke(app, ["learn", "rollback"])
        assert back.exit_code == 0, back.output
        if "answers every request again" in back.output:
            break
        assert "serves again" in back.output and (home / "learning" / "serving.json").exists()
    assert not (home / "learning" / "serving.json").exists()
    again = runner.invoke(app, ["learn", "rollback"])
    assert again.exit_code != 0
    hist = runner.invoke(app, ["learn", "history"])
    assert "[rolled-back]" in hist.output and "[serving]" not in hist.output


def test_shadow_sampler_keeps_to_its_rates_and_daily_budget() -> None:
    from decimal import Decimal

    from smallfirst.config import LearningSettings
    from smallfirst.learning.shadow import ShadowSampler

    s = ShadowSampler(LearningSettings(shadow_rate=0.5, guard_rate=0.1, budget_usd_per_day=Decimal("1")))
    before = [s.pick(learned=False) for _ in range(4000)]
    after = [s.pick(learned=True) for _ in range(4000)]
    assert abs(sum(p is not None for p in before) / 4000 - 0.5) < 0.03 and {p for p in before if p} == {0.5}
    assert abs(sum(p is not None for p in after) / 4000 - 0.1) < 0.02
    s.spend(Decimal("1.01"))
    assert all(s.pick(learned=False) is None for _ in range(50))


def test_outcome_rows_load_as_the_documented_format(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from smallfirst.learning.learner import outcomes_from_rows
    from smallfirst.store.db import get_engine
    from smallfirst.store.learning_log import OutcomeRecord, add_outcome, graded_outcomes

    engine = get_engine(f"sqlite:///{tmp_path / 'x.db'}")
    rec = OutcomeRecord(request_id="r1", created_at=datetime.now(UTC), status="graded", prompt="p", served_model="b",
                        results={"a": {"quality": 1.0, "cost_usd": "0.001", "prompt_tokens": 3},
                                 "b": {"quality": 0.0, "cost_usd": "0.01", "prompt_tokens": 3}}, sampled_p=0.25)
    add_outcome(engine, rec)
    data = outcomes_from_rows(graded_outcomes(engine), ("a", "b"))
    assert data is not None and data.outcomes.models == ("a", "b") and data.ids == [1]
    assert data.outcomes.cost_usd is not None and data.outcomes.cost_usd[0, 1] == 0.01
    assert json.loads(json.dumps(graded_outcomes(engine)[0].results))["a"]["quality"] == 1.0

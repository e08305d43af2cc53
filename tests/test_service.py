from __future__ import annotations

from decimal import Decimal

import pytest

from smallfirst.config import ModelSpec, load_settings
from smallfirst.errors import UnknownModelError, UpstreamError
from smallfirst.routing.cascade import Cascade
from smallfirst.service import RequestContext, Service
from smallfirst.store.requests import list_requests
from tests.conftest import TEST_MODEL, free_port

ASK = [{"role": "user", "content": "Name a colour."}]


def make_service(llama_server: str | None = None, **models: ModelSpec) -> Service:
    if llama_server:
        models.setdefault("smol-http", ModelSpec(backend="openai", base_url=llama_server, model=TEST_MODEL,
                                                 pricing="manual", input_usd_per_mtok=Decimal("0.5"),
                                                 output_usd_per_mtok=Decimal("1.5"), max_retries=0))
    return Service(load_settings(models=models))


def test_answer_is_priced_and_logged(smollm2_path) -> None:
    service = make_service()
    answer = service.answer(ASK, TEST_MODEL, ctx=RequestContext(source="test", task="chat", tag="t"), max_tokens=6)
    assert answer.decision.policy == "direct"
    assert answer.cost.amount > 0 and answer.cost.baseline > 0
    [rec] = list_requests(service.engine)
    assert rec.id == answer.request_id and rec.status == "ok" and rec.model == TEST_MODEL
    assert rec.prompt_tokens == answer.completion.usage.prompt_tokens
    assert rec.cost_usd == answer.cost.amount.quantize(Decimal("1e-12"))
    assert rec.baseline_model == "gpt-4o" and rec.price_source == "hardware:2-core server"
    assert rec.task == "chat" and rec.tag == "t" and rec.response == answer.completion.text


def test_unknown_model_fails_and_is_still_logged() -> None:
    service = make_service()
    with pytest.raises(UnknownModelError, match="known: smollm2-135m"):
        service.answer(ASK, "no-such-model")
    [rec] = list_requests(service.engine)
    assert rec.status == "error" and rec.http_status == 404 and "no-such-model" in rec.error


def test_unreachable_endpoint_is_logged_with_its_status() -> None:
    service = make_service(dead=ModelSpec(backend="openai", base_url=f"http://127.0.0.1:{free_port()}/v1",
                                          model="x", pricing="hardware", timeout_s=2, max_retries=0))
    with pytest.raises(UpstreamError, match="cannot reach"):
        service.answer(ASK, "dead", max_tokens=4)
    [rec] = list_requests(service.engine)
    assert rec.status == "error" and rec.http_status == 502 and rec.model == "dead"


def test_failed_upstream_falls_back_in_order(llama_server: str) -> None:
    service = make_service(llama_server, dead=ModelSpec(
        backend="openai", base_url=f"http://127.0.0.1:{free_port()}/v1", model="x", pricing="hardware",
        timeout_s=2, max_retries=0, fallbacks=["smol-http"]))
    answer = service.answer(ASK, "dead", max_tokens=4)
    assert answer.model == "smol-http"
    assert answer.decision.attempted == ("dead",) and "fell back" in answer.decision.reason
    assert list_requests(service.engine)[0].attempted == ("dead",)


def test_stream_yields_text_then_the_answer(smollm2_path) -> None:
    service = make_service()
    parts = list(service.stream(ASK, TEST_MODEL, max_tokens=6))
    answer = parts[-1]
    assert "".join(p.text for p in parts[:-1]) == answer.completion.text
    assert list_requests(service.engine)[0].id == answer.request_id


def test_cascade_escalates_and_counts_the_wasted_attempt(llama_server: str) -> None:
    service = make_service(llama_server)
    always_escalate = Cascade(TEST_MODEL, "smol-http", threshold=0.0, name="strict")
    service.policies["strict"] = always_escalate
    answer = service.answer(ASK, "strict", max_tokens=6)
    assert answer.model == "smol-http"
    assert answer.decision.attempted == (TEST_MODEL,)
    assert answer.decision.score is not None and answer.decision.score < 0.0
    direct = service.ledger.price_usage("smol-http", service.settings.models["smol-http"], answer.completion.usage,
                                        answer.completion.wall_seconds).usd
    assert answer.cost.amount > direct, "the small model's wasted attempt must be in the cost"
    rec = list_requests(service.engine)[0]
    assert rec.policy == "strict" and "escalated" in rec.decision_reason


def test_cascade_keeps_a_confident_small_answer(smollm2_path) -> None:
    service = make_service()
    service.policies["lenient"] = Cascade(TEST_MODEL, "qwen2.5-coder-1.5b", threshold=-100.0, name="lenient")
    answer = service.answer(ASK, "lenient", max_tokens=6)
    assert answer.model == TEST_MODEL and answer.decision.attempted == ()
    assert "kept" in answer.decision.reason

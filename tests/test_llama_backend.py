from __future__ import annotations

import math
from pathlib import Path

import pytest

from smallfirst.errors import ContextOverflowError, ModelFileError
from smallfirst.models.model import BlockingModel, is_async

ASK = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]


def test_complete_reports_text_usage_and_timings(smollm2) -> None:
    c = smollm2.complete(ASK, max_tokens=12)
    assert isinstance(smollm2, BlockingModel) and not is_async(smollm2)  # served through models.threads
    assert c.text.strip()
    assert c.finish_reason in ("stop", "length")
    assert c.usage.prompt_tokens > 5
    assert 0 < c.usage.completion_tokens <= 12
    assert 0 < c.ttft_seconds <= c.wall_seconds
    assert c.kind == "local"
    assert c.logprobs is None


def test_prompt_uses_the_gguf_chat_template(smollm2) -> None:
    template = smollm2.llm.metadata["tokenizer.chat_template"]
    assert "im_start" in template
    tokens, fmt = smollm2.prompt_tokens(ASK)
    assert "<|im_start|>user" in fmt.prompt
    assert len(tokens) == smollm2.complete(ASK, max_tokens=1).usage.prompt_tokens


def test_stream_yields_chunks_then_the_measured_totals(smollm2) -> None:
    chunks = list(smollm2.stream(ASK, max_tokens=12))
    assert chunks[-1].completion is not None
    text = "".join(c.text for c in chunks[:-1])
    final = chunks[-1].completion
    assert text == final.text and text.strip()
    assert final.usage.completion_tokens > 0
    assert final.ttft_seconds < final.wall_seconds


def test_logprobs_are_greedy_token_logprobs(smollm2) -> None:
    c = smollm2.complete(ASK, max_tokens=8, logprobs=True)
    assert c.logprobs, "asked for logprobs and got none"
    assert all(lp.logprob <= 1e-6 for lp in c.logprobs)
    assert "".join(lp.token for lp in c.logprobs).strip() in c.text.strip() or c.text.strip().startswith(
        "".join(lp.token for lp in c.logprobs).strip()[:3])
    assert math.isfinite(c.mean_logprob)
    # Greedy decoding picks the most likely token, whose probability must be the largest one: > 1/vocab
    assert min(lp.logprob for lp in c.logprobs) > math.log(1 / 49152)


def test_same_answer_with_and_without_logprobs(smollm2) -> None:
    a = smollm2.complete(ASK, max_tokens=10)
    b = smollm2.complete(ASK, max_tokens=10, logprobs=True)
    assert a.text == b.text


def test_prompt_longer_than_context_is_refused_with_advice(smollm2) -> None:
    long = [{"role": "user", "content": "word " * 3000}]
    with pytest.raises(ContextOverflowError) as err:
        smollm2.complete(long, max_tokens=4)
    assert "context" in str(err.value) and "n_ctx" in str(err.value)


def test_non_gguf_file_is_refused(tmp_path: Path) -> None:
    from smallfirst.models.llama import LlamaModel

    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(ModelFileError, match="not a GGUF"):
        LlamaModel("bad", bad)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    from smallfirst.models.llama import LlamaModel

    with pytest.raises(ModelFileError, match="does not exist"):
        LlamaModel("gone", tmp_path / "gone.gguf")


def test_file_that_is_not_the_catalogued_model_is_refused(smollm2_path: Path) -> None:
    from smallfirst.models.llama import LlamaModel

    with pytest.raises(ModelFileError, match="expected a Qwen2.5"):
        LlamaModel("qwen-lookalike", smollm2_path, n_ctx=256, expected_name="Qwen2.5")


def test_a_shared_system_prompt_is_reused_in_whole_blocks_and_answers_stay_deterministic(smollm2) -> None:
    system = {"role": "system", "content": "You label support tickets. Labels: " + ", ".join(
        f"label_{i}" for i in range(60)) + ". Reply with one label."}
    first = [system, {"role": "user", "content": "My card has not arrived."}]
    second = [system, {"role": "user", "content": "I was charged twice."}]
    tokens_a, _ = smollm2.prompt_tokens(first)
    tokens_b, _ = smollm2.prompt_tokens(second)
    shared = next(i for i, (a, b) in enumerate(zip(tokens_a, tokens_b, strict=False)) if a != b)
    block = smollm2.llm.n_batch
    assert shared >= block, "the system prompt must span a whole block for the test to mean anything"

    alone = smollm2.complete(second, max_tokens=6, temperature=0.0, logprobs=True)
    smollm2.complete(first, max_tokens=6, temperature=0.0)
    smollm2._reuse_aligned_prefix(tokens_b)  # what the next request does first
    assert smollm2.llm.n_tokens == shared // block * block > 0  # the shared whole blocks stay cached
    after_first = smollm2.complete(second, max_tokens=6, temperature=0.0, logprobs=True)
    smollm2.complete(ASK, max_tokens=6, temperature=0.0)
    after_other = smollm2.complete(second, max_tokens=6, temperature=0.0, logprobs=True)
    for c in (after_first, after_other):
        assert c.text == alone.text
        assert [t.logprob for t in c.logprobs] == [t.logprob for t in alone.logprobs]

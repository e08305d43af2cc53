"""The static encoder's own word splitting gives exactly the tokenizer's ids."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from smallfirst.embeddings.static import StaticEncoder
from smallfirst.evaluate.loaders import load_routellm_gsm8k, load_routellm_mmlu
from tests.conftest import DATA


@pytest.fixture(scope="module")
def encoder() -> StaticEncoder:
    return StaticEncoder()


def _reference(enc: StaticEncoder, text: str) -> list[int]:
    return enc.tokenizer.encode(text, add_special_tokens=False).ids


@pytest.mark.skipif(not (DATA / "routellm").is_dir(), reason="shared data not present")
def test_ids_equal_the_tokenizer_s_on_every_routellm_prompt(encoder: StaticEncoder) -> None:
    prompts = [*load_routellm_mmlu().prompts, *load_routellm_gsm8k().prompts]
    ref = encoder.tokenizer.encode_batch(prompts, add_special_tokens=False)
    mismatched = [p for p, r in zip(prompts, ref, strict=True) if encoder.ids(p) != r.ids]
    assert not mismatched, mismatched[:3]
    assert any(not p.isascii() for p in prompts)  # both paths were taken


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=200))
def test_ids_equal_the_tokenizer_s_on_any_ascii_text(encoder: StaticEncoder, text: str) -> None:
    assert encoder.ids(text) == _reference(encoder, text)


#: the tokenizer's special tokens: in a prompt the tokenizer maps "[SEP]" to its special id, the static encoder reads
#: it as the text it is (a prompt cannot inject special tokens into the router's features), so texts holding one
#: are compared on the literal reading
SPECIAL = ("[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]")


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=80))
def test_ids_equal_the_tokenizer_s_on_any_text(encoder: StaticEncoder, text: str) -> None:
    assume(not any(tok in text for tok in SPECIAL))
    assert encoder.ids(text) == _reference(encoder, text)


def test_special_token_strings_in_a_prompt_are_read_as_text(encoder: StaticEncoder) -> None:
    assert encoder.ids("[SEP]") == _reference(encoder, "[ SEP ]")


def test_long_text_is_truncated_like_the_tokenizer(encoder: StaticEncoder) -> None:
    text = "routing " * 600 + "x" * 150  # over max_tokens, and one word over WordPiece's 100 characters
    assert encoder.ids(text) == _reference(encoder, text) and len(encoder.ids(text)) == encoder.max_tokens
    vec = encoder.encode([text, "", "Hello, world!"])
    assert vec.shape == (3, encoder.dim) and not vec[1].any()
    assert np.allclose(np.linalg.norm(vec[[0, 2]], axis=1), 1.0, atol=1e-5)


def test_a_memory_only_cache_stays_bounded_and_answers_as_the_encoder_does(encoder: StaticEncoder) -> None:
    from smallfirst.routing.features import EmbeddingCache

    cache = EmbeddingCache("static", max_entries=10)
    cache._encoder = encoder
    texts = [f"prompt number {i}" for i in range(25)]
    for start in range(0, 25, 4):
        batch = [texts[0], *texts[start:start + 4]]  # one text seen every time, as a hit
        assert np.allclose(cache.encode(batch), encoder.encode(batch), atol=1e-6)
        assert len(cache._mem) <= 10

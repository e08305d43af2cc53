"""LoRA on the real SmolLM2 GGUF: a few steps move the model toward the answers. Needs the train extra."""

from __future__ import annotations

import importlib.util

import pytest

_TRAIN_EXTRA = all(importlib.util.find_spec(m) for m in ("torch", "transformers", "peft", "gguf"))


@pytest.mark.train
@pytest.mark.skipif(not _TRAIN_EXTRA, reason="needs the train extra: pip install 'smallfirst[train]'")
def test_lora_steps_lower_the_loss_and_merge(smollm2_path):
    from smallfirst.specialize.lora import LoraConfig, chat_prompt, generate, load_gguf, train_lora

    model, tok = load_gguf(smollm2_path)
    pairs = [(chat_prompt(tok, "Answer with the intent label.", t), y) for t, y in
             [("my card has not arrived", "card_arrival"), ("what is the euro rate", "exchange_rate")] * 4]
    losses: list[float] = []
    merged = train_lora(model, tok, pairs, LoraConfig(steps=12, batch_size=4, learning_rate=3e-3),
                        progress=lambda s, n, loss: losses.append(loss))
    assert len(losses) == 12 and losses[-1] < losses[0]
    assert generate(merged, tok, [pairs[0][0]], max_new_tokens=6)[0]


def test_lora_without_train_extra_or_data_fails_clearly(monkeypatch):
    import builtins

    from smallfirst.errors import ConfigError
    from smallfirst.specialize import lora

    real_import = builtins.__import__

    def no_peft(name, *a, **k):
        if name == "peft":
            raise ImportError("no peft", name="peft")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_peft)
    with pytest.raises(ConfigError, match="train extra"):
        lora.load_gguf("/nonexistent.gguf")

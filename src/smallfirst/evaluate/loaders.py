"""Loaders for public outcome sets, and one resolver from a name or a path to Outcomes.

RouteLLM's MMLU and GSM8K files hold per-prompt correctness of Mixtral-8x7B-Instruct (weak) and
GPT-4-1106-preview (strong). Prompts listed in ``*_contaminated_prompts.jsonl`` are dropped by matching
their ``eval_prompt`` exactly, as RouteLLM's own evaluation does.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from smallfirst import outcomes as _outcomes
from smallfirst.errors import DataError
from smallfirst.outcomes import Outcomes

__all__ = ["routellm_dir", "load_routellm_mmlu", "load_routellm_gsm8k", "load_outcomes", "NAMED_SETS"]

_WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
_STRONG = "gpt-4-1106-preview"


def routellm_dir(root: str | Path | None = None) -> Path:
    """The RouteLLM folder: ``root/routellm`` (or ``root`` itself) when a folder is given, else the installed
    set. Raises DataError naming `smallfirst data pull routellm` when it is missing."""
    if root is None:
        from smallfirst.datasets import dataset_dir

        return dataset_dir("routellm")
    base = Path(root)
    d = base / "routellm" if (base / "routellm").is_dir() else base
    if not (d / "mmlu_responses").is_dir():
        raise DataError(f"{d} holds no RouteLLM outcome files (no mmlu_responses/ folder)",
                        hint="give the folder holding routellm/, or leave it out to use the installed set "
                             "(`smallfirst data pull routellm`)")
    return d


def contaminated_prompts(path: Path) -> set[str]:
    """The ``eval_prompt`` strings of a RouteLLM ``*_contaminated_prompts.jsonl`` file: prompts found in the
    routers' training data, which an honest evaluation drops. Raises DataError when the file is missing."""
    if not path.exists():
        raise DataError(f"contamination list {path} is missing",
                        hint="restore it from RouteLLM, or pass exclude_contaminated=False knowingly")
    out = set()
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                out.add(json.loads(line)["eval_prompt"])
    return out


def _bool(v: str, source: str) -> float:
    if v in ("True", "true", "1"):
        return 1.0
    if v in ("False", "false", "0"):
        return 0.0
    raise DataError(f"{source}: correctness {v!r} is neither True nor False")


_Row = tuple[str, str, str, float, float]


def _read_pairs(path: Path, task: str, id_prefix: str, drop: set[str]) -> list[_Row]:
    csv.field_size_limit(1 << 30)
    rows = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ("prompt", _WEAK, _STRONG) if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}: missing columns {missing}", hint=f"columns found: {reader.fieldnames}")
        for i, row in enumerate(reader):
            if row["prompt"] in drop:
                continue
            rows.append((f"{id_prefix}-{i}", row["prompt"], task, _bool(row[_WEAK], str(path)),
                         _bool(row[_STRONG], str(path))))
    return rows


def _build(rows: list[_Row], source: str) -> Outcomes:
    if not rows:
        raise DataError(f"{source}: no prompts left to load")
    return Outcomes(ids=tuple(r[0] for r in rows), prompts=tuple(r[1] for r in rows),
                    tasks=tuple(r[2] for r in rows), models=(_WEAK, _STRONG),
                    quality=np.array([[r[3], r[4]] for r in rows]), graded=False)


def load_routellm_mmlu(root: str | Path | None = None, *, exclude_contaminated: bool = True) -> Outcomes:
    """RouteLLM's MMLU outcomes, all 57 subjects: binary correctness of Mixtral-8x7B-Instruct (weak, column 0)
    and GPT-4-1106-preview (strong, column 1); ``task`` is ``mmlu/<subject>``. ``root`` as in ``routellm_dir``.
    Raises DataError when the files are missing or malformed."""
    d = routellm_dir(root)
    files = sorted((d / "mmlu_responses").glob("mmlu_*.csv"))
    if not files:
        raise DataError(f"no mmlu_*.csv files under {d / 'mmlu_responses'}")
    drop = contaminated_prompts(d / "mmlu_contaminated_prompts.jsonl") if exclude_contaminated else set()
    rows = []
    for f in files:
        subject = f.stem.removeprefix("mmlu_")
        rows += _read_pairs(f, f"mmlu/{subject}", f"mmlu-{subject}", drop)
    return _build(rows, str(d))


def load_routellm_gsm8k(root: str | Path | None = None, *, exclude_contaminated: bool = True) -> Outcomes:
    """RouteLLM's GSM8K outcomes: binary correctness of Mixtral-8x7B-Instruct (weak) and GPT-4-1106-preview
    (strong) per problem, ``task`` "gsm8k", contaminated prompts dropped unless told otherwise. Raises DataError
    when the files are missing or malformed."""
    d = routellm_dir(root)
    drop = contaminated_prompts(d / "gsm8k_contaminated_prompts.jsonl") if exclude_contaminated else set()
    return _build(_read_pairs(d / "gsm8k_responses.csv", "gsm8k", "gsm8k", drop), str(d))


NAMED_SETS = {"routellm-mmlu": load_routellm_mmlu, "routellm-gsm8k": load_routellm_gsm8k}
#: outcome files that ship with smallfirst (``datasets/bundled/outcomes/<name>.jsonl``)
SHIPPED_SETS = ("local-ladder", "cascade-pair")


def load_outcomes(spec: str | Path, *, data_dir: str | Path | None = None) -> Outcomes:
    """A named set (``routellm-mmlu``, ``routellm-gsm8k``, or a shipped one: ``local-ladder``,
    ``cascade-pair``) or a JSONL/CSV outcome file. Raises DataError when it is none of these."""
    s = str(spec)
    if s in NAMED_SETS:
        return NAMED_SETS[s](data_dir)
    p = Path(s).expanduser()
    if not p.exists() and s in SHIPPED_SETS:
        from smallfirst.datasets import bundled

        p = bundled(f"outcomes/{s}.jsonl")
    if not p.exists():
        raise DataError(f"outcome data {s!r} is neither a known set nor an existing file",
                        hint=f"known sets: {', '.join((*NAMED_SETS, *SHIPPED_SETS))}; or give a .jsonl/.csv path")
    return _outcomes.load(p)

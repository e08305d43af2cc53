"""The outcome format: per prompt, each model's quality and optionally its tokens, latency and cost.

On disk it is JSONL, one object per prompt::

    {"id": "mmlu-17", "prompt": "...", "task": "mmlu/marketing", "gold": "B",
     "results": {"qwen-0.5b": {"quality": 1, "prompt_tokens": 80, "completion_tokens": 3,
                               "latency_s": 0.21, "cost_usd": "0.0000012", "answer": "B"},
                 "qwen-1.5b": {"quality": 0}}}

or CSV with columns ``id,prompt,task,<model>`` (quality) and optional ``<model>:prompt_tokens``,
``<model>:completion_tokens``, ``<model>:latency_s``, ``<model>:cost_usd``, ``<model>:confidence``.

``confidence`` is the model's own confidence in its answer, higher meaning surer; ``smallfirst collect``
records the mean token log-probability, the signal a log-probability cascade reads live, so a cascade can
be evaluated and calibrated on the same file as any router.

Quality is either binary (every value 0 or 1) or graded (any number, e.g. a 1-10 judge score); a file
must not mix the two. Models are ordered from the cheapest to the most capable: the first is "weak",
the last "strong" for two-model metrics.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from smallfirst.errors import DataError

_PER_MODEL_FIELDS = ("prompt_tokens", "completion_tokens", "latency_s", "cost_usd", "confidence")


@dataclass(frozen=True)
class Outcomes:
    """Outcome data for n prompts and m models (cheapest first): what routers fit on and metrics evaluate.

    ``quality`` is (n, m), binary (0/1) or graded (``graded`` True); the optional per-model arrays are (n, m)
    floats with NaN where unknown: tokens, ``latency_s`` in seconds, ``cost_usd`` in US dollars (a float here:
    an analysis input, never an amount billed), ``confidence`` (higher is surer). Raises DataError when empty,
    when a model repeats, when a shape disagrees, or when any quality is missing."""

    ids: tuple[str, ...]
    prompts: tuple[str, ...]
    tasks: tuple[str, ...]
    models: tuple[str, ...]
    #: shape (n_prompts, n_models)
    quality: np.ndarray
    graded: bool
    golds: tuple[str | None, ...] | None = None
    #: each optional array is shape (n_prompts, n_models), NaN where unknown
    prompt_tokens: np.ndarray | None = None
    completion_tokens: np.ndarray | None = None
    latency_s: np.ndarray | None = None
    cost_usd: np.ndarray | None = None
    confidence: np.ndarray | None = None
    answers: tuple[tuple[str | None, ...], ...] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        n, m = len(self.prompts), len(self.models)
        if n == 0:
            raise DataError("the outcome data set is empty", hint="give it at least one prompt with results")
        if m == 0:
            raise DataError("the outcome data set names no models")
        if len(set(self.models)) != m:
            raise DataError(f"duplicate model names in outcomes: {list(self.models)}")
        if self.quality.shape != (n, m):
            raise DataError(f"quality has shape {self.quality.shape}, expected {(n, m)}")
        if len(self.ids) != n or len(self.tasks) != n:
            raise DataError("ids, prompts and tasks differ in length")
        if np.isnan(self.quality).any():
            rows = np.where(np.isnan(self.quality).any(axis=1))[0][:5]
            raise DataError(f"missing quality for some models at prompts {[self.ids[i] for i in rows]}",
                            hint="every prompt needs a quality for every model")
        for name in _PER_MODEL_FIELDS:
            arr = getattr(self, name)
            if arr is not None and arr.shape != (n, m):
                raise DataError(f"{name} has shape {arr.shape}, expected {(n, m)}")

    def __len__(self) -> int:
        return len(self.prompts)

    def column(self, model: str) -> np.ndarray:
        """(n,) quality of ``model``; raises DataError for a model the data do not have."""
        return self.quality[:, self.model_index(model)]

    def model_index(self, model: str) -> int:
        """Column of ``model`` in every (n, m) array; raises DataError naming the known models if absent."""
        try:
            return self.models.index(model)
        except ValueError:
            raise DataError(f"unknown model {model!r} in outcomes", hint=f"known: {', '.join(self.models)}") from None

    def subset(self, rows: Sequence[int] | np.ndarray) -> Outcomes:
        """The prompts at positions ``rows`` (in that order, repeats allowed), every per-prompt field with them:
        a cross-fitting fold. Raises DataError if ``rows`` is empty."""
        idx = np.asarray(rows, dtype=int)

        def _pick(arr: np.ndarray | None) -> np.ndarray | None:
            return None if arr is None else arr[idx]

        return Outcomes(
            ids=tuple(self.ids[i] for i in idx), prompts=tuple(self.prompts[i] for i in idx),
            tasks=tuple(self.tasks[i] for i in idx), models=self.models, quality=self.quality[idx],
            graded=self.graded, golds=None if self.golds is None else tuple(self.golds[i] for i in idx),
            prompt_tokens=_pick(self.prompt_tokens), completion_tokens=_pick(self.completion_tokens),
            latency_s=_pick(self.latency_s), cost_usd=_pick(self.cost_usd), confidence=_pick(self.confidence),
            answers=None if self.answers is None else tuple(self.answers[i] for i in idx),
        )

    def select_models(self, models: Sequence[str]) -> Outcomes:
        """The same prompts with only ``models``, in the order given (which sets weak and strong). Raises
        DataError for an unknown model."""
        cols = [self.model_index(m) for m in models]

        def _pick(arr: np.ndarray | None) -> np.ndarray | None:
            return None if arr is None else arr[:, cols]

        return Outcomes(
            ids=self.ids, prompts=self.prompts, tasks=self.tasks, models=tuple(models),
            quality=self.quality[:, cols], graded=self.graded, golds=self.golds,
            prompt_tokens=_pick(self.prompt_tokens), completion_tokens=_pick(self.completion_tokens),
            latency_s=_pick(self.latency_s), cost_usd=_pick(self.cost_usd), confidence=_pick(self.confidence),
            answers=None if self.answers is None else tuple(tuple(r[c] for c in cols) for r in self.answers),
        )


def _check_score_kind(quality: np.ndarray, declared: bool | None, source: str,
                      models: Sequence[str] = ()) -> bool:
    """True for graded quality, False for binary. Raises DataError for any mix of scales: JSON true/false beside
    numbers that are not 0/1, one model scored 0/1 while another is graded, one model on a 0..1 scale while another
    goes above 1, or one prompt scored on both (a fraction for one model, above 1 for another)."""
    finite = quality[~np.isnan(quality)]
    binary = bool(np.isin(finite, (0.0, 1.0)).all())
    if declared is not None and not declared and not binary:
        raise DataError(f"{source}: quality mixes binary and graded scores",
                        hint="use 0/1 for every model, or graded scores for every model")
    if binary:
        return False if declared is None else declared
    names = list(models) or [f"model {j + 1}" for j in range(quality.shape[1])]
    cols = [quality[:, j][~np.isnan(quality[:, j])] for j in range(quality.shape[1])]
    col_binary = [bool(np.isin(c, (0.0, 1.0)).all()) for c in cols]
    hint = "score every model on one scale (all 0/1, all 0..1, or all on the same graded scale, e.g. 1-10)"
    if any(col_binary):
        b = names[col_binary.index(True)]
        g = names[col_binary.index(False)]
        raise DataError(f"{source}: quality mixes binary and graded scores: {b} is scored 0/1, {g} on a graded "
                        f"scale (up to {cols[col_binary.index(False)].max():g})", hint=hint)
    tops = [float(c.max()) if len(c) else 0.0 for c in cols]
    if min(tops) <= 1.0 < max(tops):
        low, high = names[tops.index(min(tops))], names[tops.index(max(tops))]
        raise DataError(f"{source}: quality mixes scales: {low} stays within 0..1, {high} reaches {max(tops):g}",
                        hint=hint)
    fractional = (quality > 0) & (quality < 1)
    above = quality > 1
    mixed = np.flatnonzero(fractional.any(axis=1) & above.any(axis=1))
    if len(mixed):
        raise DataError(f"{source}: quality mixes scales within prompt {int(mixed[0]) + 1}: a fraction of 1 for one "
                        "model, above 1 for another", hint=hint)
    return True


def from_records(records: Sequence[dict], *, source: str = "outcomes", models: Sequence[str] | None = None) -> Outcomes:
    """Build Outcomes from JSONL-shaped dicts; ``models`` fixes the order (cheapest first)."""
    if not records:
        raise DataError(f"{source} is empty", hint="give it at least one prompt with results")
    seen: list[str] = []
    for i, rec in enumerate(records):
        for key in ("prompt", "results"):
            if key not in rec:
                raise DataError(f"{source}: record {i + 1} lacks the required field {key!r}",
                                hint="each record needs 'prompt' and 'results' ({model: {quality: ...}})")
        if not isinstance(rec["results"], dict) or not rec["results"]:
            raise DataError(f"{source}: record {i + 1} has no results")
        for m in rec["results"]:
            if m not in seen:
                seen.append(m)
    order = list(models) if models is not None else seen
    unknown = [m for m in seen if m not in order]
    if unknown:
        raise DataError(f"{source}: unknown models {unknown}", hint=f"expected only {order}")
    n, m = len(records), len(order)
    quality = np.full((n, m), np.nan)
    extra = {f: np.full((n, m), np.nan) for f in _PER_MODEL_FIELDS}
    answers: list[tuple[str | None, ...]] = []
    has_extra = dict.fromkeys(_PER_MODEL_FIELDS, False)
    kinds: set[str] = set()
    for i, rec in enumerate(records):
        row_answers: list[str | None] = [None] * m
        for j, name in enumerate(order):
            res = rec["results"].get(name)
            if res is None:
                raise DataError(f"{source}: record {i + 1} ({rec.get('id', i)}) has no result for {name!r}",
                                hint="every prompt needs a quality for every model")
            if not isinstance(res, dict):
                res = {"quality": res}
            q = res.get("quality")
            if isinstance(q, bool):
                kinds.add("binary")
                q = float(q)
            try:
                quality[i, j] = float(q)
            except (TypeError, ValueError):
                raise DataError(f"{source}: record {i + 1}, model {name!r}: quality {q!r} is not a number") from None
            for f in _PER_MODEL_FIELDS:
                if res.get(f) is not None:
                    try:
                        extra[f][i, j] = float(res[f])
                    except (TypeError, ValueError):
                        raise DataError(f"{source}: record {i + 1}, model {name!r}: {f} {res[f]!r} is not a "
                                        "number") from None
                    has_extra[f] = True
            row_answers[j] = res.get("answer")
        answers.append(tuple(row_answers))
    graded = _check_score_kind(quality, False if kinds == {"binary"} else None, source, order)
    golds = tuple(r.get("gold") for r in records)
    return Outcomes(
        ids=tuple(str(r.get("id", i)) for i, r in enumerate(records)),
        prompts=tuple(str(r["prompt"]) for r in records),
        tasks=tuple(str(r.get("task") or "") for r in records),
        models=tuple(order), quality=quality, graded=graded,
        golds=golds if any(g is not None for g in golds) else None,
        answers=tuple(answers) if any(a is not None for row in answers for a in row) else None,
        **{f: (extra[f] if has_extra[f] else None) for f in _PER_MODEL_FIELDS},
    )


def to_records(outcomes: Outcomes) -> list[dict]:
    """The JSONL form of ``outcomes``, one dict per prompt, as ``from_records`` reads it back: binary quality as
    0/1, token counts as ints, unknown (NaN) fields left out."""
    out = []
    for i in range(len(outcomes)):
        results = {}
        for j, name in enumerate(outcomes.models):
            q = float(outcomes.quality[i, j])
            res: dict = {"quality": int(q) if not outcomes.graded else q}
            for f in _PER_MODEL_FIELDS:
                arr = getattr(outcomes, f)
                if arr is not None and not np.isnan(arr[i, j]):
                    v = float(arr[i, j])
                    res[f] = int(v) if f.endswith("tokens") else v
            if outcomes.answers is not None and outcomes.answers[i][j] is not None:
                res["answer"] = outcomes.answers[i][j]
            results[name] = res
        rec = {"id": outcomes.ids[i], "prompt": outcomes.prompts[i], "task": outcomes.tasks[i], "results": results}
        if outcomes.golds is not None and outcomes.golds[i] is not None:
            rec["gold"] = outcomes.golds[i]
        out.append(rec)
    return out


def read_records(path: Path) -> list[dict]:
    """The JSON objects of a JSONL file, one per non-blank line; gzip-compressed when the name ends in ``.gz``.
    Raises DataError naming the file and line of a line that is not JSON."""
    opener = gzip.open if path.suffix == ".gz" else open
    out = []
    with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
    return out


def load(path: str | Path, *, models: Sequence[str] | None = None) -> Outcomes:
    """Load an outcome file: CSV, JSONL, or JSONL compressed with gzip (``.gz``). Raises DataError for a missing
    file or one that is not in the format."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"outcome file {p} does not exist")
    if p.suffix == ".csv":
        return _load_csv(p, models)
    return from_records(read_records(p), source=str(p), models=models)


def _load_csv(p: Path, models: Sequence[str] | None) -> Outcomes:
    with p.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        if "prompt" not in cols:
            raise DataError(f"{p}: missing column 'prompt'", hint=f"columns found: {cols}")
        model_cols = [c for c in cols if c not in ("id", "prompt", "task", "gold") and ":" not in c]
        if not model_cols:
            raise DataError(f"{p}: no model quality columns", hint="add one column per model holding its quality")
        records = []
        for row in reader:
            results = {}
            for mname in model_cols:
                res: dict = {"quality": row[mname] if row[mname] != "" else None}
                for f in _PER_MODEL_FIELDS:
                    v = row.get(f"{mname}:{f}")
                    if v not in (None, ""):
                        res[f] = v
                results[mname] = res
            records.append({"id": row.get("id"), "prompt": row["prompt"], "task": row.get("task"),
                            "gold": row.get("gold") or None, "results": results})
    for r in records:
        if r["id"] is None:
            del r["id"]
    return from_records(records, source=str(p), models=models)


def save(outcomes: Outcomes, path: str | Path) -> Path:
    """Write JSONL atomically (temporary file, then rename)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(p.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for rec in to_records(outcomes):
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    tmp.replace(p)
    return p

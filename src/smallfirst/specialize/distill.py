"""Training labels from a larger model: a teacher labelling text now, or its answers in the request log.

Teacher labels are cached per text (an append-only JSONL per teacher), so an interrupted labelling run
resumes where it stopped instead of paying for the same calls again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from smallfirst.errors import ConfigError, DataError, ModelFileError, SmallfirstError, UnknownModelError, UpstreamError
from smallfirst.specialize.data import LabelledData

if TYPE_CHECKING:
    from smallfirst.config import Settings
    from smallfirst.models.completion import Completion, Message
    from smallfirst.models.model import BlockingModel

PROMPT = (
    "Classify the text into exactly one of these labels: {labels}.\n"
    "Answer with the label only, nothing else.\n\nText: {text}\nLabel:"
)
FREE_PROMPT = (
    "Give a short category label (one to three words) for this text. Answer with the label only.\n\n"
    "Text: {text}\nLabel:"
)


def teacher_cache(teacher: str) -> Path:
    """The JSONL file caching ``teacher``'s answers (one ``{"k": sha256 of the prompt, "a": answer}`` per line):
    ``$SMALLFIRST_TEACHER_CACHE`` or ``<cache>/teacher``, the model name made file-safe."""
    from smallfirst.config import cache_root

    base = Path(os.environ.get("SMALLFIRST_TEACHER_CACHE") or cache_root() / "teacher").expanduser()
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", teacher)
    return base / f"{safe}.jsonl"


def _key(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:32]


def normalise_label(answer: str, labels: Sequence[str] | None) -> str:
    """Map a teacher's free answer to a known label: exact, then case- and punctuation-blind, then a label
    the answer contains (longest first). Unknown answers stay as "" and are dropped from training."""
    text = answer.strip().splitlines()[0].strip().strip(".\"'`* ") if answer.strip() else ""
    if not labels:
        return text.lower()
    if text in labels:
        return text
    squash = {re.sub(r"[^a-z0-9]", "", lab.lower()): lab for lab in labels}
    hit = squash.get(re.sub(r"[^a-z0-9]", "", text.lower()))
    if hit:
        return hit
    low = re.sub(r"[\s_-]+", " ", answer.lower())
    for lab in sorted(labels, key=len, reverse=True):
        if re.sub(r"[\s_-]+", " ", lab.lower()) in low:
            return lab
    return ""


def label_with_teacher(
    teacher: str | BlockingModel,
    texts: Sequence[str],
    settings: Settings,
    *,
    labels: Sequence[str] | None = None,
    max_tokens: int = 16,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[str], list[str]]:
    """(normalised labels, raw answers) for ``texts`` from a teacher. A teacher named by ``teacher`` is asked
    through the service, so each labelling call is priced and logged like any request (source "distill"); a
    blocking model object is called directly. An unreachable or missing teacher fails on the first text with a
    clear error, before any training."""
    from smallfirst.service import RequestContext, Service

    name = teacher if isinstance(teacher, str) else teacher.name
    service = Service(settings) if isinstance(teacher, str) else None

    def _ask(messages: list[Message]) -> Completion:
        if service is None:
            return teacher.complete(messages, max_tokens=max_tokens, temperature=0.0)  # type: ignore[union-attr]
        try:
            return service.answer(messages, name, ctx=RequestContext(source="distill"), max_tokens=max_tokens,
                                  temperature=0.0).completion
        except (UnknownModelError, ConfigError, ModelFileError) as exc:
            raise type(exc)(f"teacher model {name!r} is not available: {exc.message}", hint=exc.hint) from None

    cache_path = teacher_cache(name)
    cached: dict[str, str] = {}
    if cache_path.exists():
        for line in cache_path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
                cached[row["k"]] = row["a"]
            except (ValueError, KeyError):
                continue  # a line cut short by an interrupted run
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    answers: list[str] = []
    try:
        with cache_path.open("a", encoding="utf-8") as fh:
            for i, text in enumerate(texts):
                prompt = (
                    PROMPT.format(labels=", ".join(labels), text=text)
                    if labels
                    else FREE_PROMPT.format(text=text)
                )
                k = _key(prompt)
                if k not in cached:
                    try:
                        c = _ask([{"role": "user", "content": prompt}])
                    except (UnknownModelError, ConfigError, ModelFileError):
                        raise
                    except SmallfirstError as exc:
                        raise UpstreamError(
                            f"teacher model {name!r} failed on text {i + 1}: {exc.message}",
                            hint=exc.hint
                            or "check the model with `smallfirst ask`; labels "
                            "done so far are cached and a rerun resumes",
                        ) from None
                    except OSError as exc:
                        raise UpstreamError(
                            f"teacher model {name!r} is unreachable ({exc})",
                            hint="check its endpoint with `smallfirst ask`",
                        ) from None
                    cached[k] = c.text
                    fh.write(json.dumps({"k": k, "a": c.text}) + "\n")
                    fh.flush()
                answers.append(cached[k])
                if progress is not None:
                    progress(i + 1, len(texts))
    finally:
        if service is not None:
            service.close()
    return [normalise_label(a, labels) for a in answers], answers


def labels_from_log(
    settings: Settings,
    *,
    task: str | None = None,
    model: str | None = None,
    tag: str | None = None,
    since: datetime | None = None,
    labels: Sequence[str] | None = None,
) -> LabelledData:
    """Prompts and the answers a (large) model logged for them, as training pairs. Needs the request log to
    hold content (``log_content = true``)."""
    try:
        from smallfirst.store.db import get_engine
        from smallfirst.store.requests import list_requests
    except ImportError as exc:
        raise DataError(
            f"the request log is not available ({exc})", hint="install smallfirst fully"
        ) from None
    records = list_requests(get_engine(settings.db_url), since=since, tag=tag)
    texts, answers = [], []
    for r in records:
        if r.status != "ok" or not r.prompt or not r.response:
            continue
        if task is not None and r.task != task:
            continue
        if model is not None and r.model != model:
            continue
        lab = normalise_label(r.response, labels)
        if lab:
            texts.append(r.prompt)
            answers.append(lab)
    if not texts:
        which = ", ".join(f"{k}={v!r}" for k, v in (("task", task), ("model", model), ("tag", tag)) if v)
        raise DataError(
            f"the request log at {settings.db_url} holds no answered prompts with text"
            + (f" for {which}" if which else ""),
            hint="log some requests with log_content = true, or train from a labelled file",
        )
    return LabelledData(tuple(texts), tuple(answers), f"request log ({len(texts)} answers)")

"""Distillation: a teacher's labels train the student; bad teachers fail clearly; the log can teach too."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smallfirst.errors import SmallfirstError, UnknownModelError, UpstreamError
from smallfirst.models.completion import Chunk, Completion, Usage
from smallfirst.specialize.distill import label_with_teacher, normalise_label

LABELS = ("card_arrival", "exchange_rate")


class KeywordTeacher:
    """A stand-in for a large model: answers with a label chosen by keywords, chattily."""

    name = "kw-teacher"
    kind = "local"
    context_length = None

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls = 0

    def complete(self, messages, **params) -> Completion:
        self.calls += 1
        if self.fail:
            raise UpstreamError("connection refused", upstream_status=None)
        text = messages[-1]["content"].rsplit("Text:", 1)[-1].lower()
        label = "Exchange rate." if "rate" in text or "exchange" in text else "The label is card_arrival"
        return Completion(self.name, label, "stop", Usage(10, 3), 0.01, 0.01)

    def stream(self, messages, **params) -> Iterator[Chunk]:
        c = self.complete(messages)
        yield Chunk(c.text, "stop", c)

    def close(self) -> None:
        pass


@pytest.fixture(autouse=True)
def _teacher_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SMALLFIRST_TEACHER_CACHE", str(tmp_path / "teacher"))
    monkeypatch.setenv("SMALLFIRST_EMBED_CACHE", str(tmp_path / "emb"))


def test_teacher_answers_are_mapped_onto_the_label_set():
    assert normalise_label("Exchange rate.", LABELS) == "exchange_rate"
    assert normalise_label("The label is card_arrival", LABELS) == "card_arrival"
    assert normalise_label("  card_arrival\nbecause ...", LABELS) == "card_arrival"
    assert normalise_label("no idea", LABELS) == ""


def test_teacher_labels_are_cached_so_a_rerun_resumes(tmp_path):
    from smallfirst.config import Settings

    teacher = KeywordTeacher()
    texts = ["what is the exchange rate today", "my card has not arrived"]
    labels, raw = label_with_teacher(teacher, texts, Settings(), labels=LABELS)
    assert labels == ["exchange_rate", "card_arrival"] and teacher.calls == 2
    again = KeywordTeacher()
    assert label_with_teacher(again, texts, Settings(), labels=LABELS)[0] == labels
    assert again.calls == 0


def test_unknown_teacher_is_named():
    from smallfirst.config import Settings

    with pytest.raises(UnknownModelError, match="teacher model 'no-such-model'"):
        label_with_teacher("no-such-model", ["x"], Settings(), labels=LABELS)


def test_unreachable_teacher_fails_clearly():
    from smallfirst.config import Settings

    with pytest.raises(UpstreamError, match="teacher model 'kw-teacher' failed on text 1"):
        label_with_teacher(KeywordTeacher(fail=True), ["x"], Settings(), labels=LABELS)


def _bank_rows(per_class: int) -> list[dict[str, str]]:
    path = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "banking77" / "train.csv"
    if not path.exists():
        pytest.skip("Banking77 data not present")
    seen = dict.fromkeys(LABELS, 0)
    out = []
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["category"] in seen and seen[row["category"]] < per_class:
                seen[row["category"]] += 1
                out.append(row)
    return out


def test_student_distilled_from_teacher_reports_agreement_and_gold(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    from smallfirst.config import Settings
    from smallfirst.specialize import distill
    from smallfirst.specialize.workflow import specialize

    rows = _bank_rows(25)
    train = tmp_path / "train.csv"
    with train.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["text", "category"])
        w.writeheader()
        w.writerows(rows)
    teacher = KeywordTeacher()
    # The teacher joins as any backend does (a registration), and is asked through the service: priced and
    # logged like any request.
    from smallfirst.config import ModelSpec
    from smallfirst.models.registry import register_backend

    register_backend("keyword-teacher", lambda name, spec, settings: teacher)
    settings = Settings(models={"kw-teacher": ModelSpec(backend="keyword-teacher")})
    assert distill.label_with_teacher  # imported lazily by the workflow
    res = specialize("bank-distilled", settings, train=train, label_col="category", teacher="kw-teacher")
    assert res.teacher_agreement is not None and res.teacher_agreement > 0.8
    assert res.gold_accuracy is not None and res.gold_accuracy > 0.6
    assert res.tier_manifest.exists() and set(res.classes) == set(LABELS)
    from smallfirst.store.db import get_engine
    from smallfirst.store.requests import list_requests

    rows = list_requests(get_engine(settings.db_url))
    assert rows and all(r.source == "distill" and r.model == "kw-teacher" for r in rows)
    assert len(rows) == teacher.calls


def test_labels_from_log_use_the_large_models_answers():
    from smallfirst.config import Settings
    from smallfirst.specialize.distill import labels_from_log
    from smallfirst.store.db import get_engine
    from smallfirst.store.request_record import RequestRecord
    from smallfirst.store.requests import insert

    def rec(i, prompt, response, model="big", status="ok"):
        return RequestRecord(id=str(i), created_at=datetime.now(UTC), source="cli", requested_model=model,
                             model=model, status=status, prompt=prompt, response=response)

    settings = Settings()  # an isolated home: a real, empty SQLite request log
    engine = get_engine(settings.db_url)
    for r in [rec(1, "rate for euros?", "exchange_rate"), rec(2, "card missing", "Card arrival"),
              rec(3, "x", "exchange_rate", model="small"), rec(4, "y", "", status="error")]:
        insert(engine, r)
    data = labels_from_log(settings, model="big", labels=LABELS)
    assert data.texts == ("rate for euros?", "card missing")
    assert data.labels == ("exchange_rate", "card_arrival")
    with pytest.raises(SmallfirstError, match="holds no answered prompts"):
        labels_from_log(settings, model="nobody", labels=LABELS)


def test_classes_a_teacher_gave_too_rarely_are_left_out_and_reported():
    from smallfirst.specialize.data import LabelledData, validate_labelled, without_rare_classes

    labels = ("a",) * 5 + ("b",) * 4 + ("c",) * 2 + ("",)
    data = LabelledData(tuple(f"text {i}" for i in range(len(labels))), labels, "teacher labels")
    kept, dropped = without_rare_classes(data)
    assert dropped == {"c": 2} and "c" not in kept.labels and len(kept) == len(labels) - 2
    assert validate_labelled(kept).classes == ("a", "b")
    with pytest.raises(SmallfirstError, match="'c' \\(2\\)"):
        validate_labelled(data)  # a user's own labels are never dropped silently

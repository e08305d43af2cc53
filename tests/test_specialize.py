"""Classifier niches trained on a real slice of Banking77: training, calibration, escalation, artefacts."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from smallfirst.errors import ModelFileError

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "banking77"
CLASSES = ("card_arrival", "exchange_rate", "lost_or_stolen_card", "top_up_failed")

pytest.importorskip("onnxruntime")


def _slice(split: str, per_class: int) -> tuple[list[str], list[str]]:
    if not (DATA / f"{split}.csv").exists():
        pytest.skip("Banking77 data not present")
    texts, labels, seen = [], [], dict.fromkeys(CLASSES, 0)
    with (DATA / f"{split}.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            c = row["category"]
            if c in seen and seen[c] < per_class:
                seen[c] += 1
                texts.append(row["text"])
                labels.append(c)
    return texts, labels


@pytest.fixture(scope="session")
def encoder():
    from smallfirst.embeddings.minilm import MiniLMEncoder

    try:
        return MiniLMEncoder(threads=1)
    except Exception as exc:  # noqa: BLE001 - missing model packages skip, they do not fail
        pytest.skip(f"MiniLM not available: {exc}")


@pytest.fixture(scope="session")
def trained(encoder, tmp_path_factory):
    import os

    os.environ["SMALLFIRST_EMBED_CACHE"] = str(tmp_path_factory.mktemp("embcache"))
    from smallfirst.specialize.classifier import train_classifier
    from smallfirst.specialize.data import LabelledData

    texts, labels = _slice("train", 40)
    data = LabelledData(tuple(texts), tuple(labels), "banking77-slice")
    clf, report = train_classifier(data, encoder=encoder)
    return data, clf, report


@pytest.fixture(scope="session")
def test_slice():
    return _slice("test", 20)


def test_classifier_learns_banking77_slice(trained, test_slice):
    _, clf, _ = trained
    texts, labels = test_slice
    accuracy = np.mean(np.array(clf.predict(texts)) == np.array(labels))
    assert accuracy >= 0.9


def test_probabilities_are_calibrated_distributions(trained, test_slice):
    _, clf, report = trained
    proba = clf.predict_proba(test_slice[0])
    assert proba.shape == (len(test_slice[0]), len(CLASSES))
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert report.temperature > 0
    assert report.ece_after <= report.ece_before + 1e-9


def test_temperature_scaling_lowers_held_out_nll():
    from smallfirst.specialize.calibration import fit_temperature, nll

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 500)
    scores = rng.normal(size=(500, 3))
    scores[np.arange(500), y] += 1.0
    scores *= 8.0  # an overconfident head
    t = fit_temperature(scores, y)
    assert t > 1.0
    assert nll(scores, y, t) < nll(scores, y, 1.0)


def test_threshold_reaches_target_precision_and_escalates_the_rest():
    from smallfirst.specialize.escalation import escalation_report, threshold_for_precision

    conf = np.array([0.99, 0.95, 0.9, 0.8, 0.6, 0.5])
    correct = np.array([True, True, True, False, True, False])
    t = threshold_for_precision(conf, correct, target=0.99)
    assert t == pytest.approx(0.9)
    rep = escalation_report(conf, correct, t)
    assert rep.answered_share == pytest.approx(0.5)
    assert rep.answered_accuracy == 1.0
    assert rep.pipeline_accuracy == 1.0
    assert threshold_for_precision(conf, np.zeros(6, bool), 0.99) > 1.0


def test_out_of_scope_text_escalates(trained):
    _, clf, _ = trained
    proba = clf.predict_proba(["What is the boiling point of tungsten in kelvin?"])
    in_scope = clf.predict_proba(["My card still has not arrived after two weeks"])
    assert proba.max() < clf.threshold
    assert in_scope.max() > proba.max()


def test_artifact_round_trip_predicts_identically(trained, test_slice, tmp_path):
    from smallfirst.specialize.artifact import load_artifact, save_artifact

    data, clf, _ = trained
    info = save_artifact(clf, tmp_path / "a", name="bank", task="intent", data_sha256=data.sha256,
                         n_train=len(data), target_precision=0.99, metrics={"accuracy": 1.0})
    loaded, info2 = load_artifact(tmp_path / "a", expect_data_sha256=data.sha256)
    loaded._encoder = clf.encoder
    assert info2.classes == info.classes == tuple(CLASSES)
    texts = test_slice[0]
    np.testing.assert_allclose(loaded.predict_proba(texts), clf.predict_proba(texts), atol=1e-5)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_artifact_with_other_version_or_tampered_file_is_refused(trained, tmp_path):
    from smallfirst.specialize.artifact import load_artifact, save_artifact

    data, clf, _ = trained
    save_artifact(clf, tmp_path / "a", name="bank", task="intent", data_sha256=data.sha256, n_train=len(data),
                  target_precision=0.99)
    with pytest.raises(ModelFileError, match="trained on data"):
        load_artifact(tmp_path / "a", expect_data_sha256="0" * 64)
    (tmp_path / "a" / "labels.json").write_text('["x", "y"]')
    with pytest.raises(ModelFileError, match="sha256"):
        load_artifact(tmp_path / "a")
    mf = tmp_path / "a" / "manifest.json"
    m = json.loads(mf.read_text())
    m["format_version"] = 999
    mf.write_text(json.dumps(m))
    with pytest.raises(ModelFileError, match="version 999"):
        load_artifact(tmp_path / "a")


def test_interrupted_save_leaves_old_artifact_whole(trained, tmp_path, monkeypatch):
    from smallfirst.specialize import artifact as art

    data, clf, _ = trained
    art.save_artifact(clf, tmp_path / "a", name="bank", task="intent", data_sha256=data.sha256,
                      n_train=len(data), target_precision=0.99)

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(art, "_fsync_dir", boom)
    with pytest.raises(KeyboardInterrupt):
        art.save_artifact(clf, tmp_path / "a", name="bank2", task="intent", data_sha256=data.sha256,
                          n_train=len(data), target_precision=0.99)
    assert art.read_info(tmp_path / "a").name == "bank"
    assert [p.name for p in tmp_path.iterdir()] == ["a"]


def test_classifier_tier_serves_through_the_registry(trained, tmp_path):
    from smallfirst.config import ModelSpec, Settings
    from smallfirst.models.model import BlockingModel, is_async
    from smallfirst.models.registry import build
    from smallfirst.specialize.artifact import save_artifact

    data, clf, _ = trained
    save_artifact(clf, tmp_path / "art", name="bank", task="intent", data_sha256=data.sha256,
                  n_train=len(data), target_precision=0.99)
    settings = Settings(models={"bank": ModelSpec(backend="classifier", artifact=str(tmp_path / "art"))})
    model = build("bank", settings)
    model.classifier._encoder = clf.encoder
    assert isinstance(model, BlockingModel) and not is_async(model) and model.kind == "local"
    msgs = [{"role": "system", "content": "classify"}, {"role": "user", "content": "Where is my new card?"}]
    c = model.complete(msgs)
    assert c.text == "card_arrival"
    assert c.usage.prompt_tokens > 3 and c.wall_seconds > 0 and c.ttft_seconds > 0
    assert c.logprobs and c.logprobs[0].token == "card_arrival" and c.logprobs[0].logprob <= 0
    best = model.predict_proba(["Where is my new card?"]).max()
    assert math.exp(c.logprobs[0].logprob) == pytest.approx(best, rel=1e-4)
    chunks = list(model.stream(msgs))
    assert "".join(ch.text for ch in chunks) == "card_arrival"
    assert chunks[-1].completion is not None and chunks[-1].completion.text == "card_arrival"
    model.close()


def test_tier_manifest_makes_the_model_routable(trained, tmp_path):
    from smallfirst.config import Settings
    from smallfirst.models.registry import registered_tiers
    from smallfirst.specialize.artifact import save_artifact
    from smallfirst.specialize.registration import register_tier

    data, clf, _ = trained
    settings = Settings()  # home comes from SMALLFIRST_HOME, which the test isolates
    save_artifact(clf, tmp_path / "art", name="bank", task="intent", data_sha256=data.sha256,
                  n_train=len(data), target_precision=0.99)
    assert "bank" not in registered_tiers(settings)
    register_tier(settings.home, "bank", tmp_path / "art")
    tiers = registered_tiers(settings)
    assert tiers["bank"].backend == "classifier"
    assert tiers["bank"].artifact == str((tmp_path / "art").resolve())

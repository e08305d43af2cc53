"""Versioned classifier artefacts: a directory of plain files (no pickle) plus a manifest that pins each
file's sha256, the training data's sha256 and the format version.

Written into a temporary sibling directory and renamed into place, so an interrupted save never leaves a
half-written artefact behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from smallfirst.errors import ModelFileError
from smallfirst.models.files import sha256_file
from smallfirst.specialize.classifier import TextClassifier
from smallfirst.specialize.head_features import FeatureConfig, Featuriser

FORMAT = "smallfirst-classifier"
FORMAT_VERSION = 1
_FILES = ("weights.npz", "features.npz", "vocab.json", "labels.json")


@dataclass(frozen=True, slots=True)
class ArtifactInfo:
    """What an artefact's manifest records: its folder, tier name and task, the classes (head column order), the
    encoder name, the training data's sha256 and size, the calibrated temperature and escalation threshold (a
    probability), the precision that threshold was set for, training metrics, and ``created_at`` (Unix
    seconds)."""

    path: Path
    name: str
    task: str
    classes: tuple[str, ...]
    encoder: str
    data_sha256: str
    n_train: int
    temperature: float
    threshold: float
    target_precision: float
    metrics: Mapping[str, Any]
    created_at: float


def save_artifact(
    clf: TextClassifier,
    path: str | Path,
    *,
    name: str,
    task: str,
    data_sha256: str,
    n_train: int,
    target_precision: float,
    metrics: Mapping[str, Any] | None = None,
) -> ArtifactInfo:
    """Write ``clf`` to ``path`` atomically; an older artefact is replaced only once this one is whole."""
    dest = Path(path).expanduser().resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        np.savez(tmp / "weights.npz", coef=clf.coef, intercept=clf.intercept)
        state = clf.featuriser.state()
        empty = np.zeros(0, np.float32)
        np.savez(
            tmp / "features.npz",
            char_idf=_or(state["char_idf"], empty),
            word_idf=_or(state["word_idf"], empty),
        )
        (tmp / "vocab.json").write_text(
            json.dumps({"char": state["char_vocab"], "word": state["word_vocab"]})
        )
        (tmp / "labels.json").write_text(json.dumps(list(clf.classes), ensure_ascii=False, indent=0))
        cfg = asdict(clf.featuriser.config)
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": name,
            "task": task,
            "created_at": time.time(),
            "encoder": getattr(clf.encoder, "name", "minilm-int8"),
            "classes": list(clf.classes),
            "features": cfg,
            "temperature": clf.temperature,
            "threshold": clf.threshold,
            "target_precision": target_precision,
            "data_sha256": data_sha256,
            "n_train": n_train,
            "metrics": dict(metrics or {}),
            "files": {f: sha256_file(tmp / f) for f in _FILES},
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
        _fsync_dir(tmp)
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old.{os.getpid()}")
            os.replace(dest, old)
            os.replace(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return read_info(dest)


def _or(value: Any, default: np.ndarray) -> np.ndarray:
    return default if value is None else np.asarray(value)


def _fsync_dir(path: Path) -> None:
    for f in path.iterdir():
        with f.open("rb") as fh:
            os.fsync(fh.fileno())


def _manifest(path: Path) -> dict[str, Any]:
    mf = path / "manifest.json"
    if not mf.is_file():
        raise ModelFileError(
            f"{path} is not a classifier artefact (no manifest.json)",
            hint="train one with `smallfirst specialize`",
        )
    try:
        data = json.loads(mf.read_text())
    except ValueError as exc:
        raise ModelFileError(
            f"{mf} is not valid JSON ({exc})", hint="retrain with `smallfirst specialize`"
        ) from None
    if data.get("format") != FORMAT or data.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has artefact format {data.get('format')!r} version {data.get('format_version')!r}; "
            f"this smallfirst reads {FORMAT!r} version {FORMAT_VERSION}",
            hint="retrain it with `smallfirst specialize`, or use the smallfirst version that wrote it",
        )
    return data


def read_info(path: str | Path) -> ArtifactInfo:
    """The manifest of the artefact folder ``path``, without loading or checking its weights. Raises
    ModelFileError when there is no manifest, it is not JSON, or its format version is not this one."""
    p = Path(path).expanduser()
    m = _manifest(p)
    return ArtifactInfo(
        path=p,
        name=m["name"],
        task=m["task"],
        classes=tuple(m["classes"]),
        encoder=m["encoder"],
        data_sha256=m["data_sha256"],
        n_train=int(m["n_train"]),
        temperature=float(m["temperature"]),
        threshold=float(m["threshold"]),
        target_precision=float(m["target_precision"]),
        metrics=m.get("metrics", {}),
        created_at=float(m["created_at"]),
    )


def load_artifact(
    path: str | Path, *, expect_data_sha256: str | None = None
) -> tuple[TextClassifier, ArtifactInfo]:
    """Load without retraining. Refuses a wrong format version, a file whose sha256 differs from the
    manifest, or (when ``expect_data_sha256`` is given) an artefact trained on other data."""
    p = Path(path).expanduser()
    m = _manifest(p)
    for fname, digest in m["files"].items():
        f = p / fname
        if not f.is_file() or sha256_file(f) != digest:
            raise ModelFileError(
                f"{f} does not match the sha256 in {p / 'manifest.json'}",
                hint="the artefact is corrupt or was edited; retrain it with `smallfirst specialize`",
            )
    if expect_data_sha256 is not None and m["data_sha256"] != expect_data_sha256:
        raise ModelFileError(
            f"{p} was trained on data with sha256 {m['data_sha256'][:12]}…, "
            f"not the expected {expect_data_sha256[:12]}…",
            hint="retrain on this data with `smallfirst specialize`",
        )
    if m["encoder"] != "minilm-int8":
        raise ModelFileError(
            f"{p} needs encoder {m['encoder']!r}, which this smallfirst lacks",
            hint="retrain it with `smallfirst specialize`",
        )
    w = np.load(p / "weights.npz")
    feats = np.load(p / "features.npz")
    vocab = json.loads((p / "vocab.json").read_text())
    cfg = m["features"]
    config = FeatureConfig(
        embed_weight=float(cfg["embed_weight"]),
        use_tfidf=bool(cfg["use_tfidf"]),
        char_ngrams=tuple(cfg["char_ngrams"]),
        word_ngrams=tuple(cfg["word_ngrams"]),
        char_min_df=int(cfg["char_min_df"]),
    )
    state = (
        {
            "char_vocab": vocab["char"],
            "char_idf": feats["char_idf"],
            "word_vocab": vocab["word"],
            "word_idf": feats["word_idf"],
        }
        if config.use_tfidf
        else None
    )
    labels = tuple(json.loads((p / "labels.json").read_text()))
    clf = TextClassifier(
        labels, Featuriser(config, state), w["coef"], w["intercept"], m["temperature"], m["threshold"]
    )
    return clf, read_info(p)

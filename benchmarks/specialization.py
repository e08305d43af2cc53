"""Specialised small models on Banking77 (77 intents) and CUAD (38 clause types, Yes/No).

    PYTHONPATH=src python benchmarks/specialization.py [--data ../shared/data] [--general-sample 200]

Prints accuracy, calibration, escalation at 99% precision and batch-1 latency. ``--general-sample N`` also
prompts the large local general model (qwen2.5-coder-1.5b, zero-shot) on N test items of each set and
prices both with the ledger. Embeddings are cached under ~/.cache/smallfirst/embeddings, so reruns are quick.

CUAD ships only a few-shot train.tsv per clause type; each type's test.tsv is split 50/50 (stratified,
seed 0) into training and evaluation halves, and the few-shot rows join the training half.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from smallfirst.specialize.calibration import expected_calibration_error, softmax  # noqa: E402
from smallfirst.specialize.classifier import TrainConfig, train_classifier  # noqa: E402
from smallfirst.specialize.data import LabelledData, load_labelled  # noqa: E402
from smallfirst.specialize.embedcache import encode_cached  # noqa: E402
from smallfirst.specialize.escalation import escalation_report  # noqa: E402


def _default_data() -> Path:
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _evaluate(clf, texts, labels, emb) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    proba = clf.predict_proba(texts, emb)
    idx = {c: i for i, c in enumerate(clf.classes)}
    y = np.array([idx.get(v, -1) for v in labels])
    return proba, y, proba.argmax(axis=1) == y


def _latency(clf, texts: list[str], n: int) -> tuple[float, float]:
    from smallfirst.specialize.artifact import ArtifactInfo
    from smallfirst.specialize.tier import ClassifierModel

    info = ArtifactInfo(Path("."), "bench", "", clf.classes, "", "", 0, 1.0, 0.0, 0.0, {}, 0.0)
    model = ClassifierModel("bench", clf, info)
    model.complete([{"role": "user", "content": texts[0]}])  # warm-up: onnxruntime allocates on first run
    walls = []
    for t in texts[:n]:
        s = time.perf_counter()
        model.complete([{"role": "user", "content": t}])
        walls.append(time.perf_counter() - s)
    return float(np.median(walls)) * 1e3, float(np.percentile(walls, 99)) * 1e3


def banking77(root: Path, encoder, latency_n: int) -> dict:
    d = root / "banking77"
    train = load_labelled(d / "train.csv", text_col="text", label_col="category")
    test = load_labelled(d / "test.csv", text_col="text", label_col="category")
    t0 = time.perf_counter()
    clf, cal = train_classifier(train, encoder=encoder, config=TrainConfig())
    train_s = time.perf_counter() - t0
    emb = encode_cached(encoder, list(test.texts))
    proba, y, correct = _evaluate(clf, list(test.texts), test.labels, emb)
    esc = escalation_report(proba.max(axis=1), correct, clf.threshold)
    med, p99 = _latency(clf, list(test.texts), latency_n)
    print(
        f"banking77 accuracy {correct.mean():.4f} (n={len(test)} test, {len(train)} train, "
        f"train {train_s:.0f} s incl. cached embeddings)"
    )
    raw = softmax(clf.scores(list(test.texts), emb))
    print(
        f"intents calibration: temperature {cal.temperature:.3f}, test ECE "
        f"{expected_calibration_error(proba, y):.4f} "
        f"(at temperature 1: {expected_calibration_error(raw, y):.4f})"
    )
    print(
        f"intents escalation at 99% held-out precision: threshold {esc.threshold:.3f}, answered locally "
        f"{esc.answered_share:.1%}, answered accuracy {esc.answered_accuracy:.2%}, pipeline accuracy "
        f"{esc.pipeline_accuracy:.2%} if every escalation is answered right"
    )
    print(f"intents latency batch 1: median {med:.1f} ms, p99 {p99:.1f} ms (n={latency_n})")
    return {"clf": clf, "test": test, "correct": correct, "proba": proba}


def _cuad_rows(root: Path) -> dict[str, dict[str, list[tuple[str, str]]]]:
    out: dict[str, dict[str, list[tuple[str, str]]]] = {}
    for folder in sorted((root / "cuad").glob("CUAD_*")):
        out[folder.name] = {}
        for split in ("train", "test"):
            with (folder / f"{split}.tsv").open(newline="", encoding="utf-8") as fh:
                out[folder.name][split] = [
                    (r["text"], r["label"]) for r in csv.DictReader(fh, delimiter="\t")
                ]
    return out


def cuad(root: Path, encoder) -> dict:
    rows = _cuad_rows(root)
    all_texts = [t for parts in rows.values() for split in ("train", "test") for t, _ in parts[split]]
    emb_all = encode_cached(encoder, all_texts)
    vec = {t: emb_all[i] for i, t in enumerate(all_texts)}
    rng = np.random.default_rng(0)
    correct_all, conf_all, answered_all, per_type, samples = [], [], [], {}, {}
    for name, parts in rows.items():
        test = parts["test"]
        labels = np.array([y for _, y in test])
        train_idx, eval_idx = [], []
        for lab in np.unique(labels):
            idx = rng.permutation(np.flatnonzero(labels == lab))
            half = len(idx) // 2
            train_idx += list(idx[:half])
            eval_idx += list(idx[half:])
        tr = parts["train"] + [test[i] for i in sorted(train_idx)]
        ev = [test[i] for i in sorted(eval_idx)]
        data = LabelledData(tuple(t for t, _ in tr), tuple(y for _, y in tr), name)
        clf, _ = train_classifier(
            data, encoder=encoder, config=TrainConfig(), embeddings=np.stack([vec[t] for t in data.texts])
        )
        ev_texts = [t for t, _ in ev]
        proba, _, correct = _evaluate(clf, ev_texts, [y for _, y in ev], np.stack([vec[t] for t in ev_texts]))
        conf = proba.max(axis=1)
        per_type[name] = float(correct.mean())
        correct_all.append(correct)
        conf_all.append(conf)
        answered_all.append(conf >= clf.threshold)
        samples[name] = (clf, ev)
    correct = np.concatenate(correct_all)
    answered = np.concatenate(answered_all)
    print(
        f"cuad accuracy {correct.mean():.4f} (per-type heads, n={len(correct)} eval items, "
        f"{len(rows)} clause types; macro {np.mean(list(per_type.values())):.4f}; "
        f"worst {min(per_type, key=per_type.get)} {min(per_type.values()):.3f})"
    )
    final = np.where(answered, correct, True)
    print(
        f"cuad escalation at 99% held-out precision: answered locally {answered.mean():.1%}, "
        f"answered accuracy {correct[answered].mean():.2%}, pipeline accuracy {final.mean():.2%} "
        "if every escalation is answered right"
    )
    return {"samples": samples, "root": str(root)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=_default_data())
    ap.add_argument("--skip-cuad", action="store_true")
    ap.add_argument("--latency-n", type=int, default=300)
    ap.add_argument(
        "--general-sample",
        type=int,
        default=0,
        help="also prompt the large local general model on N test items of each set",
    )
    ap.add_argument("--general-model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    from smallfirst.embeddings.minilm import MiniLMEncoder

    encoder = MiniLMEncoder(threads=args.threads)
    bank = banking77(args.data, encoder, args.latency_n)
    cu = None if args.skip_cuad else cuad(args.data, encoder)
    if args.general_sample:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from general_baseline import compare_general  # needs the llama backend

        compare_general(args.general_model, args.general_sample, bank, cu, threads=args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

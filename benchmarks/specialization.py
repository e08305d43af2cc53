"""Specialised small models on Banking77 (77 intents) and CUAD (38 clause types, Yes/No).

    PYTHONPATH=src python benchmarks/specialization.py [--data ../shared/data] [--general-sample 200]

Prints accuracy, calibration, escalation at 99% precision and batch-1 latency. ``--general-sample N`` also
prompts the large local general model (qwen2.5-coder-1.5b, zero-shot) on N test items of each set and
prices both with the ledger. Embeddings are cached under ~/.cache/smallfirst/embeddings, so reruns are quick.

CUAD ships only a few-shot train.tsv per clause type; each type's test.tsv is split 50/50 (the product's
stratified split, seed 0) into training and evaluation halves, and the few-shot rows join the training half.

Everything but the timing and the printing is smallfirst's own code: the data sets' loaders, training,
evaluation (``smallfirst.specialize.workflow.predict``), calibration and escalation, and the classifier tier.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from smallfirst.specialize.calibration import expected_calibration_error, softmax
from smallfirst.specialize.classifier import TrainConfig, train_classifier
from smallfirst.specialize.data import LabelledData, load_labelled, stratified_split
from smallfirst.specialize.embedcache import encode_cached
from smallfirst.specialize.escalation import escalation_report
from smallfirst.specialize.tier import ClassifierModel
from smallfirst.specialize.workflow import predict
from smallfirst.tasks import sources


def _default_data() -> Path | None:
    """../shared/data on the machines that build smallfirst, else None: the data catalogue's installed sets."""
    shared = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return shared if shared.is_dir() else None


def _latency(clf, texts: list[str], n: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    model = ClassifierModel("bench", clf)
    model.complete([{"role": "user", "content": texts[0]}])  # warm-up: onnxruntime allocates on first run
    walls = []
    for t in texts[:n]:
        s = time.perf_counter()
        model.complete([{"role": "user", "content": t}])
        walls.append(time.perf_counter() - s)
    return float(np.median(walls)) * 1e3, float(np.percentile(walls, 99)) * 1e3


def banking77(root: Path | None, encoder, latency_n: int) -> dict:  # type: ignore[no-untyped-def]
    d = sources.set_dir(root, "banking77", ("train.csv", "test.csv"))
    train = load_labelled(d / "train.csv", text_col="text", label_col="category")
    test = load_labelled(d / "test.csv", text_col="text", label_col="category")
    t0 = time.perf_counter()
    clf, cal = train_classifier(train, encoder=encoder, config=TrainConfig())
    train_s = time.perf_counter() - t0
    emb = encode_cached(encoder, list(test.texts))
    pred = predict(clf, test, encoder, embeddings=emb)
    esc = escalation_report(pred.confidence, pred.correct, clf.threshold)
    med, p99 = _latency(clf, list(test.texts), latency_n)
    print(
        f"banking77 accuracy {pred.correct.mean():.4f} (n={len(test)} test, {len(train)} train, "
        f"train {train_s:.0f} s incl. cached embeddings)"
    )
    raw = softmax(clf.scores(list(test.texts), emb))
    print(
        f"intents calibration: temperature {cal.temperature:.3f}, test ECE "
        f"{expected_calibration_error(pred.proba, pred.y):.4f} "
        f"(at temperature 1: {expected_calibration_error(raw, pred.y):.4f})"
    )
    print(
        f"intents escalation at 99% held-out precision: threshold {esc.threshold:.3f}, answered locally "
        f"{esc.answered_share:.1%}, answered accuracy {esc.answered_accuracy:.2%}, pipeline accuracy "
        f"{esc.pipeline_accuracy:.2%} if every escalation is answered right"
    )
    print(f"intents latency batch 1: median {med:.1f} ms, p99 {p99:.1f} ms (n={latency_n})")
    return {"clf": clf, "test": test, "correct": pred.correct, "proba": pred.proba, "root": root}


def cuad(root: Path | None, encoder) -> dict:  # type: ignore[no-untyped-def]
    """One head per clause type, trained on its few-shot rows plus half its test split, evaluated on the other
    half. Returns the heads with their evaluation rows (``samples``: folder -> (head, rows, their row numbers in
    test.tsv))."""
    parts, files = {}, []
    for folder in sources.cuad_types(root):
        shots = load_labelled(folder / "train.tsv", min_per_class=1)
        test = load_labelled(folder / "test.tsv", min_per_class=1)
        train_idx, eval_idx = stratified_split(test.labels, 0.5, seed=0)
        half = test.subset(train_idx)
        data = LabelledData(shots.texts + half.texts, shots.labels + half.labels, folder.name)
        parts[folder] = (data, test.subset(eval_idx), eval_idx)
        files.append(shots.texts + test.texts)
    # every clause type's files in order: the embedding cache is keyed by chunks of this list, so reruns hit it
    all_texts = [t for texts in files for t in texts]
    emb_all = encode_cached(encoder, all_texts)
    vec = {t: emb_all[i] for i, t in enumerate(all_texts)}
    correct_all, answered_all, per_type, samples = [], [], {}, {}
    for folder, (data, ev, eval_idx) in parts.items():
        clf, _ = train_classifier(
            data, encoder=encoder, config=TrainConfig(), embeddings=np.stack([vec[t] for t in data.texts])
        )
        pred = predict(clf, ev, encoder, embeddings=np.stack([vec[t] for t in ev.texts]))
        per_type[folder.name] = float(pred.correct.mean())
        correct_all.append(pred.correct)
        answered_all.append(pred.confidence >= clf.threshold)
        samples[folder] = (clf, ev, eval_idx)
    correct = np.concatenate(correct_all)
    answered = np.concatenate(answered_all)
    print(
        f"cuad accuracy {correct.mean():.4f} (per-type heads, n={len(correct)} eval items, "
        f"{len(parts)} clause types; macro {np.mean(list(per_type.values())):.4f}; "
        f"worst {min(per_type, key=per_type.get)} {min(per_type.values()):.3f})"
    )
    # each type has its own threshold, so "answered" is decided per head above and passed as the confidence
    esc = escalation_report(answered.astype(float), correct, 0.5)
    print(
        f"cuad escalation at 99% held-out precision: answered locally {esc.answered_share:.1%}, "
        f"answered accuracy {esc.answered_accuracy:.2%}, pipeline accuracy {esc.pipeline_accuracy:.2%} "
        "if every escalation is answered right"
    )
    return {"samples": samples, "root": root}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--data",
        type=Path,
        default=_default_data(),
        help="a folder with banking77/ and cuad/ in their upstream layout (default: ../shared/data, else the "
        "sets installed by `smallfirst data pull`)",
    )
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
        from general_baseline import compare_general  # beside this script; needs the llama backend

        compare_general(args.general_model, args.general_sample, bank, cu, threads=args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

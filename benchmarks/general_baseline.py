"""The general large local model prompted zero-shot (Banking77) or few-shot (CUAD, LegalBench's own prompt)
on a sample of the test items the specialised models answered, with both priced by the ledger.

Used by ``specialization.py --general-sample N``; needs the llama backend and the model pulled.
"""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import numpy as np

from smallfirst.config import ModelSpec, load_settings
from smallfirst.costs.ledger import Ledger
from smallfirst.models.registry import build, resolve
from smallfirst.specialize.artifact import ArtifactInfo
from smallfirst.specialize.distill import normalise_label
from smallfirst.specialize.tier import ClassifierModel

BANK_SYSTEM = (
    "You label customer-support messages of a bank with their intent. The intents are: {labels}.\n"
    "Answer with exactly one intent from the list, written as in the list, and nothing else."
)


def _tier(clf) -> ClassifierModel:  # type: ignore[no-untyped-def]
    return ClassifierModel(
        "specialised",
        clf,
        ArtifactInfo(Path("."), "specialised", "", clf.classes, "", "", 0, 1.0, 0.0, 0.0, {}, 0.0),
    )


def _run(model, ledger: Ledger, name: str, spec: ModelSpec, messages) -> tuple[str, Decimal, float]:  # type: ignore[no-untyped-def]
    s = time.perf_counter()
    c = model.complete(messages, max_tokens=12, temperature=0.0)
    return c.text, ledger.price(name, spec, c).amount, time.perf_counter() - s


def _report(
    label: str, gold, small_pred, small_conf, threshold, small_cost, big_pred, big_cost, big_wall, small_wall
) -> None:  # type: ignore[no-untyped-def]
    gold = np.array(gold)
    small_ok = np.array(small_pred) == gold
    big_ok = np.array(big_pred) == gold
    answered = np.array(small_conf) >= threshold
    pipe = np.where(answered, small_ok, big_ok)
    n = len(gold)
    sc, bc = sum(small_cost, Decimal(0)), sum(big_cost, Decimal(0))
    pipe_cost = sc + sum((c for c, a in zip(big_cost, answered, strict=True) if not a), Decimal(0))
    print(
        f"{label} general model accuracy {big_ok.mean():.3f} vs specialised {small_ok.mean():.3f} "
        f"on the same sample (n={n})"
    )
    print(
        f"{label} cost per 1,000 requests (ledger): specialised ${sc / n * 1000:.5f}, general "
        f"${bc / n * 1000:.4f}, ratio 1/{(bc / sc if sc else Decimal('inf')):.0f}; mean wall "
        f"{np.mean(small_wall) * 1e3:.1f} ms vs {np.mean(big_wall) * 1e3:.0f} ms"
    )
    print(
        f"{label} pipeline with real escalation to the general model: "
        f"answered locally {answered.mean():.1%}, "
        f"accuracy {pipe.mean():.1%}, cost per 1,000 ${pipe_cost / n * 1000:.4f}"
    )


def compare_general(name: str, n: int, bank: dict, cuad: dict | None, *, threads: int | None = None) -> None:
    settings = load_settings()
    spec = resolve(name, settings)
    ledger = Ledger(settings)
    small_spec = ModelSpec(backend="classifier")
    model = build(name, settings)
    rng = np.random.default_rng(0)
    try:
        clf, test = bank["clf"], bank["test"]
        idx = sorted(rng.choice(len(test), size=min(n, len(test)), replace=False))
        system = BANK_SYSTEM.format(labels=", ".join(clf.classes))
        tier = _tier(clf)
        rows = {k: [] for k in ("gold", "sp", "sc", "scost", "bp", "bcost", "bwall", "swall")}
        for i in idx:
            text = test.texts[i]
            c = tier.complete([{"role": "user", "content": text}])
            answer, cost, wall = _run(
                model,
                ledger,
                name,
                spec,
                [{"role": "system", "content": system}, {"role": "user", "content": text}],
            )
            for k, v in (
                ("gold", test.labels[i]),
                ("sp", c.text),
                ("sc", float(np.exp(c.logprobs[0].logprob))),
                ("scost", ledger.price("specialised", small_spec, c).amount),
                ("bp", normalise_label(answer, clf.classes)),
                ("bcost", cost),
                ("bwall", wall),
                ("swall", c.wall_seconds),
            ):
                rows[k].append(v)
        _report(
            f"intents ({name}, zero-shot)",
            rows["gold"],
            rows["sp"],
            rows["sc"],
            clf.threshold,
            rows["scost"],
            rows["bp"],
            rows["bcost"],
            rows["bwall"],
            rows["swall"],
        )
        if cuad is None:
            return
        items = [(t, name_, clf_) for name_, (clf_, ev) in cuad["samples"].items() for t in ev]
        pick = sorted(rng.choice(len(items), size=min(n, len(items)), replace=False))
        rows = {k: [] for k in rows}
        root = Path(cuad["root"])
        for j in pick:
            (text, gold), ctype, cclf = items[j]
            prompt = (root / "cuad" / ctype / "base_prompt.txt").read_text().replace("{{text}}", text)
            c = _tier(cclf).complete([{"role": "user", "content": text}])
            answer, cost, wall = _run(model, ledger, name, spec, [{"role": "user", "content": prompt}])
            conf = float(np.exp(c.logprobs[0].logprob))
            for k, v in (
                ("gold", gold),
                ("sp", c.text),
                ("sc", conf >= cclf.threshold),
                ("scost", ledger.price("specialised", small_spec, c).amount),
                ("bp", normalise_label(answer, ("Yes", "No"))),
                ("bcost", cost),
                ("bwall", wall),
                ("swall", c.wall_seconds),
            ):
                rows[k].append(v)
        # per-type thresholds differ, so "answered" was decided per item above
        _report(
            f"clauses ({name}, LegalBench few-shot)",
            rows["gold"],
            rows["sp"],
            [float(a) for a in rows["sc"]],
            0.5,
            rows["scost"],
            rows["bp"],
            rows["bcost"],
            rows["bwall"],
            rows["swall"],
        )
    finally:
        model.close()

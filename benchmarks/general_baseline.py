"""The general large local model prompted as smallfirst prompts it (Banking77 zero-shot with the intent list,
CUAD with the clause type's question) on a sample of the test items the specialised models answered, both
graded by smallfirst's graders and priced by the ledger.

Used by ``specialization.py --general-sample N``; needs the llama backend and the model pulled. The items,
prompts, generation budgets and graders are the ones ``smallfirst collect`` and the demo use
(``smallfirst.tasks``); the specialised models answer through the classifier tier.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import numpy as np

from smallfirst.config import ModelSpec, load_settings
from smallfirst.costs.ledger import Ledger
from smallfirst.models.completion import Message
from smallfirst.models.registry import build, resolve
from smallfirst.specialize.escalation import escalation_report
from smallfirst.specialize.tier import ClassifierModel
from smallfirst.tasks import sources
from smallfirst.tasks.collect import max_tokens
from smallfirst.tasks.grading import grade
from smallfirst.tasks.items import TaskItem


class _Rows:
    """Per-item results of the specialised model (``s*``) and the general one (``b*``) on the same items."""

    def __init__(self) -> None:
        self.s_ok: list[bool] = []
        self.answered: list[bool] = []
        self.s_cost: list[Decimal] = []
        self.s_wall: list[float] = []
        self.b_ok: list[bool] = []
        self.b_cost: list[Decimal] = []
        self.b_wall: list[float] = []


class _Judge:
    """Runs both models on one item, grades with smallfirst's grader and prices with the ledger."""

    def __init__(self, name: str) -> None:
        self.settings = load_settings()
        self.name = name
        self.spec = resolve(name, self.settings)
        self.ledger = Ledger(self.settings)
        self.small_spec = ModelSpec(backend="classifier")
        self.model = build(name, self.settings)

    def run(self, rows: _Rows, item: TaskItem, tier: ClassifierModel, tier_input: Sequence[Message],
            labels: tuple[str, ...]) -> None:
        gold = item.gold or ""
        c = tier.complete(list(tier_input))
        rows.s_ok.append(grade(item.task, c.text, gold, labels) == 1.0)
        rows.answered.append(float(np.exp(c.logprobs[0].logprob)) >= tier.threshold)
        rows.s_cost.append(self.ledger.price("specialised", self.small_spec, c).amount)
        rows.s_wall.append(c.wall_seconds)
        b = self.model.complete(list(item.messages), max_tokens=max_tokens(item.task), temperature=0.0)
        rows.b_ok.append(grade(item.task, b.text, gold, labels) == 1.0)
        rows.b_cost.append(self.ledger.price(self.name, self.spec, b).amount)
        rows.b_wall.append(b.wall_seconds)

    def close(self) -> None:
        self.model.close()


def _report(label: str, r: _Rows) -> None:
    n = len(r.s_ok)
    small_ok, big_ok, answered = np.array(r.s_ok), np.array(r.b_ok), np.array(r.answered)
    # each specialised head has its own threshold, so "answered" was decided per item and is the confidence here
    esc = escalation_report(answered.astype(float), small_ok, 0.5, fallback_correct=big_ok)
    sc, bc = sum(r.s_cost, Decimal(0)), sum(r.b_cost, Decimal(0))
    pipe_cost = sc + sum((c for c, a in zip(r.b_cost, r.answered, strict=True) if not a), Decimal(0))
    print(
        f"{label} general model accuracy {big_ok.mean():.3f} vs specialised {small_ok.mean():.3f} "
        f"on the same sample (n={n})"
    )
    print(
        f"{label} cost per 1,000 requests (ledger): specialised ${sc / n * 1000:.5f}, general "
        f"${bc / n * 1000:.4f}, ratio 1/{(bc / sc if sc else Decimal('inf')):.0f}; mean wall "
        f"{np.mean(r.s_wall) * 1e3:.1f} ms vs {np.mean(r.b_wall) * 1e3:.0f} ms"
    )
    print(
        f"{label} pipeline with real escalation to the general model: "
        f"answered locally {esc.answered_share:.1%}, "
        f"accuracy {esc.pipeline_accuracy:.1%}, cost per 1,000 ${pipe_cost / n * 1000:.4f}"
    )


def compare_general(name: str, n: int, bank: dict, cuad: dict | None, *, threads: int | None = None) -> None:
    """Compare model ``name`` with the specialised heads of ``specialization.banking77`` (``bank``) and
    ``specialization.cuad`` (``cuad``, or None to skip CUAD) on ``n`` test items of each set, and print the
    accuracies, the ledger's cost per 1,000 requests and the pipeline that escalates to ``name`` for real.

    Banking77's items are ``smallfirst.tasks.sources.banking77(data, n, seed=0)`` (test split, never trained on);
    CUAD's are ``n`` items drawn (numpy seed 0) from the heads' evaluation halves. ``threads`` is unused: the
    model runs with the configured threads, as ``smallfirst ask`` would run it."""
    judge = _Judge(name)
    try:
        root: Path | None = bank["root"]
        clf = bank["clf"]
        tier = ClassifierModel("specialised", clf)
        labels = sources.labels_for("banking77", root)
        rows = _Rows()
        for item in sources.banking77(root, n, seed=0, split="test"):
            judge.run(rows, item, tier, item.messages, labels)
        _report(f"intents ({name}, zero-shot)", rows)
        if cuad is None:
            return
        pool = [(folder, clf_, int(row), text, gold)
                for folder, (clf_, ev, rows_) in cuad["samples"].items()
                for row, text, gold in zip(rows_, ev.texts, ev.labels, strict=True)]
        pick = sorted(np.random.default_rng(0).choice(len(pool), size=min(n, len(pool)), replace=False))
        rows = _Rows()
        for j in pick:
            folder, head, row, text, gold = pool[j]
            # a clause type's head was trained on bare clauses, as `smallfirst ask --model cuad-<type>` sends them
            judge.run(rows, sources.cuad_item(folder, row, text, gold), ClassifierModel(folder.name, head),
                      [{"role": "user", "content": text}], ())
        _report(f"clauses ({name}, the clause type's question)", rows)
    finally:
        judge.close()

"""Task items built from the public data sets (Banking77, CUAD, GSM8K, MMLU).

Each builder samples with a fixed seed, so a run is reproducible, and phrases the question the way a
business would send it to a chat model. ``data_dir`` is a folder holding the sets in their upstream layout
(``<data_dir>/banking77/train.csv``...); None finds each set through the data catalogue (the cache, or the
slice that ships with the package), whose error names the `smallfirst data pull` that installs a missing set.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

from smallfirst.errors import DataError
from smallfirst.models.completion import Message
from smallfirst.tasks.items import TaskItem

TASKS = ("banking77", "cuad", "gsm8k", "mmlu")


def set_dir(data_dir: Path | None, name: str, needs: tuple[str, ...] = ()) -> Path:
    """The folder of data set ``name``: ``data_dir/<name>`` when a folder is given, else the catalogue's.
    Raises DataError naming the missing file and the way to get it."""
    if data_dir is None:
        from smallfirst.datasets import dataset_dir

        return dataset_dir(name, needs)
    folder = Path(data_dir) / name
    for rel in needs:
        if not (folder / rel).exists():
            raise DataError(f"data file {folder / rel} does not exist",
                            hint=f"give --data-dir a folder holding {name}/ in its upstream layout, or leave it out "
                                 f"to use the installed set (`smallfirst data pull {name}`)")
    return folder


@cache
def banking77_labels(data_dir: Path | None = None) -> tuple[str, ...]:
    """The 77 intent labels, in the data set's order."""
    folder = set_dir(data_dir, "banking77", ("categories.json",))
    return tuple(json.loads((folder / "categories.json").read_text(encoding="utf-8")))


#: the instruction for a model fine-tuned on Banking77's intents (a LoRA niche): it has learnt the labels, and
#: the 77 of them would not fit the short training context, so the prompt does not list them
BANKING77_TUNED_SYSTEM = (
    "Reply with the intent label of the bank customer's message, in snake_case, and nothing else."
)


def banking77_messages(text: str, labels: Sequence[str] | None = None) -> tuple[Message, ...]:
    """The chat messages that ask for ``text``'s intent: (system, user).

    With ``labels`` the system turn lists them (the zero-shot prompt every Banking77 item carries; identical for
    every item, so a local model reuses its KV cache); None gives ``BANKING77_TUNED_SYSTEM``."""
    system = BANKING77_TUNED_SYSTEM if labels is None else (
        "You triage a bank's customer support messages. Reply with exactly one intent label from this "
        "list and nothing else:\n" + ", ".join(labels))
    return ({"role": "system", "content": system}, {"role": "user", "content": text})


def banking77(data_dir: Path | None, n: int, seed: int = 0, split: str = "test") -> list[TaskItem]:
    """``n`` support messages sampled from Banking77's ``split``, asking for one intent label.

    Sampled with ``random.Random(seed)``; an item's id is ``banking77-<split>-<row>`` (row: 0-based, in the
    CSV). Raises DataError when the set or its ``categories.json`` is missing."""
    labels = banking77_labels(data_dir)
    folder = set_dir(data_dir, "banking77", (f"{split}.csv",))
    with (folder / f"{split}.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    picked = random.Random(seed).sample(rows, min(n, len(rows)))
    return [TaskItem(id=f"banking77-{split}-{rows.index(r)}", task="banking77", gold=r["category"], text=r["text"],
                     messages=banking77_messages(r["text"], labels))
            for r in picked]


def cuad_types(data_dir: Path | None, split: str = "test") -> list[Path]:
    """The clause-type folders of CUAD (``CUAD_<type>``, 38 in LegalBench's layout), sorted by name.

    Each holds ``base_prompt.txt`` (LegalBench's prompt; its first line is the clause type's question) and
    ``train.tsv``/``test.tsv`` with ``text`` and ``label`` (Yes/No) columns. Raises DataError when the set is
    missing."""
    root = set_dir(data_dir, "cuad", (f"CUAD_Anti-Assignment/{split}.tsv",))
    return sorted(root.glob("CUAD_*"))


@cache
def cuad_question(folder: Path) -> str:
    """The question a clause type asks (``base_prompt.txt``'s first line), e.g. whether a clause restricts
    assignment."""
    return (folder / "base_prompt.txt").read_text(encoding="utf-8").strip().splitlines()[0]


def cuad_item(folder: Path, row: int, clause: str, gold: str | None, split: str = "test") -> TaskItem:
    """One CUAD clause as a task item: its type's question, the clause, and "Answer Yes or No.".

    ``folder`` is a clause-type folder (``cuad_types``), ``row`` the clause's 0-based row in ``<split>.tsv`` (it
    makes the id ``cuad-<split>-<type>-<row>``); ``text`` is ``"<type>: <clause>"``, what a router reads."""
    kind = folder.name.removeprefix("CUAD_")
    return TaskItem(id=f"cuad-{split}-{kind}-{row}", task="cuad", gold=gold, text=f"{kind.replace('_', ' ')}: {clause}",
                    messages=({"role": "user",
                               "content": f"{cuad_question(folder)}\n\nClause: {clause}\n\nAnswer Yes or No."},))


def cuad(data_dir: Path | None, n: int, seed: int = 0, split: str = "test") -> list[TaskItem]:
    """``n`` contract clauses from CUAD's ``split`` (half Yes, half No), each with its clause type's question.

    Sampled with ``random.Random(seed)`` over all clause types. Raises DataError when the set is missing."""
    yes: list[tuple[Path, int, str, str]] = []
    no: list[tuple[Path, int, str, str]] = []
    for folder in cuad_types(data_dir, split):
        with (folder / f"{split}.tsv").open(newline="", encoding="utf-8") as fh:
            for i, row in enumerate(csv.DictReader(fh, delimiter="\t")):
                if row["label"] in ("Yes", "No"):
                    (yes if row["label"] == "Yes" else no).append((folder, i, row["text"], row["label"]))
    rng = random.Random(seed)
    # Balance Yes and No: each clause type's split leans one way, which would flatter a constant guess.
    picked = rng.sample(yes, min(n - n // 2, len(yes))) + rng.sample(no, min(n // 2, len(no)))
    rng.shuffle(picked)
    return [cuad_item(folder, i, clause, label, split) for folder, i, clause, label in picked]


def gsm8k(data_dir: Path | None, n: int, seed: int = 0, split: str = "test") -> list[TaskItem]:
    """``n`` GSM8K problems from ``split``; the gold answer is the number after ``####``."""
    folder = set_dir(data_dir, "gsm8k", (f"{split}.jsonl",))
    with (folder / f"{split}.jsonl").open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    idx = random.Random(seed).sample(range(len(rows)), min(n, len(rows)))
    return [TaskItem(id=f"gsm8k-{split}-{i}", task="gsm8k",
                     gold=rows[i]["answer"].split("####")[-1].strip().replace(",", ""),
                     text=rows[i]["question"],
                     messages=({"role": "user", "content": rows[i]["question"] + "\nSolve it step by step in a few "
                                "short lines, then give the final number after '####'."},))
            for i in idx]


def mmlu(data_dir: Path | None, n: int, seed: int = 0, split: str = "test") -> list[TaskItem]:
    """``n`` MMLU questions from ``split`` over all subjects; ``task`` is ``mmlu/<subject>``."""
    folder = set_dir(data_dir, "mmlu", (f"{split}/marketing_{split}.csv",)) / split
    pool: list[tuple[str, int, list[str]]] = []
    for f in sorted(folder.glob(f"*_{split}.csv")):
        subject = f.name.removesuffix(f"_{split}.csv")
        with f.open(newline="", encoding="utf-8") as fh:
            pool.extend((subject, i, row) for i, row in enumerate(csv.reader(fh)) if len(row) == 6)
    picked = random.Random(seed).sample(pool, min(n, len(pool)))
    items = []
    for subject, i, (q, a, b, c, d, ans) in picked:
        body = f"{q}\nA. {a}\nB. {b}\nC. {c}\nD. {d}"
        items.append(TaskItem(id=f"mmlu-{split}-{subject}-{i}", task=f"mmlu/{subject}", gold=ans.strip(), text=body,
                              messages=({"role": "user", "content": f"{body}\nAnswer with the letter only."},)))
    return items


BUILDERS: dict[str, Callable[..., list[TaskItem]]] = {"banking77": banking77, "cuad": cuad, "gsm8k": gsm8k,
                                                      "mmlu": mmlu}


def build(task: str, data_dir: Path | None, n: int, seed: int = 0, split: str = "test") -> list[TaskItem]:
    """``n`` items of ``task`` (a key of BUILDERS). Raises DataError for an unknown task or a missing set."""
    try:
        builder = BUILDERS[task]
    except KeyError:
        raise DataError(f"unknown task {task!r}", hint=f"known: {', '.join(BUILDERS)}") from None
    return builder(None if data_dir is None else Path(data_dir), n, seed=seed, split=split)


def labels_for(task: str, data_dir: Path | None = None) -> tuple[str, ...]:
    """The closed label set a grader matches answers against (Banking77's intents), else ()."""
    return banking77_labels(None if data_dir is None else Path(data_dir)) if task == "banking77" else ()

"""Labelled training data: read from CSV, TSV or JSONL, checked, and hashed so an artefact names its data."""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from smallfirst.errors import DataError

if TYPE_CHECKING:
    import numpy as np

#: a class needs this many examples: some go to training, some to the calibration split
MIN_PER_CLASS = 4


@dataclass(frozen=True, slots=True)
class LabelledData:
    """n texts with their labels (an empty label: not labelled yet), and where they came from."""

    texts: tuple[str, ...]
    labels: tuple[str, ...]
    source: str = ""

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def classes(self) -> tuple[str, ...]:
        """The distinct labels, sorted: a trained head's column order."""
        return tuple(sorted(set(self.labels)))

    @property
    def sha256(self) -> str:
        """Order-sensitive digest of (text, label) pairs: the identity of a training set."""
        h = hashlib.sha256()
        for text, label in zip(self.texts, self.labels, strict=True):
            h.update(text.encode("utf-8") + b"\x1f" + label.encode("utf-8") + b"\x1e")
        return h.hexdigest()

    def subset(self, idx: Sequence[int]) -> LabelledData:
        """The rows at positions ``idx``, in that order, with the same source."""
        return LabelledData(
            tuple(self.texts[i] for i in idx), tuple(self.labels[i] for i in idx), self.source
        )


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        rows: list[dict[str, str]] = []
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError as exc:
                    raise DataError(
                        f"{path}:{n} is not valid JSON ({exc})", hint="one JSON object per line"
                    ) from None
                if not isinstance(obj, dict):
                    raise DataError(f"{path}:{n} is not a JSON object", hint="one JSON object per line")
                rows.append({k: "" if v is None else str(v) for k, v in obj.items()})
        columns = list(dict.fromkeys(k for r in rows for k in r))
        return columns, rows
    delimiter = "\t" if suffix in (".tsv", ".tab") else ","
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh, delimiter=delimiter)
        rows = [{k: v or "" for k, v in r.items() if k is not None} for r in reader]
        return list(reader.fieldnames or []), rows


def load_labelled(
    path: str | Path,
    *,
    text_col: str = "text",
    label_col: str | None = "label",
    min_per_class: int = MIN_PER_CLASS,
) -> LabelledData:
    """Read a labelled file. ``label_col=None`` reads unlabelled text (for a teacher to label)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"training file {p} does not exist", hint="pass a CSV, TSV or JSONL file")
    columns, rows = _rows(p)
    if text_col not in columns:
        raise DataError(
            f"{p} has no text column {text_col!r}; columns: {', '.join(columns) or 'none'}",
            hint="name it with --text-col",
            param="text_col",
        )
    texts = tuple(r.get(text_col, "") for r in rows)
    if label_col is None:
        if not any(t.strip() for t in texts):
            raise DataError(f"text column {text_col!r} of {p} is empty", hint="check --text-col")
        return LabelledData(texts, ("",) * len(texts), str(p))
    if label_col not in columns:
        raise DataError(
            f"{p} has no label column {label_col!r}; columns: {', '.join(columns) or 'none'}",
            hint="name it with --label-col, or label it with --teacher MODEL",
            param="label_col",
        )
    data = LabelledData(texts, tuple(r.get(label_col, "").strip() for r in rows), str(p))
    return validate_labelled(data, min_per_class=min_per_class)


def without_rare_classes(
    data: LabelledData, *, min_per_class: int = MIN_PER_CLASS
) -> tuple[LabelledData, dict[str, int]]:
    """A model's labels (a teacher's, the log's) without the classes it gave too rarely to learn, and those
    classes with their counts. Refusing would waste the labelling run; inputs of a dropped class score low at
    serving time and escalate to the model that labelled them. A user's own labels are never dropped: for
    them ``validate_labelled`` names the rare classes instead."""
    counts = Counter(y for y in data.labels if y)
    rare = {c: n for c, n in sorted(counts.items()) if n < min_per_class}
    return data.subset([i for i, y in enumerate(data.labels) if y not in rare]), rare


def validate_labelled(data: LabelledData, *, min_per_class: int = MIN_PER_CLASS) -> LabelledData:
    """Drop rows with empty text or label, then refuse data no classifier can learn from."""
    where = data.source or "the training data"
    keep = [i for i, (t, y) in enumerate(zip(data.texts, data.labels, strict=True)) if t.strip() and y]
    if not any(t.strip() for t in data.texts):
        raise DataError(f"the text column of {where} is empty", hint="check --text-col")
    data = data.subset(keep)
    counts = Counter(data.labels)
    if len(counts) < 2:
        only = next(iter(counts), "none")
        raise DataError(
            f"{where} has only one class ({only!r}); a classifier needs at least two",
            hint="add examples of other classes, or check --label-col",
        )
    few = sorted(c for c, n in counts.items() if n < min_per_class)
    if few:
        listed = ", ".join(f"{c!r} ({counts[c]})" for c in few[:20]) + (" ..." if len(few) > 20 else "")
        raise DataError(
            f"{len(few)} classes in {where} have fewer than {min_per_class} examples: {listed}",
            hint="add examples of them, or drop or merge those classes",
        )
    return data


def stratified_split(labels: Sequence[str] | np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split row indices class by class: (kept, held out), each sorted, together a partition of ``range(n)``.

    ``labels`` has shape (n,) (strings or class indices); about ``share`` of each class (Python's ``round``) is
    held out, but never so many that the class keeps fewer than two rows, and at least one row of every class
    with three or more. ``seed`` seeds a ``numpy.random.default_rng`` that permutes each class in
    ``np.unique`` order, so the same labels, share and seed give the same split. Training holds out its
    calibration split with this; benchmarks halve a labelled set into training and evaluation with it."""
    import numpy as np

    y = np.asarray(labels)
    rng = np.random.default_rng(seed)
    keep, hold = [], []
    for k in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == k))
        n_hold = min(int(round(len(idx) * share)), max(len(idx) - 2, 0))
        n_hold = max(n_hold, 1) if len(idx) >= 3 else n_hold
        hold.extend(idx[:n_hold])
        keep.extend(idx[n_hold:])
    return np.sort(np.array(keep, dtype=int)), np.sort(np.array(hold, dtype=int))

"""Routing decisions made elsewhere (a router's cross-fitted choices), read as a hybrid scenario.

A decisions file is CSV with columns ``id,model``: the model each prompt of the outcome set was routed to.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from smallfirst.errors import DataError
from smallfirst.outcomes import Outcomes


def parse_hybrid(spec: str) -> tuple[str, Path]:
    name, sep, path = spec.partition("=")
    if not sep or not name or not path:
        raise DataError(
            f"--hybrid {spec!r} is not NAME=FILE", hint="e.g. --hybrid knn=runs/knn-decisions.csv"
        )
    return name, Path(path)


def load_decisions(path: Path, outcomes: Outcomes) -> np.ndarray:
    if not path.exists():
        raise DataError(f"decisions file {path} does not exist")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not {"id", "model"} <= set(reader.fieldnames or []):
            raise DataError(f"{path}: needs columns id,model", hint=f"columns found: {reader.fieldnames}")
        chosen = {row["id"]: row["model"] for row in reader}
    missing = [i for i in outcomes.ids if i not in chosen]
    if missing:
        raise DataError(
            f"{path}: no decision for {len(missing)} prompts, e.g. {missing[:3]}",
            hint="give one row per prompt id of the outcome set",
        )
    return np.array([outcomes.model_index(chosen[i]) for i in outcomes.ids], dtype=int)

"""Data sets as artefacts, like models.

- ``sets``: the catalogue of the public data sets smallfirst uses (upstream source, licence, pinned files) and
  the slices that ship inside the package (``bundled/``);
- ``fetch``: ``smallfirst data pull`` into the cache, verified by sha256, from upstream or a local copy, and
  :func:`dataset_dir`, which every command uses to find a set (never a path outside the cache or the package).
"""

from __future__ import annotations

from pathlib import Path

from smallfirst.datasets.fetch import data_root, dataset_dir, installed, pull
from smallfirst.datasets.sets import BUNDLED, CATALOGUE, DataSet, bundled_dir, dataset

__all__ = ["BUNDLED", "CATALOGUE", "DataSet", "bundled", "bundled_dir", "data_root", "dataset", "dataset_dir",
           "installed", "pull"]


def bundled(relpath: str) -> Path:
    """A file shipped inside the package, e.g. ``bundled("workload/mixed.jsonl")``. The path exists."""
    return Path(__file__).resolve().parent / "bundled" / relpath

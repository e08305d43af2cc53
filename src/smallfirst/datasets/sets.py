"""The data catalogue: every public data set smallfirst uses, with its upstream source, licence and files.

Each upstream set's files and their sha256 are pinned in ``manifests/<name>.json`` (relative path -> [sha256,
bytes]), so a pulled copy is exactly the one the project was measured on, whether it came from the upstream
repository or from a local copy (``smallfirst data pull NAME --from DIR``). A local copy keeps the upstream
layout under one folder per set, e.g. ``DIR/banking77/train.csv``.

Bundled slices are files shipped inside the package (``bundled/<name>/``) so that the main job runs with no
download: a few upstream files (Banking77's train split), or a slice derived from one (the CUAD clauses the demo
trains on), each with its licence.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath

from smallfirst.errors import DataError

__all__ = ["BUNDLED", "CATALOGUE", "DataSet", "FileRule", "bundled_dir", "dataset", "manifest"]

_HERE = Path(__file__).resolve().parent


@dataclass(frozen=True, slots=True)
class FileRule:
    """Maps local paths under ``prefix`` to an upstream URL.

    ``url`` is a template over the local path: ``{path}`` (the rest after ``prefix``), ``{dir}`` and
    ``{dir_lower}`` (its folder, as is and lower-cased), ``{name}`` (its file name). With ``member`` set, the
    URL is an archive (tar) and ``member`` (same placeholders) names the file inside it.
    """

    prefix: str
    url: str
    member: str | None = None

    def matches(self, path: str) -> bool:
        """Whether this rule serves local path ``path`` (POSIX, relative to the set's folder)."""
        return path.startswith(self.prefix)

    def fill(self, template: str, path: str) -> str:
        """``template`` (``url`` or ``member``) with the placeholders filled from local path ``path``."""
        rest = PurePosixPath(path[len(self.prefix):])
        folder = str(rest.parent) if str(rest.parent) != "." else ""
        return template.format(path=str(rest), dir=folder, dir_lower=folder.lower(), name=rest.name)


@dataclass(frozen=True, slots=True)
class DataSet:
    """One public data set: where it comes from, under which licence, and (through its manifest) its files."""

    name: str
    title: str
    licence: str
    #: the file inside the set that holds the licence text, when the upstream has one
    licence_file: str | None
    #: upstream repository and commit, as recorded in the manifest's provenance
    repository: str
    commit: str
    #: how each local path maps to an upstream URL; the first matching rule wins
    rules: tuple[FileRule, ...]
    #: what the set is used for in smallfirst
    used_for: str

    @property
    def files(self) -> dict[str, tuple[str, int]]:
        """Relative path -> (sha256, size in bytes), from the pinned manifest."""
        return manifest(self.name)

    @property
    def size_bytes(self) -> int:
        """Total size of the set's pinned files, in bytes (what a pull downloads, archives aside)."""
        return sum(size for _, size in self.files.values())

    def rule_for(self, path: str) -> FileRule:
        """The first rule that matches local path ``path``; raises DataError if none does."""
        for rule in self.rules:
            if rule.matches(path):
                return rule
        raise DataError(f"data set {self.name!r} has no upstream source for {path!r}")


def _github(repo: str, commit: str, upstream_prefix: str = "") -> str:
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{upstream_prefix}"


_LEGALBENCH_HF = "https://huggingface.co/datasets/nguha/legalbench/resolve/main/data"

CATALOGUE: dict[str, DataSet] = {s.name: s for s in (
    DataSet(
        name="routellm", title="RouteLLM outcomes: GPT-4-1106 and Mixtral-8x7B on MMLU and GSM8K",
        licence="Apache-2.0", licence_file="LICENSE", repository="lm-sys/RouteLLM", commit="0b64fda",
        rules=(
            FileRule("mmlu_responses/", _github("lm-sys/RouteLLM", "0b64fda", "routellm/evals/mmlu/responses/{path}")),
            FileRule("mmlu_contaminated_prompts.jsonl",
                     _github("lm-sys/RouteLLM", "0b64fda", "routellm/evals/mmlu/contaminated_prompts.jsonl")),
            FileRule("gsm8k_contaminated_prompts.jsonl",
                     _github("lm-sys/RouteLLM", "0b64fda", "routellm/evals/gsm8k/contaminated_prompts.jsonl")),
            FileRule("gsm8k_responses.csv",
                     _github("lm-sys/RouteLLM", "0b64fda", "routellm/evals/gsm8k/gsm8k_responses.csv")),
            FileRule("", _github("lm-sys/RouteLLM", "0b64fda", "{path}")),
        ),
        used_for="routing benchmarks, `smallfirst eval` and `smallfirst economics --outcomes routellm`"),
    DataSet(
        name="gsm8k", title="GSM8K grade-school maths word problems", licence="MIT", licence_file="LICENSE",
        repository="openai/grade-school-math", commit="3101c7d",
        rules=(FileRule("LICENSE", _github("openai/grade-school-math", "3101c7d", "LICENSE")),
               FileRule("", _github("openai/grade-school-math", "3101c7d", "grade_school_math/data/{path}"))),
        used_for="`smallfirst collect` and the maths items of the demo workload"),
    DataSet(
        name="mmlu", title="MMLU multiple-choice questions (57 subjects)", licence="MIT", licence_file="LICENSE",
        repository="hendrycks/test", commit="785eba5",
        rules=(FileRule("LICENSE", _github("hendrycks/test", "785eba5", "LICENSE")),
               FileRule("", "https://people.eecs.berkeley.edu/~hendrycks/data.tar", member="data/{path}")),
        used_for="`smallfirst collect` and the general-knowledge items of the demo workload"),
    DataSet(
        name="banking77", title="Banking77 customer-support intents (77 labels)", licence="CC-BY-4.0",
        licence_file="LICENSE", repository="PolyAI-LDN/task-specific-datasets", commit="57ec275",
        rules=(FileRule("LICENSE", _github("PolyAI-LDN/task-specific-datasets", "57ec275", "LICENSE")),
               FileRule("", _github("PolyAI-LDN/task-specific-datasets", "57ec275", "banking_data/{path}"))),
        used_for="the support-intent specialist and the support items of the demo workload"),
    DataSet(
        name="cuad", title="CUAD contract clauses, 38 clause types (LegalBench's Yes/No tasks)",
        licence="CC-BY-4.0 (Atticus Project, CUAD; task construction by LegalBench)", licence_file=None,
        repository="HazyResearch/legalbench", commit="22c8c53",
        rules=(FileRule("", _LEGALBENCH_HF + "/cuad_{dir_lower}/{name}"),),
        used_for="the contract-clause specialist and the contract items of the demo workload"),
    DataSet(
        name="northwind", title="Northwind sales database (SQL for SQLite)", licence="MIT", licence_file="LICENSE",
        repository="jpwhite3/northwind-SQLite3", commit="4f56e7f",
        rules=(FileRule("LICENSE", _github("jpwhite3/northwind-SQLite3", "4f56e7f", "LICENSE")),
               FileRule("", _github("jpwhite3/northwind-SQLite3", "4f56e7f", "src/{path}"))),
        used_for="the sales-KPI niche (`smallfirst sql`, the northwind-kpi tier)"),
)}

#: bundled slices: name -> what it is (the files live in ``bundled/<name>/`` beside their licence)
BUNDLED: dict[str, str] = {
    "banking77": "Banking77's train split and label list (the support-intent specialist trains on it)",
    "cuad-demo": "3,974 CUAD clauses from the test split, none in the demo workload (the clause specialist's "
                 "training set)",
    "workload": "the demo's mixed enterprise workload (support, contracts, maths, general knowledge)",
    "outcomes": "outcome data collected with the local models (router training for the demo and the README)",
    "routellm-replay": "3,000 RouteLLM MMLU and GSM8K prompts with gold answers and GPT-4-1106's and Mixtral-8x7B's "
                       "recorded outcomes (the demo's replayed learning curve)",
    "licences": "the licence texts of the bundled slices",
}


def dataset(name: str) -> DataSet:
    """The catalogue entry for ``name``. Raises DataError naming the known sets."""
    try:
        return CATALOGUE[name]
    except KeyError:
        raise DataError(f"unknown data set {name!r}",
                        hint=f"known: {', '.join(CATALOGUE)}; run `smallfirst data list`") from None


@cache
def manifest(name: str) -> dict[str, tuple[str, int]]:
    """Relative path -> (sha256, bytes) of every file of the upstream set ``name``."""
    raw = json.loads((_HERE / "manifests" / f"{name}.json").read_text(encoding="utf-8"))
    return {path: (sha, int(size)) for path, (sha, size) in raw["files"].items()}


def bundled_dir(name: str) -> Path:
    """The folder of a bundled slice inside the installed package (it may hold only some of a set's files)."""
    return _HERE / "bundled" / name

"""Evaluation that cannot mislead: a pair not worth routing is said first and gets no routing metrics; any mix of
quality scales is refused; each router's figure carries its spread over fold seeds, and the pick is the router
whose advantage survives the split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from smallfirst.errors import DataError
from smallfirst.outcomes import from_records
from tests.test_cli import run


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _pairs(n: int, weak: list[float], strong: list[float], costs: tuple[float, float] | None = None) -> list[dict]:
    out = []
    for i in range(n):
        res = {"cheap": {"quality": weak[i % len(weak)]}, "dear": {"quality": strong[i % len(strong)]}}
        if costs:
            res["cheap"]["cost_usd"], res["dear"]["cost_usd"] = costs
        out.append({"id": str(i), "prompt": f"question {i} about topic {i % 7}", "task": f"t{i % 3}",
                    "results": res})
    return out


def test_a_cheaper_model_that_is_also_better_is_said_first_and_gets_no_apgr(tmp_path: Path) -> None:
    f = _write(tmp_path / "dominated.jsonl", _pairs(60, [1, 1, 0, 1], [0, 1, 0, 1], costs=(0.001, 0.01)))
    out = run("eval", "--outcomes", str(f), "--no-latency", "--seeds", "1", "--out", str(tmp_path / "r")).stdout
    first = out.strip().splitlines()[0]
    assert "dominates" in first and "cheap" in first and "APGR, CPT and PGR assume" in first
    assert "| random |" not in out and "oracle" not in out
    assert not (tmp_path / "r").exists()


def test_a_dearer_model_that_is_no_better_is_said_first(tmp_path: Path) -> None:
    f = _write(tmp_path / "no-gain.jsonl", _pairs(60, [1, 0, 1], [0, 1, 0]))
    out = run("eval", "--outcomes", str(f), "--no-latency", "--seeds", "1", "--out", str(tmp_path / "r")).stdout
    assert "buys nothing" in out.splitlines()[0] and "APGR" not in out.split("\n", 1)[1]


def test_identical_and_misordered_pairs() -> None:
    from smallfirst.evaluate.pairs import check_pair

    same = check_pair(from_records(_pairs(20, [1, 0], [1, 0])))
    assert same.problem == "identical"
    # listed first but dearer and better: the pair is routable, the other way round
    wrong_order = check_pair(from_records(_pairs(20, [1, 1, 1], [0, 0, 1], costs=(0.01, 0.001))))
    assert wrong_order.problem == "misordered" and "list dear first" in wrong_order.message
    # listed last, yet cheaper and better: nothing to route
    assert check_pair(from_records(_pairs(20, [0, 0, 1], [1, 1, 1], costs=(0.01, 0.001)))).problem == "dominated"
    assert check_pair(from_records(_pairs(20, [0, 1], [1, 1], costs=(0.001, 0.01)))).ok


@pytest.mark.parametrize("weak,strong,words", [
    ([0, 1], [3, 7, 10], "dear on a graded scale"),                # numeric 0/1 beside 1-10
    ([0.2, 0.9], [3, 7, 10], "stays within 0..1"),                 # a 0..1 scale beside 1-10
])
def test_any_mix_of_quality_scales_is_refused(weak: list[float], strong: list[float], words: str) -> None:
    with pytest.raises(DataError, match="mixes") as err:
        from_records(_pairs(12, weak, strong))
    assert words in str(err.value) and "one scale" in str(err.value)


def test_a_prompt_scored_on_two_scales_is_refused() -> None:
    rows = _pairs(4, [2, 3], [5, 6])
    rows[1]["results"]["cheap"]["quality"] = 0.5
    with pytest.raises(DataError, match="within prompt 2"):
        from_records(rows)
    rows[1]["results"]["cheap"]["quality"] = True  # JSON true/false beside numbers: refused as before
    with pytest.raises(DataError, match="mixes binary and graded"):
        from_records(rows)


def test_graded_scores_on_one_scale_still_load() -> None:
    o = from_records(_pairs(12, [2, 5, 9], [4, 8, 10]))
    assert o.graded and o.quality.max() == 10


def test_eval_shows_the_spread_over_fold_seeds_and_picks_a_router(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(240):
        hard = i % 4 == 0
        rows.append({"id": str(i), "prompt": ("hard " if hard else "easy ") + f"question {i}", "task": "t",
                     "results": {"cheap": {"quality": int(not hard and rng.random() < 0.9)},
                                 "dear": {"quality": int(rng.random() < 0.9)}}})
    f = _write(tmp_path / "o.jsonl", rows)
    out = run("eval", "--outcomes", str(f), "--no-latency", "--seeds", "3", "-r", "rand=random",
              "-r", "lr=logistic:features=tfidf,C=1,tasks=no", "--out", str(tmp_path / "r")).stdout
    assert "± is the standard deviation over 3 fold seeds" in out
    lr = next(line for line in out.splitlines() if line.startswith("| lr |"))
    assert " ± " in lr
    assert "picked: lr" in out
    csv = (tmp_path / "r" / "o.csv").read_text().splitlines()
    assert csv[0].endswith("apgr_sd,cpt50_sd") and csv[2].split(",")[-2] != ""

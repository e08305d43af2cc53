"""`smallfirst collect` on the real SmolLM2, and the log-probability cascade evaluated and calibrated on what
it records."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from smallfirst.datasets import bundled
from smallfirst.errors import DataError
from smallfirst.outcomes import from_records, load
from smallfirst.routing.calibrate import Budget, QualityFraction, StrongShare, calibrate
from smallfirst.routing.cascade import escalation_scores, threshold_for
from smallfirst.routing.policy_store import load_policy
from tests.conftest import DATA, TEST_MODEL
from tests.test_cli import run


def test_collect_records_confidence_and_resumes_from_its_journal(smollm2_path, tmp_path: Path) -> None:
    out = tmp_path / "ladder.jsonl"
    args = ("collect", "--tasks", "mmlu:3", "--models", TEST_MODEL, "--out", str(out), "--data-dir", str(DATA))
    run(*args)
    first = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(first) == 3
    for rec in first:
        res = rec["results"][TEST_MODEL]
        assert res["quality"] in (0, 1) and res["prompt_tokens"] > 0
        assert res["confidence"] <= 0  # a mean log-probability
    assert not (tmp_path / "ladder.jsonl.journal.jsonl").exists()

    # An interrupted run left one finished pair in the journal: the rerun keeps it instead of asking again.
    done = dict(first[0]["results"][TEST_MODEL], id=first[0]["id"], model=TEST_MODEL, answer="Z", quality=1,
                confidence=-9.5, text="Z")
    (tmp_path / "ladder.jsonl.journal.jsonl").write_text(json.dumps(done) + "\n{\"id\": \"cut sho")
    run(*args)
    again = {r["id"]: r["results"][TEST_MODEL] for r in map(json.loads, out.read_text().splitlines())}
    assert again[first[0]["id"]]["answer"] == "Z" and again[first[0]["id"]]["confidence"] == -9.5
    for rec in first[1:]:
        assert again[rec["id"]]["confidence"] == pytest.approx(rec["results"][TEST_MODEL]["confidence"])


def _cascade_outcomes(conf: list[float | None], weak: list[int], strong: list[int]):
    return from_records([
        {"id": f"p{i}", "prompt": f"q{i}", "results": {
            "small": {"quality": w, "confidence": c, "cost_usd": 1.0},
            "large": {"quality": s, "cost_usd": 10.0}}}
        for i, (c, w, s) in enumerate(zip(conf, weak, strong, strict=True))])


def test_cascade_calibration_counts_the_wasted_small_attempt_and_maps_back_exactly() -> None:
    # Four prompts, least confident first. Escalating the least confident one already matches the large
    # model (0.75); escalating two answers all four right.
    o = _cascade_outcomes([-2.0, -1.0, -0.5, -0.1], weak=[0, 0, 1, 1], strong=[1, 1, 1, 0])
    assert calibrate(escalation_scores(o), o, QualityFraction(1.0), cascade=True).share == 0.25
    cal = calibrate(escalation_scores(o), o, StrongShare(0.5), cascade=True)
    assert cal.share == 0.5 and cal.quality == 1.0
    # Two escalations pay 1 + 10 each, two small answers 1 each: 24 over 4 prompts, i.e. 6,000 per 1,000.
    cal_budget = calibrate(escalation_scores(o), o, Budget(6000), cascade=True)
    assert cal_budget.share == 0.5 and cal_budget.usd_per_1000 == pytest.approx(6000)
    # Routing without the small attempt would fit the same two calls into 5,500.
    assert calibrate(escalation_scores(o), o, Budget(6000)).usd_per_1000 == pytest.approx(5500)
    keep = threshold_for(cal.threshold)
    conf = o.confidence[:, 0]
    assert list(conf >= keep) == [False, False, True, True]  # the live rule keeps exactly the curve's weak half
    keep_all = threshold_for(calibrate(escalation_scores(o), o, StrongShare(0.0)).threshold)
    assert (conf >= keep_all).all() and math.isfinite(keep_all)  # JSON-safe


def test_cascade_needs_recorded_confidence_with_an_actionable_error() -> None:
    with pytest.raises(DataError, match="record none for 'small'") as err:
        escalation_scores(_cascade_outcomes([None, None], [0, 1], [1, 1]))
    assert "smallfirst collect" in (err.value.hint or "")
    with pytest.raises(DataError, match="1 of 2 prompts lack 'small'.s confidence .first: 'p1'"):
        escalation_scores(_cascade_outcomes([-1.0, None], [0, 1], [1, 1]))
    with pytest.raises(DataError, match="confidence 'sure' is not a number"):
        from_records([{"prompt": "q", "results": {"a": {"quality": 1, "confidence": "sure"}, "b": {"quality": 0}}}])


def test_eval_and_route_fit_serve_the_cascade_from_outcome_data(smollm2_path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    conf = rng.normal(-1.0, 0.5, 200)
    # The small model is right more often when it is surer: a signal worth calibrating on.
    weak = (rng.random(200) < 1 / (1 + np.exp(-3 * (conf + 1)))).astype(int)
    recs = [{"id": f"p{i}", "prompt": f"question {i}", "task": "t",
             "results": {"small": {"quality": int(weak[i]), "confidence": float(conf[i]), "cost_usd": 0.001},
                         "large": {"quality": 1, "cost_usd": 0.01}}} for i in range(200)]
    path = tmp_path / "o.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    out = run("eval", "--outcomes", str(path), "-r", "cascade", "-r", "rand=random", "--no-latency",
              "-o", str(tmp_path / "rep")).stdout
    assert "cascade" in out
    with (tmp_path / "rep" / "o.csv").open() as fh:
        rows = {r["router"]: r for r in csv.DictReader(fh)}
    assert float(rows["cascade"]["apgr"]) > float(rows["rand"]["apgr"]) + 0.1

    policy = tmp_path / "auto.json"
    fit = run("route", "fit", "--router", "cascade", "--outcomes", str(path), "--target", "share=0.4",
              "--models", f"{TEST_MODEL},{TEST_MODEL}", "-o", str(policy)).stdout
    assert "escalated share" in fit
    cascade = load_policy(policy)
    assert cascade.target == "share=0.4" and cascade.signal == "logprob"
    assert np.mean(conf < cascade.threshold) <= 0.4
    assert np.mean(conf < cascade.threshold) > 0.35
    # The fitted cascade is what `auto` serves, and its decision is in the request log.
    monkeypatch.setenv("SMALLFIRST_ROUTING__POLICY", str(policy))
    answer = json.loads(run("ask", "Say yes.", "--model", "auto", "--max-tokens", "4", "--json").stdout)
    assert answer["model"] == TEST_MODEL and answer["route"]["policy"] == "auto"
    route = answer["route"]
    assert route["threshold"] == cascade.threshold and route["reason"].startswith("cascade: logprob")
    assert "cascade: logprob" in run("log", "--limit", "1").stdout

    bad = run("route", "fit", "--router", "cascade:samples=3", "--outcomes", str(path), check=False)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr and "signal=logprob" in bad.stderr + bad.stdout


def test_outcome_files_round_trip_confidence(tmp_path: Path) -> None:
    o = _cascade_outcomes([-0.3, -1.5], [1, 0], [1, 1])
    from smallfirst.outcomes import save

    back = load(save(o, tmp_path / "o.jsonl"))
    assert back.confidence is not None and list(back.confidence[:, 0]) == [-0.3, -1.5]
    assert np.isnan(back.confidence[:, 1]).all()
    table = tmp_path / "o.csv"
    table.write_text("prompt,small,small:confidence,large\nq0,1,-0.3,1\nq1,0,-1.5,1\n")
    assert list(load(table).confidence[:, 0]) == [-0.3, -1.5]


def test_the_shipped_cascade_pair_has_a_confidence_for_every_small_answer() -> None:
    from smallfirst.evaluate.crossfit import summarise

    o = load(bundled("outcomes/cascade-pair.jsonl"))
    assert o.models == ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b") and len(o) == 140
    scores = escalation_scores(o)
    assert (scores >= 0).all()  # negated mean log-probabilities
    routed, cascaded = summarise("r", scores, o), summarise("c", scores, o, cascade=True)
    assert routed.apgr == cascaded.apgr  # the same escalations...
    assert (cascaded.curve.cost[1:] > routed.curve.cost[1:]).all()  # ...each paying for the small attempt too

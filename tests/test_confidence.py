"""Confidence signals read off an answer, their AUROC, and routing to a quality target as cheaply as possible."""

from __future__ import annotations

import math

import numpy as np
import pytest

from smallfirst.models.completion import Alternative, Completion, Message, TokenLogprob, Usage
from smallfirst.routing.confidence import agreement, p_true, self_check_messages, token_signal


def _completion(steps: list[list[tuple[str, float]]], text: str = "B") -> Completion:
    lps = tuple(TokenLogprob(alts[0][0], alts[0][1], top=tuple(Alternative(t, lp) for t, lp in alts)) for alts in steps)
    return Completion(model="m", text=text, finish_reason="stop", usage=Usage(3, len(steps)), wall_seconds=0.1,
                      ttft_seconds=0.1, logprobs=lps)


def test_token_signals_read_the_log_probabilities_and_their_alternatives() -> None:
    c = _completion([[("B", math.log(0.9)), ("C", math.log(0.05))], [(".", math.log(0.5)), ("!", math.log(0.5))]])
    assert token_signal(c, "logprob") == pytest.approx((math.log(0.9) + math.log(0.5)) / 2)
    assert token_signal(c, "min-logprob") == pytest.approx(math.log(0.5))
    assert token_signal(c, "margin") == pytest.approx((math.log(0.9) - math.log(0.05) + 0.0) / 2)
    # a sure step has (negated) entropy near 0, a coin toss -log 2
    sure = -(0.9 / 0.95 * math.log(0.9 / 0.95) + 0.05 / 0.95 * math.log(0.05 / 0.95))
    assert token_signal(c, "entropy") == pytest.approx((-sure - math.log(2)) / 2)
    bare = Completion(model="m", text="x", finish_reason="stop", usage=Usage(1, 1), wall_seconds=0, ttft_seconds=0)
    assert token_signal(bare, "margin") is None and token_signal(bare, "logprob") is None
    with pytest.raises(ValueError, match="unknown token signal"):
        token_signal(c, "vibes")


def test_p_true_and_agreement() -> None:
    check = _completion([[("Yes", math.log(0.6)), (" No", math.log(0.2)), ("yes", math.log(0.1))]], "Yes")
    assert p_true(check) == pytest.approx(0.7 / 0.9)
    assert p_true(_completion([[("Maybe", -0.1)]])) is None
    msgs = self_check_messages([Message(role="system", content="Label it."), Message(role="user", content="hi")],
                               "greeting")
    assert "System: Label it." in msgs[0]["content"] and "Proposed answer:\ngreeting" in msgs[0]["content"]
    assert agreement("The answer is B", ["the answer is  b", "C"]) == 0.5


def test_auroc_matches_scikit_learn_and_reports_its_standard_error() -> None:
    from sklearn.metrics import roc_auc_score

    from smallfirst.evaluate.separation import auroc, markdown, separation_table

    rng = np.random.default_rng(0)
    y = rng.random(300) < 0.4
    s = np.round(y * 0.5 + rng.normal(size=300), 1)  # ties included
    assert auroc(s, y) == pytest.approx(roc_auc_score(y, s))
    assert math.isnan(auroc([0.1, 0.2], [True, True]))
    rows = separation_table({"good": list(s), "noise": list(rng.normal(size=300))}, list(y),
                            ["a" if i % 2 else "b" for i in range(300)])
    good = next(r for r in rows if r.signal == "good" and r.task == "all")
    noise = next(r for r in rows if r.signal == "noise" and r.task == "all")
    assert good.beats_random and not noise.beats_random and 0 < good.se < 0.05
    assert "| good |" in markdown(rows) and "**" in markdown(rows)


def test_per_dollar_routing_sends_the_cheapest_gains_to_the_large_model_first() -> None:
    from smallfirst.outcomes import from_records
    from smallfirst.routing.factories import make_router

    # every prompt gains the same from the large model, but long ones cost ten times as much to send to it
    rows = [{"id": str(i), "prompt": ("x " * (400 if i % 2 else 10)) + str(i), "task": "t",
             "results": {"s": {"quality": 0, "cost_usd": 0.0001}, "l": {"quality": 1 if i % 3 else 0,
                                                                        "cost_usd": 0.01 if i % 2 else 0.001}}}
            for i in range(60)]
    o = from_records(rows, models=["s", "l"])
    router = make_router("per-dollar", base="rules", base_params={}).fit(o)
    scores = router.score_batch(list(o.prompts), list(o.tasks))
    short, long = scores[0::2], scores[1::2]
    assert short.min() > long.max()
    est = router.expected_costs(["x " * 10, "x " * 400], ["t", "t"])
    assert est[0, 1] < est[1, 1] and est[0, 0] == pytest.approx(0.0001, abs=1e-6)


def test_calibration_with_confidence_keeps_a_margin_that_shrinks_with_data() -> None:
    from smallfirst.outcomes import from_records
    from smallfirst.routing.calibrate import QualityFraction, calibrate

    rng = np.random.default_rng(1)

    def outcomes(n: int):  # noqa: ANN202
        gain = rng.random(n)
        rows = [{"id": str(i), "prompt": str(i), "task": "t",
                 "results": {"s": {"quality": int(rng.random() > gain[i])}, "l": {"quality": 1}}}
                for i in range(n)]
        return gain, from_records(rows, models=["s", "l"])

    gain, o = outcomes(300)
    point = calibrate(gain, o, QualityFraction(0.9))
    sure = calibrate(gain, o, QualityFraction(0.9, confidence=0.95))
    assert sure.share > point.share and sure.quality >= point.quality
    gain, big = outcomes(5000)
    margin_small = sure.share - point.share
    margin_big = calibrate(gain, big, QualityFraction(0.9, 0.95)).share - calibrate(gain, big,
                                                                                   QualityFraction(0.9)).share
    assert 0 <= margin_big < margin_small


def test_a_local_model_reports_the_alternatives_of_each_token(smollm2) -> None:
    c = smollm2.complete([Message(role="user", content="Say yes.")], max_tokens=4, temperature=0.0, logprobs=True,
                         top_logprobs=5)
    assert c.logprobs and all(len(t.top) == 5 for t in c.logprobs)
    for t in c.logprobs:
        lps = [a.logprob for a in t.top]
        assert lps == sorted(lps, reverse=True) and t.logprob == pytest.approx(lps[0], abs=1e-5)  # greedy
    assert token_signal(c, "margin") is not None and token_signal(c, "entropy") <= 0

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smallfirst import tradeoff as T

WEAK = np.array([0, 0, 1, 1.0])
STRONG = np.array([1, 1, 1, 0.0])


def test_curve_points_follow_falling_scores():
    c = T.curve(np.array([4, 3, 2, 1.0]), WEAK, STRONG)
    assert c.share.tolist() == [0, 0.25, 0.5, 0.75, 1.0]
    assert c.quality.tolist() == [0.5, 0.75, 1.0, 1.0, 0.75]
    assert c.threshold[0] == np.inf and c.threshold[1:].tolist() == [4, 3, 2, 1]


def test_apgr_and_cpt_hand_computed():
    c = T.curve(np.array([4, 3, 2, 1.0]), WEAK, STRONG)
    # trapezoid area 0.84375; (0.84375 - 0.5) / (0.75 - 0.5)
    assert T.apgr(c) == pytest.approx(1.375)
    # 50% of the gap is quality 0.625, halfway along the first segment
    assert T.cpt(c, 50) == pytest.approx(0.125)
    assert T.cpt(c, 100) == pytest.approx(0.25)


def test_pgr_is_share_of_gap():
    assert T.pgr(0.6, 0.5, 0.75) == pytest.approx(0.4)
    with pytest.raises(ValueError):
        T.pgr(0.5, 0.5, 0.5)


def test_ties_draw_the_expected_straight_line():
    c = T.curve(np.zeros(4), WEAK, STRONG)
    assert c.share.tolist() == [0, 1]
    assert T.apgr(c) == pytest.approx(0.5)
    assert T.cpt(c, 50) == pytest.approx(0.5)


def test_oracle_never_gives_back_quality():
    o = T.oracle_curve(WEAK, STRONG)
    assert o.quality[-1] == pytest.approx(1.0)
    assert np.all(np.diff(o.quality) >= 0)
    # rises to 1.0 at share 0.5, then flat: area 0.875 -> (0.875 - 0.5) / 0.25
    assert T.apgr(o) == pytest.approx(1.5)


def test_oracle_label_router_spends_every_call():
    o = T.oracle_label_curve(WEAK, STRONG)
    # points (0, 0.5), (0.5, 1.0), (1, 0.75): area 0.375 + 0.4375 = 0.8125 -> (0.8125 - 0.5) / 0.25
    assert o.share.tolist() == [0, 0.5, 1.0]
    assert T.apgr(o) == pytest.approx(1.25)
    assert T.apgr(o) < T.apgr(T.oracle_curve(WEAK, STRONG))


def test_aiq_hand_computed():
    assert T.aiq(np.array([0, 1, 2.0]), np.array([0.5, 0.7, 0.8])) == pytest.approx(0.675)
    # a dearer but worse point is lifted to the best quality reached before it
    assert T.aiq(np.array([0, 1, 2.0]), np.array([0.5, 0.9, 0.8])) == pytest.approx(0.8)
    # a point under the chord is dominated by mixing its neighbours
    xs, ys = T.upper_hull(np.array([0, 1, 2.0]), np.array([0.5, 0.55, 0.8]))
    assert xs.tolist() == [0, 2]


def test_cost_reduction_at_95_percent_uses_share_without_costs():
    c = T.curve(np.array([4, 3, 2, 1.0]), WEAK, STRONG)
    # 0.95 * 0.75 = 0.7125 is first reached at share 0.25
    assert T.cost_reduction_at(c, 0.95) == pytest.approx(0.75)


def test_random_scores_measure_half_on_real_outcomes():
    rng = np.random.default_rng(0)
    weak = (rng.random(5000) < 0.68).astype(float)
    strong = np.maximum(weak, (rng.random(5000) < 0.5).astype(float))
    vals = [T.apgr(T.curve(rng.random(5000), weak, strong)) for _ in range(20)]
    assert np.mean(vals) == pytest.approx(0.5, abs=0.02)
    assert T.apgr_deciles(rng.random(5000), weak, strong) == pytest.approx(0.5, abs=0.06)


outcome = st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1), st.floats(-5, 5)), min_size=2, max_size=40)


@settings(max_examples=60, deadline=None)
@given(outcome)
def test_reversed_scores_mirror_apgr(rows):
    w, s, sc = (np.array(x, float) for x in zip(*rows, strict=True))
    if w.mean() == s.mean():
        return
    fwd, rev = T.apgr(T.curve(sc, w, s)), T.apgr(T.curve(-sc, w, s))
    assert fwd + rev == pytest.approx(1.0)


@settings(max_examples=60, deadline=None)
@given(outcome)
def test_curve_runs_from_weak_to_strong_under_the_oracle(rows):
    w, s, sc = (np.array(x, float) for x in zip(*rows, strict=True))
    c = T.curve(sc, w, s)
    assert c.quality[0] == pytest.approx(w.mean()) and c.quality[-1] == pytest.approx(s.mean())
    o = T.oracle_curve(w, s)
    assert np.all(np.interp(c.share, o.share, o.quality) >= c.quality - 1e-9)

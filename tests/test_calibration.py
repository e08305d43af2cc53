import numpy as np
import pytest

from smallfirst import tradeoff
from smallfirst.errors import DataError, TargetUnreachableError
from smallfirst.evaluate.loaders import load_routellm_gsm8k
from smallfirst.outcomes import Outcomes
from smallfirst.routing.calibrate import Budget, MaxProfit, QualityFraction, StrongShare, calibrate, parse_target
from tests.conftest import DATA


def toy() -> tuple[np.ndarray, Outcomes]:
    q = np.array([[0, 1], [0, 1], [1, 1], [1, 0.0]])
    o = Outcomes(ids=("a", "b", "c", "d"), prompts=("p",) * 4, tasks=("",) * 4, models=("w", "s"), quality=q,
                 graded=False)
    return np.array([4, 3, 2, 1.0]), o


def test_strong_share_takes_the_largest_share_within_the_cap():
    s, o = toy()
    cal = calibrate(s, o, StrongShare(0.6))
    assert cal.share == 0.5 and cal.threshold == 3 and cal.quality == 1.0


def test_quality_fraction_takes_the_cheapest_point_reaching_it():
    s, o = toy()
    cal = calibrate(s, o, QualityFraction(1.0))
    assert cal.share == 0.25 and cal.threshold == 4


def test_unreachable_quality_says_what_is_reachable():
    s, o = toy()
    with pytest.raises(TargetUnreachableError, match=r"reachable: up to quality=1\.333"):
        calibrate(s, o, QualityFraction(1.5))


def test_budget_uses_costs_and_says_the_floor_when_unreachable():
    s, o = toy()
    cal = calibrate(s, o, Budget(5.0, costs=(0.001, 0.01)))
    # 1 strong call of 4: (3 * 0.001 + 0.01) / 4 * 1000 = 3.25; 2 strong: 5.5 > 5
    assert cal.share == 0.25 and cal.usd_per_1000 == pytest.approx(3.25)
    with pytest.raises(TargetUnreachableError, match="reachable: budget=1"):
        calibrate(s, o, Budget(0.5, costs=(0.001, 0.01)))
    with pytest.raises(DataError, match="needs costs"):
        calibrate(s, o, Budget(5.0))


def test_max_profit_reads_the_utility_seam():
    s, o = toy()

    def utility(out: Outcomes) -> np.ndarray:
        return out.quality * 10 - np.array([0.0, 4.0])  # benefit 10 per correct answer, strong call costs 4

    cal = calibrate(s, o, MaxProfit(utility))
    assert cal.share == 0.5 and cal.value == pytest.approx((10 + 10 + 6 + 6) / 4 / 1)


def test_parse_target_reads_three_forms_and_names_them_on_error():
    assert parse_target("share=0.3") == StrongShare(0.3)
    assert parse_target("quality=0.95") == QualityFraction(0.95)
    assert parse_target("budget=2", (0.1, 1.0)) == Budget(2.0, (0.1, 1.0))
    with pytest.raises(DataError, match="share=0.3"):
        parse_target("speed=fast")


@pytest.mark.skipif(not (DATA / "routellm").is_dir(), reason="shared data not present")
def test_calibration_and_evaluation_read_one_curve():
    o = load_routellm_gsm8k()
    s = np.random.default_rng(0).random(len(o))
    cal = calibrate(s, o, StrongShare(0.3))
    c = tradeoff.curve(s, o.quality[:, 0], o.quality[:, 1])
    k = int(np.flatnonzero(c.threshold == cal.threshold)[0])
    assert (c.share[k], c.quality[k]) == (cal.share, cal.quality)
    assert tradeoff.share_for_threshold(s, cal.threshold) == pytest.approx(cal.share)

"""Is this pair of models worth routing between? Said before any routing metric, because the metrics assume it.

APGR, CPT and PGR measure how much of the gap between a cheap "weak" model (listed first) and a dear "strong" one
(listed last) a router recovers. They mean nothing, or the opposite of what they seem, when:

* ``identical``: both models score the same on every prompt (no router can change the quality);
* ``no-gain``: the strong model is no better on average (the scale inverts: an oracle below 0, every CPT 0%);
* ``dominated``: the cheaper model, by the recorded costs, is at least as good (route everything to it);
* ``misordered``: the recorded costs show the model listed first is the dearer one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smallfirst.outcomes import Outcomes

__all__ = ["PairCheck", "check_pair"]


@dataclass(frozen=True, slots=True)
class PairCheck:
    """The weak and strong model's mean quality and (when recorded) mean cost per prompt in USD, and ``problem``
    (None, or one of identical, no-gain, dominated, misordered) with ``message`` saying what it means."""

    weak: str
    strong: str
    weak_quality: float
    strong_quality: float
    weak_cost: float | None
    strong_cost: float | None
    problem: str | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        """True when the routing metrics mean what they say."""
        return self.problem is None


def check_pair(outcomes: Outcomes) -> PairCheck:
    """Check the first (weak) and last (strong) model of ``outcomes``. Never raises for a routable pair."""
    weak, strong = outcomes.models[0], outcomes.models[-1]
    qw, qs = outcomes.quality[:, 0], outcomes.quality[:, -1]
    mw, ms = float(qw.mean()), float(qs.mean())
    cw = cs = None
    if outcomes.cost_usd is not None and not np.isnan(outcomes.cost_usd[:, [0, -1]]).all():
        cw = float(np.nanmean(outcomes.cost_usd[:, 0]))
        cs = float(np.nanmean(outcomes.cost_usd[:, -1]))
    base = dict(weak=weak, strong=strong, weak_quality=mw, strong_quality=ms, weak_cost=cw, strong_cost=cs)
    metrics = "APGR, CPT and PGR assume the last model is the better, dearer one, so they are not shown"
    if np.array_equal(qw, qs):
        return PairCheck(**base, problem="identical",
                         message=f"{weak} and {strong} score the same on all {len(qw)} prompts: no router can change "
                                 f"the quality, so route everything to the cheaper one; {metrics}")
    if cw is not None and cs is not None and cw > cs:
        cheap, dear = (strong, weak)
        q_cheap, q_dear = ms, mw
        if q_cheap >= q_dear:
            return PairCheck(**base, problem="dominated",
                             message=f"{cheap} is both cheaper (${cs:.6f} against ${cw:.6f} a prompt) and at least "
                                     f"as good ({q_cheap:.3f} against {q_dear:.3f}) as {dear}: it dominates, so route "
                                     f"everything to it; {metrics}")
        return PairCheck(**base, problem="misordered",
                         message=f"the models are listed cheapest first, but {weak} (first) costs more than {strong} "
                                 f"(${cw:.6f} against ${cs:.6f} a prompt): list {strong} first; {metrics}")
    if ms <= mw and cw is not None and cs is not None:
        return PairCheck(**base, problem="dominated",
                         message=f"{weak} is both cheaper (${cw:.6f} against ${cs:.6f} a prompt) and at least as good "
                                 f"({mw:.3f} against {ms:.3f}) as {strong}: it dominates, so route everything to it; "
                                 f"{metrics}")
    if ms <= mw:
        better = "as good as" if ms == mw else "better than"
        return PairCheck(**base, problem="no-gain",
                         message=f"{weak} (listed first, taken as the cheaper) is {better} {strong} on average "
                                 f"({mw:.3f} against {ms:.3f}): calling {strong} buys nothing here; {metrics}")
    return PairCheck(**base)

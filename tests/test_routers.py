from functools import cache

import numpy as np
import pytest

from smallfirst.errors import ConfigError, NotFittedError
from smallfirst.evaluate.loaders import load_routellm_mmlu
from smallfirst.models.completion import Completion, TokenLogprob, Usage
from smallfirst.routing.cascade import Cascade
from smallfirst.routing.factories import make_router, register_router, router_names
from smallfirst.routing.policy import LadderPolicy, ThresholdPolicy
from smallfirst.routing.policy_store import load_policy, save_policy
from smallfirst.routing.router import Router
from smallfirst.routing.simple import RandomRouter
from tests.conftest import DATA

pytestmark = pytest.mark.skipif(not (DATA / "routellm").is_dir(), reason="shared data not present")

# Task and shape features keep these tests free of the encoder download and distillation.
SPECS = {
    "random": {}, "rules": {"keywords": {r"\bcalculate\b": 0.2}},
    "logistic": {"features": ["task", "shape"], "C": 1.0},
    "gbm": {"features": ["task", "shape"], "max_iter": 5},
    "knn": {"features": ["shape", "task"], "k": 10},
    "mf": {"features": ["task", "shape"], "dim": 8, "epochs": 3},
    "ensemble": {"members": [{"router": "rules"}, {"router": "knn", "features": ["shape"], "k": 10}]},
    # A spec other than a router's own name says which router it configures.
    "logistic-tfidf": {"router": "logistic", "features": ["tfidf", "task", "shape"], "C": 1.0},
    "logistic-cv": {"router": "logistic", "features": ["task", "shape"], "Cs": [0.3, 1.0], "cv": 3},
}


def _make(name):
    params = dict(SPECS[name])
    return make_router(params.pop("router", name), **params)


@cache
def sample():
    o = load_routellm_mmlu()
    rows = np.random.default_rng(0).choice(len(o), 600, replace=False)
    return o.subset(rows)


def test_every_builtin_router_is_registered():
    assert {s.get("router", n) for n, s in SPECS.items()} <= set(router_names())


@pytest.mark.parametrize("name", sorted(SPECS))
def test_router_refuses_to_score_before_fit(name):
    with pytest.raises(NotFittedError):
        _make(name).score("What is 2+2?")


@pytest.mark.parametrize("name", sorted(SPECS))
def test_router_scores_one_and_many_consistently(name):
    o = sample()
    r = _make(name).fit(o.subset(range(500)))
    prompts, tasks = list(o.prompts[500:520]), list(o.tasks[500:520])
    batch = r.score_batch(prompts, tasks)
    assert batch.shape == (20,) and np.isfinite(batch).all()
    if name != "random":
        assert r.score(prompts[3], tasks[3]) == pytest.approx(batch[3])


@pytest.mark.parametrize("name", sorted(SPECS))
def test_policy_save_load_round_trip_gives_same_decisions(name, tmp_path):
    o = sample()
    r = _make(name).fit(o.subset(range(500)))
    pol = ThresholdPolicy(r, 0.1, ("small", "large"), target="share=0.3")
    path = save_policy(pol, tmp_path / "p.json")
    back = load_policy(path)
    assert isinstance(back, ThresholdPolicy) and back.models == ("small", "large") and back.target == "share=0.3"
    for p, t in zip(o.prompts[500:510], o.tasks[500:510], strict=True):
        a, b = pol.decide(p, t), back.decide(p, t)
        if name != "random":
            assert (a.model, a.score) == (b.model, pytest.approx(b.score))
        assert b.threshold == 0.1 and b.policy == "auto"


def test_tfidf_features_match_scikit_learn_and_the_linear_fast_path_matches_the_heads():
    from sklearn.feature_extraction.text import TfidfVectorizer

    from smallfirst.routing.features import TfidfFeatures

    o = sample()
    train, held = list(o.prompts[:400]), list(o.prompts[400:450])
    ref = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True).fit(train).transform(held)
    assert abs(TfidfFeatures().fit(train).transform(held) - ref).max() < 1e-6
    r = _make("logistic-tfidf").fit(o.subset(range(400)))
    x = r.featurise(held, list(o.tasks[400:450]))
    direct = np.stack([h.predict_proba(x)[:, 1] for h in r._heads], axis=1)
    assert np.allclose(r.predict_quality(held, list(o.tasks[400:450])), direct, atol=1e-5)


def test_every_block_s_linear_term_matches_the_heads_on_the_full_matrix():
    o = sample()
    r = make_router("logistic", features=["tfidf", "static", "task", "static-by-task", "options", "shape"],
                    C=1.0).fit(o.subset(range(400)))
    held, tasks = list(o.prompts[400:450]), list(o.tasks[400:450])
    tasks[0] = "a task never seen in training"  # its crossed block is empty
    x = r.featurise(held, tasks)
    direct = np.stack([h.predict_proba(x)[:, 1] for h in r._heads], axis=1)
    assert np.allclose(r.predict_quality(held, tasks), direct, atol=1e-5)
    one = r.predict_quality(held[:1], tasks[:1])  # batch size 1 takes the same path
    assert np.allclose(one, direct[:1], atol=1e-5)


def test_logistic_heads_pick_their_own_C_from_the_candidates_by_inner_cv():
    o = sample()
    r = make_router("logistic", features=["task", "shape"], Cs=[0.01, 0.3, 100.0], cv=3).fit(o.subset(range(500)))
    picked = [float(np.ravel(h.C_)[0]) for h in r._heads]
    assert len(picked) == len(o.models) and set(picked) <= {0.01, 0.3, 100.0}
    q = r.predict_quality(list(o.prompts[500:510]), list(o.tasks[500:510]))
    assert q.shape == (10, len(o.models)) and ((q > 0) & (q < 1)).all()
    assert r.get_params()["Cs"] == [0.01, 0.3, 100.0]
    for bad in ({"Cs": []}, {"Cs": [0.0, 1.0]}, {"Cs": [1.0], "cv": 1}, {"Cs": [1.0], "head": "gbm"}):
        with pytest.raises(ConfigError):
            make_router("learned", features=["task"], **bad)


def test_unknown_router_names_the_known_ones():
    with pytest.raises(ConfigError, match="known: .*logistic"):
        make_router("nope")


def test_a_new_router_is_one_registration():
    class Const(Router):
        name = "const"

        def _fit(self, outcomes):
            pass

        def _score_batch(self, prompts, tasks):
            return np.ones(len(prompts))

    register_router("const", Const)
    assert make_router("const").fit(sample()).score("x") == 1.0


def test_random_router_measures_half_apgr():
    from smallfirst import tradeoff

    o = load_routellm_mmlu()
    s = RandomRouter(seed=1).fit(o).score_batch(list(o.prompts))
    assert tradeoff.apgr(tradeoff.curve(s, o.quality[:, 0], o.quality[:, 1])) == pytest.approx(0.5, abs=0.03)


def test_ladder_picks_by_utility_and_needs_quality_estimates():
    o = sample()
    r = make_router("logistic", features=["task"]).fit(o)
    cheap = LadderPolicy(r, ("a", "b"), (0.0, 1.0), cost_weight=10.0)
    assert cheap.decide(o.prompts[0], o.tasks[0]).model == "a"
    free = LadderPolicy(r, ("a", "b"), (0.0, 1.0), cost_weight=0.0)
    assert free.decide(o.prompts[0], o.tasks[0]).model in ("a", "b")
    with pytest.raises(ConfigError):
        LadderPolicy(make_router("rules").fit(o), ("a", "b"), (0.0, 1.0))


def _completion(model, text, lp):
    return Completion(model=model, text=text, finish_reason="stop", usage=Usage(5, 2), wall_seconds=0.1,
                      ttft_seconds=0.05, logprobs=tuple(TokenLogprob("t", v) for v in lp))


def _judge(cascade, first, samples=()):
    """The cascade's verdict on ``first``; ``samples`` are what a resample returns, in order."""
    drawn = list(samples)
    seeds = []

    async def resample(seed):
        seeds.append(seed)
        return drawn.pop(0)

    import asyncio

    return asyncio.run(cascade.judge(first, "2+2?", None, resample)), seeds


def test_cascade_keeps_confident_small_answer():
    verdict, seeds = _judge(Cascade("s", "l", threshold=-0.5), _completion("s", "4", [-0.1, -0.2]))
    assert verdict.accept and verdict.score == pytest.approx(-0.15) and verdict.extra == () and seeds == []


def test_cascade_escalates_below_its_threshold():
    verdict, _ = _judge(Cascade("s", "l", threshold=-0.5), _completion("s", "5", [-2.0, -3.0]))
    assert not verdict.accept and verdict.escalate_to == "l" and verdict.score == pytest.approx(-2.5)
    assert "escalated to l" in verdict.reason


def test_cascade_without_its_signal_escalates_and_says_why():
    verdict, _ = _judge(Cascade("s", "l", threshold=-0.5), _completion("s", "4", []))
    assert not verdict.accept and verdict.score is None and "no logprob signal" in verdict.reason


def test_cascade_consistency_signal_counts_agreeing_samples_and_pays_for_them(tmp_path):
    c = Cascade("s", "l", threshold=0.5, signal="consistency", samples=2)
    verdict, seeds = _judge(c, _completion("s", "4", []), [_completion("s", " 4 ", []), _completion("s", "5", [])])
    assert verdict.accept and verdict.score == 0.5 and seeds == [1, 2]
    assert [x.text for x in verdict.extra] == [" 4 ", "5"], "the samples are priced with the request"
    verdict, _ = _judge(c, _completion("s", "4", []), [_completion("s", "3", []), _completion("s", "5", [])])
    assert not verdict.accept and verdict.score == 0.0 and len(verdict.extra) == 2
    back = load_policy(save_policy(c, tmp_path / "c.json"))
    assert isinstance(back, Cascade) and back.signal == "consistency"


def test_option_features_read_multiple_choice_prompts_and_flag_the_rest():
    from smallfirst.routing.features import OptionFeatures

    mc = "Which gas do plants take in?\nA. Oxygen\nB. Carbon dioxide\nC. Nitrogen\nD. Helium\nAnswer:"
    stem, options = OptionFeatures.split(mc)  # type: ignore[misc]
    assert stem == "Which gas do plants take in?" and options == ["Oxygen", "Carbon dioxide", "Nitrogen", "Helium"]
    assert OptionFeatures.split("What is 2+2?") is None
    assert OptionFeatures.split("x\nB. b\nA. a\nC. c\nD. d") is None  # options out of order: not a question
    o = sample()
    f = OptionFeatures().fit(list(o.prompts[:300]))
    x = f.transform([*o.prompts[300:310], "What is 2+2?"])
    assert x.shape == (11, 13) and np.isfinite(x).all()
    assert (x[:10, -1] == 1).all() and x[10, -1] == 0 and not x[10, :-1].any()
    assert abs(x[:10, :-1].mean()) < 1.5  # standardised on the training prompts


def test_task_crossed_features_put_the_embedding_in_its_tasks_block():
    from smallfirst.routing.features import TaskCrossedFeatures, shared_cache

    prompts = ["What is an atom?", "Who wrote Hamlet?", "Define tort."]
    f = TaskCrossedFeatures().fit(prompts, ["physics", "literature", "law"])
    x = f.transform(prompts, ["law", "physics", "unseen"]).toarray()
    emb = shared_cache("static").encode(prompts)
    dim = emb.shape[1]
    assert x.shape == (3, 3 * dim)
    # blocks in sorted task order: law, literature, physics
    assert np.allclose(x[0, :dim], emb[0]) and not x[0, dim:].any()
    assert np.allclose(x[1, 2 * dim:], emb[1]) and not x[1, :2 * dim].any()
    assert not x[2].any()  # a task the router never saw adds nothing


def test_crossed_and_option_router_fits_scores_and_round_trips(tmp_path):
    o = sample()
    features = ["static", "task", "static-by-task", "options"]
    r = make_router("logistic", features=features, C=0.3).fit(o.subset(range(500)))
    prompts, tasks = list(o.prompts[500:520]), list(o.tasks[500:520])
    batch = r.score_batch(prompts, tasks)
    assert batch.shape == (20,) and np.isfinite(batch).all() and batch.std() > 0
    assert r.score(prompts[3], tasks[3]) == pytest.approx(batch[3])
    back = load_policy(save_policy(ThresholdPolicy(r, 0.1, ("small", "large")), tmp_path / "p.json"))
    assert back.decide(prompts[3], tasks[3]).score == pytest.approx(batch[3])

"""The replayed learning curve: the learning gateway on a stream of recorded requests, against always-large and
against the ceiling, with no model compute and no API key.

Two replayed models (``models.replay``) stand for the recorded ones, priced at their list prices (genai-prices):
by default GPT-4-1106 (the large tier) and Mixtral-8x7B (the small tier) from RouteLLM's MMLU and GSM8K outcomes
(``evaluate.routellm.replay_records``). The stream is a seeded shuffle of the records; a seeded share of its
requests carries the gold answer in its ``smallfirst`` object (what a user's application knows for some requests,
e.g. from a later correction). Each request asks for ``auto`` with its task, learning attached; after each one,
:meth:`Learning.drain` waits for the shadow answers, grading and any refit it started, so the run is reproducible
(a live gateway would keep serving the old policy while a refit runs). The library sends through the service, the
path the gateway awaits (:func:`service_sender`); ``benchmarks/learning_curve.py`` sends through the gateway's HTTP
app itself.

Per request it records what the gateway served (cost, quality against gold), learning's cost (the shadow and judge
calls logged for it), what always-large would have served (the large tier's recorded answer and its price) and the
ceiling's choice: the same router family fitted offline on all the records, cross-fitted (each prompt scored by a
router that never saw it), calibrated to the same target on its own cross-fitted scores.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["REPLAY_LEARNING", "CurveRun", "LearningCurve", "ROUTELLM_PAIR", "Reply", "ReplayPair", "ceiling_scores",
           "plot", "replay_settings", "run_curve", "service_sender", "write_records"]


@dataclass(frozen=True, slots=True)
class ReplayPair:
    """The two recorded models a run replays: their names in the outcome file, the serving names, and the price
    (genai-prices model id and provider) each is charged at."""

    small: str
    large: str
    small_serving: str = "small-replay"
    large_serving: str = "large-replay"
    small_price: tuple[str, str | None] = ("", None)
    large_price: tuple[str, str | None] = ("", None)


#: RouteLLM's pair, at the list prices of the economics report (docs/economics-routellm.md)
ROUTELLM_PAIR = ReplayPair(
    small="mistralai/Mixtral-8x7B-Instruct-v0.1", large="gpt-4-1106-preview",
    small_serving="mixtral-8x7b-replay", large_serving="gpt-4-1106-replay",
    small_price=("mistralai/Mixtral-8x7B-Instruct-v0.1", "together"), large_price=("gpt-4-1106-preview", None))


@dataclass(frozen=True)
class CurveRun:
    """One replayed run: ``n`` requests from the outcome ``file``, a ``gold_share`` of them with gold, stream and
    gold drawn with ``seed``; ``learning`` overrides ``[learning]`` settings (target, rates, refit_every...)."""

    file: Path
    n: int = 5000
    gold_share: float = 0.5
    seed: int = 0
    pair: ReplayPair = ROUTELLM_PAIR
    learning: dict[str, Any] = field(default_factory=dict)


@dataclass
class LearningCurve:
    """Per request of the stream (arrays of length n, in stream order): what the gateway spent on the answer
    (``cost``) and on learning (``learning_cost``), USD; its answer's quality against gold; whether the large tier
    answered; always-large's cost and quality; the ceiling's. ``events`` are (request index, text) of promotions and
    rollbacks."""

    run: CurveRun
    target: float
    cost: np.ndarray
    learning_cost: np.ndarray
    quality: np.ndarray
    large: np.ndarray
    large_cost: np.ndarray
    large_quality: np.ndarray
    ceiling_cost: np.ndarray
    ceiling_quality: np.ndarray
    ceiling_large: np.ndarray
    #: the ceiling's cross-fitted score of each request, and the small tier's cost and quality on it
    ceiling_score: np.ndarray
    small_cost: np.ndarray
    small_quality: np.ndarray
    events: list[tuple[int, str]]
    seconds: float
    versions: list[Any] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.cost)

    def spent(self) -> np.ndarray:
        """Per request: the answer plus learning, USD."""
        return self.cost + self.learning_cost

    def window(self, start: int, stop: int) -> dict[str, float]:
        """Requests ``start``..``stop - 1``: saving against always-large (learning included), quality as a share of
        always-large's, large share; the ceiling's saving, quality and large share."""
        sl = slice(start, stop)
        lc = float(self.large_cost[sl].sum())
        lq = float(self.large_quality[sl].sum())
        return {
            "saving": 1.0 - float(self.spent()[sl].sum()) / lc if lc else float("nan"),
            "quality": float(self.quality[sl].sum()) / lq if lq else float("nan"),
            "large_share": float(self.large[sl].mean()),
            "cost": float(self.spent()[sl].sum()), "learning_cost": float(self.learning_cost[sl].sum()),
            "large_cost": lc,
            "ceiling_saving": 1.0 - float(self.ceiling_cost[sl].sum()) / lc if lc else float("nan"),
            "ceiling_quality": float(self.ceiling_quality[sl].sum()) / lq if lq else float("nan"),
            "ceiling_large_share": float(self.ceiling_large[sl].mean()),
        }

    def oracle_saving(self, start: int, stop: int) -> float:
        """What the ceiling's ranking saves on requests ``start``..``stop - 1`` at the target quality with the best
        threshold for exactly those requests: an oracle no deployment has, which bounds what any calibrated policy
        of this router family can do on that window. NaN when unreachable."""
        from smallfirst import tradeoff

        sl = slice(start, stop)
        c = tradeoff.curve(self.ceiling_score[sl], self.small_quality[sl], self.large_quality[sl],
                           weak_cost=self.small_cost[sl], strong_cost=self.large_cost[sl])
        return tradeoff.cost_reduction_at(c, self.target)

    def repaid_at(self) -> int | None:
        """The first request (1-based) from which the cumulative saving against always-large, learning cost included,
        stays positive to the end of the stream; None when it never does."""
        cum = np.cumsum(self.large_cost - self.spent())
        bad = np.flatnonzero(cum <= 0)
        if len(bad) == 0:
            return 1
        last = int(bad[-1])
        return None if last == len(cum) - 1 else last + 2

    def min_window_quality(self, width: int = 500) -> tuple[float, int]:
        """The lowest quality as a share of always-large's over every window of ``width`` consecutive requests
        (sliding by one), and where that window starts (0-based)."""
        width = min(width, len(self))
        q = np.concatenate([[0.0], np.cumsum(self.quality)])
        lq = np.concatenate([[0.0], np.cumsum(self.large_quality)])
        ratio = (q[width:] - q[:-width]) / np.maximum(lq[width:] - lq[:-width], 1e-12)
        k = int(np.argmin(ratio))
        return float(ratio[k]), k

    def headline(self) -> str:
        """The acceptance line: last-1000 saving and quality, when learning was repaid, the worst 500-window."""
        last = self.window(max(0, len(self) - 1000), len(self))
        repaid = self.repaid_at()
        low, _ = self.min_window_quality(500)
        return (f"learning: last-1000 saving {last['saving'] * 100:.1f}% at quality {last['quality'] * 100:.1f}% of "
                f"always-large; learning cost repaid at request {repaid if repaid is not None else 'never'}; "
                f"min window quality {low * 100:.1f}%")

    HEAD = ("requests", "cost (learning incl.)", "of which learning", "always-large cost", "saving",
            "quality vs always-large", "large share", "ceiling saving", "ceiling quality", "ceiling large share")

    def rows(self, checkpoints: Sequence[int] = (500, 1000, 2000, 5000)) -> list[tuple[str, ...]]:
        """Cumulative figures at each checkpoint (and over the last 1,000 requests), in the columns of ``HEAD``."""
        marks = [(f"{n:,}", 0, n) for n in [c for c in checkpoints if c <= len(self)] or [len(self)]]
        marks.append((f"last {min(1000, len(self)):,}", max(0, len(self) - 1000), len(self)))
        out = []
        for label, a, b in marks:
            w = self.window(a, b)
            out.append((label, f"${w['cost']:.4f}", f"${w['learning_cost']:.4f}", f"${w['large_cost']:.4f}",
                        f"{w['saving']:.1%}", f"{w['quality']:.1%}", f"{w['large_share']:.1%}",
                        f"{w['ceiling_saving']:.1%}", f"{w['ceiling_quality']:.1%}", f"{w['ceiling_large_share']:.1%}"))
        return out

    def table(self, checkpoints: Sequence[int] = (500, 1000, 2000, 5000)) -> str:
        """:meth:`rows` as Markdown."""
        lines = ["| " + " | ".join(self.HEAD) + " |", "|" + "---|" * len(self.HEAD)]
        lines += ["| " + " | ".join(r) + " |" for r in self.rows(checkpoints)]
        return "\n".join(lines) + "\n"


#: the learning settings of the replayed runs (benchmarks/learning_curve.py and the demo): learn from every gold
#: request's shadow while the large tier serves (a small-tier answer costs little), wait for 1,500 graded outcomes
#: before the first promotion, then keep a 5% guard sample, and calibrate with 80% confidence. Chosen on streams with
#: seeds 1-3; the benchmark's goal is reported on seed 0.
REPLAY_LEARNING: dict[str, Any] = {"shadow_rate": 1.0, "guard_rate": 0.05, "min_outcomes": 1500, "refit_every": 250,
                                   "confidence": 0.8, "judge": "", "budget_usd_per_day": 1000}


def write_records(records: Sequence[dict], path: Path) -> Path:
    """An outcome file a replayed model answers from (gzip when the name ends in .gz), written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(tmp, "wt", encoding="utf-8") as fh:  # type: ignore[operator]
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path


def _read(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
        return [json.loads(line) for line in fh if line.strip()]


def replay_settings(run: CurveRun, home: Path) -> Any:
    """The run's own settings: its home, request log, the two replayed models, routing and learning. Copied onto the
    loaded settings (hardware, baseline...) rather than passed as overrides, which the environment would beat: a
    replay must never write policies into the user's own home."""
    from smallfirst.config import LearningSettings, ModelSpec, RoutingSettings, load_settings

    p = run.pair

    def spec(stands_for: str, price: tuple[str, str | None]) -> ModelSpec:
        return ModelSpec(backend="replay", path=str(run.file), model=stands_for, pricing="api",
                         price_model=price[0], price_provider=price[1])

    learning = LearningSettings(**{"judge": "", **run.learning, "seed": run.seed, "enabled": True})
    return load_settings().model_copy(update={
        "home": home, "database_url": f"sqlite:///{home / 'requests.db'}", "log_content": False,
        "models": {p.small_serving: spec(p.small, p.small_price), p.large_serving: spec(p.large, p.large_price)},
        "routing": RoutingSettings(small=p.small_serving, large=p.large_serving), "learning": learning})


def ceiling_scores(records: Sequence[dict], costs: np.ndarray, fraction: float, *, per_dollar: bool = True,
                   family: str = "logistic-tfidf+static+task=logistic:features=tfidf+static+task,C=0.3",
                   pair: ReplayPair = ROUTELLM_PAIR) -> tuple[np.ndarray, float]:
    """The ceiling: ``family`` (per dollar when ``per_dollar``) fitted offline on all ``records``, cross-fitted
    (each record scored by a router that never saw it), and the threshold that reaches ``fraction`` of the large
    tier's quality on those scores. ``costs`` is (n, 2) USD for small and large. Returns the scores, shape (n,), and
    the threshold (large iff score >= threshold)."""
    from smallfirst.evaluate.crossfit import cross_fit_scores
    from smallfirst.evaluate.run import RouterSpec, parse_spec
    from smallfirst.outcomes import from_records
    from smallfirst.routing.calibrate import QualityFraction, calibrate

    recs = [{"id": r["id"], "prompt": r["prompt"], "task": r["task"],
             "results": {pair.small: {"quality": r["results"][pair.small]["quality"], "cost_usd": float(costs[i, 0])},
                         pair.large: {"quality": r["results"][pair.large]["quality"], "cost_usd": float(costs[i, 1])}}}
            for i, r in enumerate(records)]
    outcomes = from_records(recs, models=[pair.small, pair.large])
    base = parse_spec(family)
    spec = RouterSpec("ceiling", "per-dollar", {"base": base.router, "base_params": base.params}) if per_dollar \
        else base
    scores = cross_fit_scores(spec.make, outcomes)
    return scores, calibrate(scores, outcomes, QualityFraction(fraction)).threshold


@dataclass(frozen=True, slots=True)
class Reply:
    """What one replayed request got: the log's request id, the model that answered, its text and cost (USD)."""

    request_id: str
    model: str
    text: str
    cost_usd: Decimal


#: sends one request (messages, task, gold or None) to the learning-managed policy and returns the reply
Send = Callable[[list[Any], str, str | None], Awaitable[Reply]]


@asynccontextmanager
async def service_sender(settings: Any) -> AsyncIterator[tuple[Send, Any]]:
    """The service path (what the gateway awaits), learning attached: yields the sender and the Learning object.
    ``benchmarks/learning_curve.py`` sends through the gateway's HTTP app instead."""
    from smallfirst.learning.loop import Learning
    from smallfirst.service import RequestContext, Service

    service = Service(settings)
    service.use_background_log()
    learning = Learning(service).attach()

    async def send(messages: list[Any], task: str, gold: str | None) -> Reply:
        ctx = RequestContext(source="replay", task=task, gold=gold)
        answer = await service.aanswer(messages, settings.learning.policy, ctx=ctx, temperature=0)
        return Reply(answer.request_id, answer.model, answer.completion.text, answer.cost.amount)

    try:
        yield send, learning
    finally:
        await service.aclose_endpoints()


Sender = Callable[[Any], Any]


async def _run(run: CurveRun, home: Path, sender: Sender,
               progress: Callable[[int, int], None] | None) -> LearningCurve:
    from smallfirst.learning.grader import by_gold
    from smallfirst.models.completion import Message
    from smallfirst.models.replay import load_replay
    from smallfirst.store.learning_log import versions
    from smallfirst.store.requests import list_requests

    started = time.perf_counter()
    records = _read(run.file)
    rng = random.Random(run.seed)
    order = list(range(len(records)))
    rng.shuffle(order)
    stream = [records[i] for i in order[: run.n]]
    with_gold = [rng.random() < run.gold_share for _ in stream]
    settings = replay_settings(run, home)
    target = settings.learning.target
    fraction = float(target.partition("=")[2]) if target.startswith("quality=") else 0.95
    p = run.pair
    large_table = load_replay(run.file, p.large)
    small_table = load_replay(run.file, p.small)
    n = len(stream)
    cost, quality, large = np.zeros(n), np.zeros(n), np.zeros(n, bool)
    large_cost, large_quality, small_cost, small_quality = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    rids: list[str] = []
    events: list[tuple[int, str]] = []
    async with sender(settings) as (send, learning):
        service = learning.service
        specs = {m: service.resolve(m) for m in (p.small_serving, p.large_serving)}
        replay = service.pool.backend(p.large_serving)

        def price(name: str, msgs: list[Message], text: str) -> float:
            usage = replay.usage(msgs, text)  # type: ignore[union-attr]
            return float(service.ledger.price_usage(name, specs[name], usage, 0.0).usd)

        serving = learning.serving_id
        for i, rec in enumerate(stream):
            msgs = [Message(role="user", content=rec["prompt"])]
            reply = await send(msgs, rec["task"], rec["gold"] if with_gold[i] else None)
            rids.append(reply.request_id)
            cost[i] = float(reply.cost_usd)
            large[i] = reply.model == p.large_serving
            quality[i] = by_gold(rec["task"], {"a": reply.text}, rec["gold"])["a"]
            large_text, small_text = large_table[rec["prompt"]][0], small_table[rec["prompt"]][0]
            large_quality[i] = by_gold(rec["task"], {"a": large_text}, rec["gold"])["a"]
            small_quality[i] = by_gold(rec["task"], {"a": small_text}, rec["gold"])["a"]
            large_cost[i] = price(p.large_serving, msgs, large_text)
            small_cost[i] = price(p.small_serving, msgs, small_text)
            await learning.drain()
            if learning.serving_id != serving:
                events.append((i + 1, learning.events[-1] if learning.events else f"now v{learning.serving_id}"))
                serving = learning.serving_id
            if progress is not None:
                progress(i + 1, n)
        await asyncio.to_thread(service.flush_log)
        learning_cost = np.zeros(n)
        index = {rid: i for i, rid in enumerate(rids)}
        for source in ("shadow", "judge"):
            for row in list_requests(service.engine, source=source):
                j = index.get((row.tag or "").removeprefix("learn:"))
                if j is not None:
                    learning_cost[j] += float(row.cost_usd)
        hist = versions(service.engine)
        # the ceiling learns from every record of the file, priced as the stream's requests are
        all_costs = np.array([[price(m, [Message(role="user", content=r["prompt"])], table[r["prompt"]][0])
                               for m, table in ((p.small_serving, small_table), (p.large_serving, large_table))]
                              for r in records])
    scores, cut = await asyncio.to_thread(ceiling_scores, records, all_costs, fraction,
                                          per_dollar=settings.learning.per_dollar, pair=p)
    ceiling_score = scores[order[: run.n]]
    ceiling = ceiling_score >= cut
    return LearningCurve(run=run, target=fraction, cost=cost, learning_cost=learning_cost, quality=quality,
                         large=large, large_cost=large_cost, large_quality=large_quality,
                         ceiling_cost=np.where(ceiling, large_cost, small_cost),
                         ceiling_quality=np.where(ceiling, large_quality, small_quality), ceiling_large=ceiling,
                         ceiling_score=ceiling_score, small_cost=small_cost, small_quality=small_quality,
                         events=events, seconds=time.perf_counter() - started, versions=hist)


def run_curve(run: CurveRun, home: Path, progress: Callable[[int, int], None] | None = None,
              sender: Sender = service_sender) -> LearningCurve:
    """Replay ``run`` with a fresh request log and policies in ``home``, through ``sender`` (default: the service
    path; the benchmark passes the gateway's). Synchronous; minutes for 5,000 requests (each refit cross-fits the
    candidate routers)."""
    home.mkdir(parents=True, exist_ok=True)
    return asyncio.run(_run(run, home, sender, progress))


def plot(curve: LearningCurve, path: Path, title: str = "learning from traffic (replayed)") -> Path:
    """Two panels: cumulative cost (learning incl.) against always-large and the ceiling; quality as a share of
    always-large's over a sliding window of 500 requests, with the target. Promotions and rollbacks are marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.arange(1, len(curve) + 1)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    top.plot(x, np.cumsum(curve.large_cost), label="always-large", color="grey", lw=1.2)
    top.plot(x, np.cumsum(curve.spent()), label="learning gateway (learning cost incl.)", color="tab:blue", lw=1.5)
    top.plot(x, np.cumsum(curve.ceiling_cost), label="ceiling (router fitted offline on all data)", color="tab:green",
             lw=1.0, ls="--")
    top.set_ylabel("cumulative cost (USD)")
    top.legend(fontsize=8)
    width = min(500, len(curve))
    kernel = np.ones(width)
    q = np.convolve(curve.quality, kernel, "valid") / np.maximum(np.convolve(curve.large_quality, kernel, "valid"),
                                                                 1e-12)
    c = np.convolve(curve.ceiling_quality, kernel, "valid") / np.maximum(
        np.convolve(curve.large_quality, kernel, "valid"), 1e-12)
    share = np.convolve(curve.large.astype(float), kernel, "valid") / width
    xs = np.arange(width, len(curve) + 1)
    bottom.plot(xs, q * 100, label=f"quality vs always-large ({width}-request window)", color="tab:blue")
    bottom.plot(xs, c * 100, label="ceiling's quality", color="tab:green", ls="--", lw=1.0)
    bottom.plot(xs, share * 100, label="large-tier share", color="tab:orange", lw=1.0)
    bottom.axhline(curve.target * 100, color="red", ls=":", lw=1.0, label=f"target {curve.target:.0%}")
    bottom.set_ylabel("%")
    bottom.set_xlabel("requests")
    bottom.legend(fontsize=8, loc="lower left")
    for i, text in curve.events:
        for ax in (top, bottom):
            ax.axvline(i, color="purple" if "rolled back" in text else "black", lw=0.6, alpha=0.5)
    fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path

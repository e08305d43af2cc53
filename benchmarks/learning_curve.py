"""The learning gateway on 5,000 replayed MMLU+GSM8K requests: cost, quality and large-model share as it learns.

    python benchmarks/learning_curve.py                      # the goal run (docs/learning-curve.md)
    python benchmarks/learning_curve.py --n 1500 --seed 3    # a shorter stream, another shuffle

GPT-4-1106 (large tier) and Mixtral-8x7B (small tier) are replayed from RouteLLM's recorded outcomes at their list
prices, through the gateway's own HTTP app (in-process ASGI), learning attached, target 95% of always-large's
quality. A share of the requests (``--gold-share``) carries the gold answer in its ``smallfirst`` object. Prints the
cumulative table at 500, 1,000, 2,000 and 5,000 requests against always-large and the ceiling (the router fitted
offline on all the data), the promotions and rollbacks, and last the acceptance line.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
_SHARED = ROOT.parent / "shared" / "data"
if _SHARED.is_dir():
    os.environ.setdefault("SMALLFIRST_DATA", str(_SHARED))

from smallfirst.evaluate.routellm import replay_records  # noqa: E402
from smallfirst.learning.curve import REPLAY_LEARNING, CurveRun, Reply, plot, run_curve, write_records  # noqa: E402


@asynccontextmanager
async def gateway_sender(settings: Any) -> AsyncIterator[tuple[Any, Any]]:
    """Send through the gateway's HTTP app: wire format, auth, route and cost headers, learning hook."""
    import httpx

    from smallfirst.server.app import create_app

    app = create_app(settings)
    gw = app.state.gateway
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:

        async def send(messages: list[Any], task: str, gold: str | None) -> Reply:
            body: dict[str, Any] = {"model": settings.learning.policy, "messages": messages, "temperature": 0}
            if gold is not None:
                body["smallfirst"] = {"gold": gold}
            r = await client.post("/v1/chat/completions", json=body, headers={"x-smallfirst-task": task})
            if r.status_code != 200:
                raise RuntimeError(f"the gateway answered {r.status_code}: {r.text[:300]}")
            data = r.json()
            info = data["smallfirst"]
            return Reply(info["request_id"], info["model"], data["choices"][0]["message"]["content"] or "",
                         Decimal(info["cost_usd"]))

        try:
            yield send, gw.learning
        finally:
            await gw.service.aclose_endpoints()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=5000, help="Requests in the stream.")
    ap.add_argument("--seed", type=int, default=0, help="Shuffle, gold and shadow draws.")
    ap.add_argument("--gold-share", type=float, default=0.5, help="Share of requests that carry gold.")
    ap.add_argument("--target", default="quality=0.95")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="Another [learning] setting, e.g. --set refit_every=300 (repeatable).")
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "learning-curve")
    ap.add_argument("--plot", type=Path, default=None, help="Where the PNG goes (default: OUT/learning-curve.png).")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    file = args.out / "routellm-replay.jsonl.gz"
    if not file.exists():
        write_records(replay_records(), file)
    learning: dict[str, Any] = {**REPLAY_LEARNING, "target": args.target}
    for kv in args.set:
        key, _, value = kv.partition("=")
        learning[key] = value
    run = CurveRun(file=file, n=args.n, gold_share=args.gold_share, seed=args.seed, learning=learning)
    step = max(1, args.n // 20)

    def progress(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            print(f"  {done}/{total} requests", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="learning-curve-") as home:
        curve = run_curve(run, Path(home), progress, sender=gateway_sender)
    png = plot(curve, args.plot or args.out / "learning-curve.png",
               f"learning from traffic: {len(curve):,} replayed MMLU+GSM8K requests (seed {args.seed})")
    print(f"{len(curve):,} requests in {curve.seconds:.0f} s; gold on {args.gold_share:.0%}; target {args.target}; "
          f"settings {learning}")
    print(curve.table())
    print("policy versions:")
    for v in curve.versions:
        print(f"  v{v.id} [{v.status}] {v.router} on {v.n_outcomes} outcomes: {v.reason}")
    print("events (request: what happened):")
    for i, text in curve.events:
        print(f"  {i}: {text}")
    n = len(curve)
    low, start = curve.min_window_quality(500)
    print(f"worst 500-request window: requests {start + 1:,}-{start + min(500, n):,}, quality {low:.1%} of "
          f"always-large")
    print(f"the ceiling's ranking with the best threshold for the last {min(1000, n):,} requests themselves (an "
          f"oracle): {curve.oracle_saving(max(0, n - 1000), n):.1%} saved at {curve.target:.0%} quality")
    print(f"plot: {png}")
    print(curve.headline())


if __name__ == "__main__":
    main()

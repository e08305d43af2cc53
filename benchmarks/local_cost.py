"""Local cost from occupancy: the same requests priced at concurrency 1, at concurrency 16 and beside a process
that keeps a core busy, by the ledger (tokens over the model's measured throughput) and by wall time (the
former ledger: hardware cost per second times the request's measured seconds), in one run.

    python benchmarks/local_cost.py --model qwen2.5-coder-0.5b --requests 8 --max-tokens 32
    python benchmarks/local_cost.py --measure smollm2-135m qwen2.5-coder-0.5b qwen2.5-coder-1.5b

``--measure`` measures each model's sustained throughput alone (``costs.throughput.measure_throughput``) and
prints the ``[hardware.throughput]`` lines for a config; ``--clock cpu --threads 1`` measures single-thread CPU
time instead, the one rate a loaded machine still shows. Results and commands: docs/local-cost.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

PROMPTS = [
    "Classify this support ticket into one intent: 'my card has not arrived yet'.",
    "What is 17 + 25? Answer with a number.",
    "Which clause type is this: 'governed by the laws of the State of New York'?",
    "Name three primary colours.",
    "Translate to French: the invoice is overdue.",
    "Summarise: the meeting moved to Thursday because the client asked for more time.",
    "Is 91 a prime number? Answer yes or no.",
    "Give one synonym for 'quick'.",
]


def _load() -> float:
    return os.getloadavg()[0]


def measure(models: list[str], threads: int, quiet_below: float, wait_s: float, clock: str) -> None:
    from smallfirst.config import load_settings
    from smallfirst.costs.throughput import measure_throughput, throughput_toml
    from smallfirst.models import catalog, files
    from smallfirst.models.llama import LlamaModel

    settings = load_settings()
    for name in models:
        deadline = time.monotonic() + wait_s
        while _load() > quiet_below and time.monotonic() < deadline:
            time.sleep(5)
        before = _load()
        model = LlamaModel(name, files.verified_path(catalog.entry(name), settings.cache_dir), n_ctx=2048,
                           n_threads=threads)
        runs = [measure_throughput(model, clock=clock) for _ in range(2)]
        model.close()
        best = max(runs, key=lambda t: t.decode_tokens_per_s)
        print(f"# {name}: {threads} threads, {clock} clock, load average {before:.2f} before, runs "
              + "; ".join(f"{t.prefill_tokens_per_s}/{t.decode_tokens_per_s}" for t in runs))
        print(throughput_toml(name, best))


def _spin() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def price_run(model: str, requests: int, max_tokens: int) -> None:
    from smallfirst.config import load_settings
    from smallfirst.costs.prices import hardware_price
    from smallfirst.service import RequestContext, Service

    home = tempfile.mkdtemp(prefix="sf-local-cost-")
    os.environ["SMALLFIRST_HOME"] = home
    service = Service(load_settings())
    hw = service.settings.hardware
    prompts = PROMPTS[:requests]

    def ask(p: str) -> tuple[str, Decimal, Decimal, float]:
        a = service.answer([{"role": "user", "content": p}], model, ctx=RequestContext(source="bench"),
                           max_tokens=max_tokens, temperature=0.0)
        wall = a.completion.wall_seconds
        return p, a.cost.amount, hardware_price(hw, wall).usd, wall

    ask("warm up")
    rows: dict[str, list] = {}
    start_load = _load()
    rows["concurrency 1"] = [ask(p) for p in prompts]
    with ThreadPoolExecutor(16) as pool:
        crowded = list(pool.map(ask, prompts * (16 // len(prompts) or 1)))
    rows["concurrency 16"] = crowded
    spinners = [_spin()]
    try:
        rows["concurrency 1, a core kept busy"] = [ask(p) for p in prompts]
    finally:
        for s in spinners:
            s.kill()
            s.wait()
    service.close()
    base = rows["concurrency 1"]
    occ0 = sum(x[1] for x in base) / len(base)
    wall0 = sum(x[2] for x in base) / len(base)
    print(f"model {model}, {len(prompts)} prompts, max_tokens {max_tokens}, hardware {hw.name!r}, "
          f"load average {start_load:.2f} at start")
    print("| condition | requests | mean latency s | occupancy price / 1k req | ratio | wall-time price / 1k req "
          "| ratio |")
    print("|---|---|---|---|---|---|---|")
    for cond, rs in rows.items():
        occ = sum(x[1] for x in rs) / len(rs)
        wall = sum(x[2] for x in rs) / len(rs)
        lat = statistics.mean(x[3] for x in rs)
        print(f"| {cond} | {len(rs)} | {lat:.2f} | ${float(occ) * 1000:.5f} | {float(occ / occ0):.3f} | "
              f"${float(wall) * 1000:.5f} | {float(wall / wall0):.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="qwen2.5-coder-0.5b")
    ap.add_argument("--requests", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--measure", nargs="+", metavar="MODEL", help="measure these models' throughput instead")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quiet-below", type=float, default=1.0, help="--measure: wait for this load average")
    ap.add_argument("--wait", type=float, default=600, help="--measure: longest wait for quiet, seconds")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="--measure: wall time (alone) or this process's CPU time (with --threads 1, under load)")
    args = ap.parse_args()
    if args.measure:
        measure(args.measure, args.threads, args.quiet_below, args.wait, args.clock)
    else:
        price_run(args.model, args.requests, args.max_tokens)


if __name__ == "__main__":
    main()

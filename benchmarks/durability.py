"""Acknowledged means durable: kill -9 the gateway under load and count what the request log lost.

Each round starts `smallfirst serve` (SQLite log by default, ``--database-url`` for Postgres) in front of a real
llama_cpp.server (SmolLM2) as an API-priced endpoint tier, creates a key with a budget, sends requests from 16
concurrent clients, and kills the gateway with SIGKILL right after a random answered request. It then starts the
gateway again (which replays the dead process's journal and settles its budget holds) and checks:

- every answered request (its completion id) is a row of the log: answered, logged, lost;
- the key's spend equals the sum of its rows' costs (no hold left unsettled, none settled twice).

    python benchmarks/durability.py --rounds 5 --concurrency 16 [--local] [--database-url postgresql+psycopg://...]

``--local`` sends the requests to the in-process llama.cpp tier instead of the endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import httpx

from _serving import free_port, wait_http
from smallfirst.config import load_settings
from smallfirst.models import catalog, files

MODEL = "smollm2-135m"


def cli(home: Path, database_url: str | None) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, "SMALLFIRST_HOME": str(home)}
    if database_url:
        env["SMALLFIRST_DATABASE_URL"] = database_url
    return [sys.executable, "-m", "smallfirst.cli"], env


def one_round(rnd: int, up_port: int, args: argparse.Namespace) -> tuple[int, int, int, Decimal]:
    """One kill -9 round: (answered, logged of those, lost, |spend - sum of the key's rows| in USD)."""
    from smallfirst.store.db import dispose_all, get_engine
    from smallfirst.store.keys import list_keys
    from smallfirst.store.requests import logged_ids, totals

    home = Path(tempfile.mkdtemp(prefix=f"sf-durability-{rnd}-"))
    (home / "config.toml").write_text(
        f'[models.smol-http]\nbackend = "openai"\nbase_url = "http://127.0.0.1:{up_port}/v1"\n'
        f'model = "{MODEL}"\npricing = "manual"\ninput_usd_per_mtok = 1\noutput_usd_per_mtok = 2\nmax_retries = 0\n'
        f'\n[models.smol-local]\nbackend = "gguf"\ncatalog = "{MODEL}"\nn_ctx = 512\n'
        'pricing = "manual"\ninput_usd_per_mtok = 1\noutput_usd_per_mtok = 2\n'
        "\n[server]\nqueue_size = 64\n"
    )
    cmd, env = cli(home, args.database_url)
    made = subprocess.run([*cmd, "keys", "create", f"round-{rnd}", "--budget-usd", "1000"], env=env,
                          capture_output=True, text=True, check=True)
    secret = next(w for w in made.stdout.split() if w.startswith("sf-"))
    port = free_port()

    def start() -> subprocess.Popen:
        proc = subprocess.Popen([*cmd, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        wait_http(f"http://127.0.0.1:{port}/health", proc, timeout=180)
        return proc

    srv = start()
    model = "smol-local" if args.local else "smol-http"
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    headers = {"authorization": f"Bearer {secret}"}
    httpx.post(url, json={"model": model, "max_tokens": 1, "messages": [{"role": "user", "content": "warm"}]},
               headers=headers, timeout=300).raise_for_status()
    kill_at = random.randint(20, 60)
    answered: list[str] = []

    async def run() -> None:
        sem = asyncio.Semaphore(args.concurrency)
        async with httpx.AsyncClient(timeout=120, headers=headers) as client:
            async def one(i: int) -> None:
                async with sem:
                    if srv.poll() is not None:
                        return
                    try:
                        r = await client.post(url, json={"model": model, "max_tokens": 2, "temperature": 0,
                                                         "messages": [{"role": "user", "content": f"item {i}"}]})
                    except httpx.HTTPError:
                        return
                    if r.status_code == 200:
                        answered.append(r.json()["id"].removeprefix("chatcmpl-"))
                        if len(answered) == kill_at and srv.poll() is None:
                            srv.send_signal(signal.SIGKILL)

            await asyncio.gather(*(one(i) for i in range(args.requests)))

    asyncio.run(run())
    if srv.poll() is None:
        srv.send_signal(signal.SIGKILL)
    srv.wait()
    srv = start()  # replays the journal, settles the dead process's holds
    srv.terminate()
    srv.wait(timeout=60)
    engine = get_engine(env.get("SMALLFIRST_DATABASE_URL") or f"sqlite:///{home / 'requests.db'}")
    logged = logged_ids(engine, answered)
    key = next(k for k in list_keys(engine) if k.name == f"round-{rnd}")
    rows = totals(engine, key_id=key.id)
    mismatch = abs(key.spent_usd - rows.cost_usd)
    dispose_all()
    return len(answered), len(logged), len(answered) - len(logged), mismatch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--requests", type=int, default=200, help="requests offered per round")
    ap.add_argument("--local", action="store_true", help="the in-process llama.cpp tier instead of the endpoint")
    ap.add_argument("--database-url", help="a Postgres log shared by the rounds (default: a SQLite file each)")
    args = ap.parse_args()
    model_path = files.pull(catalog.entry(MODEL), load_settings().cache_dir)
    up_port = free_port()
    upstream = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path), "--host", "127.0.0.1", "--port",
         str(up_port), "--n_ctx", "512", "--n_threads", "1", "--model_alias", MODEL],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    totals_ = [0, 0, 0]
    worst = Decimal(0)
    try:
        wait_http(f"http://127.0.0.1:{up_port}/v1/models", upstream, timeout=180)
        for rnd in range(args.rounds):
            answered, logged, lost, mismatch = one_round(rnd, up_port, args)
            print(f"round {rnd}: answered {answered}, logged {logged}, lost {lost}; "
                  f"key spend - sum of its rows = ${mismatch}", flush=True)
            totals_ = [totals_[0] + answered, totals_[1] + logged, totals_[2] + lost]
            worst = max(worst, mismatch)
    finally:
        upstream.terminate()
        upstream.wait(timeout=20)
    print(f"durability: {args.rounds} rounds of kill -9 at concurrency {args.concurrency} "
          f"({'local tier' if args.local else 'endpoint tier'}): answered {totals_[0]}, logged {totals_[1]}, "
          f"lost {totals_[2]}; largest spend mismatch ${worst}")
    sys.exit(0 if totals_[2] == 0 and worst == 0 else 1)


if __name__ == "__main__":
    main()

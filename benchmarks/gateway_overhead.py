"""What the gateway adds to a request, beside its peer: the same chat completion sent straight to a real
llama_cpp.server, through `smallfirst serve`, through the LiteLLM proxy (the gateway a user would pick instead),
and through floors that do nothing but forward, all in the same run, on loopback.

SmolLM2 with max_tokens=1 keeps model time small, so the difference is the gateway: parsing and validating the
request, routing, pricing against the baseline, the journaled request-log row, and the second HTTP hop. LiteLLM
is installed by this benchmark from the package index into its own virtual environment (pinned version, one
worker, no database, its master key set). The floors: a bare FastAPI route that forwards the body with aiohttp
(no validation, routing, pricing, log or metrics); ``--floors`` adds the same forwarder as a bare ASGI app and a
TCP relay that copies bytes without reading HTTP (the hop alone). ``--compare-src DIR`` adds smallfirst run from
another source tree (a worktree of an earlier commit), to measure what a change costs in the same run.

At concurrency 1 the sides alternate request by request, so drift in machine load hits all equally; at
concurrency 32 each side runs as one burst. All servers and the client share this machine's cores, so the CPU
each proxy process spent per request (from /proc) is reported too: unlike latency, it does not depend on what
else the scheduler runs.

    python benchmarks/gateway_overhead.py --requests 300 --burst 320 [--floors] [--compare-src DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import Request, Response  # at module level: the floor's route annotations must resolve here

from _serving import free_port, wait_http

MODEL = "smollm2-135m"
BODY = {"messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 1, "temperature": 0}
LITELLM = "1.108.7"
LITELLM_KEY = "sk-bench-master-key"
#: published figures to state beside the measured ones (sequential, localhost, independent of this project)
PUBLISHED = "an independent sequential localhost benchmark measured LiteLLM at 4.3 ms added and Bifrost at about 0.5 ms"


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


@dataclass
class Side:
    """One way to the upstream: its label, URL, model name, key, and the process to watch (None: the direct
    way, no proxy)."""

    label: str
    url: str
    model: str
    key: str = "unused"
    pid: int | None = None


def sequential(client: httpx.Client, sides: list[Side], n: int) -> list[list[float]]:
    """Each request goes to every side in turn (the order rotating), so load drift hits all sides alike."""
    times: list[list[float]] = [[] for _ in sides]
    for i in range(n):
        for k in range(len(sides)):
            j = (i + k) % len(sides)
            side = sides[j]
            start = time.perf_counter()
            r = client.post(side.url, json={**BODY, "model": side.model},
                            headers={"authorization": f"Bearer {side.key}"})
            times[j].append(time.perf_counter() - start)
            r.raise_for_status()
    return times


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (Linux /proc), or NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def serve_floor(port: int, upstream: int) -> None:
    """The bare forwarder: what FastAPI, uvicorn and aiohttp cost on this machine with nothing else."""
    import aiohttp
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()
    sessions: list[aiohttp.ClientSession] = []
    url = f"http://127.0.0.1:{upstream}/v1/chat/completions"

    @app.post("/v1/chat/completions")
    async def forward(request: Request) -> Response:
        if not sessions:
            sessions.append(aiohttp.ClientSession())
        body = await request.json()
        body["model"] = MODEL
        async with sessions[0].post(url, json=body) as r:
            return Response(await r.read(), status_code=r.status, media_type="application/json")

    @app.get("/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def serve_raw_floor(port: int, upstream: int) -> None:
    """The same forwarder as a bare ASGI app under uvicorn: no FastAPI or Starlette at all."""
    import aiohttp
    import uvicorn

    url = f"http://127.0.0.1:{upstream}/v1/chat/completions"
    sessions: list[aiohttp.ClientSession] = []

    async def app(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] == "/health":
            status, data = 200, b"{}"
        else:
            if not sessions:
                sessions.append(aiohttp.ClientSession())
            payload = json.loads(body)
            payload["model"] = MODEL
            async with sessions[0].post(url, json=payload) as r:
                status, data = r.status, await r.read()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": data})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off")


def serve_splice(port: int, upstream: int) -> None:
    """A TCP relay that copies bytes both ways without reading HTTP: what one more loopback hop costs."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
        finally:
            writer.close()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def main() -> None:
        server = await asyncio.start_server(relay, "127.0.0.1", port)
        await server.serve_forever()

    import uvloop

    uvloop.run(main())


async def burst(side: Side, total: int, concurrency: int) -> tuple[list[float], float]:
    """``total`` requests to ``side``, ``concurrency`` at a time: their latencies and the requests per second."""
    times: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"authorization": f"Bearer {side.key}"}
    async with httpx.AsyncClient(timeout=300, limits=limits, headers=headers) as client:
        queue = list(range(total))

        async def worker() -> None:
            while queue:
                queue.pop()
                start = time.perf_counter()
                r = await client.post(side.url, json={**BODY, "model": side.model})
                times.append(time.perf_counter() - start)
                r.raise_for_status()

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return times, total / (time.perf_counter() - start)


def litellm_venv() -> Path:
    """A virtual environment holding the LiteLLM proxy (version ``LITELLM``), made once under the cache."""
    from smallfirst.config import cache_root

    venv = cache_root() / "bench" / f"litellm-{LITELLM}"
    if not (venv / "bin" / "litellm").exists():
        print(f"installing litellm[proxy]=={LITELLM} into {venv} (once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"litellm[proxy]=={LITELLM}"], check=True)
    return venv


def start_litellm(venv: Path, port: int, upstream: int, workdir: Path) -> subprocess.Popen:
    """The LiteLLM proxy with one worker and no database, forwarding model ``smol-litellm`` to the upstream."""
    config = workdir / "litellm.yaml"
    config.write_text(
        "model_list:\n  - model_name: smol-litellm\n    litellm_params:\n"
        f"      model: openai/{MODEL}\n      api_base: http://127.0.0.1:{upstream}/v1\n      api_key: unused\n"
        f"general_settings:\n  master_key: {LITELLM_KEY}\n"
        "litellm_settings:\n  telemetry: false\n"
    )
    env = {**os.environ, "LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False", "DISABLE_ADMIN_UI": "True"}
    return subprocess.Popen(
        [str(venv / "bin" / "litellm"), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
         "--num_workers", "1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=workdir)


def start_smallfirst(port: int, upstream: int, home: Path, src: Path | None) -> tuple[subprocess.Popen, str]:
    """``smallfirst serve`` (from ``src`` when given) with the upstream as model ``smol-http``, a key (no budget)
    and a CORS origin configured: what a production gateway runs with, the response cache off. Returns the
    process and the key."""
    home.mkdir(parents=True, exist_ok=True)
    # an earlier tree (``src``) may predate server.cors_origins, and its strict config would refuse the key
    cors = "" if src is not None else '\n[server]\ncors_origins = ["https://app.example.com"]\n'
    (home / "config.toml").write_text(
        f'[models.smol-http]\nbackend = "openai"\nbase_url = "http://127.0.0.1:{upstream}/v1"\n'
        f'model = "{MODEL}"\npricing = "manual"\ninput_usd_per_mtok = 0.1\noutput_usd_per_mtok = 0.2\n'
        f"max_retries = 0\n{cors}"
    )
    env = {**os.environ, "SMALLFIRST_HOME": str(home)}
    if src is not None:
        env["PYTHONPATH"] = str(src / "src")
    cli = [sys.executable, "-m", "smallfirst.cli"]
    created = subprocess.run([*cli, "keys", "create", "bench"], env=env, capture_output=True, text=True, check=True)
    key = next(word for word in created.stdout.split() if word.startswith("sf-"))
    proc = subprocess.Popen([*cli, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    return proc, key


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=300, help="requests per side at concurrency 1")
    ap.add_argument("--burst", type=int, default=320, help="requests per side at concurrency 32")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--floors", action="store_true",
                    help="also a bare ASGI forwarder and a TCP relay, to split the floor into its parts")
    ap.add_argument("--no-litellm", action="store_true", help="leave the LiteLLM peer out")
    ap.add_argument("--compare-src", type=Path, help="also smallfirst from this source tree (a worktree)")
    ap.add_argument("--serve", nargs=3, metavar=("KIND", "PORT", "UPSTREAM_PORT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        kind, port, upstream = args.serve[0], int(args.serve[1]), int(args.serve[2])
        {"fastapi": serve_floor, "asgi": serve_raw_floor, "splice": serve_splice}[kind](port, upstream)
        return

    from smallfirst.config import load_settings
    from smallfirst.models import catalog, files

    model_path = files.pull(catalog.entry(MODEL), load_settings().cache_dir)
    venv = None if args.no_litellm else litellm_venv()
    work = Path(tempfile.mkdtemp(prefix="sf-bench-"))
    up_port = free_port()
    upstream = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path), "--host", "127.0.0.1", "--port",
         str(up_port), "--n_ctx", "512", "--n_threads", "1", "--model_alias", MODEL],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    procs: list[subprocess.Popen] = [upstream]
    sides = [Side("direct", f"http://127.0.0.1:{up_port}/v1/chat/completions", MODEL)]
    health: list[tuple[str, subprocess.Popen]] = []
    try:
        wait_http(f"http://127.0.0.1:{up_port}/v1/models", upstream)
        port = free_port()
        gateway, key = start_smallfirst(port, up_port, work / "home", None)
        procs.append(gateway)
        sides.append(Side("smallfirst", f"http://127.0.0.1:{port}/v1/chat/completions", "smol-http", key, gateway.pid))
        health.append((f"http://127.0.0.1:{port}/health", gateway))
        if args.compare_src is not None:
            port = free_port()
            before, key = start_smallfirst(port, up_port, work / "home-before", args.compare_src.resolve())
            procs.append(before)
            sides.append(Side(f"smallfirst ({args.compare_src.name})", f"http://127.0.0.1:{port}/v1/chat/completions",
                              "smol-http", key, before.pid))
            health.append((f"http://127.0.0.1:{port}/health", before))
        if venv is not None:
            port = free_port()
            lite = start_litellm(venv, port, up_port, work)
            procs.append(lite)
            sides.append(Side(f"LiteLLM {LITELLM} proxy", f"http://127.0.0.1:{port}/v1/chat/completions",
                              "smol-litellm", LITELLM_KEY, lite.pid))
            health.append((f"http://127.0.0.1:{port}/health/liveliness", lite))
        labels = {"fastapi": "bare FastAPI+aiohttp forwarder", "asgi": "bare ASGI+aiohttp forwarder",
                  "splice": "TCP relay, no HTTP parsing"}
        for kind in ["fastapi", *(["asgi", "splice"] if args.floors else [])]:
            port = free_port()
            proc = subprocess.Popen([sys.executable, __file__, "--serve", kind, str(port), str(up_port)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(proc)
            sides.append(Side(labels[kind], f"http://127.0.0.1:{port}/v1/chat/completions", MODEL, pid=proc.pid))
            health.append((f"http://127.0.0.1:{port}/{'v1/models' if kind == 'splice' else 'health'}", proc))
        for url, proc in health:
            wait_http(url, proc, timeout=300)
        with httpx.Client(timeout=120) as client:
            sequential(client, sides, 20)  # warm all: connections, model, first-call imports
            cpu0 = [cpu_seconds(s.pid) if s.pid else 0.0 for s in sides]
            seq = sequential(client, sides, args.requests)
            cpu1 = [cpu_seconds(s.pid) if s.pid else 0.0 for s in sides]
        bursts = []
        for side in sides:
            c0 = cpu_seconds(side.pid) if side.pid else 0.0
            times, rps = asyncio.run(burst(side, args.burst, args.concurrency))
            c1 = cpu_seconds(side.pid) if side.pid else 0.0
            bursts.append((times, rps, (c1 - c0) / args.burst))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

    ms = 1000.0
    direct = seq[0]
    print(f"\ngateway overhead: SmolLM2 behind llama_cpp.server, max_tokens=1, loopback, {os.cpu_count()} cores, "
          f"{args.requests} requests per side interleaved at concurrency 1, {args.burst} per side at "
          f"{args.concurrency}")
    header = (f"{'side':<34} | {'c':>2} | {'p50':>8} {'p99':>8} | {'added p50':>9} {'added p99':>9} | "
              f"{'req/s':>7} | {'proxy CPU/req':>13}")
    print(header)
    print("-" * len(header))
    added: dict[str, float] = {}
    for i, side in enumerate(sides):
        t = seq[i]
        cpu = (cpu1[i] - cpu0[i]) / args.requests * ms if side.pid else float("nan")
        a50, a99 = (pct(t, 50) - pct(direct, 50)) * ms, (pct(t, 99) - pct(direct, 99)) * ms
        added[side.label] = a50
        print(f"{side.label:<34} | {1:>2} | {pct(t, 50) * ms:>6.2f}ms {pct(t, 99) * ms:>6.2f}ms | "
              f"{a50:>7.2f}ms {a99:>7.2f}ms | {1 / statistics.mean(t):>7.1f} | {cpu:>11.2f}ms")
    for i, side in enumerate(sides):
        t, rps, cpu = bursts[i]
        d = bursts[0][0]
        print(f"{side.label:<34} | {args.concurrency:>2} | {pct(t, 50) * ms:>6.1f}ms {pct(t, 99) * ms:>6.1f}ms | "
              f"{(pct(t, 50) - pct(d, 50)) * ms:>7.1f}ms {(pct(t, 99) - pct(d, 99)) * ms:>7.1f}ms | {rps:>7.1f} | "
              f"{cpu * ms if side.pid else float('nan'):>11.2f}ms")
    ours = added["smallfirst"]
    verdict = "met" if ours <= 1.2 else "NOT met"
    print(f"\nsmallfirst added p50 at concurrency 1: {ours:.2f} ms; goal <= 1.2 ms: {verdict}")
    lite = next((v for k, v in added.items() if k.startswith("LiteLLM")), None)
    if lite is not None and lite > 0:
        ratio = ours / lite
        print(f"smallfirst / LiteLLM added p50 = {ratio:.3f}x; goal <= 0.15x: {'met' if ratio <= 0.15 else 'NOT met'}")
    floor = added.get("bare FastAPI+aiohttp forwarder")
    if floor and floor > 0:
        print(f"smallfirst / bare FastAPI forwarder = {ours / floor:.2f}x")
    if args.compare_src is not None:
        other = added[f"smallfirst ({args.compare_src.name})"]
        print(f"smallfirst ({args.compare_src.name}) added p50: {other:.2f} ms (this tree: {ours:.2f} ms)")
    print(f"published, for comparison: {PUBLISHED}")


if __name__ == "__main__":
    main()

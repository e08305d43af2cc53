"""What the gateway adds to a request: the same chat completion sent straight to a real llama_cpp.server and
through `smallfirst serve` in front of it, in the same run, on loopback.

SmolLM2 with max_tokens=1 keeps model time small, so the difference is the gateway: parsing, routing,
pricing against the baseline, the request-log row (written on a background thread), and the second HTTP hop.
A third side is the floor for this stack: a bare FastAPI route that forwards the body with aiohttp and returns
the upstream's bytes (no validation, routing, pricing, log or metrics). ``--floors`` adds the same forwarder
as a bare ASGI app (no FastAPI), and a TCP relay that copies bytes without reading HTTP (the hop alone). At
concurrency 1 the sides alternate request by request, so drift in machine load hits all equally; at
concurrency 32 each side runs as one burst.
All servers and the client share this machine's cores, so the CPU each proxy process spent per request
(from /proc) is reported too: unlike latency, it does not depend on what else the scheduler runs.

    python benchmarks/gateway_overhead.py --requests 500 --burst 320 [--floors]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from fastapi import Request, Response  # at module level: the floor's route annotations must resolve here

MODEL = "smollm2-135m"
BODY = {"messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 1, "temperature": 0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args[:3]} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout}s")


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


def sequential(client: httpx.Client, sides: list[tuple[str, str]], n: int) -> list[list[float]]:
    """Each request goes to every side in turn (the order rotating), so load drift hits all sides alike."""
    times: list[list[float]] = [[] for _ in sides]
    for i in range(n):
        for k in range(len(sides)):
            j = (i + k) % len(sides)
            url, model = sides[j]
            start = time.perf_counter()
            r = client.post(url, json={**BODY, "model": model})
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


async def burst(url: str, model: str, total: int, concurrency: int) -> tuple[list[float], float]:
    times: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:
        queue = list(range(total))

        async def worker() -> None:
            while queue:
                queue.pop()
                start = time.perf_counter()
                r = await client.post(url, json={**BODY, "model": model})
                times.append(time.perf_counter() - start)
                r.raise_for_status()

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return times, total / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=200, help="requests per side at concurrency 1")
    ap.add_argument("--burst", type=int, default=320, help="requests per side at concurrency 32")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--floors", action="store_true",
                    help="also a bare ASGI forwarder and a TCP relay, to split the floor into its parts")
    ap.add_argument("--serve", nargs=3, metavar=("KIND", "PORT", "UPSTREAM_PORT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        kind, port, upstream = args.serve[0], int(args.serve[1]), int(args.serve[2])
        {"fastapi": serve_floor, "asgi": serve_raw_floor, "splice": serve_splice}[kind](port, upstream)
        return

    from smallfirst.config import load_settings
    from smallfirst.models import catalog, files

    model_path = files.pull(catalog.entry(MODEL), load_settings().cache_dir)
    home = Path(tempfile.mkdtemp(prefix="sf-bench-"))
    up_port, gw_port = free_port(), free_port()
    upstream = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(up_port),
            "--n_ctx",
            "512",
            "--n_threads",
            "1",
            "--model_alias",
            MODEL,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    (home / "config.toml").write_text(
        f'[models.smol-http]\nbackend = "openai"\nbase_url = "http://127.0.0.1:{up_port}/v1"\n'
        f'model = "{MODEL}"\npricing = "manual"\ninput_usd_per_mtok = 0.1\noutput_usd_per_mtok = 0.2\n'
        "max_retries = 0\n"
    )
    env = {**os.environ, "SMALLFIRST_HOME": str(home)}
    gateway = subprocess.Popen(
        [str(Path(sys.executable).with_name("smallfirst")), "serve", "--port", str(gw_port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    kinds = ["fastapi", *(["asgi", "splice"] if args.floors else [])]
    floors = {}
    for kind in kinds:
        port = free_port()
        floors[kind] = (port, subprocess.Popen([sys.executable, __file__, "--serve", kind, str(port), str(up_port)],
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    procs = [gateway, *(proc for _, proc in floors.values()), upstream]
    try:
        wait_http(f"http://127.0.0.1:{up_port}/v1/models", upstream)
        wait_http(f"http://127.0.0.1:{gw_port}/health", gateway)
        for kind, (port, proc) in floors.items():
            if kind == "splice":
                wait_http(f"http://127.0.0.1:{port}/v1/models", proc)  # relayed to the upstream
            else:
                wait_http(f"http://127.0.0.1:{port}/health", proc)
        direct = f"http://127.0.0.1:{up_port}/v1/chat/completions"
        through = f"http://127.0.0.1:{gw_port}/v1/chat/completions"
        sides = [(direct, MODEL), (through, "smol-http")]
        sides += [(f"http://127.0.0.1:{port}/v1/chat/completions", MODEL) for port, _ in floors.values()]
        watched = [gateway.pid, *(proc.pid for _, proc in floors.values())]
        with httpx.Client(timeout=120) as client:
            sequential(client, sides, 20)  # warm all: connections, model, first-call imports
            cpu0 = [cpu_seconds(pid) for pid in watched]
            d1, g1, *floor_times = sequential(client, sides, args.requests)
            cpu1 = [cpu_seconds(pid) for pid in watched]
        d32, d_rps = asyncio.run(burst(direct, MODEL, args.burst, args.concurrency))
        g32, g_rps = asyncio.run(burst(through, "smol-http", args.burst, args.concurrency))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=20)

    ms = 1000.0
    print(
        f"\ngateway overhead: SmolLM2 behind llama_cpp.server, max_tokens=1, loopback, {os.cpu_count()} cores"
    )
    print(
        f"{'concurrency':>11} | {'direct p50':>10} {'direct p99':>10} | {'gateway p50':>11} "
        f"{'gateway p99':>11} | {'added p50':>9} {'added p99':>9} | {'direct rps':>10} {'gateway rps':>11}"
    )
    print("-" * 112)
    for c, d, g, drps, grps in ((1, d1, g1, None, None), (args.concurrency, d32, g32, d_rps, g_rps)):
        if drps is None:
            drps, grps = 1 / statistics.mean(d), 1 / statistics.mean(g)
        print(
            f"{c:>11} | {pct(d, 50) * ms:>8.2f}ms {pct(d, 99) * ms:>8.2f}ms | {pct(g, 50) * ms:>9.2f}ms "
            f"{pct(g, 99) * ms:>9.2f}ms | {(pct(g, 50) - pct(d, 50)) * ms:>7.2f}ms "
            f"{(pct(g, 99) - pct(d, 99)) * ms:>7.2f}ms | {drps:>10.1f} {grps:>11.1f}"
        )
    added = (pct(g1, 50) - pct(d1, 50)) * ms
    paired = statistics.median(g - d for g, d in zip(g1, d1, strict=True)) * ms
    cpu = [(b - a) / args.requests * ms for a, b in zip(cpu0, cpu1, strict=True)]
    print(
        f"\nadded latency at concurrency 1: p50 {added:.2f} ms "
        f"(median of paired differences {paired:.2f} ms); goal <= 2 ms: {'met' if added <= 2 else 'NOT met'}"
    )
    labels = {"fastapi": "bare FastAPI+aiohttp forwarder", "asgi": "bare ASGI+aiohttp forwarder",
              "splice": "TCP relay, no HTTP parsing"}
    print(f"{'same run, concurrency 1':<34} | {'added p50':>9} | {'proxy CPU/request':>17}")
    print(f"{'smallfirst':<34} | {added:>7.2f}ms | {cpu[0]:>15.2f}ms")
    for kind, times, used in zip(floors, floor_times, cpu[1:], strict=True):
        floor_added = (pct(times, 50) - pct(d1, 50)) * ms
        print(f"{labels[kind]:<34} | {floor_added:>7.2f}ms | {used:>15.2f}ms")
    fastapi_added = (pct(floor_times[0], 50) - pct(d1, 50)) * ms
    if fastapi_added > 0:
        print(f"smallfirst / bare FastAPI forwarder = {added / fastapi_added:.2f}x")
    print(
        "anchors: LiteLLM publishes its proxy's own overhead figures (docs: 'Benchmarks'); Bifrost, a "
        "gateway in Go, claims ~11 us added per request.\nsmallfirst is a Python (FastAPI/uvicorn) gateway "
        "that also routes, prices and logs every request; compare the added p50 above with those."
    )


if __name__ == "__main__":
    main()

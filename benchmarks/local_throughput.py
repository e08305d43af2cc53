"""smallfirst's local backend against raw llama-cpp-python: same model file, threads, prompts and sampling.

Both sides stream, so time-to-first-token measures prompt processing and the rest measures generation.
Runs alternate between the two sides prompt by prompt, so drift in machine load hits both equally.

    python benchmarks/local_throughput.py --model qwen2.5-coder-0.5b --runs 8 --max-tokens 64
"""

from __future__ import annotations

import argparse
import statistics
import time

from smallfirst.costs.throughput import PROMPTS  # the prompts the catalogue's reference throughput is measured on


def measure_raw(llm, prompt_tokens: list[int], max_tokens: int) -> tuple[float, float, int, int]:
    start = time.perf_counter()
    ttft = None
    n_out = 0
    for part in llm.create_completion(prompt=prompt_tokens, max_tokens=max_tokens, temperature=0.0, stream=True):
        if part["choices"][0].get("text"):
            n_out += 1
            if ttft is None:
                ttft = time.perf_counter() - start
    wall = time.perf_counter() - start
    return ttft or wall, wall, len(prompt_tokens), n_out


def measure_ours(model, messages, max_tokens: int) -> tuple[float, float, int, int]:
    final = None
    for chunk in model.stream(messages, max_tokens=max_tokens, temperature=0.0):
        if chunk.completion is not None:
            final = chunk.completion
    c = final
    return c.ttft_seconds, c.wall_seconds, c.usage.prompt_tokens, c.usage.completion_tokens


def rates(samples: list[tuple[float, float, int, int]]) -> tuple[float, float]:
    prompt = statistics.median(pt / ttft for ttft, _, pt, _ in samples)
    gen = statistics.median((ct - 1) / (wall - ttft) for ttft, wall, _, ct in samples if ct > 1 and wall > ttft)
    return prompt, gen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="qwen2.5-coder-0.5b")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=8, help="prompts per side (cycled from a fixed list)")
    ap.add_argument("--max-tokens", type=int, default=64)
    args = ap.parse_args()

    from llama_cpp import Llama

    from smallfirst.config import load_settings
    from smallfirst.models import catalog, files
    from smallfirst.models.llama import LlamaModel

    settings = load_settings()
    entry = catalog.entry(args.model)
    path = files.verified_path(entry, settings.cache_dir)
    ours = LlamaModel(args.model, path, n_ctx=2048, n_threads=args.threads)
    raw = Llama(model_path=str(path), n_ctx=2048, n_threads=args.threads, n_threads_batch=args.threads, n_batch=512,
                verbose=False)
    raw_samples, our_samples = [], []
    # Warm both once: the first call pays for memory mapping and graph allocation.
    warm = [{"role": "user", "content": "hi"}]
    measure_ours(ours, warm, 4)
    measure_raw(raw, ours.prompt_tokens(warm)[0], 4)
    for i in range(args.runs):
        # Each run's prompt differs from the last, so neither side can reuse the previous KV prefix.
        messages = [{"role": "user", "content": f"[{i}] {PROMPTS[i % len(PROMPTS)]}"}]
        tokens = ours.prompt_tokens(messages)[0]
        pair = [("raw", lambda t=tokens: measure_raw(raw, t, args.max_tokens)),
                ("ours", lambda m=messages: measure_ours(ours, m, args.max_tokens))]
        for side, fn in (pair if i % 2 == 0 else pair[::-1]):
            (raw_samples if side == "raw" else our_samples).append(fn())
    raw_p, raw_g = rates(raw_samples)
    our_p, our_g = rates(our_samples)
    print(f"model {entry.title}, {args.threads} threads, {args.runs} prompts per side, max_tokens {args.max_tokens}")
    print(f"{'':12} {'prompt tok/s':>14} {'generated tok/s':>16}")
    print(f"{'raw llama':12} {raw_p:14.1f} {raw_g:16.1f}")
    print(f"{'smallfirst':12} {our_p:14.1f} {our_g:16.1f}")
    print(f"{'ratio':12} {our_p / raw_p:14.3f} {our_g / raw_g:16.3f}   (goal >= 0.95)")


if __name__ == "__main__":
    main()

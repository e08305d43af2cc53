"""Generative niche: SmolLM2-135M-Instruct fine-tuned with LoRA to answer a Banking77 message with its
intent label in the dataset's exact snake_case form, then merged and converted back to GGUF.

Two phases, because training needs the train extra (torch) and serving needs llama-cpp-python:

    PYTHONPATH=src /tmp/trainenv/bin/python benchmarks/lora_niche.py train --out /tmp/lora-b77
    PYTHONPATH=src .venv/bin/python benchmarks/lora_niche.py eval --out /tmp/lora-b77

``eval`` serves the original GGUF (before) and the converted one (after) through smallfirst's llama.cpp backend,
reports their intent accuracy on held-out test items (by smallfirst's Banking77 grader, and exact match), and
checks that the converted GGUF reproduces the torch model's greedy answers. Data, prompt and training are
smallfirst's: ``load_labelled``, ``smallfirst.tasks.sources.banking77_messages`` (the fine-tuned model's
instruction) and ``smallfirst.specialize.lora``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

from smallfirst.specialize.data import load_labelled
from smallfirst.tasks import sources


def _rows(root: Path | None, split: str) -> list[tuple[str, str]]:
    path = sources.set_dir(root, "banking77", (f"{split}.csv",)) / f"{split}.csv"
    data = load_labelled(path, text_col="text", label_col="category", min_per_class=1)
    return list(zip(data.texts, data.labels, strict=True))


def _base_gguf() -> Path:
    from smallfirst.config import load_settings
    from smallfirst.models import catalog, files

    return files.verified_path(catalog.entry("smollm2-135m"), load_settings().cache_dir)


def train(args: argparse.Namespace) -> None:
    from smallfirst.specialize.lora import LoraConfig, chat_prompt, generate, load_gguf, save_gguf, train_lora

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    rows = _rows(args.data, "train")
    rng.shuffle(rows)
    test = _rows(args.data, "test")
    random.Random(1).shuffle(test)
    model, tok = load_gguf(_base_gguf())
    system = sources.BANKING77_TUNED_SYSTEM
    pairs = [(chat_prompt(tok, system, t), y) for t, y in rows[: args.n_train]]
    t0 = time.perf_counter()
    last = [0.0]

    def progress(step: int, total: int, loss: float) -> None:
        last[0] = loss
        if step % 25 == 0 or step == total:
            print(f"step {step}/{total} loss {loss:.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)

    merged = train_lora(model, tok, pairs, LoraConfig(steps=args.steps, batch_size=args.batch), progress)
    train_s = time.perf_counter() - t0
    verify = [chat_prompt(tok, system, t) for t, _ in test[: args.n_verify]]
    reference = generate(merged, tok, verify)
    gguf = save_gguf(
        merged, tok, out / "smollm2-135m-banking77.f16.gguf", outtype="f16", python=sys.executable
    )
    meta = {
        "train_seconds": train_s,
        "steps": args.steps,
        "batch": args.batch,
        "n_train": args.n_train,
        "final_loss": last[0],
        "verify_prompts": verify,
        "torch_answers": reference,
        "gguf": str(gguf),
    }
    (out / "train.json").write_text(json.dumps(meta, indent=2))
    print(f"lora trained in {train_s:.0f} s, final loss {last[0]:.3f}; wrote {gguf}")


def evaluate(args: argparse.Namespace) -> None:
    from smallfirst.config import load_settings
    from smallfirst.models.registry import build
    from smallfirst.tasks.grading import grade

    meta = json.loads((Path(args.out) / "train.json").read_text())
    test = _rows(args.data, "test")
    random.Random(1).shuffle(test)
    held = test[args.n_verify : args.n_verify + args.n_eval]
    labels = sources.labels_for("banking77", args.data)
    settings = load_settings()
    if args.threads:
        settings = settings.model_copy(update={"threads": args.threads})
    for label, name in (
        ("before (SmolLM2-135M-Instruct Q4_1)", "smollm2-135m"),
        ("after (LoRA, f16 GGUF)", meta["gguf"]),
    ):
        model = build(name, settings)  # a catalogue name or a .gguf path, as `smallfirst ask --model` takes them
        graded = exact = 0
        t0 = time.perf_counter()
        for text, gold in held:
            answer = model.complete(sources.banking77_messages(text), max_tokens=16, temperature=0.0).text
            graded += grade("banking77", answer, gold, labels) == 1.0
            exact += answer.strip() == gold
        model.close()
        print(
            f"lora niche {label}: intent accuracy {graded / len(held):.3f} (smallfirst's grader), exact match "
            f"{exact / len(held):.3f} (n={len(held)} held-out test items, "
            f"{(time.perf_counter() - t0) / len(held) * 1e3:.0f} ms per item)"
        )
    _conversion_check(meta, args.threads)


def _conversion_check(meta: dict, threads: int) -> None:
    """The converted GGUF must give the torch model's greedy answer on the same prompt text: a check of the
    converter, so both sides get identical input (the torch chat template's output) and llama.cpp runs raw."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(meta["gguf"]), n_ctx=512, n_threads=threads, verbose=False)
    same = 0
    for prompt, ref in zip(meta["verify_prompts"], meta["torch_answers"], strict=True):
        r = llm.create_completion(prompt, max_tokens=16, temperature=0.0)
        same += r["choices"][0]["text"].strip() == ref
    llm.close()
    print(
        f"lora niche conversion check: GGUF reproduces the torch model's greedy answer on "
        f"{same}/{len(meta['torch_answers'])} prompts"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("phase", choices=["train", "eval"])
    ap.add_argument("--out", default="/tmp/lora-b77")
    shared = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    ap.add_argument(
        "--data",
        type=Path,
        default=shared if shared.is_dir() else None,
        help="a folder with banking77/ (default: ../shared/data, else the set installed by `smallfirst data pull`)",
    )
    ap.add_argument("--n-train", type=int, default=4000)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--n-verify", type=int, default=5)
    ap.add_argument("--n-eval", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    train(args) if args.phase == "train" else evaluate(args)


if __name__ == "__main__":
    main()

"""Local GGUF models, in-process, through llama-cpp-python.

The chat template comes from the GGUF's own metadata (``tokenizer.chat_template``), formatted here so the
prompt's token count is exact in streaming mode too. Token log-probabilities are computed from the logits
each sampling step sees, so they cost nothing unless asked for and need no ``logits_all`` buffer
(which would be n_ctx x vocab floats: 2.5 GB for Qwen at 4k context).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from smallfirst.errors import ContextOverflowError, ModelFileError
from smallfirst.models.completion import Chunk, Completion, Message, TokenLogprob, Usage

if TYPE_CHECKING:
    from smallfirst.config import ModelSpec, Settings

#: alternatives kept per generated token when logprobs are asked for without top_logprobs
_TOP = 5
_SAMPLING = ("max_tokens", "temperature", "top_p", "stop", "seed", "presence_penalty", "frequency_penalty",
             "top_k", "min_p", "repeat_penalty")


def build(name: str, spec: ModelSpec, settings: Settings) -> LlamaModel:
    """The registry's ``gguf`` backend: a catalogue model from the verified cache, or a ``.gguf`` file named by
    ``spec.path``. Raises ModelFileError for a missing, corrupt or mislabelled file."""
    from smallfirst.models import catalog, files

    if spec.path:
        path = Path(spec.path).expanduser()
        check_gguf_file(path)
        expected = None
    else:
        entry = catalog.entry(spec.catalog or name)
        path = files.verified_path(entry, settings.cache_dir)
        expected = entry.gguf_name
    threads = spec.n_threads or settings.threads or max(1, os.cpu_count() or 1)
    return LlamaModel(name, path, n_ctx=spec.n_ctx, n_threads=threads, expected_name=expected)


def check_gguf_file(path: Path) -> None:
    """Raise ModelFileError unless ``path`` exists and starts with the GGUF magic bytes."""
    if not path.exists():
        raise ModelFileError(f"model file {path} does not exist", hint="give the path of a local .gguf file")
    with path.open("rb") as fh:
        if fh.read(4) != b"GGUF":
            raise ModelFileError(f"{path} is not a GGUF file (bad magic bytes)",
                                 hint="convert it with llama.cpp's convert_hf_to_gguf.py, or pick another file")


class LlamaModel:
    """A GGUF model in this process, through llama-cpp-python: a blocking backend (see models.model), one generation at
    a time (``lock``). ``n_ctx`` and ``n_batch`` are tokens; ``expected_name`` must appear in the file's
    ``general.name``, else ModelFileError."""
    kind = "local"

    def __init__(self, name: str, path: Path, *, n_ctx: int = 4096, n_threads: int = 2,
                 expected_name: str | None = None, n_batch: int = 512) -> None:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        check_gguf_file(path)
        self.name = name
        self.path = path
        try:
            with _quiet_stderr():
                self.llm = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads,
                                 n_batch=n_batch, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise ModelFileError(f"llama.cpp could not load {path}: {exc}",
                                 hint="the file may be truncated or of an unsupported architecture") from None
        meta = self.llm.metadata
        general = meta.get("general.name", "")
        if expected_name and expected_name.lower() not in general.lower():
            raise ModelFileError(f"{path} says it is {general!r}, expected a {expected_name} model",
                                 hint="the file is not what its catalogue entry claims; delete it and pull again")
        self.title = general or path.stem
        self.context_length = self.llm.n_ctx()
        self.n_threads = n_threads
        template = meta.get("tokenizer.chat_template")
        if not template:
            raise ModelFileError(f"{path} has no chat template in its metadata",
                                 hint="use an instruction-tuned GGUF, or a model with tokenizer.chat_template")
        eos_id, bos_id = self.llm.token_eos(), self.llm.token_bos()
        model = self.llm._model
        self.formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=model.token_get_text(eos_id) if eos_id != -1 else "",
            bos_token=model.token_get_text(bos_id) if bos_id != -1 else "",
            stop_token_ids=[eos_id],
        )
        # llama.cpp contexts are not thread-safe; the gateway runs one worker per model on top of this.
        self.lock = threading.Lock()

    # -- the Model contract -------------------------------------------------------------------------

    def complete(self, messages: Sequence[Message], **params: Any) -> Completion:
        """One answer; raises ContextOverflowError when the prompt leaves no room in the context."""
        final = None
        for chunk in self._generate(messages, params, stream=False):
            final = chunk
        assert final is not None and final.completion is not None
        return final.completion

    def stream(self, messages: Sequence[Message], **params: Any) -> Iterator[Chunk]:
        """Text pieces as llama.cpp emits them, then the chunk with the Completion."""
        return self._generate(messages, params, stream=True)

    def close(self) -> None:
        """Free the llama.cpp context and weights."""
        with contextlib.suppress(Exception):
            self.llm.close()

    # -- helpers -------------------------------------------------------------------------------------

    def prompt_tokens(self, messages: Sequence[Message]) -> tuple[list[int], Any]:
        """The chat-templated prompt's token ids, and the formatter's result (its stop strings and criteria)."""
        result = self.formatter(messages=list(messages))
        tokens = self.llm.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)
        return tokens, result

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` under this model's tokenizer, without special tokens."""
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _generate(self, messages: Sequence[Message], params: dict[str, Any], stream: bool) -> Iterator[Chunk]:
        with self.lock:
            start = time.perf_counter()
            tokens, fmt = self.prompt_tokens(messages)
            max_tokens = int(params.get("max_tokens") or 256)
            if len(tokens) + 1 > self.context_length:
                raise ContextOverflowError(
                    f"the prompt is {len(tokens)} tokens; {self.name} has a context of {self.context_length}",
                    hint="shorten the prompt, or raise n_ctx for this model in the config")
            max_tokens = min(max_tokens, self.context_length - len(tokens))
            stop = list(fmt.stop) if isinstance(fmt.stop, list) else ([fmt.stop] if fmt.stop else [])
            user_stop = params.get("stop")
            if user_stop:
                stop += [user_stop] if isinstance(user_stop, str) else list(user_stop)
            kwargs: dict[str, Any] = {k: params[k] for k in _SAMPLING if params.get(k) is not None}
            kwargs.update(max_tokens=max_tokens, stop=stop, stopping_criteria=fmt.stopping_criteria)
            kwargs.setdefault("temperature", 0.0)
            recorder = _LogprobRecorder(len(tokens)) if params.get("logprobs") else None
            if recorder is not None:
                from llama_cpp import LogitsProcessorList

                kwargs["logits_processor"] = LogitsProcessorList([recorder])
            pieces: list[str] = []
            ttft: float | None = None
            finish = "stop"
            usage: Usage | None = None
            if stream:
                for part in self.llm.create_completion(prompt=tokens, stream=True, **kwargs):
                    choice = part["choices"][0]
                    text = choice.get("text") or ""
                    if text:
                        if ttft is None:
                            ttft = time.perf_counter() - start
                        pieces.append(text)
                        yield Chunk(text)
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
            else:
                out = self.llm.create_completion(prompt=tokens, stream=False, **kwargs)
                choice = out["choices"][0]
                pieces.append(choice["text"])
                finish = choice.get("finish_reason") or "stop"
                usage = Usage(out["usage"]["prompt_tokens"], out["usage"]["completion_tokens"])
            wall = time.perf_counter() - start
            text = "".join(pieces)
            if usage is None:
                usage = Usage(len(tokens), self.count_tokens(text))
            logprobs = (recorder.logprobs(self.llm, greedy=kwargs["temperature"] == 0.0,
                                          top=int(params.get("top_logprobs") or _TOP))
                        if recorder else None)
            completion = Completion(model=self.name, text=text, finish_reason=finish, usage=usage,
                                    wall_seconds=wall, ttft_seconds=ttft if ttft is not None else wall,
                                    logprobs=logprobs, kind="local")
        yield Chunk("", finish_reason=finish, completion=completion)


class _LogprobRecorder:
    """Sees the full logits of every sampling step; the token chosen at step k is the input at step k+1."""

    def __init__(self, n_prompt: int) -> None:
        self.n_prompt = n_prompt
        self.steps: list[tuple[float, np.ndarray]] = []
        self.chosen: list[int] = []

    def __call__(self, input_ids: np.ndarray, logits: np.ndarray) -> np.ndarray:
        n_seen = len(input_ids) - self.n_prompt
        if n_seen > 0:
            self.chosen = [int(t) for t in input_ids[self.n_prompt:]]
        peak = float(logits.max())
        lse = peak + float(np.log(np.exp(logits - peak).sum()))
        self.steps.append((lse, logits.copy()))
        return logits

    def logprobs(self, llm: Any, *, greedy: bool, top: int = _TOP) -> tuple[TokenLogprob, ...]:
        """Per generated token: its text and log-probability (logit minus log-sum-exp of that step), up to EOS,
        with the ``top`` most likely tokens of that step and their log-probabilities."""
        out = []
        for k, (lse, logits) in enumerate(self.steps):
            if k < len(self.chosen):
                tok = self.chosen[k]
            elif greedy:
                tok = int(logits.argmax())  # the last step is never fed back; greedy picked the argmax
            else:
                break
            if tok == llm.token_eos():
                break
            piece = llm.detokenize([tok]).decode("utf-8", errors="replace")
            best = np.argpartition(-logits, top)[:top] if 0 < top < len(logits) else np.arange(0)
            best = best[np.argsort(-logits[best])]
            alts = tuple((llm.detokenize([int(b)]).decode("utf-8", errors="replace"), float(logits[b]) - lse)
                         for b in best)
            out.append(TokenLogprob(piece, float(logits[tok]) - lse, alts))
        return tuple(out)


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """llama.cpp prints load diagnostics on fd 2 from C; keep the CLI's output clean."""
    try:
        fd = os.dup(2)
    except OSError:
        yield
        return
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(fd, 2)
            os.close(fd)

"""Local GGUF models, in-process, through llama-cpp-python.

The chat template comes from the GGUF's own metadata (``tokenizer.chat_template``), formatted here so the
prompt's token count is exact in streaming mode too, and so tools and earlier tool calls reach the template.
Token log-probabilities (and the top alternatives) are computed from the logits each sampling step sees, so they
cost nothing unless asked for and need no ``logits_all`` buffer (which would be n_ctx x vocab floats: 2.5 GB for
Qwen at 4k context). ``response_format`` and forced tool calls are enforced by a grammar (``structured.py``).

Each generation starts from an empty KV cache, so the same request at temperature 0 (or with the same seed)
gives the same tokens and log-probabilities whatever was asked before. A model is warmed at load: its weights
are read from disk then, not during (and billed to) the first request.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from smallfirst.errors import ContextOverflowError, InvalidReplyError, ModelFileError, UnsupportedParameterError
from smallfirst.models.completion import Alternative, Chunk, Completion, Message, TokenLogprob, ToolCall, Usage
from smallfirst.models.request_params import IDENTITY, SAMPLING, STRUCTURE, refuse_unsupported
from smallfirst.models.structured import check_reply, grammar_text, parse_tool_calls, template_messages

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
    ``general.name``, else ModelFileError.

    ``n_batch`` is also the block a prompt's cached prefix is reused in (see ``_reuse_aligned_prefix``): 128 keeps
    a shared system prompt's reuse within 127 tokens, at a fresh prefill measured within noise of 512's (Qwen2.5-
    Coder-1.5B, a 417-token Banking77 prompt, 2 threads: fresh 9.3 s against 8.7 s; the next request with the same
    system prompt 1.0-1.7 s against 9.0-10.7 s)."""
    kind = "local"

    def __init__(self, name: str, path: Path, *, n_ctx: int = 4096, n_threads: int = 2,
                 expected_name: str | None = None, n_batch: int = 128) -> None:
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
        # generate() calls self.sample(); this hook sees each sampled token (log-probabilities need it)
        self._on_token: Any = None
        self._constraint: _Constrained | None = None
        sample = self.llm.sample

        def _sample(*args: Any, **kwargs: Any) -> int:
            token = sample(*args, **kwargs)
            if self._constraint is not None:
                token = self._constraint.check(token, kwargs.get("idx"))
            if self._on_token is not None:
                self._on_token(token)
            return token

        self.llm.sample = _sample  # type: ignore[method-assign]
        self.load_seconds = self._warm()

    def _warm(self) -> float:
        """Evaluate one token, so the weights are read (mmap faults them in lazily) at load, not on the first
        request; returns the seconds that took."""
        start = time.perf_counter()
        with self.lock:
            self.llm.reset()
            self.llm.eval(self.llm.tokenize(b" ", add_bos=True, special=False)[:2])
            self.llm.reset()
        return time.perf_counter() - start

    # -- the Model contract -------------------------------------------------------------------------

    def complete(self, messages: Sequence[Message], **params: Any) -> Completion:
        """One answer. Raises ContextOverflowError when the prompt leaves no room in the context,
        UnsupportedParameterError (400) for a parameter this model cannot honour, InvalidReplyError when the
        reply fails the requested format."""
        final = None
        for chunk in self._generate(messages, params, stream=False):
            final = chunk
        assert final is not None and final.completion is not None
        return final.completion

    def stream(self, messages: Sequence[Message], **params: Any) -> Iterator[Chunk]:
        """Text pieces as llama.cpp emits them (each with the log-probabilities of the tokens it completes, when
        asked for), then the chunk with the Completion. With tools on offer the reply is held back until it is
        known whether it calls them, and comes as one piece."""
        return self._generate(messages, params, stream=True)

    def close(self) -> None:
        """Free the llama.cpp context and weights."""
        with contextlib.suppress(Exception):
            self.llm.close()

    # -- helpers -------------------------------------------------------------------------------------

    @property
    def supports_tools(self) -> bool:
        """Whether the model's chat template renders tools and tool calls (Qwen2.5's does; SmolLM2's does not)."""
        return "tool" in self.formatter.template

    def prompt_tokens(self, messages: Sequence[Message], tools: list[dict[str, Any]] | None = None
                      ) -> tuple[list[int], Any]:
        """The chat-templated prompt's token ids, and the formatter's result (its stop strings and criteria)."""
        result = self.formatter(messages=template_messages(messages), tools=tools or None)
        tokens = self.llm.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)
        return tokens, result

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` under this model's tokenizer, without special tokens."""
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def estimate_usage(self, messages: Sequence[Message], text: str, params: dict[str, Any]) -> Usage:
        """The usage of a generation stopped after ``text`` (a client that went away): the exact prompt tokens
        and the tokens of ``text``."""
        tokens, _ = self.prompt_tokens(messages, params.get("tools"))
        return Usage(len(tokens), self.count_tokens(text))

    def _check(self, messages: Sequence[Message], params: dict[str, Any]) -> None:
        refuse_unsupported(self.name, params, _HONOURED, messages, names=False)
        offered = params.get("tools") and params.get("tool_choice") != "none"
        uses_tools = offered or any(m.get("tool_calls") or m.get("role") == "tool" for m in messages)
        if uses_tools and not self.supports_tools:
            raise UnsupportedParameterError(
                f"{self.name}'s chat template has no tool calls",
                param="tools" if params.get("tools") else "messages",
                hint="use a model whose template supports tools (qwen2.5-coder-0.5b or -1.5b), or leave tools out")
        for token in params.get("logit_bias") or {}:
            if int(token) >= self.llm.n_vocab():
                raise UnsupportedParameterError(
                    f"logit_bias names token {token}; {self.name} has {self.llm.n_vocab()} tokens",
                    param="logit_bias", hint="key logit_bias by this model's token ids")

    def _reuse_aligned_prefix(self, tokens: list[int]) -> None:
        """Keep the previous request's KV cache for the whole ``n_batch`` blocks this prompt shares with it, and drop
        the rest.

        Determinism and prefix reuse at once: llama.cpp evaluates a prompt in ``n_batch``-token batches from
        position 0, and a batch's logits depend (in the last bits) on its shape. Reusing an arbitrary prefix would
        start the remaining batches elsewhere and can flip a near-tie at temperature 0; reusing only whole blocks
        leaves every batch exactly as a fresh evaluation would make it, so the same request gives the same answer
        and log-probabilities whatever came before it, while a shared system prompt (a label list, a database
        schema) is evaluated once per block instead of on every request."""
        llm = self.llm
        shared = 0
        for a, b in zip(llm._input_ids, tokens, strict=False):
            if a != b:
                break
            shared += 1
        keep = min(shared, len(tokens) - 1) // llm.n_batch * llm.n_batch
        if keep == 0 or not llm._ctx.kv_cache_seq_rm(-1, keep, -1):
            llm.reset()
            return
        llm.n_tokens = keep  # llama.cpp's own prefix match then resumes exactly here
        llm._requires_eval = True

    def _generate(self, messages: Sequence[Message], params: dict[str, Any], stream: bool) -> Iterator[Chunk]:
        self._check(messages, params)
        tools = params.get("tools") if params.get("tool_choice") != "none" else None
        grammar = grammar_text(params)
        with self.lock:
            start = time.perf_counter()
            tokens, fmt = self.prompt_tokens(messages, tools)
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
            if "seed" in kwargs:
                kwargs["seed"] = int(kwargs["seed"]) % 2**32
            if params.get("logit_bias"):
                kwargs["logit_bias"] = {int(k): float(v) for k, v in params["logit_bias"].items()}
            if grammar is not None:
                self._constraint = _Constrained(self.llm, grammar, float(kwargs["temperature"]), kwargs.get("seed"))
            recorder = _LogprobRecorder(self.llm, int(params.get("top_logprobs") or 0)) if params.get("logprobs") \
                else None
            if recorder is not None:
                from llama_cpp import LogitsProcessorList

                kwargs["logits_processor"] = LogitsProcessorList([recorder])
            self._on_token = recorder.take if recorder is not None else None
            self._reuse_aligned_prefix(tokens)
            pieces: list[str] = []
            ttft: float | None = None
            finish = "stop"
            usage: Usage | None = None
            hold = stream and bool(tools)
            try:
                if stream:
                    sent = 0
                    for part in self.llm.create_completion(prompt=tokens, stream=True, **kwargs):
                        choice = part["choices"][0]
                        text = choice.get("text") or ""
                        if text:
                            if ttft is None:
                                ttft = time.perf_counter() - start
                            pieces.append(text)
                            if not hold:
                                sent += len(text.encode("utf-8"))
                                yield Chunk(text, logprobs=recorder.drain(sent) if recorder else ())
                        if choice.get("finish_reason"):
                            finish = choice["finish_reason"]
                else:
                    out = self.llm.create_completion(prompt=tokens, stream=False, **kwargs)
                    choice = out["choices"][0]
                    pieces.append(choice["text"])
                    finish = choice.get("finish_reason") or "stop"
                    usage = Usage(out["usage"]["prompt_tokens"], out["usage"]["completion_tokens"])
            finally:
                self._on_token = None
                if self._constraint is not None:
                    self._constraint.close()
                    self._constraint = None
            wall = time.perf_counter() - start
            text = "".join(pieces)
            if usage is None:
                usage = Usage(len(tokens), self.count_tokens(text))
            calls: tuple[ToolCall, ...] = ()
            if tools:
                text, calls = parse_tool_calls(text, tools)
                if calls:
                    finish = "tool_calls"
            else:
                check_reply(text, params, finish)
            logprobs = None
            rest: tuple[TokenLogprob, ...] = ()
            if recorder is not None:
                size = len(text.encode("utf-8"))
                rest = recorder.drain(size)
                recorder.finish(size)
                logprobs = tuple(recorder.taken)
            completion = Completion(model=self.name, text=text, finish_reason=finish, usage=usage,
                                    wall_seconds=wall, ttft_seconds=ttft if ttft is not None else wall,
                                    logprobs=logprobs, kind="local", tool_calls=calls)
        if hold and text:
            yield Chunk(text, logprobs=rest)
            rest = ()
        yield Chunk("", finish_reason=finish, completion=completion, logprobs=rest)


#: what a llama.cpp model honours of the request parameters (models/request_params.py)
_HONOURED = SAMPLING | IDENTITY | STRUCTURE | {"prompt_cache_key", "top_k", "min_p", "repeat_penalty"}


class _Constrained:
    """A grammar enforced the way llama.cpp's own samplers do it (``common/sampling.cpp``): the token sampled
    without the grammar is kept when the grammar allows it, and only otherwise are all candidates filtered by the
    grammar and the token drawn again from those it allows (greedy at temperature 0, else from the softmax at
    the temperature, seeded). Filtering every step instead costs a pass over the whole vocabulary per token,
    several times the generation itself for Qwen's 151k tokens."""

    def __init__(self, llm: Any, grammar: str, temperature: float, seed: int | None) -> None:
        import llama_cpp
        from llama_cpp._internals import LlamaTokenDataArray

        self.llm, self.temperature = llm, temperature
        self.rng = np.random.default_rng(seed)
        self.smpl = llama_cpp.llama_sampler_init_grammar(llm._model.vocab, grammar.encode("utf-8"), b"root")
        if not self.smpl:
            raise UnsupportedParameterError("llama.cpp could not parse the grammar for this response format",
                                            param="response_format", hint="simplify the schema")
        self.one = LlamaTokenDataArray(n_vocab=1)
        self.all: Any = None

    def check(self, token: int, idx: int | None) -> int:
        """The token to keep at this step: ``token`` if the grammar allows it, else one drawn from those it does;
        the grammar then advances past it."""
        import llama_cpp

        one = self.one
        one.candidates_data.id[0], one.candidates_data.logit[0], one.candidates_data.p[0] = token, 0.0, 0.0
        one.candidates.size, one.candidates.sorted, one.candidates.selected = 1, False, 0
        llama_cpp.llama_sampler_apply(self.smpl, ctypes.byref(one.candidates))
        if not np.isfinite(one.candidates_data.logit[0]):
            token = self._resample(idx)
        llama_cpp.llama_sampler_accept(self.smpl, token)
        return token

    def _resample(self, idx: int | None) -> int:
        import llama_cpp
        from llama_cpp._internals import LlamaTokenDataArray

        n_vocab = self.llm.n_vocab()
        ridx = idx - self.llm.n_tokens if idx is not None else -1
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self.llm._ctx.ctx, ridx), shape=(n_vocab,))
        if self.all is None:
            self.all = LlamaTokenDataArray(n_vocab=n_vocab)
        self.all.copy_logits(logits)
        self.all.candidates.selected = 0
        llama_cpp.llama_sampler_apply(self.smpl, ctypes.byref(self.all.candidates))
        allowed = np.array(self.all.candidates_data.logit[: self.all.candidates.size], dtype=np.float64)
        ids = np.array(self.all.candidates_data.id[: self.all.candidates.size])
        finite = np.isfinite(allowed)
        if not finite.any():
            raise InvalidReplyError("the grammar allows no token here", hint="simplify the response format")
        allowed, ids = allowed[finite], ids[finite]
        if self.temperature <= 0:
            return int(ids[int(allowed.argmax())])
        z = (allowed - allowed.max()) / self.temperature
        p = np.exp(z) / np.exp(z).sum()
        return int(self.rng.choice(ids, p=p))

    def close(self) -> None:
        """Free the grammar sampler."""
        import llama_cpp

        if self.smpl:
            llama_cpp.llama_sampler_free(self.smpl)
            self.smpl = None


class _LogprobRecorder:
    """The log-probability of every sampled token, and its ``top`` most likely alternatives.

    llama.cpp calls the logits processor with the full logits of each step before it samples, and the model's
    ``sample`` (wrapped in ``LlamaModel``) hands over the token it chose; each step's logits are kept only until
    then, so memory stays one vocabulary's worth. A token's log-probability is its logit minus the log-sum-exp of
    that step's logits (the model's own distribution, before temperature, penalties and grammar)."""

    def __init__(self, llm: Any, top: int) -> None:
        self.llm, self.top = llm, top
        self.pending: tuple[float, np.ndarray] | None = None
        self.taken: list[TokenLogprob] = []
        self._bytes = 0  # bytes of the tokens taken so far
        self._ends: list[int] = []  # byte offset at which each taken token ends
        self._drained = 0

    def __call__(self, input_ids: np.ndarray, logits: np.ndarray) -> np.ndarray:
        peak = float(logits.max())
        lse = peak + float(np.log(np.exp(logits - peak).sum()))
        self.pending = (lse, np.array(logits, copy=True))
        return logits

    def take(self, token: int) -> None:
        """Record the token sampled from the pending step (end-of-generation tokens are not part of the text)."""
        import llama_cpp

        if self.pending is None or llama_cpp.llama_vocab_is_eog(self.llm._model.vocab, token):
            return
        lse, logits = self.pending
        self.pending = None
        raw = self.llm.detokenize([token])
        top: tuple[Alternative, ...] = ()
        if self.top:
            best = np.argpartition(-logits, self.top)[: self.top]
            best = best[np.argsort(-logits[best], kind="stable")]
            top = tuple(self._alternative(int(t), float(logits[t]) - lse) for t in best)
        self.taken.append(TokenLogprob(raw.decode("utf-8", errors="replace"), float(logits[token]) - lse,
                                       tuple(raw), top))
        self._bytes += len(raw)
        self._ends.append(self._bytes)

    def _alternative(self, token: int, logprob: float) -> Alternative:
        raw = self.llm.detokenize([token])
        return Alternative(raw.decode("utf-8", errors="replace"), logprob, tuple(raw))

    def drain(self, emitted_bytes: int) -> tuple[TokenLogprob, ...]:
        """The taken tokens not handed out yet whose bytes lie within the first ``emitted_bytes`` of the text,
        so that a stream's chunks carry exactly the tokens of their text, and tokens of a stop string (cut from
        the text) are never handed out."""
        end = self._drained
        while end < len(self._ends) and self._ends[end] <= emitted_bytes:
            end += 1
        out = tuple(self.taken[self._drained:end])
        self._drained = end
        return out

    def finish(self, text_bytes: int) -> None:
        """Drop the tokens past the returned text (a stop string cut from it)."""
        keep = sum(1 for e in self._ends if e <= text_bytes)
        del self.taken[keep:]
        del self._ends[keep:]


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

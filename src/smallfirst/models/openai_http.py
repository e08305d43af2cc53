"""Any OpenAI-compatible endpoint (OpenAI, Ollama, vLLM, llama.cpp server) through the official client.

The key is read from the environment variable the config names, never from the config itself, and never
appears in an error: every message passes through ``redact``.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from smallfirst.errors import ConfigError, ContextOverflowError, UpstreamError
from smallfirst.models.records import Chunk, Completion, Message, TokenLogprob, Usage
from smallfirst.redact import redact, register_secret_env

if TYPE_CHECKING:
    import openai

    from smallfirst.config import ModelSpec, Settings

_PASS_THROUGH = ("max_tokens", "temperature", "top_p", "stop", "seed", "presence_penalty", "frequency_penalty",
                 "logprobs", "top_logprobs", "response_format", "user")


def chat_body(model: str, messages: Sequence[Message], params: dict[str, Any], stream: bool) -> dict[str, Any]:
    """The chat-completions request body: the OpenAI parameters we pass through, and usage on streams."""
    body: dict[str, Any] = {"model": model, "messages": list(messages)}
    body.update({k: v for k, v in params.items() if k in _PASS_THROUGH and v is not None})
    if body.get("logprobs") and "top_logprobs" not in body:
        # llama.cpp's server sends no logprobs at all without it; the one alternative it adds goes unused
        body["top_logprobs"] = 1
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def timeout_error(where: str, spec: ModelSpec) -> UpstreamError:
    return UpstreamError(f"{where} timed out after {spec.timeout_s:g}s",
                         hint="raise timeout_s for this model, or add a fallback")


def unreachable_error(where: str) -> UpstreamError:
    return UpstreamError(f"cannot reach {where}", hint="check base_url and that the server is running")


def status_error(where: str, spec: ModelSpec, upstream_model: str, status: int, message: str,
                 retry_after: str | None) -> UpstreamError | ContextOverflowError:
    """An upstream's HTTP error status as the error smallfirst raises: retryable or not, with a hint, the
    message redacted, and a prompt too long for the context told apart (it is the caller's to fix)."""
    detail = redact(message) or ""
    if status in (400, 413) and ("context" in detail.lower() or "too long" in detail.lower()):
        return ContextOverflowError(f"the prompt does not fit {where}'s context: {detail}",
                                    hint="shorten the prompt or lower max_tokens")
    hints = {401: f"the key in ${spec.api_key_env} was refused; check it",
             403: "the key lacks access to this model",
             404: f"the endpoint has no model {upstream_model!r}",
             429: "the endpoint is rate-limiting; slow down or add a fallback",
             500: "the endpoint failed; retry later or add a fallback"}
    seconds = None
    if retry_after:
        try:
            seconds = float(retry_after)
        except ValueError:
            seconds = None
    return UpstreamError(f"{where} returned HTTP {status}: {detail}", upstream_status=status,
                         retry_after=seconds, hint=hints.get(status, hints[500] if status >= 500 else None))


def build(name: str, spec: ModelSpec, settings: Settings) -> OpenAIModel:
    if not spec.base_url:
        raise ConfigError(f"model {name!r} uses the openai backend but has no base_url",
                          hint="set base_url, e.g. https://api.openai.com/v1 or http://127.0.0.1:11434/v1")
    return OpenAIModel(name, spec)


class OpenAIModel:
    kind = "api"

    def __init__(self, name: str, spec: ModelSpec) -> None:
        self.name = name
        self.spec = spec
        self.upstream_model = spec.model or name
        self.context_length: int | None = spec.options.get("context_length")
        register_secret_env(spec.api_key_env)
        self._sync: openai.OpenAI | None = None
        self._async: openai.AsyncOpenAI | None = None

    def _key(self) -> str:
        env = self.spec.api_key_env
        if env is None:
            return "unused"  # local servers (Ollama, llama.cpp) accept any key
        key = os.environ.get(env)
        if not key:
            raise ConfigError(f"model {self.name!r} reads its API key from ${env}, which is not set",
                              hint=f"export {env}=... before starting smallfirst")
        return key

    def _client_args(self) -> dict[str, Any]:
        return {"base_url": self.spec.base_url, "api_key": self._key(), "timeout": self.spec.timeout_s,
                "max_retries": self.spec.max_retries}

    @property
    def client(self) -> openai.OpenAI:
        if self._sync is None:
            import openai

            self._sync = openai.OpenAI(**self._client_args())
        return self._sync

    @property
    def aclient(self) -> openai.AsyncOpenAI:
        if self._async is None:
            import openai

            self._async = openai.AsyncOpenAI(**self._client_args())
        return self._async

    def _request(self, messages: Sequence[Message], params: dict[str, Any], stream: bool) -> dict[str, Any]:
        return chat_body(self.upstream_model, messages, params, stream)

    def complete(self, messages: Sequence[Message], **params: Any) -> Completion:
        start = time.perf_counter()
        try:
            resp = self.client.chat.completions.create(**self._request(messages, params, stream=False))
        except Exception as exc:
            raise self._translate(exc) from None
        wall = time.perf_counter() - start
        return self._completion(resp, wall, wall)

    async def acomplete(self, messages: Sequence[Message], **params: Any) -> Completion:
        start = time.perf_counter()
        try:
            resp = await self.aclient.chat.completions.create(**self._request(messages, params, stream=False))
        except Exception as exc:
            raise self._translate(exc) from None
        wall = time.perf_counter() - start
        return self._completion(resp, wall, wall)

    def _completion(self, resp: Any, wall: float, ttft: float) -> Completion:
        if not resp.choices:
            raise UpstreamError(f"{self.name} returned no choices")
        choice = resp.choices[0]
        usage = Usage(resp.usage.prompt_tokens, resp.usage.completion_tokens) if resp.usage else Usage(0, 0)
        logprobs = None
        if getattr(choice, "logprobs", None) and choice.logprobs.content:
            logprobs = tuple(TokenLogprob(t.token, t.logprob) for t in choice.logprobs.content)
        return Completion(model=self.name, text=choice.message.content or "",
                          finish_reason=choice.finish_reason or "stop", usage=usage, wall_seconds=wall,
                          ttft_seconds=ttft, logprobs=logprobs, kind="api")

    def stream(self, messages: Sequence[Message], **params: Any) -> Iterator[Chunk]:
        start = time.perf_counter()
        acc = _StreamAccumulator(self.name, start)
        try:
            for event in self.client.chat.completions.create(**self._request(messages, params, stream=True)):
                piece = acc.add(event)
                if piece:
                    yield Chunk(piece)
        except Exception as exc:
            raise self._translate(exc) from None
        yield acc.final()

    async def astream(self, messages: Sequence[Message], **params: Any) -> AsyncIterator[Chunk]:
        start = time.perf_counter()
        acc = _StreamAccumulator(self.name, start)
        try:
            stream = await self.aclient.chat.completions.create(**self._request(messages, params, stream=True))
            async with stream:
                async for event in stream:
                    piece = acc.add(event)
                    if piece:
                        yield Chunk(piece)
        except Exception as exc:
            raise self._translate(exc) from None
        yield acc.final()

    def _translate(self, exc: Exception) -> Exception:
        import openai

        where = f"{self.name} at {self.spec.base_url}"
        if isinstance(exc, openai.APITimeoutError):
            return timeout_error(where, self.spec)
        if isinstance(exc, openai.APIConnectionError):
            return unreachable_error(where)
        if isinstance(exc, openai.APIStatusError):
            retry_after = exc.response.headers.get("retry-after") if exc.response is not None else None
            return status_error(where, self.spec, self.upstream_model, exc.status_code, _message(exc), retry_after)
        if isinstance(exc, (UpstreamError, ConfigError)):
            return exc
        return UpstreamError(f"{where} failed: {redact(str(exc))}")

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None


def _message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
    return str(getattr(exc, "message", exc))


class _StreamAccumulator:
    def __init__(self, name: str, start: float) -> None:
        self.name, self.start = name, start
        self.parts: list[str] = []
        self.ttft: float | None = None
        self.finish: str | None = None
        self.usage: Usage | None = None
        self.n_chunks = 0

    def add(self, event: Any) -> str:
        if getattr(event, "usage", None):
            self.usage = Usage(event.usage.prompt_tokens, event.usage.completion_tokens)
        if not event.choices:
            return ""
        choice = event.choices[0]
        if choice.finish_reason:
            self.finish = choice.finish_reason
        piece = (choice.delta.content or "") if choice.delta else ""
        if piece:
            if self.ttft is None:
                self.ttft = time.perf_counter() - self.start
            self.parts.append(piece)
            self.n_chunks += 1
        return piece

    def final(self) -> Chunk:
        wall = time.perf_counter() - self.start
        # Servers that ignore stream_options send no usage; one content chunk per token is the best count left.
        usage = self.usage or Usage(0, self.n_chunks)
        completion = Completion(model=self.name, text="".join(self.parts), finish_reason=self.finish or "stop",
                                usage=usage, wall_seconds=wall, ttft_seconds=self.ttft or wall, kind="api")
        return Chunk("", finish_reason=completion.finish_reason, completion=completion)

"""Any OpenAI-compatible endpoint (OpenAI, Ollama, vLLM, llama.cpp's server): the one HTTP backend.

The CLI, the demo and the gateway all reach an endpoint through this class, with one HTTP client (a pooled
``aiohttp`` session) and one retry and error policy, so they cannot behave differently against the same
endpoint. It speaks the wire format directly: JSON bytes out, JSON in through pydantic-core. The official
client's request and response models cost more than the rest of the gateway together on its hot path, and
httpx's pure-Python HTTP/1.1 stack about 3 ms of CPU per call on two cores, against about 1 ms for aiohttp's C
parser.

Retries: 429, 5xx, timeouts and refused connections, up to ``max_retries`` times, backing off exponentially
(0.5 s, 1 s, 2 s... at most 8 s, with jitter) or as long as ``Retry-After`` asks. The key is read from the
environment variable the config names, never from the config itself, and never appears in an error: every
message passes through ``redact``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from pydantic_core import from_json, to_json

from smallfirst.errors import ConfigError, ContextOverflowError, SmallfirstError, UpstreamError
from smallfirst.models.completion import Chunk, Completion, Message, TokenLogprob, Usage
from smallfirst.redact import redact, register_secret_env

if TYPE_CHECKING:
    import aiohttp

    from smallfirst.config import ModelSpec, Settings

__all__ = ["OpenAIModel", "build", "chat_body", "status_error"]

_PASS_THROUGH = ("max_tokens", "temperature", "top_p", "stop", "seed", "presence_penalty", "frequency_penalty",
                 "logprobs", "top_logprobs", "response_format", "user")
_MAX_BACKOFF_S = 8.0


def chat_body(model: str, messages: Sequence[Message], params: dict[str, Any], stream: bool) -> dict[str, Any]:
    """The chat-completions request body: the OpenAI parameters passed through, and usage on streams."""
    body: dict[str, Any] = {"model": model, "messages": list(messages)}
    body.update({k: v for k, v in params.items() if k in _PASS_THROUGH and v is not None})
    if body.get("logprobs") and "top_logprobs" not in body:
        # llama.cpp's server sends no logprobs at all without it; the one alternative it adds goes unused
        body["top_logprobs"] = 1
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


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
    """The registry's ``openai`` backend. Raises ConfigError without a base_url."""
    return OpenAIModel(name, spec)


class OpenAIModel:
    """An OpenAI-compatible endpoint as an async :class:`~smallfirst.models.model.Model`.

    One ``aiohttp`` session per event loop that calls it (a session belongs to the loop that opened it: the
    gateway's, or the service's own loop for synchronous callers)."""

    kind = "api"

    def __init__(self, name: str, spec: ModelSpec) -> None:
        if not spec.base_url:
            raise ConfigError(f"model {name!r} uses the openai backend but has no base_url",
                              hint="set base_url, e.g. https://api.openai.com/v1 or http://127.0.0.1:11434/v1")
        self.name, self.spec = name, spec
        self.upstream_model = spec.model or name
        self.context_length: int | None = spec.options.get("context_length")
        self.where = f"{name} at {spec.base_url}"
        self.url = spec.base_url.rstrip("/") + "/chat/completions"
        register_secret_env(spec.api_key_env)
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}

    def _key(self) -> str:
        env = self.spec.api_key_env
        if env is None:
            return "unused"  # local servers (Ollama, llama.cpp) accept any key
        key = os.environ.get(env)
        if not key:
            raise ConfigError(f"model {self.name!r} reads its API key from ${env}, which is not set",
                              hint=f"export {env}=... before starting smallfirst")
        return key

    def _session(self) -> aiohttp.ClientSession:
        import aiohttp

        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            # connect and sock_read, not total: a stream may run long, but each read must arrive in time.
            timeout = aiohttp.ClientTimeout(total=None, connect=self.spec.timeout_s, sock_read=self.spec.timeout_s)
            session = self._sessions[loop] = aiohttp.ClientSession(
                headers={"authorization": f"Bearer {self._key()}", "content-type": "application/json"},
                timeout=timeout, connector=aiohttp.TCPConnector(limit=256, keepalive_timeout=30))
        return session

    async def complete(self, messages: Sequence[Message], **params: Any) -> Completion:
        """One chat completion. Raises UpstreamError (retryable or not), ContextOverflowError, ConfigError."""
        import aiohttp

        payload = to_json(chat_body(self.upstream_model, messages, params, False))
        start = time.perf_counter()
        resp = await self._send(payload)
        try:
            raw = await resp.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise self._transport_error(exc) from None
        finally:
            resp.release()
        wall = time.perf_counter() - start
        try:
            data = from_json(raw)
            choice = data["choices"][0]
            usage = data.get("usage") or {}
            logprobs = None
            if (choice.get("logprobs") or {}).get("content"):
                logprobs = tuple(TokenLogprob(t["token"], t["logprob"],
                                              tuple((a["token"], a["logprob"]) for a in t.get("top_logprobs") or ()))
                                 for t in choice["logprobs"]["content"])
            return Completion(model=self.name, text=(choice.get("message") or {}).get("content") or "",
                              finish_reason=choice.get("finish_reason") or "stop",
                              usage=Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)),
                              wall_seconds=wall, ttft_seconds=wall, logprobs=logprobs, kind="api")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise UpstreamError(f"{self.where} sent a malformed response ({type(exc).__name__})") from None

    async def stream(self, messages: Sequence[Message], **params: Any) -> AsyncIterator[Chunk]:
        """Text chunks as the endpoint sends them, then the chunk holding the Completion. Servers that send no
        usage (they ignore ``stream_options``) get one completion token per content chunk."""
        import aiohttp

        payload = to_json(chat_body(self.upstream_model, messages, params, True))
        start = time.perf_counter()
        resp = await self._send(payload)
        parts: list[str] = []
        ttft: float | None = None
        finish, usage = "stop", None
        finished = False
        try:
            async for raw in resp.content:
                line = raw.decode("utf-8").strip()
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    finished = True
                    break
                event = from_json(data)
                if event.get("error"):
                    raise UpstreamError(f"{self.where} failed mid-stream: {redact(str(event['error']))}")
                if event.get("usage"):
                    usage = Usage(event["usage"].get("prompt_tokens", 0), event["usage"].get("completion_tokens", 0))
                for choice in event.get("choices") or ():
                    finish = choice.get("finish_reason") or finish
                    piece = (choice.get("delta") or {}).get("content") or ""
                    if piece:
                        ttft = ttft if ttft is not None else time.perf_counter() - start
                        parts.append(piece)
                        yield Chunk(piece)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise UpstreamError(f"{self.where} broke off its stream ({type(exc).__name__})") from None
        except ValueError:
            raise UpstreamError(f"{self.where} sent a malformed stream event") from None
        finally:
            # Closing (not releasing) an unfinished stream drops the connection, which is how the upstream
            # learns that nobody waits for the rest and stops generating.
            if finished:
                resp.release()
            else:
                resp.close()
        wall = time.perf_counter() - start
        completion = Completion(model=self.name, text="".join(parts), finish_reason=finish,
                                usage=usage or Usage(0, len(parts)), wall_seconds=wall,
                                ttft_seconds=ttft if ttft is not None else wall, kind="api")
        yield Chunk("", finish_reason=finish, completion=completion)

    async def _send(self, payload: bytes) -> aiohttp.ClientResponse:
        """POST the request, retrying what may succeed later; returns a response with a status below 400
        whose body is still unread."""
        import aiohttp

        attempt = 0
        while True:
            error: SmallfirstError
            try:
                resp = await self._session().post(self.url, data=payload)
                if resp.status < 400:
                    return resp
                try:
                    error = await self._status_error(resp)
                finally:
                    resp.release()
            except (TimeoutError, aiohttp.ClientError) as exc:
                error = self._transport_error(exc)
            if not isinstance(error, UpstreamError) or not error.retryable or attempt >= self.spec.max_retries:
                raise error
            delay = error.retry_after if error.retry_after is not None else 0.5 * 2**attempt
            await asyncio.sleep(min(delay, _MAX_BACKOFF_S) * random.uniform(0.8, 1.0))
            attempt += 1

    def _transport_error(self, exc: BaseException) -> UpstreamError:
        if isinstance(exc, TimeoutError):
            return UpstreamError(f"{self.where} timed out after {self.spec.timeout_s:g}s",
                                 hint="raise timeout_s for this model, or add a fallback")
        return UpstreamError(f"cannot reach {self.where}", hint="check base_url and that the server is running")

    async def _status_error(self, resp: aiohttp.ClientResponse) -> SmallfirstError:
        raw = await resp.read()
        try:
            err = json.loads(raw).get("error", {})
            detail = err.get("message", "") if isinstance(err, dict) else str(err)
        except (ValueError, AttributeError):
            detail = raw[:200].decode("utf-8", "replace")
        return status_error(self.where, self.spec, self.upstream_model, resp.status, detail,
                            resp.headers.get("retry-after"))

    async def aclose(self) -> None:
        """Close this loop's session (the others belong to loops that close their own)."""
        session = self._sessions.pop(asyncio.get_running_loop(), None)
        if session is not None:
            await session.close()

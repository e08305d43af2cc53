"""OpenAI-compatible endpoints called from the gateway with one pooled ``aiohttp`` session per model.

The official client is right for the CLI, but on the gateway's hot path its request and response models cost
more than the rest of the gateway together, and httpx's pure-Python HTTP/1.1 stack still costs about 3 ms of
CPU per call on two cores, against about 1 ms for aiohttp's C parser. This speaks the same wire format
directly: JSON bytes in, JSON out (through pydantic-core, a third of the json module's CPU), with retries on
429, 5xx, timeouts and refused connections, backing off exponentially or as long as Retry-After asks.
Errors are translated by the same helpers as ``OpenAIModel``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
from pydantic_core import from_json, to_json

from smallfirst.config import ModelSpec
from smallfirst.errors import ConfigError, SmallfirstError, UpstreamError
from smallfirst.models.openai_http import chat_body, status_error, timeout_error, unreachable_error
from smallfirst.models.records import Chunk, Completion, Message, TokenLogprob, Usage
from smallfirst.redact import redact, register_secret_env

_MAX_BACKOFF_S = 8.0


class Endpoint:
    def __init__(self, name: str, spec: ModelSpec) -> None:
        if not spec.base_url:
            raise ConfigError(
                f"model {name!r} uses the openai backend but has no base_url",
                hint="set base_url, e.g. https://api.openai.com/v1",
            )
        self.name, self.spec = name, spec
        self.upstream_model = spec.model or name
        self.where = f"{name} at {spec.base_url}"
        self.url = spec.base_url.rstrip("/") + "/chat/completions"
        register_secret_env(spec.api_key_env)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            key = "unused"
            if self.spec.api_key_env:
                key = os.environ.get(self.spec.api_key_env) or ""
                if not key:
                    raise ConfigError(
                        f"model {self.name!r} reads its API key from ${self.spec.api_key_env}, "
                        "which is not set",
                        hint=f"export {self.spec.api_key_env}=...",
                    )
            # connect and sock_read, not total: a stream may run long, but each read must arrive in time.
            timeout = aiohttp.ClientTimeout(total=None, connect=self.spec.timeout_s, sock_read=self.spec.timeout_s)
            self._session = aiohttp.ClientSession(
                headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
                timeout=timeout,
                connector=aiohttp.TCPConnector(limit=256, keepalive_timeout=30),
            )
        return self._session

    async def complete(self, messages: Sequence[Message], params: dict[str, Any]) -> Completion:
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
                logprobs = tuple(
                    TokenLogprob(t["token"], t["logprob"]) for t in choice["logprobs"]["content"]
                )
            return Completion(
                model=self.name,
                text=(choice.get("message") or {}).get("content") or "",
                finish_reason=choice.get("finish_reason") or "stop",
                usage=Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)),
                wall_seconds=wall,
                ttft_seconds=wall,
                logprobs=logprobs,
                kind="api",
            )
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise UpstreamError(f"{self.where} sent a malformed response ({type(exc).__name__})") from None

    async def stream(self, messages: Sequence[Message], params: dict[str, Any]) -> AsyncIterator[Chunk]:
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
                    usage = Usage(
                        event["usage"].get("prompt_tokens", 0), event["usage"].get("completion_tokens", 0)
                    )
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
        completion = Completion(
            model=self.name,
            text="".join(parts),
            finish_reason=finish,
            usage=usage or Usage(0, len(parts)),
            wall_seconds=wall,
            ttft_seconds=ttft if ttft is not None else wall,
            kind="api",
        )
        yield Chunk("", finish_reason=finish, completion=completion)

    async def _send(self, payload: bytes) -> aiohttp.ClientResponse:
        """POST the request, retrying what may succeed later; returns a response with a status below 400
        whose body is still unread."""
        attempt = 0
        while True:
            error: SmallfirstError
            try:
                resp = await self.session.post(self.url, data=payload)
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
            return timeout_error(self.where, self.spec)
        return unreachable_error(self.where)

    async def _status_error(self, resp: aiohttp.ClientResponse) -> SmallfirstError:
        raw = await resp.read()
        try:
            err = json.loads(raw).get("error", {})
            detail = err.get("message", "") if isinstance(err, dict) else str(err)
        except (ValueError, AttributeError):
            detail = raw[:200].decode("utf-8", "replace")
        return status_error(
            self.where, self.spec, self.upstream_model, resp.status, detail, resp.headers.get("retry-after")
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

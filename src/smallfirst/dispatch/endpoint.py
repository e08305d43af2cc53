"""OpenAI-compatible endpoints called from the gateway with one pooled ``httpx.AsyncClient`` per model.

The official client is right for the CLI, but on the gateway's hot path its request transformation and
response model construction cost more than the rest of the gateway together (about 3 ms per call on two
cores). This speaks the same wire format directly: plain JSON in, plain JSON out, with retries on 429, 5xx,
timeouts and refused connections, backing off exponentially or as long as Retry-After asks.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from smallfirst.config import ModelSpec
from smallfirst.errors import ConfigError, ContextOverflowError, UpstreamError
from smallfirst.models.openai_http import chat_body
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
        register_secret_env(spec.api_key_env)
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            key = "unused"
            if self.spec.api_key_env:
                key = os.environ.get(self.spec.api_key_env) or ""
                if not key:
                    raise ConfigError(
                        f"model {self.name!r} reads its API key from ${self.spec.api_key_env}, "
                        "which is not set",
                        hint=f"export {self.spec.api_key_env}=...",
                    )
            self._client = httpx.AsyncClient(
                base_url=self.spec.base_url.rstrip("/"),
                timeout=self.spec.timeout_s,  # type: ignore[union-attr]
                headers={"authorization": f"Bearer {key}"},
                limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
            )
        return self._client

    def _body(self, messages: Sequence[Message], params: dict[str, Any], stream: bool) -> dict[str, Any]:
        return chat_body(self.upstream_model, messages, params, stream)

    async def complete(self, messages: Sequence[Message], params: dict[str, Any]) -> Completion:
        body = self._body(messages, params, stream=False)
        start = time.perf_counter()
        resp = await self._send(lambda: self.client.post("/chat/completions", json=body))
        wall = time.perf_counter() - start
        try:
            data = resp.json()
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
        body = self._body(messages, params, stream=True)
        start = time.perf_counter()
        resp = await self._send(
            lambda: self.client.send(
                self.client.build_request("POST", "/chat/completions", json=body), stream=True
            )
        )
        parts: list[str] = []
        ttft: float | None = None
        finish, usage = "stop", None
        try:
            async for line in resp.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                event = json.loads(data)
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
        except httpx.HTTPError as exc:
            raise UpstreamError(f"{self.where} broke off its stream ({type(exc).__name__})") from None
        except ValueError:
            raise UpstreamError(f"{self.where} sent a malformed stream event") from None
        finally:
            await resp.aclose()
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

    async def _send(self, call: Any) -> httpx.Response:
        attempt = 0
        while True:
            try:
                resp = await call()
                if resp.status_code < 400:
                    return resp
                await resp.aread()
                error = self._status_error(resp)
            except httpx.TimeoutException:
                error = UpstreamError(
                    f"{self.where} timed out after {self.spec.timeout_s:g}s",
                    hint="raise timeout_s for this model, or add a fallback",
                )
            except httpx.HTTPError as exc:
                error = UpstreamError(
                    f"cannot reach {self.where} ({type(exc).__name__})",
                    hint="check base_url and that the server is running",
                )
            if not error.retryable or attempt >= self.spec.max_retries:
                raise error
            delay = error.retry_after if error.retry_after is not None else 0.5 * 2**attempt
            await asyncio.sleep(min(delay, _MAX_BACKOFF_S) * random.uniform(0.8, 1.0))
            attempt += 1

    def _status_error(self, resp: httpx.Response) -> UpstreamError | ContextOverflowError:  # type: ignore[return]
        status = resp.status_code
        try:
            err = resp.json().get("error", {})
            detail = err.get("message", "") if isinstance(err, dict) else str(err)
        except ValueError:
            detail = resp.text[:200]
        detail = redact(detail) or ""
        if status in (400, 413) and ("context" in detail.lower() or "too long" in detail.lower()):
            raise ContextOverflowError(
                f"the prompt does not fit {self.where}'s context: {detail}",
                hint="shorten the prompt or lower max_tokens",
            )
        retry_after = None
        if resp.headers.get("retry-after"):
            try:
                retry_after = float(resp.headers["retry-after"])
            except ValueError:
                retry_after = None
        hint = {
            401: f"the key in ${self.spec.api_key_env} was refused; check it",
            404: f"the endpoint has no model {self.upstream_model!r}",
            429: "the endpoint is rate-limiting; slow down or add a fallback",
        }.get(status, "the endpoint failed; retry later or add a fallback" if status >= 500 else None)
        return UpstreamError(
            f"{self.where} returned HTTP {status}: {detail}",
            upstream_status=status,
            retry_after=retry_after,
            hint=hint,
        )

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

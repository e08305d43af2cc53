"""Who may ask, for what, and how much: key authentication, allowed models, rate limits and budget holds.

Authentication is on as soon as any key exists, and always when the server listens beyond loopback. A
fresh local install with no keys runs open (as Ollama does); the CLI says so loudly at start-up.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from smallfirst.errors import AuthError, BudgetExceededError, ConfigError, ForbiddenError
from smallfirst.models.completion import Message, Usage
from smallfirst.models.registry import resolve
from smallfirst.server.ratelimit import RateLimiter
from smallfirst.service import Service
from smallfirst.store import keys as keystore

#: how long "no keys exist" is believed before asking the database again
_OPEN_RECHECK_S = 2.0
#: the completion length a hold assumes when the request names no max_tokens
_DEFAULT_MAX_TOKENS = 1024


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Admission:
    key: keystore.KeyRecord | None = None
    reservation: keystore.Reservation | None = None

    @property
    def key_id(self) -> str | None:
        return self.key.id if self.key else None


OPEN = Admission()


class Gatekeeper:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.always = not is_loopback(service.settings.server.host)
        self.limiter = RateLimiter()
        self._keys_exist = False
        self._checked_at: float | None = None  # never: the first request asks the database itself
        self._key_ttl = service.settings.server.key_cache_s
        #: secret digest -> (valid key, when the database said so); unknown keys are never remembered
        self._known: dict[str, tuple[keystore.KeyRecord, float]] = {}

    @property
    def enforced(self) -> bool:
        if self.always or self._keys_exist:
            return True  # once a key exists, auth stays on for the life of the process
        now = time.monotonic()
        if self._checked_at is None:
            self._checked_at = now
            self._look_for_keys()
        elif now - self._checked_at > _OPEN_RECHECK_S:
            self._checked_at = now
            try:
                # Later checks run on a worker thread: the event loop must not wait on the database.
                asyncio.get_running_loop().run_in_executor(None, self._look_for_keys)
            except RuntimeError:  # no event loop: ask now
                self._look_for_keys()
        return self._keys_exist

    def _look_for_keys(self) -> None:
        self._keys_exist = self._keys_exist or keystore.any_keys(self.service.engine)

    async def admit(
        self, authorization: str | None, requested: str, messages: Sequence[Message], params: dict[str, Any]
    ) -> Admission:
        if not self.enforced:
            return OPEN
        key = self._remembered(authorization)
        if key is not None and key.budget_usd is None:
            return self._permit(key, requested)  # nothing for the database to do: no thread hop
        return await asyncio.to_thread(self._admit, authorization, requested, messages, params)

    async def check(self, authorization: str | None) -> Admission:
        """Authentication alone, for the read-only pages."""
        if not self.enforced:
            return OPEN
        return Admission(await asyncio.to_thread(self._key, authorization))

    def _key(self, authorization: str | None) -> keystore.KeyRecord:
        secret = _bearer(authorization)
        if not secret:
            raise AuthError(
                "this gateway requires an API key",
                hint="send 'Authorization: Bearer sf-...'; create one with `smallfirst keys create`",
            )
        key = keystore.find_key(self.service.engine, secret)
        if key is None:
            raise AuthError(
                "unknown or revoked API key",
                hint="check the key, or create one with `smallfirst keys create`",
            )
        if self._key_ttl > 0:
            self._known[keystore.hash_secret(secret)] = (key, time.monotonic())
        return key

    def _remembered(self, authorization: str | None) -> keystore.KeyRecord | None:
        secret = _bearer(authorization) if self._known else None
        if not secret:
            return None
        hit = self._known.get(keystore.hash_secret(secret))
        if hit is None or time.monotonic() - hit[1] > self._key_ttl:
            return None
        return hit[0]

    def _permit(self, key: keystore.KeyRecord, requested: str) -> Admission:
        """The checks that need no database: allowed models and the rate limit."""
        if key.allowed_models and requested not in key.allowed_models:
            raise ForbiddenError(
                f"key {key.id} may not use {requested!r}",
                param="model",
                hint=f"allowed: {', '.join(key.allowed_models)}",
            )
        if key.rate_limit_rpm is not None:
            self.limiter.hit(key.id, key.rate_limit_rpm)
        return Admission(key)

    def _admit(
        self, authorization: str | None, requested: str, messages: Sequence[Message], params: dict[str, Any]
    ) -> Admission:
        key = self._key(authorization)
        self._permit(key, requested)
        if key.budget_usd is None:
            return Admission(key)
        hold = self.hold(requested, messages, params)
        now = datetime.now(UTC)
        reservation = keystore.reserve(self.service.engine, key, hold, now)
        if reservation is None:
            _, end = keystore.period_bounds(key.budget_period, now)
            wait = (end - now.timestamp()) if end is not None else 86_400.0
            raise BudgetExceededError(
                f"key {key.id} has spent its {key.budget_period} budget of ${key.budget_usd:.6f} "
                f"(this request holds up to ${hold:.6f} until it is priced)",
                retry_after=wait,
                hint="wait for the next period, lower max_tokens, or raise the key's budget",
            )
        return Admission(key, reservation)

    def hold(self, requested: str, messages: Sequence[Message], params: dict[str, Any]) -> Decimal:
        """The most this request can cost: every model it may call, at the longest prompt and answer it can
        have, and for compute-priced models ``budget_hold_s`` seconds of the machine."""
        svc = self.service
        prompt_upper = sum(len(str(m.get("content") or "").encode("utf-8")) + 16 for m in messages)
        usage = Usage(prompt_upper, int(params.get("max_tokens") or _DEFAULT_MAX_TOKENS))
        policy = svc.policies.get(requested)
        if policy is not None and hasattr(policy, "small") and hasattr(policy, "large"):
            steps = [policy.small, policy.large]
        elif policy is not None:
            steps = [svc.decide(requested, messages).model]
        else:
            steps = [requested]
        return sum((self._worst(name, usage) for name in steps), Decimal(0))

    def _worst(self, name: str, usage: Usage) -> Decimal:
        spec = resolve(name, self.service.settings)
        costs = []
        for candidate in [name, *spec.fallbacks]:
            try:
                cspec = resolve(candidate, self.service.settings)
                costs.append(
                    self.service.ledger.price_usage(
                        candidate, cspec, usage, self.service.settings.server.budget_hold_s
                    ).usd
                )
            except ConfigError:  # no list price known: the baseline model's price stands in
                costs.append(self.service.ledger.baseline(usage).usd)
        return max(costs)

    def settle_soon(self, admission: Admission, actual_usd: Decimal) -> None:
        """Replace the hold by the real cost on a worker thread. Never awaited: it must also run from clean-up
        code of a cancelled request, and the client need not wait for it."""
        if admission.reservation is not None:
            asyncio.get_running_loop().run_in_executor(
                None, keystore.settle, self.service.engine, admission.reservation, actual_usd
            )


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None

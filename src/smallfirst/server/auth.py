"""Who may ask, for what, and how much: key authentication, allowed models, rate limits and budget holds.

Authentication is on as soon as any key exists, and always when the server listens beyond loopback. A
fresh local install with no keys runs open (as Ollama does); the CLI says so loudly at start-up. Creating the
first key closes an open gateway before its next request: with a SQLite log, the key store touches a stamp file
that the gateway reads on every open request (one ``stat``); with a server database an open gateway asks it on
every request. A revoked key stops working on the same machine at once (the stamp again) and on other replicas
within ``server.key_cache_s``.

Budgets hold the worst case before a request runs and settle the actual cost after, from the request's log
row (so a key's spend is the sum of its rows). The worst case is every model the request may reach, at the
longest prompt and answer it can have; an upstream that reports more tokens than that (they do: llama.cpp's
server counts the tokens of a cut multi-byte character) teaches the gateway its over-report ratio, which later
holds for that model include. Until a model's first budgeted request has settled, the gateway lets one
budgeted request to it run at a time, so a burst cannot overspend on a ratio nobody has seen yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from smallfirst.errors import AuthError, BudgetExceededError, ConfigError, ForbiddenError
from smallfirst.models.completion import Message, Usage
from smallfirst.models.registry import resolve
from smallfirst.server.ratelimit import RateLimiter
from smallfirst.service import Service
from smallfirst.store import keys as keystore
from smallfirst.store.request_record import RequestRecord

#: the completion length a hold assumes when the request names no max_tokens
_DEFAULT_MAX_TOKENS = 1024
#: bytes added to a prompt's JSON for what a chat template adds (role markers, a default system prompt)
_TEMPLATE_BYTES = 256
#: how long a budgeted request waits for the first (calibrating) request to its model to settle
_PROBE_WAIT_S = 120.0


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine only: ``localhost`` or a loopback address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Admission:
    """What admitted a request: its key (None on an open gateway) and the budget hold taken for it, if any."""

    key: keystore.KeyRecord | None = None
    reservation: keystore.Reservation | None = None

    @property
    def key_id(self) -> str | None:
        """The key's id, or None on an open gateway."""
        return self.key.id if self.key else None


OPEN = Admission()


class Gatekeeper:
    """Authentication, allowed models, rate limits and budgets for one gateway process over ``service``'s
    database. ``observe`` (hooked to the service's log) settles each request's hold from its log row."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.always = not is_loopback(service.settings.server.host)
        self.limiter = RateLimiter()
        self._keys_exist = False
        self._checked = False
        self._key_ttl = service.settings.server.key_cache_s
        #: secret digest -> (valid key, when the database said so); unknown keys are never remembered
        self._known: dict[str, tuple[keystore.KeyRecord, float]] = {}
        self._stamp: Any = None
        self._stamp_mtime: float | None = None
        #: request id -> (its hold, the requested name, the hold before the over-report ratio)
        self._holds: dict[str, tuple[keystore.Reservation, str, Decimal]] = {}
        #: requested name -> the highest actual cost / hold seen (an upstream that over-reports tokens)
        self._ratio: dict[str, Decimal] = {}
        #: requested name -> set once its first budgeted request has settled
        self._calibrated: dict[str, asyncio.Event] = {}
        #: local model -> the most seconds per completion token seen (for models with no measured throughput)
        self._seconds_per_token: dict[str, float] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- is the gateway open? ---------------------------------------------------------------------------

    def _stamp_changed(self) -> bool:
        """Whether a key was created or revoked since the last look (SQLite logs only; one ``stat``)."""
        if self._stamp is None:
            self._stamp = keystore.keys_stamp(self.service.engine) or False
        if self._stamp is False:
            return False
        try:
            mtime = os.stat(self._stamp).st_mtime_ns
        except FileNotFoundError:
            return False
        changed = mtime != self._stamp_mtime
        self._stamp_mtime = mtime
        return changed

    @property
    def enforced(self) -> bool:
        """Whether requests need a key now: beyond loopback always; on loopback once any key exists (asked of the
        database at the first request and whenever the key store's stamp changes)."""
        if self.always or self._keys_exist:
            if self._stamp_changed():
                self._known.clear()  # a key was revoked or created: believe the database again
            return True
        if not self._checked or self._stamp_changed() or self._stamp is False:
            self._checked = True
            self._keys_exist = keystore.any_keys(self.service.engine)
        return self._keys_exist

    async def _enforced(self) -> bool:
        if self.always or self._keys_exist or self._stamp is not False:
            return self.enforced
        return await asyncio.to_thread(lambda: self.enforced)  # an open gateway on a server database asks it

    # -- admission ------------------------------------------------------------------------------------------

    async def admit(
        self, authorization: str | None, requested: str, messages: Sequence[Message], params: dict[str, Any],
        request_id: str = "",
    ) -> Admission:
        """Authenticate and admit one request: the key, its allowed models and rate limit, and a budget hold
        for ``request_id``. Raises AuthError (401), ForbiddenError (403), RateLimitedError or
        BudgetExceededError (429)."""
        if not await self._enforced():
            return OPEN
        key = self._remembered(authorization)
        if key is not None and key.budget_usd is None:
            return self._permit(key, requested)  # nothing for the database to do: no thread hop
        if key is None:
            key = await asyncio.to_thread(self._key, authorization)
        self._permit(key, requested)
        if key.budget_usd is None:
            return Admission(key)
        await self._calibration(requested)
        return await asyncio.to_thread(self._reserve, key, requested, messages, params, request_id)

    async def check(self, authorization: str | None, *, token_env: str | None = None) -> Admission:
        """Authentication alone, for the other routes; ``token_env`` names an environment variable whose value is
        accepted too (the metrics token)."""
        if not await self._enforced():
            return OPEN
        token = os.environ.get(token_env) if token_env else None
        if token and _bearer(authorization) == token:
            return OPEN
        key = self._remembered(authorization)
        if key is not None:
            return Admission(key)
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

    async def _calibration(self, requested: str) -> None:
        """Wait while another budgeted request is the first to ``requested`` (its over-report ratio is unknown
        until it settles); become that first request when none is running."""
        self._loop = asyncio.get_running_loop()
        with self._lock:
            event = self._calibrated.get(requested)
            if event is None:
                self._calibrated[requested] = asyncio.Event()
                return  # this request calibrates
        if not event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), _PROBE_WAIT_S)

    def _reserve(self, key: keystore.KeyRecord, requested: str, messages: Sequence[Message], params: dict[str, Any],
                 request_id: str) -> Admission:
        base = self.hold(requested, messages, params)
        hold = base * max(Decimal(1), self._ratio.get(requested, Decimal(1)))
        now = datetime.now(UTC)
        reservation = keystore.reserve(self.service.engine, key, hold, now, request_id=request_id,
                                       owner=self.service.instance_id)
        if reservation is None:
            self._calibrated_now(requested)
            _, end = keystore.period_bounds(key.budget_period, now)
            wait = (end - now.timestamp()) if end is not None else 86_400.0
            raise BudgetExceededError(
                f"key {key.id} has spent its {key.budget_period} budget of ${key.budget_usd:.6f} "
                f"(this request holds up to ${hold:.6f} until it is priced)",
                retry_after=wait,
                hint="wait for the next period, lower max_tokens, or raise the key's budget",
            )
        with self._lock:
            self._holds[request_id] = (reservation, requested, base)
        return Admission(key, reservation)

    def hold(self, requested: str, messages: Sequence[Message], params: dict[str, Any]) -> Decimal:
        """The most this request can cost, in USD: every model it may call (a policy's models, each model's
        fallbacks), at the longest prompt it can be (its JSON in UTF-8 bytes plus what a chat template adds; a
        token is at least one byte) and the longest answer it may get (``max_tokens``, default 1024). A local model
        is priced by its measured throughput; one without is held at the most seconds per token it has taken
        (``server.budget_hold_s`` until it has answered once)."""
        svc = self.service
        prompt = len(json.dumps(list(messages), ensure_ascii=False).encode("utf-8")) + _TEMPLATE_BYTES
        if params.get("tools"):
            prompt += len(json.dumps(params["tools"]).encode("utf-8"))
        usage = Usage(prompt, int(params.get("max_tokens") or _DEFAULT_MAX_TOKENS))
        policy = svc.policies.get(requested)
        if policy is not None and hasattr(policy, "small") and hasattr(policy, "large"):
            steps = [policy.small, policy.large]
        elif policy is not None:
            steps = [svc.decide(requested, messages).model]
        else:
            steps = [requested]
        return sum((self._worst(name, usage) for name in steps), Decimal(0))

    def _worst(self, name: str, usage: Usage) -> Decimal:
        settings = self.service.settings
        spec = resolve(name, settings, allow_paths=False)
        costs = []
        for candidate in [name, *spec.fallbacks]:
            try:
                cspec = resolve(candidate, settings, allow_paths=False)
                per_token = self._seconds_per_token.get(candidate)
                seconds = per_token * (usage.completion_tokens + 1) if per_token else settings.server.budget_hold_s
                costs.append(self.service.ledger.price_usage(candidate, cspec, usage, seconds).usd)
            except ConfigError:  # no list price known: the baseline model's price stands in
                costs.append(self.service.ledger.baseline(usage).usd)
        return max(costs)

    # -- settlement -----------------------------------------------------------------------------------------

    def observe(self, record: RequestRecord) -> None:
        """Settle the hold of ``record``'s request at its logged cost, and learn from it: the over-report ratio
        of the requested model, and seconds per token of a local model (the log writer calls this for every
        row, on its thread)."""
        if record.status == "ok" and record.completion_tokens and record.latency_s:
            per_token = record.latency_s / (record.completion_tokens + 1)
            if per_token > self._seconds_per_token.get(record.model, 0.0):
                self._seconds_per_token[record.model] = per_token
        with self._lock:
            held = self._holds.pop(record.id, None)
        if held is None:
            return
        reservation, requested, base = held
        keystore.settle(self.service.engine, reservation, record.cost_usd)
        if base > 0 and record.cost_usd > base:
            ratio = (record.cost_usd / base) * Decimal("1.05")
            with self._lock:
                if ratio > self._ratio.get(requested, Decimal(1)):
                    self._ratio[requested] = ratio
        self._calibrated_now(requested)

    def _calibrated_now(self, requested: str) -> None:
        event = self._calibrated.get(requested)
        if event is not None and not event.is_set() and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                self._loop.call_soon_threadsafe(event.set)

    def release(self, request_id: str) -> None:
        """Release the hold of a request that ended before the service logged it (it costs nothing)."""
        with self._lock:
            held = self._holds.pop(request_id, None)
        if held is not None:
            keystore.settle(self.service.engine, held[0], Decimal(0))
            self._calibrated_now(held[1])

    def reconcile(self, dead_owners: list[str]) -> int:
        """Settle the holds stopped gateway processes left: those of ``dead_owners`` (whose journals were just
        replayed) and any older than ``server.hold_expiry_s``. Returns how many."""
        older = datetime.now(UTC) - timedelta(seconds=self.service.settings.server.hold_expiry_s)
        return keystore.reconcile_holds(self.service.engine, dead_owners, older_than=older)


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None

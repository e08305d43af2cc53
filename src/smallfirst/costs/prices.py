"""Price sources. Each turns (model, usage or seconds) into US dollars plus a label naming where the price
came from. A new source is a registration, not an edit to the ledger."""

from __future__ import annotations

import importlib.metadata as md
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache

from smallfirst.config import HardwareProfile
from smallfirst.errors import ConfigError
from smallfirst.models.completion import Usage

_SECONDS_PER_YEAR = Decimal(365.25 * 24 * 3600)
_MTOK = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class Price:
    """An amount in USD and where its price came from (e.g. "genai-prices 0.0.48 (openai/gpt-4o)")."""

    usd: Decimal
    source: str


TokenPricer = Callable[[str, str | None, Usage], Price]
_TOKEN_SOURCES: dict[str, TokenPricer] = {}


def register_price_source(name: str, pricer: TokenPricer) -> None:
    """Make ``pricing = name`` in a model's config price its usage with ``pricer(model, provider, usage)``."""
    _TOKEN_SOURCES[name] = pricer


def token_source(name: str) -> TokenPricer:
    """The registered per-token price source ``name`` (built-in, registered in code, or a package's
    ``smallfirst.price_sources`` entry point). Raises ConfigError naming the known sources."""
    if name not in _TOKEN_SOURCES:
        for ep in md.entry_points(group="smallfirst.price_sources"):
            if ep.name == name:
                _TOKEN_SOURCES[name] = ep.load()
    try:
        return _TOKEN_SOURCES[name]
    except KeyError:
        known = sorted({*_TOKEN_SOURCES, *(ep.name for ep in md.entry_points(group="smallfirst.price_sources"))})
        raise ConfigError(f"unknown price source {name!r}",
                          hint=f"pricing is auto, api, hardware, manual or a price source: {', '.join(known)}"
                          ) from None


def genai_prices_version() -> str:
    """The installed genai-prices version, named in every list price's source."""
    return md.version("genai-prices")


def genai_price(model: str, provider: str | None, usage: Usage) -> Price:
    """List price from the genai-prices database shipped in the package (no network).

    The library's general calculation (units, tiers, usage decomposition) costs about half a millisecond, on
    every gateway request and twice with the baseline. A price without tiers is linear in the token counts,
    so its rates are read once from the library's own arithmetic (at zero, at a million input tokens and at
    a million output tokens) and reused for a minute at a time; tiered prices always take the full
    calculation.
    """
    found, info, source = _find(model, provider)
    rates = _active_rates(info)
    if rates is None:
        calc = info.calc_price(  # type: ignore[attr-defined]
            _genai_usage(usage.prompt_tokens, usage.completion_tokens), found,
            genai_request_timestamp=datetime.now(tz=UTC))
        return Price(Decimal(calc.total_price), source)
    fixed, per_input, per_output = rates
    return Price(fixed + per_input * usage.prompt_tokens / _MTOK + per_output * usage.completion_tokens / _MTOK,
                 source)


# (id(snapshot), model, provider) -> (the snapshot, kept alive so its id stays unique; provider, model, label)
_FOUND: dict[tuple[int, str, str | None], tuple[object, object, object, str]] = {}


def _find(model: str, provider: str | None) -> tuple[object, object, str]:
    """The library's provider and model entries, looked up once per snapshot (its search walks every
    provider's patterns, and the gateway prices each request twice)."""
    from genai_prices.data_snapshot import get_snapshot

    snapshot = get_snapshot()
    hit = _FOUND.get((id(snapshot), model, provider))
    if hit is not None and hit[0] is snapshot:
        return hit[1], hit[2], hit[3]
    try:
        found, info = snapshot.find_provider_model(model, None, provider, None)
    except LookupError as exc:
        raise ConfigError(f"genai-prices has no price for model {model!r}"
                          + (f" at provider {provider!r}" if provider else "") + f" ({exc})",
                          hint="set price_model to a model id genai-prices knows (e.g. 'gpt-4o-mini'), or "
                               "pricing='manual' with input_usd_per_mtok/output_usd_per_mtok") from None
    source = f"genai-prices {genai_prices_version()} ({found.id}/{info.id})"
    _FOUND[(id(snapshot), model, provider)] = (snapshot, found, info, source)
    return found, info, source


# id(model entry) -> (the entry, kept alive so its id stays unique; its linear rates or None when tiered; when
# they were read). A price that changes at a given date (genai-prices records such changes) is picked up within
# the minute.
_ACTIVE: dict[int, tuple[object, tuple[Decimal, Decimal, Decimal] | None, float]] = {}
_ACTIVE_TTL_S = 60.0


def _active_rates(info: object) -> tuple[Decimal, Decimal, Decimal] | None:
    now = time.monotonic()
    hit = _ACTIVE.get(id(info))
    if hit is not None and hit[0] is info and now - hit[2] < _ACTIVE_TTL_S:
        return hit[1]
    rates = _linear_rates(info.get_prices(datetime.now(tz=UTC)))  # type: ignore[attr-defined]
    _ACTIVE[id(info)] = (info, rates, now)
    return rates


def _genai_usage(input_tokens: int, output_tokens: int) -> object:
    from genai_prices import Usage as GUsage

    return GUsage(input_tokens=input_tokens, output_tokens=output_tokens)


def _linear_rates(model_price: object) -> tuple[Decimal, Decimal, Decimal] | None:
    """(fixed USD per request, USD per million input tokens, USD per million output tokens), or None."""
    from genai_prices.types import TieredPrices

    if any(isinstance(v, TieredPrices) for v in vars(model_price).values()):
        return None

    def _total(i: int, o: int) -> Decimal:
        return Decimal(model_price.calc_price(_genai_usage(i, o))["total_price"])  # type: ignore[attr-defined]

    fixed = _total(0, 0)
    return fixed, _total(1_000_000, 0) - fixed, _total(0, 1_000_000) - fixed


register_price_source("genai-prices", genai_price)


def manual_price(input_per_mtok: Decimal, output_per_mtok: Decimal, usage: Usage) -> Price:
    """(prompt tokens * input price + completion tokens * output price) / 10^6, prices in USD per million."""
    usd = (input_per_mtok * usage.prompt_tokens + output_per_mtok * usage.completion_tokens) / _MTOK
    return Price(usd, _manual_label(input_per_mtok, output_per_mtok))


@cache
def _manual_label(input_per_mtok: Decimal, output_per_mtok: Decimal) -> str:
    return f"manual ({input_per_mtok}/{output_per_mtok} USD per MTok)"


def hardware_usd_per_second(hw: HardwareProfile) -> Decimal:
    """USD per second the machine is occupied: the purchase price amortised over the busy seconds of its life
    (``amortisation_years`` of 365.25 days times ``utilisation``), plus energy at the wall (kW times PUE times
    USD per kWh, over 3,600 s). The one hardware-cost formula of smallfirst: the log and the report call it."""
    busy_seconds = hw.amortisation_years * _SECONDS_PER_YEAR * hw.utilisation
    capital = hw.price_usd / busy_seconds
    energy = hw.watts / Decimal(1000) * hw.pue * hw.electricity_usd_per_kwh / Decimal(3600)
    return capital + energy


def hardware_price(hw: HardwareProfile, seconds: float | Decimal) -> Price:
    """``seconds`` of the machine at :func:`hardware_usd_per_second`, labelled ``hardware:<profile name>``."""
    secs = seconds if isinstance(seconds, Decimal) else Decimal(repr(float(seconds)))
    return Price(hardware_usd_per_second(hw) * secs, f"hardware:{hw.name}")


def occupancy_seconds(hw: HardwareProfile, model: str, usage: Usage) -> Decimal | None:
    """Seconds of the machine a request occupied: prompt tokens over the model's sustained prefill rate plus
    completion tokens over its decode rate, both measured alone on this hardware (``hw.throughput``). None
    when the profile has no throughput for ``model``."""
    rate = hw.throughput.get(model)
    if rate is None:
        return None
    return (Decimal(usage.prompt_tokens) / rate.prefill_tokens_per_s
            + Decimal(usage.completion_tokens) / rate.decode_tokens_per_s)


def local_price(hw: HardwareProfile, model: str, usage: Usage, wall_seconds: float) -> Price:
    """A local model's request priced by the compute it occupied (:func:`occupancy_seconds`), so the same
    request costs the same at any concurrency and on a quiet or a busy machine; the wall time stays what it
    is, the latency. A model without a measured throughput falls back to its wall time, and the price source
    says so (``hardware:<name> (wall time)``)."""
    busy = occupancy_seconds(hw, model, usage)
    if busy is None:
        wall = hardware_price(hw, wall_seconds)
        return Price(wall.usd, f"{wall.source} (wall time)")
    return hardware_price(hw, busy)

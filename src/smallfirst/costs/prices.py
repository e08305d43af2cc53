"""Price sources. Each turns (model, usage or seconds) into US dollars plus a label naming where the price
came from. A new source is a registration, not an edit to the ledger."""

from __future__ import annotations

import importlib.metadata as md
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from smallfirst.config import HardwareProfile
from smallfirst.errors import ConfigError
from smallfirst.models.records import Usage

_SECONDS_PER_YEAR = Decimal(365.25 * 24 * 3600)
_MTOK = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class Price:
    usd: Decimal
    source: str


TokenPricer = Callable[[str, str | None, Usage], Price]
_TOKEN_SOURCES: dict[str, TokenPricer] = {}


def register_price_source(name: str, pricer: TokenPricer) -> None:
    _TOKEN_SOURCES[name] = pricer


def token_source(name: str) -> TokenPricer:
    try:
        return _TOKEN_SOURCES[name]
    except KeyError:
        raise ConfigError(f"unknown price source {name!r}", hint=f"known: {', '.join(_TOKEN_SOURCES)}") from None


@cache
def genai_prices_version() -> str:
    return md.version("genai-prices")


def genai_price(model: str, provider: str | None, usage: Usage) -> Price:
    """List price from the genai-prices database shipped in the package (no network)."""
    from genai_prices import Usage as GUsage
    from genai_prices import calc_price

    try:
        calc = calc_price(GUsage(input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens),
                          model_ref=model, provider_id=provider)
    except LookupError as exc:
        raise ConfigError(f"genai-prices has no price for model {model!r}"
                          + (f" at provider {provider!r}" if provider else "") + f" ({exc})",
                          hint="set price_model to a model id genai-prices knows (e.g. 'gpt-4o-mini'), or "
                               "pricing='manual' with input_usd_per_mtok/output_usd_per_mtok") from None
    source = f"genai-prices {genai_prices_version()} ({calc.provider.id}/{calc.model.id})"
    return Price(Decimal(calc.total_price), source)


register_price_source("genai-prices", genai_price)


def manual_price(input_per_mtok: Decimal, output_per_mtok: Decimal, usage: Usage) -> Price:
    usd = (input_per_mtok * usage.prompt_tokens + output_per_mtok * usage.completion_tokens) / _MTOK
    return Price(usd, f"manual ({input_per_mtok}/{output_per_mtok} USD per MTok)")


def hardware_usd_per_second(hw: HardwareProfile) -> Decimal:
    """Amortised purchase price over the busy seconds of its life, plus energy at the wall (times PUE)."""
    busy_seconds = hw.amortisation_years * _SECONDS_PER_YEAR * hw.utilisation
    capital = hw.price_usd / busy_seconds
    energy = hw.watts / Decimal(1000) * hw.pue * hw.electricity_usd_per_kwh / Decimal(3600)
    return capital + energy


def hardware_price(hw: HardwareProfile, seconds: float) -> Price:
    return Price(hardware_usd_per_second(hw) * Decimal(repr(seconds)), f"hardware:{hw.name}")

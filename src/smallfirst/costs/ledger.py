"""Price a completion, and price the same usage on the baseline model to show the saving.

``price_usage`` is the one function that turns a model's usage into money: the ledger calls it for every
request of the log, and the economics report calls it for every (prompt, model) of an outcome set, so the
same completion gets the same price in both.
"""

from __future__ import annotations

from smallfirst.config import HardwareProfile, ModelSpec, Settings
from smallfirst.costs.prices import Price, TokenPricer, genai_price, local_price, manual_price, token_source
from smallfirst.costs.records import Cost
from smallfirst.errors import ConfigError
from smallfirst.models.completion import Completion, Usage


def pricing_mode(spec: ModelSpec) -> str:
    """How a model is priced: ``spec.pricing`` ("api", "hardware", "manual" or a price source's name), or for
    "auto" "manual" when it carries its own per-token prices, "api" for an OpenAI-compatible endpoint and
    "hardware" for anything that runs here."""
    if spec.pricing != "auto":
        return spec.pricing
    if spec.input_usd_per_mtok is not None or spec.output_usd_per_mtok is not None:
        return "manual"
    return "api" if spec.backend == "openai" else "hardware"


def check_spec(name: str, spec: ModelSpec) -> None:
    """Raise ConfigError now, not on the first request, when model ``name`` cannot be priced."""
    mode = pricing_mode(spec)
    if mode == "manual" and (spec.input_usd_per_mtok is None or spec.output_usd_per_mtok is None):
        raise ConfigError(f"model {name!r} uses manual pricing but lacks input_usd_per_mtok or "
                          "output_usd_per_mtok", hint="set both, in USD per million tokens")
    if mode not in ("manual", "hardware"):
        _token_pricer(mode)(spec.price_model or spec.model or name, spec.price_provider, Usage(1, 1))


def _token_pricer(mode: str) -> TokenPricer:
    """The per-token price source for a pricing mode: genai-prices for "api", else the source of that name."""
    return token_source("genai-prices" if mode == "api" else mode)


def price_usage(name: str, spec: ModelSpec, usage: Usage, wall_seconds: float, hardware: HardwareProfile) -> Price:
    """USD for ``usage`` on model ``name``: hardware models by the compute they occupied on ``hardware``
    (``prices.local_price``; ``wall_seconds`` only where no throughput is measured), manual ones by their two
    per-million-token prices, API ones by list price, any other mode by the price source of that name. Raises
    ConfigError when the model cannot be priced."""
    mode = pricing_mode(spec)
    if mode == "hardware":
        return local_price(hardware, name, usage, wall_seconds)
    if mode == "manual":
        if spec.input_usd_per_mtok is None or spec.output_usd_per_mtok is None:
            check_spec(name, spec)
        return manual_price(spec.input_usd_per_mtok, spec.output_usd_per_mtok, usage)  # type: ignore[arg-type]
    return _token_pricer(mode)(spec.price_model or spec.model or name, spec.price_provider, usage)


class Ledger:
    """Prices requests for the log under one ``Settings``: its hardware profile and its baseline model."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def pricing_mode(self, spec: ModelSpec) -> str:
        """See :func:`pricing_mode`."""
        return pricing_mode(spec)

    def check(self, name: str, spec: ModelSpec) -> None:
        """Fail at configuration time, not on the first request, when a model cannot be priced."""
        check_spec(name, spec)

    def price_usage(self, name: str, spec: ModelSpec, usage: Usage, wall_seconds: float) -> Price:
        """:func:`price_usage` on the settings' hardware profile."""
        return price_usage(name, spec, usage, wall_seconds, self.settings.hardware)

    def baseline(self, usage: Usage) -> Price:
        """What ``usage`` would have cost on the baseline model, at its list price."""
        return genai_price(self.settings.baseline_model, self.settings.baseline_provider, usage)

    def price(self, name: str, spec: ModelSpec, completion: Completion, *, extra: Price | None = None) -> Cost:
        """The Cost of one completion of model ``name``. ``extra`` adds overhead the request caused besides its
        answer, e.g. a cascade's wasted attempt."""
        own = self.price_usage(name, spec, completion.usage, completion.wall_seconds)
        amount = own.usd + (extra.usd if extra else 0)
        return Cost(amount=amount, baseline=self.baseline(completion.usage).usd, source=own.source,
                    baseline_model=self.settings.baseline_model)

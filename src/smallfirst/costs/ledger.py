"""Price a completion, and price the same usage on the baseline model to show the saving."""

from __future__ import annotations

from decimal import Decimal

from smallfirst.config import ModelSpec, Settings
from smallfirst.costs.prices import Price, genai_price, hardware_price, manual_price, token_source
from smallfirst.costs.records import Cost
from smallfirst.errors import ConfigError
from smallfirst.models.completion import Completion, Usage


class Ledger:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def pricing_mode(self, spec: ModelSpec) -> str:
        if spec.pricing != "auto":
            return spec.pricing
        if spec.input_usd_per_mtok is not None or spec.output_usd_per_mtok is not None:
            return "manual"
        return "api" if spec.backend == "openai" else "hardware"

    def check(self, name: str, spec: ModelSpec) -> None:
        """Fail at configuration time, not on the first request, when a model cannot be priced."""
        mode = self.pricing_mode(spec)
        if mode == "manual" and (spec.input_usd_per_mtok is None or spec.output_usd_per_mtok is None):
            raise ConfigError(f"model {name!r} uses manual pricing but lacks input_usd_per_mtok or "
                              "output_usd_per_mtok", hint="set both, in USD per million tokens")
        if mode == "api":
            genai_price(spec.price_model or spec.model or name, spec.price_provider, Usage(1, 1))

    def price_usage(self, name: str, spec: ModelSpec, usage: Usage, wall_seconds: float) -> Price:
        mode = self.pricing_mode(spec)
        if mode == "hardware":
            return hardware_price(self.settings.hardware, wall_seconds)
        if mode == "manual":
            if spec.input_usd_per_mtok is None or spec.output_usd_per_mtok is None:
                self.check(name, spec)
            return manual_price(spec.input_usd_per_mtok, spec.output_usd_per_mtok, usage)  # type: ignore[arg-type]
        return token_source("genai-prices")(spec.price_model or spec.model or name, spec.price_provider, usage)

    def baseline(self, usage: Usage) -> Price:
        return genai_price(self.settings.baseline_model, self.settings.baseline_provider, usage)

    def price_completion(self, name: str, spec: ModelSpec, completion: Completion) -> Price:
        """What producing ``completion`` cost. A composite model's completion (one with ``parts``, e.g. the KPI
        pipeline's model calls) costs the sum of its parts, each priced as its own model's request."""
        if not completion.parts:
            return self.price_usage(name, spec, completion.usage, completion.wall_seconds)
        from smallfirst.models.registry import resolve

        prices = [self.price_completion(p.model, resolve(p.model, self.settings), p) for p in completion.parts]
        return Price(sum((p.usd for p in prices), Decimal(0)), "; ".join(dict.fromkeys(p.source for p in prices)))

    def price(self, name: str, spec: ModelSpec, completion: Completion, *, extra: Price | None = None) -> Cost:
        """``extra`` adds overhead the request caused besides its answer, e.g. a cascade's wasted attempt."""
        own = self.price_completion(name, spec, completion)
        amount = own.usd + (extra.usd if extra else 0)
        return Cost(amount=amount, baseline=self.baseline(completion.usage).usd, source=own.source,
                    baseline_model=self.settings.baseline_model)

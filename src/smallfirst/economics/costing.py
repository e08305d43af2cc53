"""Variable cost C per prompt and model for an outcome data set: measured cost where the data carry it, else
list prices over token counts (API models) or hardware amortisation and energy over measured time (local)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cache

import numpy as np

from smallfirst.economics.config import EconConfig, Hardware, ModelPrice
from smallfirst.economics.value import benefit, check_tasks, dec, price, task_key
from smallfirst.errors import ConfigError, DataError
from smallfirst.outcomes import Outcomes

MTOK = Decimal(1_000_000)
_SECONDS_PER_MONTH = Decimal("2629800")  # 365.25 / 12 days


@dataclass(frozen=True, slots=True)
class Rates:
    input_per_mtok: Decimal
    output_per_mtok: Decimal
    source: str


def hardware_cost_per_second(hw: Hardware) -> Decimal:
    """Amortisation over the seconds the machine actually serves, plus energy at the wall (PUE)."""
    serving = Decimal(hw.lifetime_months) * _SECONDS_PER_MONTH * dec(hw.utilisation)
    energy = dec(hw.watts) * dec(hw.pue) / Decimal(3_600_000) * hw.energy_per_kwh
    return hw.purchase / serving + energy


@cache
def genai_rates(ref: str) -> Rates:
    """Per-million-token list prices from the genai-prices database, which ships with the package."""
    from importlib.metadata import version

    from genai_prices import Usage, calc_price

    provider, _, model = ref.partition(":") if ":" in ref else ("", "", ref)
    try:
        p = calc_price(
            Usage(input_tokens=1_000_000, output_tokens=1_000_000),
            model_ref=model,
            provider_id=provider or None,
        )
    except Exception as exc:  # genai-prices raises LookupError or its own errors
        raise ConfigError(
            f"genai-prices has no price for {ref!r} ({exc})",
            hint="write provider:model as genai-prices knows it, or give input_per_mtok",
        ) from None
    src = f"genai-prices {version('genai-prices')}: {p.provider.id} {p.model.id}"
    return Rates(Decimal(str(p.input_price)), Decimal(str(p.output_price)), src)


def model_rates(spec: ModelPrice) -> Rates:
    if spec.genai_prices:
        return genai_rates(spec.genai_prices)
    if spec.input_per_mtok is None or spec.output_per_mtok is None:
        raise ConfigError(
            "a model price needs input_per_mtok and output_per_mtok, genai_prices or local = true"
        )
    return Rates(spec.input_per_mtok, spec.output_per_mtok, spec.source or "config")


def price_sources(outcomes: Outcomes, config: EconConfig) -> dict[str, str]:
    out = {}
    for m in outcomes.models:
        spec = config.models.get(m)
        if spec is None:
            out[m] = "measured (outcome data)"
        elif spec.local:
            out[m] = f"hardware profile {config.hardware.name!r}"
        else:
            out[m] = model_rates(spec).source
    return out


def cost_matrix(outcomes: Outcomes, config: EconConfig) -> np.ndarray:
    """(n_prompts, n_models) object array of Decimal costs. Config prices win over costs in the data, so a
    user can re-price the same outcomes."""
    n, m = len(outcomes), len(outcomes.models)
    out = np.empty((n, m), dtype=object)
    per_s = hardware_cost_per_second(config.hardware)
    for j, name in enumerate(outcomes.models):
        spec = config.models.get(name)
        if spec is None:
            out[:, j] = _measured(outcomes, j, name)
        elif spec.local:
            lat = _column(
                outcomes.latency_s, j, name, "latency_s", "local models are priced over measured time"
            )
            out[:, j] = [per_s * dec(x) for x in lat]
        else:
            rates = model_rates(spec)
            pt = _column(outcomes.prompt_tokens, j, name, "prompt_tokens", "API models are priced per token")
            ct = _column(
                outcomes.completion_tokens, j, name, "completion_tokens", "API models are priced per token"
            )
            out[:, j] = [
                (Decimal(int(a)) * rates.input_per_mtok + Decimal(int(b)) * rates.output_per_mtok) / MTOK
                for a, b in zip(pt, ct, strict=True)
            ]
    return out


def _measured(outcomes: Outcomes, j: int, name: str) -> list[Decimal]:
    col = _column(
        outcomes.cost_usd,
        j,
        name,
        "cost_usd",
        f"or price it: add [models.{name!r}] with genai_prices, input/output_per_mtok or local = true",
    )
    return [dec(x) for x in col]


def _column(arr: np.ndarray | None, j: int, name: str, field: str, why: str) -> np.ndarray:
    if arr is None or np.isnan(arr[:, j]).any():
        raise DataError(f"model {name!r} lacks {field} for some prompts", hint=why)
    return arr[:, j]


def benefit_matrix(outcomes: Outcomes, config: EconConfig, quality: np.ndarray | None = None) -> np.ndarray:
    """Expected B per prompt and model; ``quality`` may be a router's predicted quality instead of the
    observed one."""
    check_tasks(config, outcomes.tasks)
    q = outcomes.quality if quality is None else quality
    out = np.empty(q.shape, dtype=object)
    for i, task in enumerate(outcomes.tasks):
        spec = config.tasks[task_key(config, task)]  # type: ignore[index]
        out[i, :] = [benefit(spec, float(x)) for x in q[i]]
    return out


def tokens_matrix(outcomes: Outcomes) -> np.ndarray:
    total = np.zeros(outcomes.quality.shape)
    for arr in (outcomes.prompt_tokens, outcomes.completion_tokens):
        if arr is not None:
            total = total + np.nan_to_num(arr)
    return total.astype(int)


def price_matrix(outcomes: Outcomes, config: EconConfig, quality: np.ndarray | None = None) -> np.ndarray:
    q = outcomes.quality if quality is None else quality
    toks = tokens_matrix(outcomes)
    out = np.empty(q.shape, dtype=object)
    for i, task in enumerate(outcomes.tasks):
        spec = config.price_for(task_key(config, task))  # type: ignore[arg-type]
        if spec.per_1k_tokens is not None and outcomes.prompt_tokens is None:
            raise DataError("per-1,000-token pricing needs token counts in the workload")
        out[i, :] = [price(spec, tokens=int(toks[i, j]), quality=float(q[i, j])) for j in range(q.shape[1])]
    return out


def to_float(arr: np.ndarray) -> np.ndarray:
    return np.vectorize(float, otypes=[float])(arr) if arr.size else np.zeros(arr.shape)

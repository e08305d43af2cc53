"""The inputs of the economics: what a user assumes, in one TOML file. B and P per task type, the demand model,
how each model is priced, the hardware profile, fixed costs and routing overhead.

B (what an answer is worth to the customer), P (what the customer pays), the demand model and the fixed costs
are a business's assumptions; C is measured (``costs/`` prices it). ``[hardware]`` is the one
``config.HardwareProfile`` of smallfirst, the profile the request log is priced with: without it the report
takes the caller's (the ``smallfirst`` settings'). Every section forbids unknown keys, and a typo is reported
with the closest valid key, because a silently ignored ``vaule_good`` would change the verdict without a word.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from smallfirst.config import HardwareProfile
from smallfirst.errors import ConfigError

LEDGER_CURRENCY = "USD"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PriceSpec(_Strict):
    """What the customer pays P: exactly one of per request, per 1,000 tokens, or a subscription."""

    per_request: Decimal | None = None
    per_1k_tokens: Decimal | None = None
    subscription_per_user_month: Decimal | None = None
    requests_per_user_month: int | None = Field(default=None, gt=0)
    #: charge only for good answers (e.g. a price per resolved support ticket)
    outcome_based: bool = False
    currency: str = LEDGER_CURRENCY

    @model_validator(mode="after")
    def _one_basis(self) -> PriceSpec:
        given = [
            k
            for k in ("per_request", "per_1k_tokens", "subscription_per_user_month")
            if getattr(self, k) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of per_request, per_1k_tokens, subscription_per_user_month"
                f" (got {given or 'none'})"
            )
        for k in given:
            if getattr(self, k) < 0:
                raise ValueError(f"price {k} = {getattr(self, k)} is below zero")
        if self.subscription_per_user_month is not None and self.requests_per_user_month is None:
            raise ValueError("a subscription needs requests_per_user_month (the usage volume per user)")
        return self


class TaskValue(_Strict):
    """B for one task type: a value for a good answer and for a bad one, or a map from a graded score."""

    value_good: Decimal | None = None
    value_bad: Decimal = Decimal(0)
    #: [[score, value], ...] interpolated linearly, for graded quality
    score_map: list[tuple[float, Decimal]] | None = None
    price: PriceSpec | None = None

    @model_validator(mode="after")
    def _has_value(self) -> TaskValue:
        if self.value_good is None and not self.score_map:
            raise ValueError("give value_good (and value_bad) or score_map")
        if self.score_map:
            xs = [x for x, _ in self.score_map]
            if xs != sorted(xs) or len(set(xs)) != len(xs):
                raise ValueError("score_map scores must be strictly increasing")
        return self


class ModelPrice(_Strict):
    """How one model's variable cost is priced when the workload does not carry measured costs: exactly as the
    ledger prices it (``costs.ledger.price_usage``), from list prices, two manual per-token prices, or the
    hardware profile (``local = true``)."""

    input_per_mtok: Decimal | None = Field(default=None, ge=0)
    output_per_mtok: Decimal | None = Field(default=None, ge=0)
    #: ``provider:model`` looked up in genai-prices
    genai_prices: str | None = None
    #: priced by [hardware]: the compute each request occupied (its tokens over the model's measured throughput)
    local: bool = False
    source: str | None = None
    currency: str = LEDGER_CURRENCY


class FixedCosts(_Strict):
    """Costs that do not grow with volume, in USD: one-off ones spread over ``months``, and monthly ones."""

    development: Decimal = Field(default=Decimal(0), ge=0)
    fine_tuning: Decimal = Field(default=Decimal(0), ge=0)
    hardware: Decimal = Field(default=Decimal(0), ge=0)
    platform_per_month: Decimal = Field(default=Decimal(0), ge=0)
    #: one-off costs are spread over this many months
    months: int = Field(default=24, gt=0)

    def per_month(self) -> Decimal:
        """USD a month: ``platform_per_month`` plus the one-off costs over ``months``."""
        return self.platform_per_month + (self.development + self.fine_tuning + self.hardware) / self.months


class Overhead(_Strict):
    """Routing overhead per request of a hybrid scenario (featurising and scoring the prompt)."""

    per_request: Decimal = Field(default=Decimal(0), ge=0)


#: the demand models a report can state: see ``EconConfig.demand``
DEMAND_MODELS = ("willingness-to-pay", "fixed")


class EconConfig(_Strict):
    """The whole economic model of one report. ``demand`` is the one demand model every monthly figure uses:

    - ``willingness-to-pay`` (default): ``volume_per_month`` is the market, the requests a month sent at a price
      of zero; a task type's requests are bought when its willingness to pay (the expected B of that task under
      the scenario) is at least its price, and not at all above it. Monthly profit, break-even and the
      profit-maximising price all follow from that.
    - ``fixed``: ``volume_per_month`` requests are bought at any price (a contract, an internal service);
      there is then no profit-maximising price.
    """

    currency: str = LEDGER_CURRENCY
    #: requests a month: the market under the willingness-to-pay demand model, the volume sold under a fixed one
    volume_per_month: int = Field(default=100_000, gt=0)
    demand: Literal["willingness-to-pay", "fixed"] = "willingness-to-pay"
    price: PriceSpec | None = None
    tasks: dict[str, TaskValue]
    models: dict[str, ModelPrice] = Field(default_factory=dict)
    hardware: HardwareProfile = Field(default_factory=HardwareProfile)
    #: fixed costs every scenario carries
    fixed: FixedCosts = FixedCosts()
    #: extra fixed costs of any scenario that uses a small (non-baseline) model
    fixed_small: FixedCosts = FixedCosts()
    overhead: Overhead = Overhead()
    #: supplier's willingness to sell as a share of C (e.g. an API provider's own cost); optional
    wts_share: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _currencies(self) -> EconConfig:
        found = {("currency", self.currency)}
        if self.price:
            found.add(("price.currency", self.price.currency))
        for name, t in self.tasks.items():
            if t.price:
                found.add((f"tasks.{name}.price.currency", t.price.currency))
        for name, m in self.models.items():
            found.add((f"models.{name}.currency", m.currency))
        odd = sorted(k for k, c in found if c.upper() != LEDGER_CURRENCY)
        if odd:
            raise ValueError(
                f"currency mismatch: {', '.join(odd)} differ from the ledger's {LEDGER_CURRENCY}"
            )
        return self

    def price_for(self, task_key: str) -> PriceSpec:
        """P of a task type: its own price, else the default ``[price]``; ConfigError when neither is set."""
        spec = self.tasks[task_key].price or self.price
        if spec is None:
            raise ConfigError(
                f"no price P for task type {task_key!r}",
                hint=f"add [price] or [tasks.{task_key}.price] to the economics config",
            )
        return spec


def task_key(config: EconConfig, task: str | None) -> str | None:
    """The config's task type for a workload task: exact, then its family before '/', then 'default'."""
    name = task or ""
    if name in config.tasks:
        return name
    family = name.split("/", 1)[0]
    if family in config.tasks:
        return family
    return "default" if "default" in config.tasks else None


def check_tasks(config: EconConfig, tasks: Iterable[str | None]) -> None:
    """Raise ConfigError naming the workload's task types that have no value B in the config."""
    missing = sorted({t or "(no task)" for t in tasks if task_key(config, t) is None})
    if missing:
        shown = ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else "")
        raise ConfigError(
            f"no value B for task type(s) present in the workload: {shown}",
            hint=f"add [tasks.{missing[0].split('/')[0]}] with value_good/value_bad, or a [tasks.default]",
        )


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Valid keys at the location of an unknown key, walking the pydantic models down the path."""
    current: Any = model
    user_key = False  # the next part is a name the user chose, e.g. the task type in tasks.<name>
    for part in loc[:-1]:
        if user_key or isinstance(part, int):
            user_key = False
            continue
        info = current.model_fields.get(str(part)) if _is_model(current) else None
        if info is None:
            return []
        user_key = getattr(info.annotation, "__origin__", None) is dict
        current = _unwrap(info.annotation)
    return list(current.model_fields) if _is_model(current) else []


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _unwrap(tp: Any) -> Any:
    args = getattr(tp, "__args__", None)
    if not args:
        return tp
    for a in reversed(args):  # dict[str, X] -> X; X | None -> X
        if isinstance(a, type) and issubclass(a, BaseModel):
            return a
    return tp


def parse_config(
    data: dict[str, Any], *, source: str = "economics config", hardware: HardwareProfile | None = None
) -> EconConfig:
    """Validate a parsed TOML table into an EconConfig, or raise ConfigError naming the key at fault.

    ``hardware`` is the profile to use when ``data`` has no ``[hardware]`` table (the settings' profile, which
    priced the request log); without either, HardwareProfile's defaults."""
    if hardware is not None and "hardware" not in data:
        data = {**data, "hardware": hardware}
    try:
        return EconConfig.model_validate(data)
    except ValidationError as exc:
        raise _as_config_error(exc, source) from None


def _as_config_error(exc: ValidationError, source: str) -> ConfigError:
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    where = ".".join(str(p) for p in loc) or "(top level)"
    if err["type"] == "extra_forbidden" and loc[:1] == ("hardware",) and str(loc[-1]) in _OLD_HARDWARE_KEYS:
        new = _OLD_HARDWARE_KEYS[str(loc[-1])]
        return ConfigError(
            f"{source}: unknown key {where!r}",
            hint=f"[hardware] is smallfirst's one hardware profile now: {new}",
            param=where,
        )
    if err["type"] == "extra_forbidden":
        valid = _fields_at(EconConfig, loc)
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}?" if close else f"valid keys here: {', '.join(valid)}"
        return ConfigError(f"{source}: unknown key {where!r}", hint=hint, param=where)
    msg = err["msg"].removeprefix("Value error, ")
    return ConfigError(f"{source}: {where}: {msg}", param=where)


#: keys of the economics report's former hardware table, and what the one hardware profile calls them
_OLD_HARDWARE_KEYS = {
    "purchase": "write price_usd (USD)",
    "lifetime_months": "write amortisation_years (lifetime_months / 12)",
    "energy_per_kwh": "write electricity_usd_per_kwh",
}


def load_config(path: str | Path, *, hardware: HardwareProfile | None = None) -> EconConfig:
    """Read and validate an economics TOML file (see :func:`parse_config` for ``hardware``); ConfigError when it
    is missing, not TOML, or invalid."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"economics config {p} does not exist",
                          hint="give a TOML file, or a shipped config by name (demo, routellm)")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc})") from None
    return parse_config(data, source=str(p), hardware=hardware)

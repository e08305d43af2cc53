"""Settings from one TOML file plus ``SMALLFIRST_*`` environment variables (pydantic-settings).

The file is found at ``$SMALLFIRST_CONFIG``, else ``./smallfirst.toml``, else ``$SMALLFIRST_HOME/config.toml``
(home defaults to ``~/.smallfirst``). Environment variables override the file, with ``__`` for nesting:
``SMALLFIRST_HARDWARE__WATTS=45``.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from smallfirst.errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Throughput(_Strict):
    """Sustained throughput of one local model on one machine, measured alone (concurrency 1, nothing else
    running), in tokens per second: prompt processing (prefill) and generation (decode).

    ``benchmarks/local_cost.py`` measures both for a model (the median over several prompts) and prints the
    TOML lines to paste under ``[hardware.throughput]``.
    """

    prefill_tokens_per_s: Decimal = Field(gt=0)
    decode_tokens_per_s: Decimal = Field(gt=0)


def _reference_throughput() -> dict[str, Throughput]:
    """The catalogue's models on the reference machine the default profile describes (2 cores of an x86-64
    server, 2 llama.cpp threads); docs/local-cost.md has the runs."""
    return {name: Throughput(prefill_tokens_per_s=Decimal(p), decode_tokens_per_s=Decimal(d))
            for name, (p, d) in _REFERENCE_TOKENS_PER_S.items()}


#: model -> (prefill, decode) tokens per second on the reference machine. Qwen2.5-Coder-0.5B was measured alone
#: (load average 0.9; benchmarks/local_throughput.py). The other two could only be measured on a loaded machine,
#: where wall-time rates collapse, so they are their single-thread CPU-time rates there scaled by the 0.5B's ratio
#: of its quiet 2-thread rate to its single-thread CPU-time rate (2.30 prefill, 1.98 decode): docs/local-cost.md.
_REFERENCE_TOKENS_PER_S = {
    "smollm2-135m": ("400", "80"),
    "qwen2.5-coder-0.5b": ("171", "26"),
    "qwen2.5-coder-1.5b": ("66", "11.6"),
}


class HardwareProfile(_Strict):
    """What a local model's compute costs: amortised purchase plus energy per second the machine is occupied,
    and how many tokens a second each local model gets through on it.

    The one hardware schema of smallfirst: the request log's ledger and the economics report both read it.
    A local request is priced by the compute it occupied, tokens over the model's sustained ``throughput``
    (so queueing and other processes on the same cores do not change its price); a model without a measured
    throughput is priced by its wall time, and its price source says so.
    """

    # The defaults describe a small 2-core server: about $0.064 an hour all in, close to what a comparable
    # cloud VM rents for, so local and API prices are compared on a fair footing.
    name: str = "2-core server"
    price_usd: Decimal = Field(default=Decimal("1000"), ge=0)
    amortisation_years: Decimal = Field(default=Decimal("4"), gt=0)
    #: share of the hours in a year the machine does paid work; idle hours are paid for by the busy ones
    utilisation: Decimal = Field(default=Decimal("0.5"), gt=0, le=1)
    watts: Decimal = Field(default=Decimal("35"), ge=0)
    electricity_usd_per_kwh: Decimal = Field(default=Decimal("0.20"), ge=0)
    pue: Decimal = Field(default=Decimal("1.0"), ge=1)
    #: model name -> its sustained throughput on this machine; defaults: the reference machine's
    throughput: dict[str, Throughput] = Field(default_factory=_reference_throughput)


class ModelSpec(_Strict):
    """One configured model tier. ``backend`` picks the registered factory that builds it."""

    backend: str = "gguf"
    #: gguf: a catalogue name or a path to a .gguf file
    catalog: str | None = None
    path: str | None = None
    n_threads: int | None = Field(default=None, ge=1)
    n_ctx: int = Field(default=4096, ge=128)
    #: openai: any OpenAI-compatible endpoint
    base_url: str | None = None
    #: name of the environment variable holding the key; the key itself never enters the config
    api_key_env: str | None = None
    model: str | None = None
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=2, ge=0, le=10)
    #: genai-prices model id used to price it; defaults to ``model``
    price_model: str | None = None
    price_provider: str | None = None
    #: how the ledger prices it: "auto" (local models by hardware, endpoints by genai-prices), "api" (list price
    #: from genai-prices), "hardware" (a self-hosted endpoint on your own machine), "manual" (the two prices
    #: below), or the name of any registered price source (``register_price_source``, or a package's
    #: ``smallfirst.price_sources`` entry point), which prices ``price_model`` per token
    pricing: str = Field(default="auto", min_length=1)
    input_usd_per_mtok: Decimal | None = Field(default=None, ge=0)
    output_usd_per_mtok: Decimal | None = Field(default=None, ge=0)
    #: ordered fallbacks tried when this model's endpoint fails
    fallbacks: list[str] = Field(default_factory=list)
    #: also try the fallbacks when the endpoint refuses its key (HTTP 401/403), not only when it is down
    fallback_on_auth_error: bool = True
    #: classifier tiers: path to a specialised artefact
    artifact: str | None = None
    #: backend-specific extras for registered third-party backends
    options: dict[str, Any] = Field(default_factory=dict)


class RoutingSettings(_Strict):
    #: the policy behind model "auto": a saved policy file, or a built-in name ("rules", "cascade")
    policy: str | None = None
    small: str = "qwen2.5-coder-0.5b"
    large: str = "qwen2.5-coder-1.5b"
    #: rules router: task -> model, keywords -> model, length cut
    rules: dict[str, Any] = Field(default_factory=dict)
    #: the built-in cascade (model "cascade", and "auto" until a policy is set): its signal and threshold
    cascade_signal: Literal["logprob", "min-logprob", "margin", "entropy", "consistency"] = "logprob"
    cascade_threshold: float = -0.6
    #: extra answers a consistency cascade draws from the small model
    cascade_samples: int = Field(default=2, ge=1, le=8)
    #: task family -> specialised model tier: "auto" sends requests of that task (``--task``, or the gateway's
    #: ``x-smallfirst-task`` header) to it and everything else to the policy above; {} turns this off
    specialists: dict[str, str] = Field(default_factory=lambda: {"kpi": "northwind-kpi"})


class ServerSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    queue_size: int = Field(default=16, ge=1)
    workers_per_model: int = Field(default=1, ge=1)
    circuit_failures: int = Field(default=3, ge=1)
    circuit_cooldown_s: float = Field(default=30.0, gt=0)
    #: a budget hold for a model priced by compute time assumes a request runs this long, then settles
    budget_hold_s: float = Field(default=30.0, gt=0)
    #: bounds the wait for a local model's queue slot before a 503 tells the client to come back
    overload_retry_after_s: float = Field(default=1.0, gt=0)
    #: a valid key is believed this long without asking the database again, so a revocation from another
    #: process takes effect within it; 0 asks on every request
    key_cache_s: float = Field(default=5.0, ge=0)
    #: browser origins allowed to call the gateway (CORS), e.g. ["https://app.example.com"]; none by default:
    #: allowing an origin lets any page served from it spend this gateway's models with a visitor's key
    cors_origins: list[str] = Field(default_factory=list)
    #: name of an environment variable holding a token that may read /metrics (besides any gateway key)
    metrics_token_env: str | None = None
    #: the most bytes of model files kept loaded at once; the least recently used idle model is freed beyond
    #: it (default: half the machine's memory)
    max_model_bytes: int | None = Field(default=None, ge=1)
    #: a budget hold left by a gateway process that stopped without settling it is settled from the request log
    #: (or released) by the next process to start on the same home, or by any replica after this many seconds
    hold_expiry_s: float = Field(default=3600.0, gt=0)


class ResponseCacheSettings(_Strict):
    """The response cache (``response_cache.py``): off by default. Deterministic requests only (temperature 0
    or a seed), exact match, ``ttl_s`` seconds. ``scope`` "key" keeps each gateway key's answers apart; "model"
    shares them between keys. ``models`` limits caching to those requested models or policies (empty: all)."""

    enabled: bool = False
    ttl_s: float = Field(default=300.0, gt=0)
    max_entries: int = Field(default=10_000, ge=1)
    scope: Literal["key", "model"] = "key"
    models: list[str] = Field(default_factory=list)


class LearningSettings(_Strict):
    """Learning from served traffic (``smallfirst.learning``): shadow answers, grading, refit, guarded promotion.

    Until a learned policy is promoted, the policy named ``policy`` (``auto``) sends every request to the large
    tier (``routing.large``); shadowing answers a share of them with the small tier too, off the request path."""

    #: learn on the gateway (``smallfirst serve``); off, ``auto`` stays on the large tier unless routing.policy is set
    enabled: bool = True
    #: the requestable policy that learning manages
    policy: str = "auto"
    #: share (0..1) of gradable requests also answered by the other tier while no learned policy serves (then the
    #: large tier answers everything, and the shadow is the small tier's: cheap)
    shadow_rate: float = Field(default=0.1, ge=0, le=1)
    #: the same share once a learned policy serves: the guard's measurement, and further learning (a request the
    #: small tier answered costs a full large call to shadow)
    guard_rate: float = Field(default=0.05, ge=0, le=1)
    #: cap on learning cost (shadow answers and judge calls) per UTC day, in USD; over it, shadowing pauses
    budget_usd_per_day: Decimal = Field(default=Decimal("1.00"), ge=0)
    #: the judge that grades pairs without gold: a model name, "large" for routing.large, "" for none (then only
    #: requests that carry gold, or get feedback, are graded)
    judge: str = "large"
    #: shadow requests that cannot be graded when they are answered (no gold, no judge), awaiting feedback
    shadow_ungraded: bool = False
    #: refit after this many new graded outcomes; and never before ``min_outcomes``
    refit_every: int = Field(default=200, ge=10)
    min_outcomes: int = Field(default=200, ge=20)
    #: the user's target: quality=0.95 (of the large tier), share=0.3 or budget=2.5 (USD per 1,000 requests)
    target: str = "quality=0.95"
    #: one-sided confidence that the calibrated threshold meets a quality target on the outcomes (0 = the point
    #: estimate)
    confidence: float = Field(default=0.9, ge=0, lt=1)
    #: cross-fitting folds for the challenger's metric and its fold-to-fold spread
    folds: int = Field(default=5, ge=2, le=20)
    #: router specs the learner chooses from (``smallfirst eval`` syntax); empty: ``evaluate.choose.LEARNING_ROUTERS``
    routers: list[str] = Field(default_factory=list)
    #: order prompts by expected quality gain per extra dollar (needs costs in the outcomes, which shadowing
    #: records); off, by expected gain alone
    per_dollar: bool = True
    #: the guard: graded outcome rows (served under the promoted policy) it looks back over, and the one-sided
    #: confidence with which quality must be below the target before it rolls back
    guard_window: int = Field(default=200, ge=20)
    guard_confidence: float = Field(default=0.95, gt=0, lt=1)
    #: seeds the shadow sampler (a fixed seed makes a replayed run reproducible)
    seed: int = 0


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMALLFIRST_", env_nested_delimiter="__", extra="forbid")

    home: Path = Field(default_factory=lambda: Path(os.environ.get("SMALLFIRST_HOME", "~/.smallfirst")).expanduser())
    database_url: str | None = None
    #: the model ``ask`` uses without --model
    default_model: str = "qwen2.5-coder-0.5b"
    #: every request is also priced as if this model had served it
    baseline_model: str = "gpt-4o"
    baseline_provider: str | None = None
    #: store prompt and response text in the request log (needed to specialise from the log)
    log_content: bool = True
    threads: int | None = None
    hardware: HardwareProfile = Field(default_factory=HardwareProfile)
    models: dict[str, ModelSpec] = Field(default_factory=dict)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    #: (not "cache": $SMALLFIRST_CACHE names the model cache folder)
    response_cache: ResponseCacheSettings = Field(default_factory=ResponseCacheSettings)
    learning: LearningSettings = Field(default_factory=LearningSettings)
    config_path: Path | None = None

    @field_validator("home", mode="before")
    @classmethod
    def _expand(cls, v: Any) -> Any:
        return Path(v).expanduser() if isinstance(v, str | Path) else v

    @property
    def cache_dir(self) -> Path:
        # Models are shared by every home on the machine: they are large and verified by sha256.
        return cache_root() / "models"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'requests.db'}"

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats the file; the file arrives as init kwargs from load_settings.
        return (env_settings, init_settings)


def find_config_file(explicit: str | Path | None = None) -> Path | None:
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.exists():
            raise ConfigError(f"config file {path} does not exist", hint="run `smallfirst init` to write one")
        return path.resolve()
    home = Path(os.environ.get("SMALLFIRST_HOME", "~/.smallfirst")).expanduser()
    for candidate in (os.environ.get("SMALLFIRST_CONFIG"), "smallfirst.toml", home / "config.toml"):
        if candidate and Path(candidate).expanduser().exists():
            return Path(candidate).expanduser().resolve()
    return None


def cache_root() -> Path:
    """The machine-wide cache (models, embedding caches, the distilled static embedding): ``$SMALLFIRST_CACHE``,
    else ``$XDG_CACHE_HOME/smallfirst``, else ``~/.cache/smallfirst``."""
    if os.environ.get("SMALLFIRST_CACHE"):
        return Path(os.environ["SMALLFIRST_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "smallfirst"


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Read the config file (if any) and the environment, or raise ConfigError naming the bad key."""
    file = find_config_file(path)
    data: dict[str, Any] = {}
    if file is not None:
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file} is not valid TOML: {exc}", hint="fix the line named, or rewrite it with "
                              "`smallfirst init --force`") from None
    data.update(overrides)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, file), hint="see `smallfirst init` for a commented example") from None
    settings.config_path = file
    return settings


def _explain(exc: ValidationError, file: Path | None) -> str:
    where = str(file) if file else "the environment"
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown key '{loc}'{_closest(err['loc'])}")
        else:
            parts.append(f"'{loc}': {err['msg']}")
    return f"bad config in {where}: " + "; ".join(parts)


def _closest(loc: tuple[Any, ...]) -> str:
    """Walk the key path through the settings models to suggest the nearest valid key at the bad level."""
    model: type[BaseModel] = Settings
    for part in loc[:-1]:
        if model is Settings and part == "models":
            model = ModelSpec
            continue
        field = model.model_fields.get(str(part))
        ann = field.annotation if field else None
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
    match = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    return f" (did you mean '{match[0]}'?)" if match else f" (valid keys: {', '.join(model.model_fields)})"


from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from smallfirst.config import HardwareProfile, ModelSpec, load_settings
from smallfirst.costs.ledger import Ledger
from smallfirst.costs.prices import genai_price, hardware_usd_per_second, manual_price, occupancy_seconds
from smallfirst.errors import ConfigError
from smallfirst.models.completion import Completion, Usage


def _priced_models() -> list[tuple[str, str]]:
    from genai_prices import Usage as GUsage
    from genai_prices import calc_price
    from genai_prices.data_snapshot import get_snapshot

    out = []
    for provider in get_snapshot().providers:
        for model in provider.models:
            try:  # a few entries price only audio or images; they are not ours to price
                calc_price(GUsage(input_tokens=1, output_tokens=1), model_ref=model.id, provider_id=provider.id)
            except Exception:
                continue
            out.append((provider.id, model.id))
    return out


_PRICED = _priced_models()


def completion(pt: int = 1000, ct: int = 100, seconds: float = 2.0) -> Completion:
    return Completion("m", "text", "stop", Usage(pt, ct), seconds, 0.1)


def test_hardware_cost_per_second_by_hand() -> None:
    hw = HardwareProfile(price_usd=Decimal("3000"), amortisation_years=Decimal("1"), utilisation=Decimal("0.5"),
                         watts=Decimal("100"), electricity_usd_per_kwh=Decimal("0.36"), pue=Decimal("1.5"))
    busy = Decimal("365.25") * 24 * 3600 * Decimal("0.5")
    capital = Decimal(3000) / busy
    energy = Decimal("0.1") * Decimal("1.5") * Decimal("0.36") / 3600  # kW x PUE x $/kWh per second
    assert hardware_usd_per_second(hw) == pytest.approx(capital + energy, rel=Decimal("1e-20"))
    assert energy == Decimal("0.000015")


def test_local_request_is_priced_by_occupancy_and_baseline_by_tokens() -> None:
    settings = load_settings()
    ledger = Ledger(settings)
    rate = settings.hardware.throughput["qwen2.5-coder-0.5b"]
    cost = ledger.price("qwen2.5-coder-0.5b", ModelSpec(backend="gguf", catalog="qwen2.5-coder-0.5b"),
                        completion(seconds=2.0))
    busy = Decimal(1000) / rate.prefill_tokens_per_s + Decimal(100) / rate.decode_tokens_per_s
    assert occupancy_seconds(settings.hardware, "qwen2.5-coder-0.5b", Usage(1000, 100)) == busy
    assert cost.amount == hardware_usd_per_second(settings.hardware) * busy
    # the wall time (latency) does not move the price: queueing and other processes are not this request's
    slow = ledger.price("qwen2.5-coder-0.5b", ModelSpec(backend="gguf"), completion(seconds=20.0))
    assert slow.amount == cost.amount
    assert cost.source == "hardware:2-core server"
    # gpt-4o list price: $2.50 per MTok in, $10 per MTok out
    assert cost.baseline == Decimal("0.0025") + Decimal("0.001")
    assert cost.saving == cost.baseline - cost.amount
    assert isinstance(cost.amount, Decimal) and isinstance(cost.baseline, Decimal)


def test_local_model_without_a_measured_throughput_is_priced_by_wall_time_and_says_so() -> None:
    settings = load_settings()
    cost = Ledger(settings).price("my-own.gguf", ModelSpec(backend="gguf", path="/x/my-own.gguf"),
                                  completion(seconds=2.0))
    assert cost.amount == hardware_usd_per_second(settings.hardware) * 2
    assert cost.source == "hardware:2-core server (wall time)"


def test_throughput_is_configured_per_model_in_the_one_hardware_profile() -> None:
    settings = load_settings(hardware={"name": "box", "throughput": {
        "m": {"prefill_tokens_per_s": 500, "decode_tokens_per_s": 50}}})
    price = Ledger(settings).price_usage("m", ModelSpec(backend="gguf"), Usage(1000, 100), 99.0)
    assert price.usd == hardware_usd_per_second(settings.hardware) * 4 and price.source == "hardware:box"
    with pytest.raises(ConfigError, match="decode_tokens_per_s"):
        load_settings(hardware={"throughput": {"m": {"prefill_tokens_per_s": 500}}})


def test_api_model_is_priced_from_genai_prices_with_its_version() -> None:
    ledger = Ledger(load_settings())
    spec = ModelSpec(backend="openai", base_url="http://x/v1", model="gpt-4o-mini")
    price = ledger.price_usage("mini", spec, Usage(1_000_000, 1_000_000), 1.0)
    assert price.usd == Decimal("0.15") + Decimal("0.60")
    assert price.source.startswith("genai-prices 0.") and "gpt-4o-mini" in price.source


def test_manual_prices_by_hand() -> None:
    p = manual_price(Decimal("2"), Decimal("6"), Usage(500_000, 250_000))
    assert p.usd == Decimal("2.5")


def test_baseline_is_configurable() -> None:
    ledger = Ledger(load_settings(baseline_model="gpt-4o-mini"))
    assert ledger.baseline(Usage(1_000_000, 0)).usd == Decimal("0.15")


def test_unknown_api_model_is_refused_with_the_fix() -> None:
    ledger = Ledger(load_settings())
    with pytest.raises(ConfigError, match="price_model"):
        ledger.check("mystery", ModelSpec(backend="openai", base_url="http://x/v1", model="no-such-model-anywhere"))


def test_manual_pricing_without_prices_is_refused() -> None:
    ledger = Ledger(load_settings())
    with pytest.raises(ConfigError, match="input_usd_per_mtok"):
        ledger.check("half", ModelSpec(backend="openai", base_url="http://x/v1", pricing="manual",
                                       input_usd_per_mtok=Decimal(1)))


@hypothesis_settings(max_examples=300, deadline=None)
@given(data=st.data(), prompt=st.integers(0, 2_000_000), completion_tokens=st.integers(0, 200_000))
def test_cached_linear_rates_match_the_library_for_every_model(data, prompt: int, completion_tokens: int) -> None:
    # Tiered models (Gemini above 200k input tokens, ...) are in the draw too: they must take the full path.
    from genai_prices import Usage as GUsage
    from genai_prices import calc_price

    provider, model = data.draw(st.sampled_from(_PRICED), label="model")
    expected = calc_price(GUsage(input_tokens=prompt, output_tokens=completion_tokens), model_ref=model,
                          provider_id=provider).total_price
    assert genai_price(model, provider, Usage(prompt, completion_tokens)).usd == expected

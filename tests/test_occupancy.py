"""A local request is priced by the compute it occupied, not by its wall time: the same requests cost the same
one at a time, sixteen at once, and beside a process that keeps a core busy (real SmolLM2, real Service)."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from smallfirst.config import load_settings
from smallfirst.costs.prices import hardware_usd_per_second, occupancy_seconds
from smallfirst.service import RequestContext, Service
from smallfirst.store.requests import list_requests
from tests.conftest import TEST_MODEL

PROMPTS = ["Name a colour.", "What is 2 + 2?", "Say hello in French.", "Name a planet."]


def _ask(service: Service, prompt: str, tag: str):  # noqa: ANN202
    return service.answer([{"role": "user", "content": prompt}], TEST_MODEL,
                          ctx=RequestContext(source="test", tag=tag), max_tokens=8, temperature=0.0)


def test_same_requests_cost_the_same_at_concurrency_1_and_16_and_on_a_busy_machine(smollm2_path) -> None:
    service = Service(load_settings())
    quiet = {p: _ask(service, p, "c1") for p in PROMPTS}
    with ThreadPoolExecutor(16) as pool:
        crowded = list(pool.map(lambda p: (p, _ask(service, p, "c16")), PROMPTS * 4))
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        loaded = [(p, _ask(service, p, "busy")) for p in PROMPTS]
    finally:
        spinner.kill()
        spinner.wait()
    hw = service.settings.hardware
    for p, answer in crowded + loaded:
        base = quiet[p].cost.amount
        assert abs(answer.cost.amount - base) <= base * Decimal("0.10"), (p, answer.cost.amount, base)
    for answer in quiet.values():  # the price is the occupancy of its tokens on the measured throughput
        busy = occupancy_seconds(hw, TEST_MODEL, answer.completion.usage)
        assert busy is not None and answer.cost.amount == hardware_usd_per_second(hw) * busy
    records = list_requests(service.engine)
    assert len(records) == len(PROMPTS) * 6
    assert all(r.latency_s > 0 and r.price_source == "hardware:2-core server" for r in records)  # wall time kept
    service.close()

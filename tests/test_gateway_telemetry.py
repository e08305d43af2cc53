"""OpenTelemetry spans with the GenAI semantic-convention attributes, collected by the real SDK.

The tracer provider is global to a process and can be set only once, so the gateway runs in a child process
that installs an in-memory exporter, answers one request over loopback and prints the spans it recorded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("opentelemetry.sdk")

CHILD = r"""
import json, sys
from pathlib import Path
import httpx
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)

from smallfirst.server import create_app
from tests.gateway_support import LOCAL, gateway_settings, serve

app = create_app(gateway_settings(Path(sys.argv[1])))
with serve(app) as url:
    r = httpx.post(f"{url}/chat/completions", timeout=120,
                   json={"model": LOCAL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2})
    r.raise_for_status()
    usage = r.json()["usage"]
spans = [{"name": s.name, "attributes": dict(s.attributes)} for s in exporter.get_finished_spans()]
print(json.dumps({"usage": usage, "spans": spans}))
"""


def test_a_completion_leaves_a_genai_span(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    ours = [s for s in result["spans"] if s["attributes"].get("gen_ai.system") == "smallfirst"]
    assert len(ours) == 1, result["spans"]
    attrs = ours[0]["attributes"]
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == attrs["gen_ai.response.model"]
    assert attrs["gen_ai.usage.input_tokens"] == result["usage"]["prompt_tokens"]
    assert attrs["gen_ai.usage.output_tokens"] == result["usage"]["completion_tokens"]
    assert float(attrs["smallfirst.baseline_usd"]) > 0

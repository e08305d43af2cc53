"""schemathesis against the gateway's own OpenAPI schema: no 5xx, and every response matches the schema."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from smallfirst.server import create_app
from tests.gateway_support import gateway_settings

_app = create_app(gateway_settings(Path(__import__("tempfile").mkdtemp(prefix="sf-schema-"))))
schema = schemathesis.openapi.from_asgi("/openapi.json", _app)


@pytest.mark.filterwarnings("ignore")
@schema.exclude(path="/dashboard").parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: schemathesis.Case) -> None:
    case.call_and_validate(
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    )

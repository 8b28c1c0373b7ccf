"""Schemathesis against a real flyq serve: every operation of the served OpenAPI document,
with generated (valid and invalid) inputs, must answer without a 5xx and as documented
(status codes, content types, response schemas)."""
import os

import pytest
import schemathesis
from schemathesis import GenerationMode
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import Flyq

# Per operation and mode; keeps the whole run well under two minutes.
EXAMPLES = int(os.environ.get("FLYQ_SCHEMATHESIS_EXAMPLES", "40"))


@pytest.fixture(scope="module")
def http_api(tmp_path_factory):
    broker = Flyq(tmp_path_factory.mktemp("schemathesis") / "data").start()
    schema = schemathesis.openapi.from_url(f"http://{broker.http}/api/v1/openapi.json")
    # Invalid inputs too: bad JSON shapes and parameters must be 4xx, never 5xx.
    schema.config.generation.update(modes=list(GenerationMode))
    yield schema
    broker.stop()


schema = schemathesis.pytest.from_fixture("http_api")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_http_api_conforms_to_its_openapi_document(case):
    case.call_and_validate(
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ]
    )

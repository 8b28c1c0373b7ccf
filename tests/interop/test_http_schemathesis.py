"""Schemathesis against a real flyq serve: every operation of the served OpenAPI document,
with generated (valid and invalid) inputs, must answer without a 5xx and as documented
(status codes, content types, response schemas)."""
import json
import os
import urllib.request

import pytest
import schemathesis
from schemathesis import GenerationMode
from confluent_kafka import Consumer, Producer, TopicPartition
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


def seed(broker):
    """The topic and group the document's examples name: records to browse (one batch
    gzip-compressed) and a committed offset, so responses carry real data."""
    request = urllib.request.Request(
        f"http://{broker.http}/api/v1/topics",
        data=json.dumps({"name": "orders", "partitions": 2}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 201
    for compression in ("none", "gzip"):
        producer = Producer({"bootstrap.servers": broker.bootstrap, "compression.type": compression})
        for i in range(5):
            producer.produce("orders", key=f"k{i}", value=bytes([i, 0xFF]), partition=0,
                             headers=[("h", b"v")])
        assert producer.flush(10) == 0
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "workers"})
    consumer.commit(offsets=[TopicPartition("orders", 0, 3)], asynchronous=False)
    consumer.close()


@pytest.fixture(scope="module")
def http_api(tmp_path_factory):
    broker = Flyq(tmp_path_factory.mktemp("schemathesis") / "data").start()
    seed(broker)
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

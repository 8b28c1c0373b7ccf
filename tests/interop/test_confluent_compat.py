"""confluent-kafka (librdkafka 2.16) against a real flyq serve: fetch size limits with large
records, ListOffsets by max timestamp, and authorized operations (docs/protocol.md)."""
import time

from confluent_kafka import Consumer, Producer, TopicCollection, TopicPartition
from confluent_kafka.admin import AclOperation, OffsetSpec

from conftest import wait_until
from test_confluent_kafka import admin, consumer, create_topic, produce

# Kafka's operations per resource type with no ACLs (AclEntry.supportedOperations).
TOPIC_OPERATIONS = {
    AclOperation.READ, AclOperation.WRITE, AclOperation.CREATE, AclOperation.DELETE,
    AclOperation.ALTER, AclOperation.DESCRIBE, AclOperation.DESCRIBE_CONFIGS,
    AclOperation.ALTER_CONFIGS,
}
GROUP_OPERATIONS = {
    AclOperation.READ, AclOperation.DELETE, AclOperation.DESCRIBE,
    AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS,
}
CLUSTER_OPERATIONS = {
    AclOperation.CREATE, AclOperation.ALTER, AclOperation.DESCRIBE, AclOperation.CLUSTER_ACTION,
    AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS, AclOperation.IDEMPOTENT_WRITE,
}


def test_a_consumer_of_three_partitions_with_records_near_its_fetch_limit_reads_them_all(flyq):
    # Two 900 KiB single-record batches per partition. librdkafka refuses any response larger
    # than receive.message.max.bytes (here the least it accepts: fetch.max.bytes + 512), so a
    # broker that sends one whole batch from each of two partitions stalls it for ever.
    topic = "large-records"
    create_topic(flyq, topic, 3)
    values = {(p, i): bytes([p * 2 + i]) * (900 * 1024) for p in range(3) for i in range(2)}
    produce(flyq, topic, [(None, v, p, None) for (p, _), v in sorted(values.items())],
            **{"batch.num.messages": 1})
    c = Consumer({
        "bootstrap.servers": flyq.bootstrap,
        "group.id": "large-records-reader",
        "enable.auto.commit": False,
        "fetch.max.bytes": 1_000_000,
        "receive.message.max.bytes": 1_000_512,
    })
    c.assign([TopicPartition(topic, p, 0) for p in range(3)])
    got = {}
    errors = []
    deadline = time.monotonic() + 30
    while len(got) < len(values) and time.monotonic() < deadline:
        msg = c.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            errors.append(msg.error())
            continue
        got[(msg.partition(), msg.offset())] = msg.value()
    c.close()
    assert got == values, f"consumed {sorted(got)}; errors: {errors}"


def test_list_offsets_by_max_timestamp_finds_the_newest_record(flyq):
    topic = "max-ts"
    base = 1_700_000_000_000
    # The largest timestamp is in the middle of partition 0 and written twice (offsets 2 and 3):
    # the first of them counts. Partition 1 stays empty.
    create_topic(flyq, topic, 2)
    producer = Producer({"bootstrap.servers": flyq.bootstrap, "linger.ms": 0})
    for ts in [base, base + 5000, base + 9000, base + 9000, base + 2000]:
        producer.produce(topic, value=str(ts).encode(), partition=0, timestamp=ts)
        producer.flush(10)
    a = admin(flyq)
    wanted = {TopicPartition(topic, p): OffsetSpec.max_timestamp() for p in range(2)}
    found = {tp.partition: f.result(timeout=10) for tp, f in a.list_offsets(wanted).items()}
    assert (found[0].offset, found[0].timestamp) == (2, base + 9000)
    assert (found[1].offset, found[1].timestamp) == (-1, -1)


def test_describe_calls_return_the_operations_the_client_may_perform(flyq):
    topic = "ops-topic"
    create_topic(flyq, topic, 1)
    a = admin(flyq)
    cluster = a.describe_cluster(include_authorized_operations=True).result(timeout=10)
    assert set(cluster.authorized_operations or []) == CLUSTER_OPERATIONS

    described = a.describe_topics(TopicCollection([topic]), include_authorized_operations=True)
    description = described[topic].result(timeout=10)
    assert set(description.authorized_operations or []) == TOPIC_OPERATIONS

    c = consumer(flyq, "ops-group")
    c.subscribe([topic])
    wait_until(lambda: (c.poll(0.1), len(c.assignment()) == 1)[1], 30, "assignment")
    group = a.describe_consumer_groups(["ops-group"], include_authorized_operations=True)
    description = group["ops-group"].result(timeout=10)
    assert set(description.authorized_operations or []) == GROUP_OPERATIONS
    c.close()

"""Topic configs and replica assignments through librdkafka's admin API (issue 17, items 4 and 5).

Tools that create topics (kafka-topics style scripts, Terraform providers, Connect) send every
standard topic config, often at its default: FlyQ must take them all, apply what it can, and
refuse only values that ask for missing behaviour, saying so.
"""
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
)

# What tools send when they spell out Kafka's defaults.
KAFKA_DEFAULTS = {
    "cleanup.policy": "delete",
    "compression.type": "producer",
    "delete.retention.ms": "86400000",
    "file.delete.delay.ms": "60000",
    "flush.messages": "9223372036854775807",
    "index.interval.bytes": "4096",
    "max.compaction.lag.ms": "9223372036854775807",
    "max.message.bytes": "1048588",
    "message.timestamp.after.max.ms": "9223372036854775807",
    "message.timestamp.before.max.ms": "9223372036854775807",
    "message.timestamp.type": "CreateTime",
    "min.cleanable.dirty.ratio": "0.5",
    "min.compaction.lag.ms": "0",
    "min.insync.replicas": "1",
    "preallocate": "false",
    "retention.bytes": "-1",
    "retention.ms": "604800000",
    "segment.bytes": "1073741824",
    "segment.index.bytes": "10485760",
    "segment.jitter.ms": "0",
    "segment.ms": "604800000",
    "unclean.leader.election.enable": "false",
    "local.retention.ms": "-2",
    "local.retention.bytes": "-2",
    "remote.storage.enable": "false",
}


def admin(flyq):
    return AdminClient({"bootstrap.servers": flyq.bootstrap})


def create(client, topic, **kwargs):
    futures = client.create_topics([NewTopic(topic, **kwargs)])
    return futures[topic].result(timeout=15)


def create_error(client, topic, **kwargs):
    with pytest.raises(KafkaException) as failed:
        create(client, topic, **kwargs)
    return failed.value.args[0]


def describe(client, topic):
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return client.describe_configs([resource])[resource].result(timeout=15)


def test_every_standard_config_at_its_default_is_accepted_and_described(flyq):
    client = admin(flyq)
    create(client, "spelled-out", num_partitions=1, replication_factor=1, config=KAFKA_DEFAULTS)
    described = describe(client, "spelled-out")
    for name, value in KAFKA_DEFAULTS.items():
        assert name in described, name
        assert described[name].value == value, (name, described[name].value)
        assert described[name].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value, name
    # A topic created without configs shows the same keys as defaults, not overrides.
    create(client, "plain", num_partitions=1, replication_factor=1)
    plain = describe(client, "plain")
    assert set(KAFKA_DEFAULTS) <= set(plain)
    assert plain["compression.type"].value == "producer"
    assert plain["compression.type"].source == ConfigSource.DEFAULT_CONFIG.value
    assert plain["compression.type"].is_default


def test_values_that_ask_for_missing_behaviour_are_refused_with_a_reason(flyq):
    client = admin(flyq)
    for config, says in [
        ({"cleanup.policy": "compact"}, "compaction"),
        ({"cleanup.policy": "compact,delete"}, "compaction"),
        ({"remote.storage.enable": "true"}, "tiered storage"),
        ({"message.timestamp.type": "Whenever"}, "one of"),
        ({"no.such.config": "1"}, "not a topic config"),
    ]:
        error = create_error(client, "refused-" + uuid.uuid4().hex[:8], num_partitions=1,
                             replication_factor=1, config=config)
        assert error.code() == KafkaError.INVALID_CONFIG, (config, error)
        assert says in error.str(), (config, error.str())


def test_alter_and_incremental_alter_including_list_append(flyq):
    client = admin(flyq)
    create(client, "altered", num_partitions=1, replication_factor=1)
    resource = ConfigResource(
        ConfigResource.Type.TOPIC,
        "altered",
        incremental_configs=[
            ConfigEntry("cleanup.policy", "delete", incremental_operation=AlterConfigOpType.APPEND),
            ConfigEntry("leader.replication.throttled.replicas", "0:1",
                        incremental_operation=AlterConfigOpType.APPEND),
            ConfigEntry("min.cleanable.dirty.ratio", "0.3", incremental_operation=AlterConfigOpType.SET),
        ],
    )
    client.incremental_alter_configs([resource])[resource].result(timeout=15)
    described = describe(client, "altered")
    assert described["cleanup.policy"].value == "delete"
    assert described["leader.replication.throttled.replicas"].value == "0:1"
    assert described["min.cleanable.dirty.ratio"].value == "0.3"
    # APPEND on a non-list config is refused.
    bad = ConfigResource(
        ConfigResource.Type.TOPIC,
        "altered",
        incremental_configs=[
            ConfigEntry("retention.ms", "5", incremental_operation=AlterConfigOpType.APPEND)
        ],
    )
    with pytest.raises(KafkaException) as failed:
        client.incremental_alter_configs([bad])[bad].result(timeout=15)
    assert failed.value.args[0].code() == KafkaError.INVALID_CONFIG


def produce_one(flyq, topic, timestamp=None, **conf):
    producer = Producer({"bootstrap.servers": flyq.bootstrap, "linger.ms": 0, **conf})
    outcome = []
    producer.produce(topic, value=b"v", timestamp=timestamp or 0,
                     on_delivery=lambda err, msg: outcome.append((err, msg)))
    assert producer.flush(30) == 0
    return outcome[0]


def consume_one(flyq, topic):
    c = Consumer({"bootstrap.servers": flyq.bootstrap, "group.id": "g-" + uuid.uuid4().hex,
                  "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is not None and not msg.error():
                return msg
    finally:
        c.close()
    raise AssertionError("nothing consumed")


def test_log_append_time_stamps_batches_with_the_broker_clock(flyq):
    client = admin(flyq)
    create(client, "appended", num_partitions=1, replication_factor=1,
           config={"message.timestamp.type": "LogAppendTime"})
    before = int(time.time() * 1000)
    err, _ = produce_one(flyq, "appended", timestamp=1_000_000)  # a producer timestamp from 1970
    assert err is None, err
    after = int(time.time() * 1000)
    kind, ts = consume_one(flyq, "appended").timestamp()
    assert kind == 2, "TIMESTAMP_LOG_APPEND_TIME"
    assert before - 1000 <= ts <= after + 1000, (before, ts, after)


def test_timestamps_too_far_ahead_are_refused(flyq):
    client = admin(flyq)
    create(client, "bounded", num_partitions=1, replication_factor=1,
           config={"message.timestamp.after.max.ms": "60000"})
    future = int(time.time() * 1000) + 3_600_000
    err, _ = produce_one(flyq, "bounded", timestamp=future, retries=0)
    assert err is not None and err.code() == KafkaError.INVALID_TIMESTAMP, err
    err, _ = produce_one(flyq, "bounded", retries=0)
    assert err is None, err


def test_min_insync_replicas_refuses_acks_all_beyond_the_replicas(flyq):
    client = admin(flyq)
    create(client, "strict", num_partitions=1, replication_factor=1,
           config={"min.insync.replicas": "2"})
    err, _ = produce_one(flyq, "strict", acks="all", retries=0, **{"enable.idempotence": False})
    assert err is not None and err.code() == KafkaError.NOT_ENOUGH_REPLICAS, err
    err, _ = produce_one(flyq, "strict", acks=1, retries=0, **{"enable.idempotence": False})
    assert err is None, err


def test_manual_replica_assignment_naming_this_node_is_used(flyq):
    client = admin(flyq)
    node = client.describe_cluster().result(timeout=15).nodes[0].id
    create(client, "placed", num_partitions=3, replica_assignment=[[node], [node], [node]])
    metadata = client.list_topics("placed", timeout=15).topics["placed"]
    assert sorted(metadata.partitions) == [0, 1, 2]
    assert all(p.replicas == [node] for p in metadata.partitions.values())
    for assignment, says in [
        ([[node + 7]], "not a live broker"),
        ([[node, node]], "twice"),
        ([[node], [node, node + 7]], "where the first partition has 1"),
    ]:
        error = create_error(client, "misplaced-" + uuid.uuid4().hex[:8],
                             num_partitions=len(assignment), replica_assignment=assignment)
        assert error.code() == KafkaError.INVALID_REPLICA_ASSIGNMENT, (assignment, error)
        assert says in error.str(), (assignment, error.str())
    grown = client.create_partitions([NewPartitions("placed", 4, replica_assignment=[[node]])])
    grown["placed"].result(timeout=15)
    assert len(client.list_topics("placed", timeout=15).topics["placed"].partitions) == 4
    wrong = client.create_partitions([NewPartitions("placed", 5, replica_assignment=[[node + 7]])])
    with pytest.raises(KafkaException) as failed:
        wrong["placed"].result(timeout=15)
    assert failed.value.args[0].code() == KafkaError.INVALID_REPLICA_ASSIGNMENT


def test_broker_side_compression_stores_the_topics_codec(flyq):
    import subprocess
    from conftest import BINARY

    client = admin(flyq)
    create(client, "squeezed", num_partitions=1, replication_factor=1,
           config={"compression.type": "zstd"})
    producer = Producer({"bootstrap.servers": flyq.bootstrap, "linger.ms": 20,
                         "compression.type": "none"})
    values = [(b"value %d " % i) * 40 for i in range(500)]
    for value in values:
        producer.produce("squeezed", value=value)
    assert producer.flush(30) == 0
    c = Consumer({"bootstrap.servers": flyq.bootstrap, "group.id": "g-" + uuid.uuid4().hex,
                  "enable.auto.commit": False})
    c.assign([TopicPartition("squeezed", 0, 0)])
    got = []
    deadline = time.monotonic() + 30
    while len(got) < len(values) and time.monotonic() < deadline:
        msg = c.poll(0.5)
        if msg is not None and not msg.error():
            got.append(msg.value())
    c.close()
    assert got == values
    dump = subprocess.run([str(BINARY), "log", "dump", str(flyq.data_dir / "topics" / "squeezed-0")],
                          capture_output=True, text=True, check=True).stdout
    codecs = {line.split()[4] for line in dump.splitlines()[1:] if line.strip()}
    assert codecs == {"zstd"}, dump

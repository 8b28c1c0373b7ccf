"""confluent-kafka (librdkafka 2.16) against a real flyq serve."""
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import wait_until


def admin(flyq):
    return AdminClient({"bootstrap.servers": flyq.bootstrap})


def create_topic(flyq, name, partitions):
    client = admin(flyq)  # keep the client alive until its future resolves
    futures = client.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    futures[name].result(timeout=15)


def produce(flyq, topic, messages, **conf):
    """messages: list of (key, value, partition or None, headers or None). Returns delivery reports."""
    producer = Producer({"bootstrap.servers": flyq.bootstrap, "linger.ms": 5, **conf})
    reports = []

    def on_delivery(err, msg):
        assert err is None, err
        reports.append((msg.partition(), msg.offset()))

    for key, value, partition, headers in messages:
        kwargs = {"key": key, "value": value, "headers": headers, "on_delivery": on_delivery}
        if partition is not None:
            kwargs["partition"] = partition
        producer.produce(topic, **kwargs)
    assert producer.flush(30) == 0
    return reports


def consumer(flyq, group, **conf):
    return Consumer({
        "bootstrap.servers": flyq.bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 10000,
        "heartbeat.interval.ms": 200,
        **conf,
    })


def read_assigned(flyq, topic, partitions, count):
    c = Consumer({"bootstrap.servers": flyq.bootstrap, "group.id": "reader-" + uuid.uuid4().hex, "enable.auto.commit": False})
    c.assign([TopicPartition(topic, p, 0) for p in partitions])
    got = []
    deadline = time.monotonic() + 30
    while len(got) < count and time.monotonic() < deadline:
        msg = c.poll(0.5)
        if msg is None or msg.error():
            continue
        got.append(msg)
    c.close()
    return got


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_keys_values_headers_with_every_codec(flyq, codec):
    topic = f"codec-{codec}"
    messages = [(f"k{i}".encode(), f"value-{i}".encode() * 10, 0, [("h", f"{i}".encode())]) for i in range(50)]
    produce(flyq, topic, messages, **{"compression.type": codec})
    got = read_assigned(flyq, topic, [0], 50)
    assert [(m.key(), m.value(), m.headers()) for m in got] == [(k, v, h) for k, v, _, h in messages]
    assert [m.offset() for m in got] == list(range(50))


@pytest.mark.parametrize("assignor", ["range", "roundrobin", "cooperative-sticky"])
def test_group_of_three_with_a_join_and_a_leave_consumes_every_record_once(flyq, assignor):
    topic, group = f"orders-{assignor}", f"group-{assignor}"
    create_topic(flyq, topic, 6)
    members = {}
    seen = {}

    def join(name):
        c = consumer(flyq, group, **{"partition.assignment.strategy": assignor})
        c.subscribe([topic])
        members[name] = c

    def poll_all(expected_total):
        deadline = time.monotonic() + 60
        while sum(len(v) for v in seen.values()) < expected_total and time.monotonic() < deadline:
            for name, c in list(members.items()):
                msg = c.poll(0.05)
                if msg is None:
                    continue
                assert not msg.error(), msg.error()
                seen.setdefault(name, []).append((msg.partition(), msg.offset(), msg.value()))
                c.commit(message=msg, asynchronous=False)
        return sum(len(v) for v in seen.values())

    def assigned_partitions():
        return sorted(tp.partition for c in members.values() for tp in c.assignment())

    def settle():
        # Keep polling (heartbeats, rebalance callbacks) until every member holds partitions and
        # the six are assigned exactly once between them.
        def settled():
            for c in members.values():
                c.poll(0.05)
            every_member_has_some = all(len(c.assignment()) > 0 for c in members.values())
            return every_member_has_some and assigned_partitions() == list(range(6))
        wait_until(settled, 60, "a stable assignment of all six partitions")

    def phase(start, n):
        produce(flyq, topic, [(f"key-{i}".encode(), f"v{i}".encode(), None, None) for i in range(start, start + n)])

    join("a")
    join("b")
    settle()
    phase(0, 200)
    assert poll_all(200) == 200

    join("c")
    settle()
    assert len(members["c"].assignment()) > 0, "the new member got nothing"
    phase(200, 200)
    assert poll_all(400) == 400
    assert any(v for v in seen.get("c", [])), "the new member consumed nothing"

    members.pop("b").close()  # a clean leave
    settle()
    phase(400, 200)
    assert poll_all(600) == 600

    values = sorted(int(v[1:]) for records in seen.values() for _, _, v in records)
    assert values == list(range(600)), "records lost or consumed twice"
    for c in members.values():
        c.close()


def test_idempotent_producer(flyq):
    reports = produce(
        flyq,
        "idempotent",
        [(None, f"i{i}".encode(), 0, None) for i in range(500)],
        **{"enable.idempotence": True, "acks": "all"},
    )
    assert sorted(offset for _, offset in reports) == list(range(500))
    got = read_assigned(flyq, "idempotent", [0], 500)
    assert [m.value() for m in got] == [f"i{i}".encode() for i in range(500)]


def test_committed_offsets_survive_kill_9(flyq):
    topic, group = "resume", "resume-group"
    produce(flyq, topic, [(None, f"m{i}".encode(), 0, None) for i in range(100)])
    c = consumer(flyq, group)
    c.subscribe([topic])
    consumed = 0
    while consumed < 40:
        msg = c.poll(1.0)
        if msg is None or msg.error():
            continue
        consumed += 1
        if consumed == 40:
            c.commit(message=msg, asynchronous=False)
    c.close()
    flyq.kill9_and_restart()
    c = consumer(flyq, group)
    c.subscribe([topic])
    first = None
    deadline = time.monotonic() + 30
    while first is None and time.monotonic() < deadline:
        msg = c.poll(1.0)
        if msg is not None and not msg.error():
            first = msg
    assert first is not None and first.offset() == 40 and first.value() == b"m40"
    committed = c.committed([TopicPartition(topic, 0)], timeout=10)
    assert committed[0].offset == 40
    c.close()


def test_offsets_for_times(flyq):
    topic = "timed"
    base = 1_700_000_000_000
    producer = Producer({"bootstrap.servers": flyq.bootstrap, "linger.ms": 0})
    for i in range(10):
        producer.produce(topic, value=f"t{i}".encode(), partition=0, timestamp=base + i * 1000)
        producer.flush(10)
    c = Consumer({"bootstrap.servers": flyq.bootstrap, "group.id": "times"})
    found = c.offsets_for_times([TopicPartition(topic, 0, base + 4500)], timeout=10)
    assert found[0].offset == 5
    low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    assert (low, high) == (0, 10)
    c.close()


def test_admin_create_list_delete_and_groups(flyq):
    a = admin(flyq)
    create_topic(flyq, "admin-topic", 3)
    assert len(a.list_topics(timeout=10).topics["admin-topic"].partitions) == 3
    again = a.create_topics([NewTopic("admin-topic", num_partitions=1, replication_factor=1)])["admin-topic"]
    with pytest.raises(Exception) as exists:
        again.result(timeout=10)
    assert exists.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS
    # A group shows up in ListGroups / DescribeGroups while it has a member.
    c = consumer(flyq, "admin-group")
    c.subscribe(["admin-topic"])
    wait_until(lambda: (c.poll(0.1), len(c.assignment()) == 3)[1], 30, "assignment")
    listed = a.list_consumer_groups().result(timeout=10)
    assert "admin-group" in [g.group_id for g in listed.valid]
    described = a.describe_consumer_groups(["admin-group"])["admin-group"].result(timeout=10)
    assert len(described.members) == 1
    assert str(described.state).endswith("STABLE")
    c.close()
    a.delete_topics(["admin-topic"])["admin-topic"].result(timeout=10)
    wait_until(lambda: "admin-topic" not in a.list_topics(timeout=10).topics, 10, "topic deletion")


def test_configs_partitions_delete_records_and_cluster(flyq):
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, NewPartitions, ResourceType

    a = admin(flyq)
    a.create_topics([NewTopic("cfg", num_partitions=1, replication_factor=1, config={"retention.ms": "3600000"})])["cfg"].result(15)
    resource = ConfigResource(ResourceType.TOPIC, "cfg")
    described = a.describe_configs([resource])[resource].result(timeout=10)
    assert described["retention.ms"].value == "3600000"
    assert described["cleanup.policy"].value == "delete"

    # Incremental SET, then a full AlterConfigs that drops retention.ms back to the default.
    change = ConfigResource(ResourceType.TOPIC, "cfg", incremental_configs=[
        ConfigEntry("max.message.bytes", "2000", incremental_operation=AlterConfigOpType.SET)])
    a.incremental_alter_configs([change])[change].result(timeout=10)
    described = a.describe_configs([resource])[resource].result(timeout=10)
    assert (described["max.message.bytes"].value, described["retention.ms"].value) == ("2000", "3600000")
    # The new limit is enforced at once.
    producer = Producer({"bootstrap.servers": flyq.bootstrap})
    errors = []
    producer.produce("cfg", value=b"x" * 3000, partition=0, on_delivery=lambda err, msg: errors.append(err))
    producer.flush(10)
    assert errors[0] is not None and errors[0].code() == KafkaError.MSG_SIZE_TOO_LARGE
    bad = ConfigResource(ResourceType.TOPIC, "cfg", set_config={"retention.ms": "soon"})
    with pytest.raises(Exception):
        a.alter_configs([bad])[bad].result(timeout=10)

    a.create_partitions([NewPartitions("cfg", 3)])["cfg"].result(timeout=10)
    assert len(a.list_topics(timeout=10).topics["cfg"].partitions) == 3

    produce(flyq, "cfg", [(None, f"r{i}".encode(), 1, None) for i in range(10)])
    deleted = a.delete_records([TopicPartition("cfg", 1, 4)])
    result = list(deleted.values())[0].result(timeout=10)
    assert result.low_watermark == 4
    c = Consumer({"bootstrap.servers": flyq.bootstrap, "group.id": "cfg-reader"})
    assert c.get_watermark_offsets(TopicPartition("cfg", 1), timeout=10) == (4, 10)
    c.close()

    cluster = a.describe_cluster().result(timeout=10)
    assert len(cluster.nodes) == 1 and cluster.controller.id == cluster.nodes[0].id

    # Overrides survive a restart.
    flyq.kill9_and_restart()
    a = admin(flyq)
    described = a.describe_configs([resource])[resource].result(timeout=10)
    assert described["max.message.bytes"].value == "2000"


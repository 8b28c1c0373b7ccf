"""kafka-python 3.x against a real flyq serve."""
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic


def test_produce_and_consume_in_a_group_with_commits(flyq):
    # kafka-python 3 defaults: idempotence on, acks=all.
    producer = KafkaProducer(bootstrap_servers=flyq.bootstrap, linger_ms=5)
    for i in range(30):
        producer.send("kp-orders", key=f"k{i}".encode(), value=f"v{i}".encode(), headers=[("n", f"{i}".encode())])
    producer.flush(timeout=30)
    producer.close()

    consumer = KafkaConsumer(
        "kp-orders",
        bootstrap_servers=flyq.bootstrap,
        group_id="kp-group",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=10000,
    )
    got = []
    for msg in consumer:
        got.append((msg.key, msg.value, msg.headers))
        if len(got) == 20:
            consumer.commit()
            break
    consumer.close()
    assert got == [(f"k{i}".encode(), f"v{i}".encode(), [("n", f"{i}".encode())]) for i in range(20)]

    # The group resumes from its commit, and auto-commits what it read. The interval is short:
    # at the default (5 s, as long as the iteration's idle timeout) whether a commit happened
    # before the iteration ended was a race.
    consumer = KafkaConsumer(
        "kp-orders",
        bootstrap_servers=flyq.bootstrap,
        group_id="kp-group",
        auto_offset_reset="earliest",
        auto_commit_interval_ms=100,
        consumer_timeout_ms=5000,
    )
    rest = [msg.value for msg in consumer]
    assert rest == [f"v{i}".encode() for i in range(20, 30)]
    assert consumer.committed(TopicPartition("kp-orders", 0)) == 30
    consumer.close()


def test_admin_create_describe_delete(flyq):
    admin = KafkaAdminClient(bootstrap_servers=flyq.bootstrap)
    admin.create_topics([NewTopic("kp-admin", num_partitions=4, replication_factor=1)])
    assert "kp-admin" in admin.list_topics()
    described = admin.describe_topics(["kp-admin"])
    assert len(described[0]["partitions"]) == 4
    admin.delete_topics(["kp-admin"])
    assert "kp-admin" not in admin.list_topics()
    admin.close()

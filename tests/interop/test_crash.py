"""RELIABILITY.md C1 at small scale: kill -9 under acks=all load with an fsync before every
acknowledgement (topic config flush.messages=1); no acknowledged record may be lost."""
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

CYCLES = 5


def test_no_acknowledged_record_is_lost_across_kill_9_cycles(flyq):
    admin = AdminClient({"bootstrap.servers": flyq.bootstrap})
    admin.create_topics([NewTopic("c1", num_partitions=1, replication_factor=1, config={"flush.messages": "1"})])["c1"].result(15)
    acked, failed = set(), 0
    sequence = 0
    for cycle in range(CYCLES):
        producer = Producer({
            "bootstrap.servers": flyq.bootstrap,
            "acks": "all",
            "linger.ms": 1,
            "message.timeout.ms": 3000,
            "retries": 0,
        })

        def on_delivery(err, msg):
            nonlocal failed
            if err is None:
                acked.add(msg.value())
            else:
                failed += 1

        killer = threading.Timer(0.3, flyq.kill9_and_restart)
        killer.start()
        deadline = time.monotonic() + 0.6
        while time.monotonic() < deadline:
            try:
                producer.produce("c1", value=f"{cycle}-{sequence}".encode(), on_delivery=on_delivery)
                sequence += 1
            except BufferError:
                pass
            producer.poll(0)
        killer.join()
        producer.flush(15)
    assert len(acked) > 0
    consumer = Consumer({"bootstrap.servers": flyq.bootstrap, "group.id": "c1-check", "enable.auto.commit": False})
    consumer.assign([TopicPartition("c1", 0, 0)])
    _, high = consumer.get_watermark_offsets(TopicPartition("c1", 0), timeout=10)
    stored = set()
    while len(stored) < high:
        msg = consumer.poll(2.0)
        if msg is None:
            break
        if not msg.error():
            stored.add(msg.value())
    consumer.close()
    lost = acked - stored
    assert not lost, f"{len(lost)} acknowledged records lost (of {len(acked)}; {failed} failed deliveries)"

"""Static group membership (KIP-345) with confluent-kafka (librdkafka 2.16) against a real flyq serve.

librdkafka's static members send no LeaveGroup when they close, so closing one here is what a
crashed or restarting consumer looks like to the coordinator.
"""
import time

from confluent_kafka import Consumer, KafkaError

from conftest import wait_until
from test_confluent_kafka import admin, consumer, create_topic


class Tracked:
    """A subscribed consumer that records its rebalance callbacks and errors."""

    def __init__(self, flyq, group, topic, instance, **conf):
        self.events = []
        self.errors = []
        self.consumer: Consumer = consumer(flyq, group, **{
            "group.instance.id": instance,
            "error_cb": self.errors.append,
            **conf,
        })
        self.consumer.subscribe(
            [topic],
            on_assign=lambda _, parts: self.events.append(("assign", sorted(p.partition for p in parts))),
            on_revoke=lambda _, parts: self.events.append(("revoke", sorted(p.partition for p in parts))),
        )

    def poll(self):
        msg = self.consumer.poll(0.05)
        if msg is not None and msg.error():
            self.errors.append(msg.error())

    def partitions(self):
        return sorted(tp.partition for tp in self.consumer.assignment())


def members_by_instance(flyq, group):
    client = admin(flyq)  # keep the client alive until its future resolves
    described = client.describe_consumer_groups([group])[group].result(timeout=10)
    return {m.group_instance_id: m.member_id for m in described.members}


def poll_until(consumers, condition, timeout, what):
    def polled():
        for c in consumers:
            c.poll()
        return condition()
    wait_until(polled, timeout, what)


def poll_for(consumers, seconds):
    """Keeps the consumers heartbeating for a while, so that a rebalance would reach them."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for c in consumers:
            c.poll()


def test_a_restarted_static_member_takes_back_its_partitions_without_a_rebalance_until_it_expires(flyq):
    topic, group = "static-restart", "static-restart-group"
    create_topic(flyq, topic, 4)
    a = Tracked(flyq, group, topic, "instance-a")
    # b's session outlives the test; a's is short, so that its expiry is seen.
    b = Tracked(flyq, group, topic, "instance-b", **{"session.timeout.ms": 30000})
    poll_until([a, b], lambda: a.partitions() and b.partitions() and len(a.partitions() + b.partitions()) == 4,
               60, "both members assigned")
    a_partitions, b_partitions = a.partitions(), b.partitions()
    before = members_by_instance(flyq, group)
    assert set(before) == {"instance-a", "instance-b"}, before

    a.consumer.close()  # a static member: no LeaveGroup; the coordinator keeps its place
    b.events.clear()
    restarted = Tracked(flyq, group, topic, "instance-a", **{"session.timeout.ms": 6000})
    poll_until([restarted, b], lambda: restarted.partitions(), 30, "the restarted member assigned")
    assert restarted.partitions() == a_partitions, "the restarted member did not get its previous partitions"
    poll_for([restarted, b], 2.0)
    assert b.events == [], f"the other member went through a rebalance: {b.events}"
    assert b.partitions() == b_partitions
    after = members_by_instance(flyq, group)
    assert after["instance-b"] == before["instance-b"]
    assert after["instance-a"] != before["instance-a"], "the restarted member kept the old member id"
    assert restarted.errors == [] and b.errors == [], (restarted.errors, b.errors)

    # Gone for good this time: once its session times out, the coordinator removes it and the
    # rebalance hands its partitions to b.
    restarted.consumer.close()
    poll_until([b], lambda: b.partitions() == [0, 1, 2, 3], 60, "b assigned every partition after the expiry")
    assert list(members_by_instance(flyq, group)) == ["instance-b"]
    b.consumer.close()


def test_a_second_instance_with_the_same_instance_id_fences_the_first(flyq):
    topic, group = "static-duplicate", "static-duplicate-group"
    create_topic(flyq, topic, 2)
    first = Tracked(flyq, group, topic, "shared-instance")
    poll_until([first], lambda: first.partitions() == [0, 1], 30, "the first instance assigned")
    first_id = members_by_instance(flyq, group)["shared-instance"]

    second = Tracked(flyq, group, topic, "shared-instance")
    poll_until([second, first], lambda: second.partitions() == [0, 1], 30, "the second instance assigned")
    members = members_by_instance(flyq, group)
    assert list(members) == ["shared-instance"]
    assert members["shared-instance"] != first_id, "the new instance was handed the old member id"

    # The old instance's next heartbeat is answered FENCED_INSTANCE_ID, which librdkafka raises
    # as a fatal error.
    def fenced():
        return any(e.code() == KafkaError._FATAL for e in first.errors)
    poll_until([first, second], fenced, 30, "the first instance fenced")
    fatal = next(e for e in first.errors if e.code() == KafkaError._FATAL)
    assert "fenced by other consumer with same group.instance.id" in str(fatal), first.errors
    assert second.errors == [], second.errors
    first.consumer.close()
    second.consumer.close()

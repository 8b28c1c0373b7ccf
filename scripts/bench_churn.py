#!/usr/bin/env python3
"""W8 group churn (shared/bench/WORKLOADS.md): members join a consumer group one at a time,
then leave one at a time, while W3's latency run consumes in the same group. The members
subscribe to their own topic (-t), so they rebalance the group without taking W3's records.

For each change it reports the rebalance time: from the change (subscribe, or close returning)
until every member still in the group has been given its new assignment. Prints one JSON line.
Used by scripts/bench-broker (WORKLOADS=w8); needs confluent-kafka (the bench venv has it).
"""
import argparse
import json
import threading
import time

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic


class Member:
    """A group member polling on its own thread, recording when it is assigned partitions."""

    def __init__(self, args, events):
        self.events = events
        self.stop = threading.Event()
        self.consumer = Consumer({
            "bootstrap.servers": args.bootstrap,
            "group.id": args.group,
            "enable.auto.commit": False,
            "session.timeout.ms": 10000,
        })
        self.consumer.subscribe([args.topic], on_assign=self.on_assign)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def on_assign(self, _consumer, _partitions):
        self.events.append((self, time.monotonic()))

    def run(self):
        while not self.stop.is_set():
            self.consumer.poll(0.05)
        self.consumer.close()

    def leave(self):
        self.stop.set()
        self.thread.join()


def settle(events, members, since, timeout):
    """Seconds from `since` until every member got an assignment after it (None: timed out)."""
    deadline = since + timeout
    while time.monotonic() < deadline:
        latest = {}
        for member, at in list(events):
            if at >= since:
                latest.setdefault(member, at)
        if all(m in latest for m in members):
            return max((latest[m] for m in members), default=since) - since
        time.sleep(0.01)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-b", "--bootstrap", default="127.0.0.1:9092")
    ap.add_argument("-t", "--topic", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--members", type=int, default=4)
    ap.add_argument("--hold", type=float, default=2.0, help="seconds between changes")
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args()
    # The members' topic must exist: librdkafka consumers do not create topics, and a member
    # with nothing to subscribe to is never assigned anything.
    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    for future in admin.create_topics([NewTopic(args.topic, num_partitions=4)]).values():
        try:
            future.result(15)
        except Exception as e:  # an existing topic is fine
            if "TOPIC_ALREADY_EXISTS" not in str(e):
                raise
    events, members, joins, leaves = [], [], [], []
    for _ in range(args.members):
        since = time.monotonic()
        members.append(Member(args, events))
        joins.append(settle(events, members, since, args.timeout))
        time.sleep(args.hold)
    while members:
        members.pop(0).leave()
        since = time.monotonic()
        leaves.append(settle(events, members, since, args.timeout) if members else 0.0)
        time.sleep(args.hold)
    ms = lambda xs: [None if x is None else round(x * 1000, 1) for x in xs]
    print(json.dumps({"join_ms": ms(joins), "leave_ms": ms(leaves)}))


if __name__ == "__main__":
    main()

"""One member of a Kafka consumer group, run by the tests of what the broker
does with groups (tests/it/kafka.rs): it joins, and prints the partitions it
owns as a JSON list on a line of its own after every change of its
assignment. SIGTERM closes it as a member closes.

Usage: member.py BOOTSTRAP GROUP TOPIC INSTANCE_ID|- STRATEGY SESSION_MS
"""

import json
import signal
import sys

from confluent_kafka import Consumer

bootstrap, group, topic, instance, strategy, session_ms = sys.argv[1:7]
settings = {
    "bootstrap.servers": bootstrap,
    "group.id": group,
    "partition.assignment.strategy": strategy,
    "session.timeout.ms": int(session_ms),
    "heartbeat.interval.ms": 500,
    "enable.auto.commit": False,
    "auto.offset.reset": "earliest",
}
if instance != "-":
    settings["group.instance.id"] = instance

owned = set()


def show():
    print(json.dumps(sorted(owned)), flush=True)


def assigned(consumer, partitions):
    # Cooperative assignors hand over the partitions added; eager ones the
    # whole set after revoking the whole set.
    owned.update(p.partition for p in partitions)
    show()


def revoked(consumer, partitions):
    owned.difference_update(p.partition for p in partitions)
    show()


stopping = False


def stop(_signum, _frame):
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, stop)
consumer = Consumer(settings)
consumer.subscribe([topic], on_assign=assigned, on_revoke=revoked, on_lost=revoked)
show()
while not stopping:
    consumer.poll(0.1)
consumer.close()

"""Reads a hookgate topic whose source writes CloudEvents headers
(`headers = "cloudevents"` or `"both"`) and prints each record as the
CloudEvents SDK reads it: one JSON line per event, with its attributes and
its data. hookgate's tests run it against a real broker.

    python cloudevents_consumer.py BOOTSTRAP TOPIC COUNT

Needs `confluent-kafka` and `cloudevents` (2.x) from PyPI.
"""

import json
import sys

from cloudevents.core.bindings.kafka import KafkaMessage, from_binary
from cloudevents.core.formats.json import JSONFormat
from confluent_kafka import Consumer, TopicPartition


def main(bootstrap, topic, count):
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"cloudevents-example-{topic}",
            "enable.auto.commit": False,
            # Only what hookgate's stage committed, never an aborted batch.
            "isolation.level": "read_committed",
        }
    )
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])  # from the start
    seen = 0
    while seen < count:
        message = consumer.poll(10)
        if message is None:
            sys.exit(f"only {seen} of {count} records on {topic}")
        if message.error():
            sys.exit(str(message.error()))
        event = from_binary(
            KafkaMessage(
                headers={name: value for name, value in (message.headers() or [])},
                key=message.key(),
                value=message.value(),
            ),
            JSONFormat(),
        )
        attributes = {
            name: value.isoformat() if hasattr(value, "isoformat") else value
            for name, value in event.get_attributes().items()
        }
        print(json.dumps({"attributes": attributes, "data": event.get_data()}), flush=True)
        seen += 1
    consumer.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))

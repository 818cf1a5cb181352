// Reads a hookgate topic the way a downstream team's service would: only
// committed records (the dedup stage publishes in Kafka transactions), each
// event once, its id from the `hookgate-event-id` header (or `ce_id` for
// sources with CloudEvents headers), its key the entity it is about, its
// value the provider's body byte for byte. hookgate's tests run it against
// a real broker.
//
//     java -cp 'kafka-clients.jar:...' HookgateConsumer.java BOOTSTRAP TOPIC COUNT
//
// Prints one line per record: key, event id, event type, body length.

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.stream.Collectors;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public class HookgateConsumer {
    public static void main(String[] args) {
        String bootstrap = args[0];
        String topic = args[1];
        int count = Integer.parseInt(args[2]);

        Properties properties = new Properties();
        properties.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        properties.put(ConsumerConfig.GROUP_ID_CONFIG, "java-example-" + topic);
        properties.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        // Never an aborted batch of the dedup stage: each event once.
        properties.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        properties.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        properties.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());

        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(properties)) {
            List<TopicPartition> partitions = consumer.partitionsFor(topic, Duration.ofSeconds(10)).stream()
                    .map(info -> new TopicPartition(topic, info.partition()))
                    .collect(Collectors.toList());
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            int seen = 0;
            long deadline = System.currentTimeMillis() + 30_000;
            while (seen < count) {
                if (System.currentTimeMillis() > deadline) {
                    System.err.println("only " + seen + " of " + count + " records on " + topic);
                    System.exit(1);
                }
                for (ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(500))) {
                    String id = header(record, "hookgate-event-id", header(record, "ce_id", ""));
                    String type = header(record, "hookgate-event-type", header(record, "ce_type", "-"));
                    String key = record.key() == null ? "-" : new String(record.key(), StandardCharsets.UTF_8);
                    System.out.println(key + "\t" + id + "\t" + type + "\t" + record.value().length);
                    seen++;
                }
            }
        }
    }

    /// The last value of header `name`, as text, or `fallback`.
    private static String header(ConsumerRecord<byte[], byte[]> record, String name, String fallback) {
        Header header = record.headers().lastHeader(name);
        return header == null ? fallback : new String(header.value(), StandardCharsets.UTF_8);
    }
}

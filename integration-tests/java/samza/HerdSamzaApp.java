import org.apache.samza.application.StreamApplication;
import org.apache.samza.application.descriptors.StreamApplicationDescriptor;
import org.apache.samza.operators.KV;
import org.apache.samza.serializers.KVSerde;
import org.apache.samza.serializers.StringSerde;
import org.apache.samza.system.kafka.descriptors.KafkaInputDescriptor;
import org.apache.samza.system.kafka.descriptors.KafkaOutputDescriptor;
import org.apache.samza.system.kafka.descriptors.KafkaSystemDescriptor;

/**
 * A Samza stream job: reads the Kafka topic herd.input (default herd-in), upper-cases each
 * value and writes it with its key to herd.output (default herd-out).
 */
public class HerdSamzaApp implements StreamApplication {
  @Override
  public void describe(StreamApplicationDescriptor app) {
    String in = app.getConfig().get("herd.input", "herd-in");
    String out = app.getConfig().get("herd.output", "herd-out");
    KafkaSystemDescriptor kafka = new KafkaSystemDescriptor("kafka");
    KVSerde<String, String> serde = KVSerde.of(new StringSerde(), new StringSerde());
    KafkaInputDescriptor<KV<String, String>> input = kafka.getInputDescriptor(in, serde);
    KafkaOutputDescriptor<KV<String, String>> output = kafka.getOutputDescriptor(out, serde);
    app.withDefaultSystem(kafka);
    app.getInputStream(input)
        .map(kv -> KV.of(kv.key, kv.value == null ? null : kv.value.toUpperCase()))
        .sendTo(app.getOutputStream(output));
  }
}

import java.io.FileWriter;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.util.Map;
import org.apache.storm.Config;
import org.apache.storm.StormSubmitter;
import org.apache.storm.task.TopologyContext;
import org.apache.storm.testing.TestWordCounter;
import org.apache.storm.testing.TestWordSpout;
import org.apache.storm.topology.BasicOutputCollector;
import org.apache.storm.topology.OutputFieldsDeclarer;
import org.apache.storm.topology.TopologyBuilder;
import org.apache.storm.topology.base.BaseBasicBolt;
import org.apache.storm.tuple.Fields;
import org.apache.storm.tuple.Tuple;

/**
 * Submits a word count to the cluster of the storm.yaml in -Dstorm.conf.file (the jar to
 * upload in -Dstorm.jar): words (TestWordSpout) -> count (TestWordCounter, fields grouping)
 * -> report, which appends "word count" lines to a file, so a test sees the topology work
 * without Storm's UI. Arguments: topology name, report file (absolute, on the worker's host).
 */
public final class HerdWordTopology {
  /** Appends every (word, count) tuple it gets to the file named by herd.report.file. */
  public static final class Report extends BaseBasicBolt {
    private transient PrintWriter out;

    @Override
    public void prepare(Map<String, Object> conf, TopologyContext context) {
      try {
        out = new PrintWriter(new FileWriter((String) conf.get("herd.report.file"), true), true);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    @Override
    public void execute(Tuple tuple, BasicOutputCollector collector) {
      out.println(tuple.getString(0) + " " + tuple.getInteger(1));
    }

    @Override
    public void cleanup() {
      out.close();
    }

    @Override
    public void declareOutputFields(OutputFieldsDeclarer declarer) {}
  }

  public static void main(String[] args) throws Exception {
    TopologyBuilder builder = new TopologyBuilder();
    builder.setSpout("words", new TestWordSpout(), 1);
    builder.setBolt("count", new TestWordCounter(), 1).fieldsGrouping("words", new Fields("word"));
    builder.setBolt("report", new Report(), 1).shuffleGrouping("count");
    Config conf = new Config();
    conf.setNumWorkers(1);
    conf.put("herd.report.file", args[1]);
    StormSubmitter.submitTopology(args[0], conf, builder.createTopology());
  }
}

import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.storm.generated.ClusterSummary;
import org.apache.storm.generated.NimbusSummary;
import org.apache.storm.generated.SupervisorSummary;
import org.apache.storm.generated.TopologySummary;
import org.apache.storm.utils.NimbusClient;
import org.apache.storm.utils.Utils;

/**
 * Watches the cluster of the storm.yaml in -Dstorm.conf.file through Nimbus' Thrift API (what
 * Storm's UI REST API would show; storm-webapp is not in the registries here): every 250 ms
 * it asks for the cluster summary and prints it whenever it changes, one line per nimbus
 * ("nimbus host:port leader=true version=2.8.3"), supervisor ("supervisor host slots=2
 * used=0") and topology ("topology name status=ACTIVE workers=1"), then "--". Runs until
 * killed. Connection retries are off, so an answer shows as soon as Nimbus gives one.
 */
public final class HerdStormInfo {
  public static void main(String[] args) throws Exception {
    Map<String, Object> conf = Utils.readStormConfig();
    conf.put("storm.nimbus.retry.times", 0);
    conf.put("storm.nimbus.retry.interval.millis", 100);
    conf.put("storm.nimbus.retry.intervalceiling.millis", 100);
    conf.put("storm.thrift.socket.timeout.ms", 10000);
    @SuppressWarnings("unchecked")
    String host = ((List<String>) conf.get("nimbus.seeds")).get(0);
    int port = ((Number) conf.get("nimbus.thrift.port")).intValue();
    String last = "";
    while (true) {
      String now;
      try {
        now = summary(conf, host, port);
      } catch (Exception e) {
        now = "waiting: " + e;
      }
      if (!now.equals(last)) {
        System.out.println(now);
        System.out.println("--");
        System.out.flush();
        last = now;
      }
      Thread.sleep(250);
    }
  }

  private static String summary(Map<String, Object> conf, String host, int port) throws Exception {
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress(host, port), 2000);
    }
    try (NimbusClient client = NimbusClient.getConfiguredClient(conf)) {
      ClusterSummary cluster = client.getClient().getClusterInfo();
      List<String> lines = new ArrayList<>();
      for (NimbusSummary n : cluster.get_nimbuses()) {
        lines.add("nimbus " + n.get_host() + ":" + n.get_port() + " leader=" + n.is_isLeader()
            + " version=" + n.get_version());
      }
      for (SupervisorSummary s : cluster.get_supervisors()) {
        lines.add("supervisor " + s.get_host() + " slots=" + s.get_num_workers()
            + " used=" + s.get_num_used_workers());
      }
      for (TopologySummary t : cluster.get_topologies()) {
        lines.add("topology " + t.get_name() + " status=" + t.get_status()
            + " workers=" + t.get_num_workers());
      }
      lines.sort(null);
      return String.join("\n", lines);
    }
  }
}

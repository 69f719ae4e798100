import java.io.FileInputStream;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import org.apache.samza.application.SamzaApplication;
import org.apache.samza.config.MapConfig;
import org.apache.samza.runtime.ApplicationRunner;
import org.apache.samza.runtime.ApplicationRunners;

/**
 * Runs a Samza application in this JVM until it finishes or the JVM is stopped:
 * HerdSamzaMain app.properties [key=value ...] (the pairs override the file; app.class names
 * the application). Samza's own ApplicationRunnerMain returns right after starting, and as
 * all of Samza's threads are daemons the JVM would exit before processing anything.
 */
public final class HerdSamzaMain {
  public static void main(String[] args) throws Exception {
    Properties properties = new Properties();
    try (FileInputStream in = new FileInputStream(args[0])) {
      properties.load(in);
    }
    Map<String, String> map = new HashMap<>();
    for (String key : properties.stringPropertyNames()) {
      map.put(key, properties.getProperty(key));
    }
    for (int i = 1; i < args.length; i++) {
      int eq = args[i].indexOf('=');
      map.put(args[i].substring(0, eq), args[i].substring(eq + 1));
    }
    MapConfig config = new MapConfig(map);
    SamzaApplication app = (SamzaApplication)
        Class.forName(config.get("app.class")).getDeclaredConstructor().newInstance();
    ApplicationRunner runner = ApplicationRunners.getApplicationRunner(app, config);
    Runtime.getRuntime().addShutdownHook(new Thread(runner::kill));
    runner.run(null);
    runner.waitForFinish();
    System.out.println("samza app finished: " + runner.status());
  }
}

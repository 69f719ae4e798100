import java.util.ArrayList;
import java.util.List;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;

/**
 * Spark's SparkPi example (the registries here serve no spark-examples jar): estimates pi
 * from random points in [-1, 1]^2 over N slices (the first argument, default 2) and prints
 * the same line, "Pi is roughly 3.14...".
 */
public final class HerdSparkPi {
  public static void main(String[] args) throws Exception {
    int slices = args.length > 0 ? Integer.parseInt(args[0]) : 2;
    int n = 100000 * slices;
    JavaSparkContext jsc = new JavaSparkContext(new SparkConf().setAppName("HerdSparkPi"));
    List<Integer> l = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      l.add(i);
    }
    JavaRDD<Integer> ds = jsc.parallelize(l, slices);
    int count = ds.map(i -> {
      double x = Math.random() * 2 - 1;
      double y = Math.random() * 2 - 1;
      return (x * x + y * y <= 1) ? 1 : 0;
    }).reduce(Integer::sum);
    System.out.println("Pi is roughly " + 4.0 * count / n);
    jsc.stop();
  }
}

//! The shell commands of a node's tasks: the Cassandra daemon itself, and `nodetool` runs
//! for the operator plans. Both find the distribution in the sandbox by its jar folder
//! (`libs/` in herd's assembled distribution, `lib/` in the official tarball) and start
//! `java -cp '<lib>/*' <main class>` directly, so neither depends on the tarball's shell
//! wrappers (which the assembled distribution does not have).

use crate::CassandraConfig;

/// Finds the distribution's jar folder (`$CASSANDRA_LIB`) and home (`$CASSANDRA_HOME`).
const FIND_DISTRIBUTION: &str = concat!(
    "CASSANDRA_LIB=$(ls -d */libs */lib 2>/dev/null | head -1) && ",
    "{ [ -n \"$CASSANDRA_LIB\" ] || { echo 'no Cassandra distribution (a lib/ or libs/ folder) in the sandbox' >&2; exit 1; }; } && ",
    "CASSANDRA_HOME=$(dirname \"$CASSANDRA_LIB\") && ",
);

/// The address a node's JMX server listens on: the agent's address when that is a loopback
/// address (herd's local cluster, where every agent is its own 127.x.y.z on one host and one
/// 127.0.0.1 would make the nodes' JMX ports collide), else 127.0.0.1 — JMX without
/// authentication must not be reachable from other hosts. `nodetool` runs inside the
/// instance, so it reaches either.
pub(crate) const JMX_HOST: &str =
    r#"{% if host is startingwith("127.") %}{{ host }}{% else %}127.0.0.1{% endif %}"#;

/// What Cassandra needs on Java 17: the module system opened the way
/// `conf/jvm17-server.options` (and `jvm17-clients.options`) of the official tarball do.
pub const JAVA17_MODULE_FLAGS: &[&str] = &[
    "-Djdk.attach.allowAttachSelf=true",
    "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports=java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.server=ALL-UNNAMED",
    "--add-exports=java.sql/java.sql=ALL-UNNAMED",
    "--add-exports=java.base/java.lang.ref=ALL-UNNAMED",
    "--add-exports=jdk.unsupported/sun.misc=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-exports=jdk.attach/sun.tools.attach=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.module=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.loader=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.reflect=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.math=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.module=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.util.jar=ALL-UNNAMED",
    "--add-opens=jdk.management/com.sun.management.internal=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=jdk.compiler/com.sun.tools.javac=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
];

/// The server's JVM flags besides heap, module flags and JMX (from the official
/// `conf/jvm-server.options` and its G1 settings).
const SERVER_FLAGS: &[&str] = &[
    "-ea",
    "-da:net.openhft...",
    "-XX:+UseThreadPriorities",
    "-XX:+HeapDumpOnOutOfMemoryError",
    "-XX:+ExitOnOutOfMemoryError",
    "-Xss256k",
    "-XX:+UseTLAB",
    "-XX:+ResizeTLAB",
    "-XX:+PerfDisableSharedMem",
    "-XX:+AlwaysPreTouch",
    "-Djava.net.preferIPv4Stack=true",
    "-XX:+UseG1GC",
    "-XX:+ParallelRefProcEnabled",
    "-XX:MaxTenuringThreshold=1",
    "-XX:G1HeapRegionSize=16m",
    "-XX:G1RSetUpdatingPauseTimePercent=5",
    "-XX:MaxGCPauseMillis=300",
    "-XX:InitiatingHeapOccupancyPercent=70",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dio.netty.allocator.useCacheForAllThreads=true",
    "-Dio.netty.allocator.maxOrder=11",
    "-Dcassandra-foreground=yes",
];

/// The folders Cassandra keeps on the node's persistent volume (`data/`).
pub(crate) const VOLUME_DIRS: [(&str, &str); 5] = [
    ("data_file_directories", "data/data"),
    ("commitlog_directory", "data/commitlog"),
    ("saved_caches_directory", "data/saved_caches"),
    ("hints_directory", "data/hints"),
    ("cdc_raw_directory", "data/cdc_raw"),
];

/// The node's command (a template: rendered per instance): create its folders on the
/// volume, then run Cassandra in the foreground with the rendered `cassandra.yaml` and
/// `cassandra-rackdc.properties`, JMX on the reserved `jmx` port (see [`JMX_HOST`]).
pub(crate) fn node(config: &CassandraConfig) -> String {
    let dirs: Vec<&str> = VOLUME_DIRS.iter().map(|(_, dir)| *dir).collect();
    let mut jvm = vec![format!("-Xms{0}m -Xmx{0}m", config.node.heap_mb)];
    jvm.extend(SERVER_FLAGS.iter().map(|f| (*f).to_owned()));
    jvm.extend(JAVA17_MODULE_FLAGS.iter().map(|f| (*f).to_owned()));
    jvm.push(format!(
        "-Dcom.sun.management.jmxremote.port={{{{ ports.jmx }}}} -Dcom.sun.management.jmxremote.rmi.port={{{{ ports.jmx }}}} \
         -Dcom.sun.management.jmxremote.host={JMX_HOST} -Djava.rmi.server.hostname={JMX_HOST} \
         -Dcom.sun.management.jmxremote.authenticate=false -Dcom.sun.management.jmxremote.ssl=false"
    ));
    jvm.extend(config.node.jvm_options.iter().cloned());
    format!(
        concat!(
            "{find}",
            "mkdir -p {dirs} logs && ",
            "exec java {jvm} ",
            "-javaagent:\"$(ls \"$CASSANDRA_LIB\"/jamm-*.jar | head -1)\" ",
            "-Dcassandra.config=\"file://$PWD/cassandra.yaml\" ",
            "-Dcassandra-rackdc.properties=\"file://$PWD/cassandra-rackdc.properties\" ",
            "-Dlogback.configurationFile=\"$CASSANDRA_HOME/conf/logback.xml\" ",
            "-Dcassandra.logdir=\"$PWD/logs\" -Dcassandra.storagedir=\"$PWD/data\" ",
            "-cp \"$CASSANDRA_LIB/*\" org.apache.cassandra.service.CassandraDaemon"
        ),
        find = FIND_DISTRIBUTION,
        dirs = dirs.join(" "),
        jvm = jvm.join(" "),
    )
}

/// A `nodetool <args>` run against the instance's own node (a template: rendered per
/// instance), with the distribution's own `org.apache.cassandra.tools.NodeTool`. `args` is
/// shell text (it may expand plan parameters such as `"$KEYSPACE"`).
pub fn nodetool(config: &CassandraConfig, args: &str) -> String {
    format!(
        concat!(
            "{find}",
            "exec java -Xmx{heap}m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.net.preferIPv4Stack=true {modules} ",
            "-Duser.home=\"$PWD\" -Dlogback.configurationFile=\"$CASSANDRA_HOME/conf/logback-tools.xml\" ",
            "-cp \"$CASSANDRA_LIB/*\" org.apache.cassandra.tools.NodeTool -h {jmx_host} -p {{{{ ports.jmx }}}} {args}"
        ),
        find = FIND_DISTRIBUTION,
        heap = config.nodetool.heap_mb,
        modules = JAVA17_MODULE_FLAGS.join(" "),
        jmx_host = JMX_HOST,
        args = args,
    )
}

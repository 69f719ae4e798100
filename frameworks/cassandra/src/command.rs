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
pub const SERVER_JVM_FLAGS: &[&str] = &[
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

/// The flag that makes a replacement node take over the ring position (tokens) of the node
/// it replaces, streaming that node's data from the other replicas before it serves: set
/// only for an instance that was replaced onto a new agent (`replaced_host`: the address
/// it ran on before). Cassandra reads it on the node's first boot only; once the node has
/// bootstrapped (`system.local`), later restarts on the same volume ignore it.
///
/// Cassandra finds the node to replace by address *and storage port*: the old placement's
/// storage port (`replaced_ports`) goes with the address.
pub(crate) const REPLACE_ADDRESS: &str = concat!(
    "{% if replaced_host %}-Dcassandra.replace_address_first_boot={{ replaced_host }}",
    "{% if replaced_ports.storage is defined %}:{{ replaced_ports.storage }}{% endif %} ",
    "{% endif %}",
);

/// The node's command (a template: rendered per instance): create its folders on the
/// volume, then run Cassandra in the foreground with the rendered `cassandra.yaml` and
/// `cassandra-rackdc.properties`, JMX on the reserved `jmx` port (see [`JMX_HOST`]), and,
/// for a replacement, [`REPLACE_ADDRESS`].
pub(crate) fn node(config: &CassandraConfig) -> String {
    let dirs: Vec<&str> = VOLUME_DIRS.iter().map(|(_, dir)| *dir).collect();
    let mut jvm = vec![format!("-Xms{0}m -Xmx{0}m", config.node.heap_mb)];
    jvm.extend(SERVER_JVM_FLAGS.iter().map(|f| (*f).to_owned()));
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
            "{replace}",
            "-cp \"$CASSANDRA_LIB/*\" org.apache.cassandra.service.CassandraDaemon"
        ),
        find = FIND_DISTRIBUTION,
        dirs = dirs.join(" "),
        jvm = jvm.join(" "),
        replace = REPLACE_ADDRESS,
    )
}

/// The `java ... NodeTool -h <jmx host> -p <jmx port>` prefix of a `nodetool` run against
/// the instance's own node (a template).
fn nodetool_java(config: &CassandraConfig) -> String {
    format!(
        concat!(
            "java -Xmx{heap}m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.net.preferIPv4Stack=true {modules} ",
            "-Duser.home=\"$PWD\" -Dlogback.configurationFile=\"$CASSANDRA_HOME/conf/logback-tools.xml\" ",
            "-cp \"$CASSANDRA_LIB/*\" org.apache.cassandra.tools.NodeTool -h {jmx_host} -p {{{{ ports.jmx }}}}"
        ),
        heap = config.nodetool.heap_mb,
        modules = JAVA17_MODULE_FLAGS.join(" "),
        jmx_host = JMX_HOST,
    )
}

/// A `nodetool <args>` run against the instance's own node (a template: rendered per
/// instance), with the distribution's own `org.apache.cassandra.tools.NodeTool`. `args` is
/// shell text (it may expand plan parameters such as `"$KEYSPACE"`).
pub fn nodetool(config: &CassandraConfig, args: &str) -> String {
    format!("{FIND_DISTRIBUTION}exec {} {args}", nodetool_java(config))
}

/// A shell script (a template) that may call `nodetool ...` (a function running the
/// distribution's NodeTool against the instance's own node) several times, and stops at the
/// first command that fails.
fn nodetool_script(config: &CassandraConfig, script: &str) -> String {
    format!("{FIND_DISTRIBUTION}nodetool() {{ {} \"$@\"; }}\nset -eu\n{script}", nodetool_java(config))
}

/// The start of the backup and restore scripts: `$DIR` (the plan's `BACKUP_DIR`, else the
/// configured `backup.dir`), `$TAG` (the plan's `TAG`) and `$NODE_DIR`, this instance's
/// folder in the backup, `$DIR/$TAG/<instance>`. The instance, not the agent, names it: a
/// node replaced onto another agent keeps its predecessor's tokens, so it restores its
/// predecessor's backup.
const BACKUP_PATHS: &str = r#"DIR="${BACKUP_DIR:-__DIR__}"
TAG="${TAG:-}"
case "$DIR" in /*) ;; *) echo "the backup directory \"$DIR\" is not an absolute path" >&2; exit 1 ;; esac
case "$TAG" in ''|.*|*/*|*' '*) echo "TAG \"$TAG\" is no backup name: use letters, digits, '-', '_' and '.'" >&2; exit 1 ;; esac
NODE_DIR="$DIR/$TAG/{{ instance }}"
"#;

/// The `backup` task (a template): snapshot every keyspace (`nodetool snapshot`: flushes the
/// memtables, then hard-links the SSTables with each table's `schema.cql`), copy the
/// snapshots of the keyspaces that are not Cassandra's own (`system*`) to
/// `$NODE_DIR/<keyspace>/<table dir>/` (first to a `.partial` folder, renamed when
/// complete), then clear the snapshot. Refuses a `TAG` this instance already has a
/// backup of.
pub(crate) fn backup(config: &CassandraConfig) -> String {
    let script = BACKUP_PATHS.replace("__DIR__", &config.backup.dir)
        + r#"if [ -e "$NODE_DIR" ]; then echo "$NODE_DIR exists: {{ instance }} was backed up as $TAG already; choose another TAG" >&2; exit 1; fi
nodetool clearsnapshot -t "$TAG" --all >/dev/null 2>&1 || true
nodetool snapshot -t "$TAG"
rm -rf "$NODE_DIR.partial"
mkdir -p "$NODE_DIR.partial"
for snapshot in data/data/*/*/snapshots/"$TAG"; do
  [ -d "$snapshot" ] || continue
  table_dir=$(dirname "$(dirname "$snapshot")")
  keyspace=$(basename "$(dirname "$table_dir")")
  case "$keyspace" in system*) continue ;; esac
  mkdir -p "$NODE_DIR.partial/$keyspace"
  cp -R "$snapshot" "$NODE_DIR.partial/$keyspace/$(basename "$table_dir")"
  echo "backed up $keyspace.$(basename "$table_dir")"
done
nodetool clearsnapshot -t "$TAG"
mv "$NODE_DIR.partial" "$NODE_DIR"
echo "{{ instance }}: backup $TAG in $NODE_DIR"
"#;
    nodetool_script(config, &script)
}

/// The `restore` task (a template): every table of `$NODE_DIR` is loaded into the live
/// table of the same keyspace and name with `nodetool import --copy-data` (the backup stays
/// as it is). The tables must exist (their `schema.cql` is in the backup); the node must
/// own the backup's tokens (the ring the backup was taken from, nodes replaced or not).
pub(crate) fn restore(config: &CassandraConfig) -> String {
    let script = BACKUP_PATHS.replace("__DIR__", &config.backup.dir)
        + r#"if [ ! -d "$NODE_DIR" ]; then echo "no backup $TAG of {{ instance }}: $NODE_DIR is not a directory" >&2; exit 1; fi
for table_dir in "$NODE_DIR"/*/*; do
  [ -d "$table_dir" ] || continue
  keyspace=$(basename "$(dirname "$table_dir")")
  table=$(basename "$table_dir")
  table=${table%-*}
  nodetool import --copy-data "$keyspace" "$table" "$table_dir"
  echo "restored $keyspace.$table"
done
echo "{{ instance }}: backup $TAG restored from $NODE_DIR"
"#;
    nodetool_script(config, &script)
}

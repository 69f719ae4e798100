//! Smoke test: Hadoop from the assembled distribution. HDFS: a NameNode (formatted first) and
//! one DataNode store a file written through WebHDFS and give it back (reqwest, following
//! the NameNode's redirect to the DataNode by hand, content and length checked). YARN: a
//! ResourceManager lists its one NodeManager RUNNING in its REST API, and the MapReduce
//! example `pi` runs on that YARN cluster over that HDFS. Records a floor per daemon
//! (`hadoop-namenode`, `hadoop-datanode`, `hadoop-resourcemanager`, `hadoop-nodemanager`),
//! each started once the one before it is ready.
//!
//! Launch, per the verified recipe: every daemon is `java -cp '<node conf>:conf:libs/*'
//! <main class>` (no bin/ scripts, no JPMS flags on Java 17), the node's site xmls first on
//! the classpath. The NameNode and ResourceManager bind 127.0.25.1, the DataNode and
//! NodeManager 127.0.25.2. Every process on this host reaches the NameNode from 127.0.0.1,
//! so DataNodes are addressed by the hostname they declare (`dfs.*.use.datanode.hostname`).
//! The NodeManager gets JAVA_HOME (its containers run `$JAVA_HOME/bin/java` through bash).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use herd_integration_tests::{
    Daemon, Dist, distribution, free_ports, guarded_command, java, java_home, processes_mentioning,
    record_floor, run_tool, scratch_dir,
};
use reqwest::StatusCode;
use serde_json::Value;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The NameNode's and the ResourceManager's address.
const MASTER: Ipv4Addr = Ipv4Addr::new(127, 0, 25, 1);

/// The DataNode's and the NodeManager's address.
const WORKER: Ipv4Addr = Ipv4Addr::new(127, 0, 25, 2);

/// The file written to HDFS.
const HDFS_FILE: &str = "/tmp/herd-smoke/hello.txt";

/// The ports of the cluster, all picked free.
struct Ports {
    nn_rpc: u16,
    nn_http: u16,
    dn_data: u16,
    dn_http: u16,
    dn_ipc: u16,
    rm: u16,
    rm_scheduler: u16,
    rm_tracker: u16,
    rm_admin: u16,
    rm_web: u16,
    nm: u16,
    nm_localizer: u16,
    nm_web: u16,
    shuffle: u16,
}

impl Ports {
    fn pick() -> anyhow::Result<Self> {
        let [nn_rpc, nn_http, rm, rm_scheduler, rm_tracker, rm_admin, rm_web] = free_ports(MASTER)?;
        let [dn_data, dn_http, dn_ipc, nm, nm_localizer, nm_web] = free_ports(WORKER)?;
        // The shuffle handler binds every address.
        let [shuffle] = free_ports(Ipv4Addr::UNSPECIFIED)?;
        Ok(Self {
            nn_rpc,
            nn_http,
            dn_data,
            dn_http,
            dn_ipc,
            rm,
            rm_scheduler,
            rm_tracker,
            rm_admin,
            rm_web,
            nm,
            nm_localizer,
            nm_web,
            shuffle,
        })
    }
}

/// Kills, when dropped, every process whose command line mentions its folder: the YARN
/// containers of a job cut short (the NodeManager starts each in a session of its own, out of
/// reach of the kill of its process group).
struct KillContainers(PathBuf);

impl Drop for KillContainers {
    fn drop(&mut self) {
        for (pid, cmdline) in processes_mentioning(&self.0.to_string_lossy()) {
            eprintln!("[herd-test] killing a leftover container process {pid}: {cmdline}");
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// A Hadoop configuration file holding `properties`.
fn site(properties: &[(&str, String)]) -> String {
    let mut xml = String::from("<?xml version=\"1.0\"?>\n<configuration>\n");
    for (name, value) in properties {
        xml.push_str(&format!("  <property><name>{name}</name><value>{value}</value></property>\n"));
    }
    xml.push_str("</configuration>\n");
    xml
}

/// One node's folder (`conf/` with the four site files, `logs/`, `tmp/`, data folders), for
/// the daemons on one address. Both nodes get every key; the per-daemon ones only matter to
/// that daemon. `worker_conf` is the worker node's conf folder: containers run there.
fn write_node(
    node: &Path,
    home: &Path,
    worker_conf: &Path,
    data: &Path,
    p: &Ports,
) -> anyhow::Result<PathBuf> {
    let conf = node.join("conf");
    for dir in [&conf, &node.join("logs"), &node.join("tmp")] {
        std::fs::create_dir_all(dir)?;
    }
    let (home, data) = (home.display(), data.display());
    let classpath = format!("{},{home}/conf,{home}/libs/*", worker_conf.display());
    let core = [
        ("fs.defaultFS", format!("hdfs://{MASTER}:{}", p.nn_rpc)),
        ("hadoop.tmp.dir", format!("{}/tmp", node.display())),
    ];
    let hdfs = [
        ("dfs.replication", "1".to_owned()),
        ("dfs.namenode.name.dir", format!("{data}/nn")),
        ("dfs.namenode.rpc-address", format!("{MASTER}:{}", p.nn_rpc)),
        ("dfs.namenode.http-address", format!("{MASTER}:{}", p.nn_http)),
        ("dfs.namenode.secondary.http-address", format!("{MASTER}:0")),
        ("dfs.permissions.enabled", "false".to_owned()),
        ("dfs.namenode.datanode.registration.ip-hostname-check", "false".to_owned()),
        ("dfs.namenode.safemode.extension", "0".to_owned()),
        ("dfs.client.use.datanode.hostname", "true".to_owned()),
        ("dfs.datanode.use.datanode.hostname", "true".to_owned()),
        ("dfs.datanode.data.dir", format!("{data}/dn")),
        ("dfs.datanode.address", format!("{WORKER}:{}", p.dn_data)),
        ("dfs.datanode.http.address", format!("{WORKER}:{}", p.dn_http)),
        ("dfs.datanode.ipc.address", format!("{WORKER}:{}", p.dn_ipc)),
        ("dfs.datanode.hostname", WORKER.to_string()),
    ];
    let yarn = [
        ("yarn.resourcemanager.hostname", MASTER.to_string()),
        ("yarn.resourcemanager.address", format!("{MASTER}:{}", p.rm)),
        ("yarn.resourcemanager.scheduler.address", format!("{MASTER}:{}", p.rm_scheduler)),
        ("yarn.resourcemanager.resource-tracker.address", format!("{MASTER}:{}", p.rm_tracker)),
        ("yarn.resourcemanager.admin.address", format!("{MASTER}:{}", p.rm_admin)),
        ("yarn.resourcemanager.webapp.address", format!("{MASTER}:{}", p.rm_web)),
        ("yarn.node-attribute.fs-store.root-dir", format!("file://{data}/rm-node-attributes")),
        ("yarn.nodemanager.hostname", WORKER.to_string()),
        ("yarn.nodemanager.address", format!("{WORKER}:{}", p.nm)),
        ("yarn.nodemanager.localizer.address", format!("{WORKER}:{}", p.nm_localizer)),
        ("yarn.nodemanager.webapp.address", format!("{WORKER}:{}", p.nm_web)),
        ("yarn.nodemanager.local-dirs", format!("{data}/nm/local")),
        ("yarn.nodemanager.log-dirs", format!("{data}/nm/logs")),
        ("yarn.nodemanager.aux-services", "mapreduce_shuffle".to_owned()),
        (
            "yarn.nodemanager.aux-services.mapreduce_shuffle.class",
            "org.apache.hadoop.mapred.ShuffleHandler".to_owned(),
        ),
        ("yarn.nodemanager.vmem-check-enabled", "false".to_owned()),
        ("yarn.nodemanager.disk-health-checker.max-disk-utilization-per-disk-percentage", "99".to_owned()),
        ("yarn.nodemanager.resource.memory-mb", "4096".to_owned()),
        ("yarn.nodemanager.resource.cpu-vcores", "4".to_owned()),
        ("yarn.scheduler.minimum-allocation-mb", "256".to_owned()),
        ("yarn.scheduler.maximum-allocation-mb", "2048".to_owned()),
        ("yarn.application.classpath", classpath.clone()),
    ];
    let mapred = [
        ("mapreduce.framework.name", "yarn".to_owned()),
        ("mapreduce.application.classpath", classpath),
        ("yarn.app.mapreduce.am.env", format!("HADOOP_MAPRED_HOME={home}")),
        ("mapreduce.map.env", format!("HADOOP_MAPRED_HOME={home}")),
        ("mapreduce.reduce.env", format!("HADOOP_MAPRED_HOME={home}")),
        ("mapreduce.shuffle.port", p.shuffle.to_string()),
        ("yarn.app.mapreduce.am.resource.mb", "512".to_owned()),
        ("yarn.app.mapreduce.am.command-opts", "-Xmx384m".to_owned()),
        ("mapreduce.map.memory.mb", "512".to_owned()),
        ("mapreduce.reduce.memory.mb", "512".to_owned()),
        ("mapreduce.map.java.opts", "-Xmx384m".to_owned()),
        ("mapreduce.reduce.java.opts", "-Xmx384m".to_owned()),
    ];
    std::fs::write(conf.join("core-site.xml"), site(&core))?;
    std::fs::write(conf.join("hdfs-site.xml"), site(&hdfs))?;
    std::fs::write(conf.join("yarn-site.xml"), site(&yarn))?;
    std::fs::write(conf.join("mapred-site.xml"), site(&mapred))?;
    Ok(conf)
}

/// `java <Hadoop's daemon flags> -cp '<node conf>:conf:libs/*' <main> <args>` for a process
/// named `name` whose node folder is `node`.
fn hadoop_java(mut command: Command, dist: &Dist, node: &Path, name: &str, main: &str) -> Command {
    let (home, node_dir) = (dist.home.display(), node.display());
    command
        .args(["-Xmx384m", "-Djava.net.preferIPv4Stack=true"])
        .arg(format!("-Dhadoop.log.dir={node_dir}/logs"))
        .arg(format!("-Dhadoop.log.file={name}.log"))
        .arg(format!("-Dyarn.log.dir={node_dir}/logs"))
        .arg(format!("-Dhadoop.home.dir={home}"))
        .arg("-Dhadoop.root.logger=INFO,console")
        .arg(format!("-Djava.io.tmpdir={node_dir}/tmp"))
        .arg("-cp")
        .arg(format!("{node_dir}/conf:{home}/conf:{home}/libs/*"))
        .arg(main)
        .current_dir(node);
    command
}

/// Starts a daemon of the cluster.
fn start(dist: &Dist, node: &Path, logs: &Path, name: &str, main: &str, java_home: Option<&Path>) -> Daemon {
    let mut command = hadoop_java(guarded_command(java(), None), dist, node, name, main);
    if let Some(home) = java_home {
        command.env("JAVA_HOME", home);
    }
    Daemon::spawn(name, command, logs).unwrap()
}

/// GETs `url` and parses the answer as JSON (any status but 200 is an error).
async fn get_json(http: &reqwest::Client, url: &str) -> anyhow::Result<Value> {
    let response = http.get(url).header("accept", "application/json").send().await?;
    let status = response.status();
    let text = response.text().await?;
    anyhow::ensure!(status == StatusCode::OK, "GET {url}: {status}: {text}");
    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("GET {url}: not JSON ({e}): {text}"))
}

/// The first bean of a NameNode JMX query.
async fn namenode_bean(http: &reqwest::Client, p: &Ports, name: &str) -> anyhow::Result<Value> {
    let url = format!("http://{MASTER}:{}/jmx?qry=Hadoop:service=NameNode,name={name}", p.nn_http);
    let answer = get_json(http, &url).await?;
    answer["beans"].get(0).cloned().ok_or_else(|| anyhow::anyhow!("{url} has no bean: {answer}"))
}

/// Sends a WebHDFS request to the NameNode and returns where it redirects: the DataNode.
async fn redirect_to_datanode(
    request: reqwest::RequestBuilder,
    p: &Ports,
    op: &str,
) -> anyhow::Result<String> {
    let response = request.send().await?;
    let status = response.status();
    let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let text = response.text().await?;
    anyhow::ensure!(
        status == StatusCode::TEMPORARY_REDIRECT,
        "{op} at the NameNode answered {status} instead of redirecting: {text}"
    );
    let location = location.ok_or_else(|| anyhow::anyhow!("{op}: a redirect without a Location"))?;
    let datanode = format!("http://{WORKER}:{}/webhdfs/v1{HDFS_FILE}?", p.dn_http);
    anyhow::ensure!(location.starts_with(&datanode), "{op} redirected to {location}, not to {datanode}…");
    Ok(location)
}

/// Writes a file through WebHDFS (NameNode → 307 → DataNode) and reads it back the same way.
async fn webhdfs_round_trip(http: &reqwest::Client, p: &Ports) -> anyhow::Result<()> {
    let namenode = format!("http://{MASTER}:{}/webhdfs/v1{HDFS_FILE}", p.nn_http);
    let content: String = (0..200).map(|i| format!("herd smoke line {i:03}\n")).collect();

    let create = http.put(format!("{namenode}?op=CREATE&overwrite=true&user.name=herd"));
    let location = redirect_to_datanode(create, p, "CREATE").await?;
    let response = http.put(&location).body(content.clone()).send().await?;
    let status = response.status();
    anyhow::ensure!(
        status == StatusCode::CREATED,
        "CREATE at the DataNode: {status}: {}",
        response.text().await?
    );

    let open = http.get(format!("{namenode}?op=OPEN&user.name=herd"));
    let location = redirect_to_datanode(open, p, "OPEN").await?;
    let response = http.get(&location).send().await?;
    let status = response.status();
    let read = response.text().await?;
    anyhow::ensure!(status == StatusCode::OK, "OPEN at the DataNode: {status}: {read}");
    anyhow::ensure!(
        read == content,
        "read back {} bytes that differ from the {} written",
        read.len(),
        content.len()
    );

    let answer = get_json(http, &format!("{namenode}?op=GETFILESTATUS&user.name=herd")).await?;
    let status = &answer["FileStatus"];
    anyhow::ensure!(
        status["length"] == content.len() && status["type"] == "FILE" && status["replication"] == 1,
        "GETFILESTATUS: {answer}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hdfs_stores_a_file_and_yarn_runs_mapreduce_pi() {
    let dist = distribution("hadoop").await.expect("assemble hadoop");
    let scratch = scratch_dir("hadoop").unwrap();
    let (master, worker) = (scratch.path().join("master"), scratch.path().join("worker"));
    let data = scratch.path().join("data");
    // Dropped after the daemons (declared later), before the scratch folder goes.
    let _containers = KillContainers(data.join("nm"));
    let ports = Ports::pick().unwrap();
    let worker_conf = worker.join("conf");
    write_node(&master, &dist.home, &worker_conf, &data, &ports).unwrap();
    write_node(&worker, &dist.home, &worker_conf, &data, &ports).unwrap();
    let java_home = java_home().unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let logs = scratch.path();

    let namenode_main = "org.apache.hadoop.hdfs.server.namenode.NameNode";
    let mut format = hadoop_java(guarded_command(java(), None), &dist, &master, "format", namenode_main);
    format.args(["-format", "-force", "-nonInteractive", "-clusterid", "herd-smoke"]);
    run_tool("NameNode -format", format, Duration::from_secs(120)).await.unwrap();
    assert!(data.join("nn/current/VERSION").is_file(), "the format left no nn/current/VERSION");

    let mut namenode = start(&dist, &master, logs, "namenode", namenode_main, None);
    let listing = format!("http://{MASTER}:{}/webhdfs/v1/?op=LISTSTATUS&user.name=herd", ports.nn_http);
    namenode.wait_until("WebHDFS lists /", Duration::from_secs(120), || get_json(&http, &listing)).await;
    record_floor("hadoop-namenode", &dist.version, namenode.uptime(), dist.size_bytes).unwrap();

    let datanode_main = "org.apache.hadoop.hdfs.server.datanode.DataNode";
    let mut datanode = start(&dist, &worker, logs, "datanode", datanode_main, None);
    datanode
        .wait_until("the NameNode counts one live DataNode with space", Duration::from_secs(120), || async {
            // Registered is not enough: until its first storage report the NameNode places no
            // block on it (a WebHDFS CREATE answers 403 "Failed to find datanode").
            let bean = namenode_bean(&http, &ports, "FSNamesystemState").await?;
            let (live, remaining) = (&bean["NumLiveDataNodes"], &bean["CapacityRemaining"]);
            anyhow::ensure!(
                *live == 1 && remaining.as_u64().is_some_and(|bytes| bytes > 0),
                "NumLiveDataNodes is {live}, CapacityRemaining {remaining}"
            );
            anyhow::Ok(())
        })
        .await;
    record_floor("hadoop-datanode", &dist.version, datanode.uptime(), dist.size_bytes).unwrap();
    datanode
        .wait_until("the NameNode is out of safe mode", Duration::from_secs(60), || async {
            let bean = namenode_bean(&http, &ports, "NameNodeInfo").await?;
            anyhow::ensure!(bean["Safemode"] == "", "Safemode is {}", bean["Safemode"]);
            anyhow::Ok(())
        })
        .await;
    datanode
        .expect_within("a WebHDFS write and read", Duration::from_secs(60), webhdfs_round_trip(&http, &ports))
        .await;

    let rm_main = "org.apache.hadoop.yarn.server.resourcemanager.ResourceManager";
    let mut resourcemanager = start(&dist, &master, logs, "resourcemanager", rm_main, None);
    let cluster = format!("http://{MASTER}:{}/ws/v1/cluster", ports.rm_web);
    let info = resourcemanager
        .wait_until("the REST API says STARTED", Duration::from_secs(120), || async {
            let answer = get_json(&http, &format!("{cluster}/info")).await?;
            anyhow::ensure!(answer["clusterInfo"]["state"] == "STARTED", "cluster info: {answer}");
            anyhow::Ok(answer)
        })
        .await;
    record_floor("hadoop-resourcemanager", &dist.version, resourcemanager.uptime(), dist.size_bytes).unwrap();
    assert_eq!(info["clusterInfo"]["hadoopVersion"], dist.version.as_str(), "cluster info: {info}");

    let nm_main = "org.apache.hadoop.yarn.server.nodemanager.NodeManager";
    let mut nodemanager = start(&dist, &worker, logs, "nodemanager", nm_main, Some(&java_home));
    let node_id = format!("{WORKER}:{}", ports.nm);
    nodemanager
        .wait_until("the ResourceManager lists the NodeManager RUNNING", Duration::from_secs(120), || async {
            let answer = get_json(&http, &format!("{cluster}/nodes")).await?;
            let nodes = answer["nodes"]["node"].as_array().cloned().unwrap_or_default();
            anyhow::ensure!(
                nodes.len() == 1 && nodes[0]["id"] == node_id.as_str() && nodes[0]["state"] == "RUNNING",
                "nodes: {answer}"
            );
            anyhow::Ok(())
        })
        .await;
    record_floor("hadoop-nodemanager", &dist.version, nodemanager.uptime(), dist.size_bytes).unwrap();

    let examples = std::fs::read_dir(dist.home.join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("hadoop-mapreduce-examples")))
        .expect("examples/hadoop-mapreduce-examples-*.jar");
    let mut pi =
        hadoop_java(guarded_command(java(), None), &dist, &master, "pi", "org.apache.hadoop.util.RunJar");
    pi.arg(&examples).args(["pi", "2", "20"]);
    let started = Instant::now();
    let printed = nodemanager
        .expect_within(
            "MapReduce pi (2 maps) on YARN",
            Duration::from_secs(180),
            run_tool("hadoop-mapreduce-examples pi", pi, Duration::from_secs(180)),
        )
        .await;
    eprintln!("[herd-test] MapReduce pi took {:.1}s", started.elapsed().as_secs_f64());
    assert!(printed.contains("Estimated value of Pi is 3."), "pi printed {printed:?}");
    let apps = get_json(&http, &format!("{cluster}/apps")).await.unwrap();
    let app = &apps["apps"]["app"][0];
    assert!(app["state"] == "FINISHED" && app["finalStatus"] == "SUCCEEDED", "apps: {apps}");
    // Dropped in reverse order: the NodeManager before the ResourceManager.
}

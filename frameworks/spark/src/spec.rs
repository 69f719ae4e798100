//! A Spark config → its service spec: the `master`, `worker` and optional `history` pods,
//! their commands, and the submission defaults the routes read back from the spec.

use crate::config::{SparkConfig, SparkConfigError};
use crate::submission::{SUBMIT_DEFAULTS, SubmitDefaults, sh_quote};
use herd_core::spec::{ArtifactSpec, ServiceSpec, SpecFormat};

/// The JVM flags Spark 4's launcher adds on Java 17 (harmless on 3.5): the daemons run
/// `java` directly, without Spark's shell wrappers.
pub(crate) const JPMS_FLAGS: &str = concat!(
    "-XX:+IgnoreUnrecognizedVMOptions --add-modules=jdk.incubator.vector ",
    "--add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.lang.invoke=ALL-UNNAMED ",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED ",
    "--add-opens=java.base/java.net=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED ",
    "--add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.util.concurrent=ALL-UNNAMED ",
    "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED ",
    "--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED ",
    "--add-opens=java.base/sun.nio.cs=ALL-UNNAMED --add-opens=java.base/sun.security.action=ALL-UNNAMED ",
    "--add-opens=java.base/sun.util.calendar=ALL-UNNAMED ",
    "--add-opens=java.security.jgss/sun.security.krb5=ALL-UNNAMED -Dio.netty.tryReflectionSetAccessible=true",
);

/// The pinned Spark distribution `name` (`spark4`, `spark35`).
pub fn pinned_distribution(name: &str) -> Result<ArtifactSpec, SparkConfigError> {
    Ok(herd_core::spec::pinned_artifact(name)?)
}

/// PySpark's Python libraries (`pyspark.zip`, `py4j-*-src.zip`): the `lib/` folder of the
/// same pyspark source archive the pinned distribution comes from (a few MB, fetched beside
/// it). `None` for a distribution not taken from pyspark (an official tarball carries them
/// in `python/lib/`).
fn python_libs(distribution: &ArtifactSpec) -> Option<ArtifactSpec> {
    let mut libs = distribution.clone();
    let pypi = libs.pypi.as_mut()?;
    pypi.root = Some("lib".to_owned());
    pypi.dirs.clear();
    pypi.files.clear();
    libs.name = Some(format!("{}-python", distribution.name.as_deref().unwrap_or("spark")));
    Some(libs)
}

/// Shell that finds the distribution in the sandbox (the folder whose `jars/` holds
/// spark-core: the assembled one and an official tarball alike), exports `SPARK_HOME`,
/// `SPARK_SCALA_VERSION` (the Worker's executors need it), `SPARK_LOCAL_IP` (everything
/// binds the agent's address, `host`: a shell expression) and, when PySpark's libraries are
/// there, `PYTHONPATH`.
pub(crate) fn prelude(scala: &str, host: &str) -> String {
    format!(
        concat!(
            "SPARK_HOME=\"$(cd \"$(dirname \"$(ls -d \"$PWD\"/*/jars/spark-core_*.jar | head -1)\")/..\" && pwd)\" && ",
            "export SPARK_HOME SPARK_SCALA_VERSION={scala} SPARK_LOCAL_IP={host} && ",
            "PYLIB=\"$(ls \"$PWD\"/*/pyspark.zip \"$SPARK_HOME\"/python/lib/pyspark.zip 2>/dev/null | head -1)\" && ",
            "if [ -n \"$PYLIB\" ]; then ",
            "export PYTHONPATH=\"$PYLIB:$(ls \"$(dirname \"$PYLIB\")\"/py4j-*-src.zip | head -1)\"; fi && ",
        ),
        scala = scala,
        host = host,
    )
}

/// The service spec of a Spark config.
pub fn spec(config: &SparkConfig, origin: &str) -> Result<ServiceSpec, SparkConfigError> {
    config.check(origin)?;
    let (distribution, version, scala) = match &config.artifact {
        Some(artifact) => (
            artifact.clone(),
            config.version.clone().unwrap_or_default(),
            config.scala_version.clone().unwrap_or_default(),
        ),
        None => {
            let pinned = pinned_distribution(&config.distribution)?;
            let version = pinned.pypi.as_ref().map(|p| p.version.clone()).unwrap_or_default();
            let scala = crate::PINNED
                .iter()
                .find(|(n, _)| *n == config.distribution)
                .map(|(_, s)| (*s).to_owned())
                .unwrap_or_default();
            (pinned, version, scala)
        }
    };
    let mut artifacts = vec![distribution.clone()];
    if config.python
        && let Some(libs) = python_libs(&distribution)
    {
        artifacts.push(libs);
    }
    let defaults = SubmitDefaults {
        spark_version: version,
        scala_version: scala.clone(),
        driver_cores: config.driver.cores,
        driver_memory_mb: config.driver.memory_mb,
        driver_max_retries: config.driver.max_retries,
        supervise_retries: config.driver.supervise_retries,
        driver_ui: config.driver.ui,
        executor_cores: config.executor.cores,
        executor_memory_mb: config.executor.memory_mb,
        cores_max: config.executor.cores_max,
        worker_count: config.worker.count,
        worker_cores: config.worker.cores,
        worker_memory_mb: config.worker.memory_mb,
        event_log_dir: config.event_log.enabled.then(|| config.event_log.dir.clone()).flatten(),
    };
    let defaults_json = serde_json::to_string_pretty(&defaults)
        .map_err(|e| SparkConfigError::Parse { origin: origin.to_owned(), message: e.to_string() })?;
    if defaults_json.contains("{{") || defaults_json.contains("{%") || defaults_json.contains("{#") {
        return Err(SparkConfigError::Invalid {
            origin: origin.to_owned(),
            field: "event_log.dir".to_owned(),
            problem: "contains a template marker ({{, {% or {#)".to_owned(),
            fix: "remove it".to_owned(),
        });
    }
    let prelude = prelude(&scala, "{{ host }}");
    let m = &config.master;
    let master_command = format!(
        concat!(
            "{prelude}mkdir -p recovery && exec java -Xmx{heap}m {jpms} -Dspark.master.rest.enabled=false ",
            "-Dspark.deploy.recoveryMode=FILESYSTEM -Dspark.deploy.recoveryDirectory=\"$PWD/recovery\" ",
            "-cp \"$SPARK_HOME/jars/*\" org.apache.spark.deploy.master.Master ",
            "--host {{{{ host }}}} --port \"$PORT_MASTER\" --webui-port \"$PORT_UI\""
        ),
        prelude = prelude,
        heap = m.heap_mb,
        jpms = JPMS_FLAGS,
    );
    let w = &config.worker;
    let worker_command = format!(
        concat!(
            "{prelude}mkdir -p work tmp && export SPARK_LOCAL_DIRS=\"$PWD/tmp\" && ",
            "exec java -Xmx{heap}m {jpms} -Dspark.worker.cleanup.enabled=true ",
            "-cp \"$SPARK_HOME/jars/*\" org.apache.spark.deploy.worker.Worker ",
            "\"spark://{{{{ instances.master[0].host }}}}:{{{{ instances.master[0].ports.master }}}}\" ",
            "--host {{{{ host }}}} --port \"$PORT_WORKER\" --webui-port \"$PORT_UI\" ",
            "--cores {cores} --memory {memory}m --work-dir \"$PWD/work\""
        ),
        prelude = prelude,
        heap = w.heap_mb,
        jpms = JPMS_FLAGS,
        cores = w.cores,
        memory = w.memory_mb,
    );
    let tcp_ready =
        |port: &str| serde_json::json!({ "tcp": { "port": port }, "interval_secs": 1, "timeout_secs": 2 });
    let mut pods = vec![
        serde_json::json!({
            "name": "master",
            "count": 1,
            "fixed_count": "one standalone Master runs a service's applications",
            "placement": m.placement,
            "volumes": [{ "name": "recovery", "path": "recovery", "size_mb": 64 }],
            "artifacts": artifacts,
            "tasks": [{
                "name": "master",
                "goal": "running",
                "command": master_command,
                "cpus": m.cpus,
                "mem_mb": m.mem_mb,
                "ports": [
                    { "name": "master", "port": m.port, "primary": true },
                    { "name": "ui", "port": m.ui_port },
                ],
                "configs": [{ "name": SUBMIT_DEFAULTS, "dest": "herd-submit-defaults.json", "template": defaults_json }],
                "readiness_check": tcp_ready("master"),
                "kill_grace_secs": 10,
            }],
        }),
        serde_json::json!({
            "name": "worker",
            "count": w.count,
            "placement": w.placement,
            "strategy": "parallel",
            "artifacts": artifacts,
            "tasks": [{
                "name": "worker",
                "goal": "running",
                "command": worker_command,
                "cpus": w.cores,
                "mem_mb": w.memory_mb + 2 * w.heap_mb,
                "ports": [{ "name": "worker", "port": 0 }, { "name": "ui", "port": 0 }],
                "readiness_check": tcp_ready("worker"),
                "kill_grace_secs": 10,
            }],
        }),
    ];
    if config.history.enabled {
        let h = &config.history;
        let dir = config.event_log.dir.clone().unwrap_or_default();
        let mkdir = match dir.strip_prefix("file:") {
            Some(path) => format!("mkdir -p {} && ", sh_quote(&format!("/{}", path.trim_start_matches('/')))),
            None => String::new(),
        };
        let command = format!(
            concat!(
                "{prelude}{mkdir}mkdir -p store && exec java -Xmx{heap}m {jpms} ",
                "-Dspark.history.fs.logDirectory={dir} -Dspark.history.ui.port=\"$PORT_UI\" ",
                "-Dspark.history.fs.update.interval=2s -Dspark.history.store.path=\"$PWD/store\" ",
                "-cp \"$SPARK_HOME/jars/*\" org.apache.spark.deploy.history.HistoryServer"
            ),
            prelude = prelude,
            mkdir = mkdir,
            heap = h.heap_mb,
            jpms = JPMS_FLAGS,
            dir = sh_quote(&dir),
        );
        pods.push(serde_json::json!({
            "name": "history",
            "count": 1,
            "placement": h.placement,
            "volumes": [{ "name": "store", "path": "store", "size_mb": h.disk_mb }],
            "artifacts": [distribution],
            "tasks": [{
                "name": "history",
                "goal": "running",
                "command": command,
                "cpus": h.cpus,
                "mem_mb": h.mem_mb,
                "ports": [{ "name": "ui", "port": h.port }],
                "readiness_check": tcp_ready("ui"),
                "kill_grace_secs": 10,
            }],
        }));
    }
    let spec = serde_json::json!({
        "name": config.name,
        "role": config.role,
        "principal": config.principal,
        "user": config.user,
        "pods": pods,
        "queues": config.queues,
    });
    let text = serde_json::to_string(&spec)
        .map_err(|e| SparkConfigError::Parse { origin: origin.to_owned(), message: e.to_string() })?;
    ServiceSpec::parse(&text, SpecFormat::Yaml, origin)
        .map_err(|e| SparkConfigError::Parse { origin: origin.to_owned(), message: e.to_string() })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{DEFAULT_CONFIG, default_spec, parse};

    #[test]
    fn the_default_config_is_a_valid_service() {
        let spec = default_spec().unwrap();
        herd_core::validation::validate(&spec).unwrap();
        let names: Vec<&str> = spec.pods.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["master", "worker"], "the master deploys first");
        let master = &spec.pods[0];
        assert_eq!(master.artifacts[0].pypi.as_ref().unwrap().version, "4.3.0", "the pinned Spark 4");
        assert_eq!(master.artifacts[1].pypi.as_ref().unwrap().root.as_deref(), Some("lib"), "PySpark's libs");
        let command = &master.tasks[0].command;
        assert!(command.contains("spark.master.rest.enabled=false"), "herd serves the protocol: {command}");
        let worker = &spec.pods[1];
        assert!(worker.tasks[0].command.contains("instances.master[0].ports.master"));
        assert!(worker.tasks[0].command.contains("SPARK_SCALA_VERSION=2.13"));
        let defaults = crate::submission::SubmitDefaults::of(&spec).unwrap();
        assert_eq!((defaults.worker_count, defaults.worker_cores), (2, 2));
    }

    #[test]
    fn spark35_history_and_queues() {
        let text = DEFAULT_CONFIG
            .replace("distribution = \"spark4\"", "distribution = \"spark35\"")
            .replace("[event_log]\nenabled = false", "[event_log]\nenabled = true")
            .replace("# dir = \"file:/tmp/herd-spark-events\"", "dir = \"file:/tmp/herd-spark-events\"")
            .replace("[history]\nenabled = false", "[history]\nenabled = true")
            + "\n[[queues]]\nname = \"etl\"\nweight = 2.0\n\n[[queues]]\nname = \"adhoc\"\n";
        let spec = parse(&text, SpecFormat::Toml, "s.toml").unwrap();
        herd_core::validation::validate(&spec).unwrap();
        assert!(spec.pods[1].tasks[0].command.contains("SPARK_SCALA_VERSION=2.12"));
        assert_eq!(spec.pods[2].name, "history");
        assert!(spec.pods[2].tasks[0].command.contains("spark.history.fs.logDirectory="));
        let queues: Vec<(&str, f64)> = spec.queues.iter().map(|q| (q.name.as_str(), q.weight)).collect();
        assert_eq!(queues, [("etl", 2.0), ("adhoc", 1.0)]);
    }

    #[test]
    fn bad_values_name_the_field_and_fix() {
        let cases = [
            (
                DEFAULT_CONFIG.replace("distribution = \"spark4\"", "distribution = \"spark9\""),
                "distribution",
            ),
            (DEFAULT_CONFIG.replace("cores_max = 2", "cores_max = 9"), "executor.cores_max"),
            (
                DEFAULT_CONFIG.replace("[history]\nenabled = false", "[history]\nenabled = true"),
                "history.enabled",
            ),
            (DEFAULT_CONFIG.replace("[worker]\ncount = 2", "[worker]\ncount = 0"), "worker.count"),
        ];
        for (text, field) in cases {
            let err = parse(&text, SpecFormat::Toml, "s.toml").unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
        let err = parse("name = \"s\"\nworkerz = 1\n", SpecFormat::Toml, "s.toml").unwrap_err().to_string();
        assert!(err.contains("workerz"), "{err}");
    }
}

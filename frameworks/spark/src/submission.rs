//! A Spark submission, whichever way it came (Spark's REST protocol, herd's API, `herd spark
//! submit`), and the herd job that runs its driver: [`plan`] sizes the driver's task, checks
//! the application can ever get its executors, and writes the driver's command
//! ([`driver_command`]). Also: submission ids (`driver-YYYYMMDDHHMMSS-NNNN`, as Spark's
//! Master names drivers) and the Spark names of job states.

use herd_core::scheduler::jobs::{Job, JobSpec, JobState};
use herd_core::spec::ServiceSpec;
use herd_mesos_api::Uri;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The name of the master task's config file that carries [`SubmitDefaults`].
pub const SUBMIT_DEFAULTS: &str = "submit-defaults";

/// Job labels.
pub mod label {
    /// Marks a job as a Spark driver (value: the Spark version).
    pub const SPARK: &str = "spark_version";
    /// The application's name.
    pub const APP_NAME: &str = "app_name";
    /// The application's resource (as submitted).
    pub const APP_RESOURCE: &str = "app_resource";
    /// Its main class (empty for Python).
    pub const MAIN_CLASS: &str = "main_class";
    /// What identifies a submission sent twice (a resent REST create).
    pub const SUBMIT_KEY: &str = "submit_key";
    /// The executor cores it was charged.
    pub const CORES_MAX: &str = "cores_max";
}

/// What the routes need of the config to plan drivers: carried by the spec itself (the
/// master task's `herd-submit-defaults.json`), so a reconfigured service plans with its new
/// values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmitDefaults {
    /// The distribution's Spark version (`serverSparkVersion`).
    pub spark_version: String,
    /// Its jars' Scala version.
    pub scala_version: String,
    /// Driver cores.
    pub driver_cores: f64,
    /// Driver heap, MB.
    pub driver_memory_mb: u32,
    /// Relaunches of a failed driver.
    pub driver_max_retries: u32,
    /// Relaunches of a supervised driver.
    pub supervise_retries: u32,
    /// Serve the driver's UI.
    pub driver_ui: bool,
    /// Cores per executor.
    pub executor_cores: u32,
    /// Executor heap, MB.
    pub executor_memory_mb: u32,
    /// Executor cores per application.
    pub cores_max: u32,
    /// Workers.
    pub worker_count: u32,
    /// Cores per worker.
    pub worker_cores: u32,
    /// Executor memory per worker, MB.
    pub worker_memory_mb: u32,
    /// The event log dir, when drivers write event logs.
    pub event_log_dir: Option<String>,
}

impl SubmitDefaults {
    /// The defaults a Spark service's spec carries (`None` for another framework's spec).
    pub fn of(spec: &ServiceSpec) -> Option<Self> {
        let master = spec.pod("master")?.task("master")?;
        let config = master.configs.iter().find(|c| c.name == SUBMIT_DEFAULTS)?;
        serde_json::from_str(&config.template).ok()
    }

    /// Executor cores of the whole worker pool.
    pub fn pool_cores(&self) -> u32 {
        self.worker_count * self.worker_cores
    }
}

/// A submission.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    /// The application: a URL agents can fetch (http, https, or one herd serves).
    pub app_resource: String,
    /// Its main class (none or empty: a Python application, or the jar's manifest says).
    #[serde(default)]
    pub main_class: Option<String>,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Spark properties (`--conf`).
    #[serde(default)]
    pub conf: BTreeMap<String, String>,
    /// The queue (default: the service's first).
    #[serde(default)]
    pub queue: Option<String>,
    /// Environment of the driver.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// Where the service stands, for planning a driver.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// The standalone Master, `host:port`.
    pub master: String,
    /// Fetch URLs of the distribution and PySpark's libraries.
    pub distribution: Vec<String>,
    /// The config's defaults.
    pub defaults: SubmitDefaults,
    /// The queue of submissions that name none.
    pub default_queue: String,
    /// Where agents reach the operator API: fetch URLs on it go into the driver's job as
    /// paths, which the core resolves against the API's address when the driver launches
    /// (a driver queued across a scheduler restart still fetches).
    pub api_base: Option<String>,
}

impl Cluster {
    /// `url` as the driver's job names it: a path when the operator API serves it.
    fn fetchable(&self, url: &str) -> String {
        match self.api_base.as_deref().and_then(|base| url.strip_prefix(base)) {
            Some(path) if path.starts_with("/v1/") => path.to_owned(),
            _ => url.to_owned(),
        }
    }
}

/// Why a submission cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The service cannot take drivers yet (its Master is not placed).
    #[error(
        "the Spark master of this service is not deployed yet; submit again once its deploy plan completes"
    )]
    NotReady,
    /// A value is wrong.
    #[error("{0}")]
    Invalid(String),
    /// The application asks more than the worker pool has: it could never run.
    #[error("{0}")]
    TooBig(String),
}

/// Properties herd sets on every driver (the task's addresses and ports, client mode):
/// dropped from a submission.
const OWNED: &[&str] = &[
    "spark.master",
    "spark.submit.deployMode",
    "spark.master.rest.enabled",
    "spark.driver.supervise",
    "spark.driver.host",
    "spark.driver.bindAddress",
    "spark.driver.port",
    "spark.driver.blockManager.port",
    "spark.ui.port",
    "spark.local.dir",
    "spark.app.submitTime",
    "spark.jars",
    "spark.submit.pyFiles",
    "spark.driver.memory",
];

/// Environment variables of the submitting machine a driver must not inherit.
fn foreign_env(name: &str) -> bool {
    matches!(
        name,
        "SPARK_HOME"
            | "SPARK_CONF_DIR"
            | "SPARK_LOCAL_IP"
            | "SPARK_LOCAL_HOSTNAME"
            | "SPARK_SCALA_VERSION"
            | "SPARK_ENV_LOADED"
            | "SPARK_BEELINE_OPTS"
            | "PYTHONPATH"
    ) || name.starts_with("MESOS_")
        || name.starts_with("HERD_")
        || name.starts_with("PORT_")
}

/// A size in MB from Spark's notation (`512m`, `2g`, `1024k`; a bare number is MB).
pub fn parse_mb(value: &str) -> Option<f64> {
    let v = value.trim().to_ascii_lowercase();
    let v = v.strip_suffix('b').unwrap_or(&v);
    let (number, factor) = match v.chars().last()? {
        'k' => (&v[..v.len() - 1], 1.0 / 1024.0),
        'm' => (&v[..v.len() - 1], 1.0),
        'g' => (&v[..v.len() - 1], 1024.0),
        't' => (&v[..v.len() - 1], 1024.0 * 1024.0),
        _ => (v, 1.0),
    };
    let n: f64 = number.trim().parse().ok()?;
    (n > 0.0 && n.is_finite()).then_some(n * factor)
}

/// Quotes a word for `sh` (as is when it needs no quoting).
pub fn sh_quote(s: &str) -> String {
    let plain = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "_./:=,@%+-".contains(c));
    if plain { s.to_owned() } else { format!("'{}'", s.replace('\'', "'\\''")) }
}

/// The file name at the end of a URL's path (query and fragment dropped).
pub fn file_name(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next()?;
    let name = path.rsplit('/').next()?;
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c));
    ok.then(|| name.to_owned())
}

/// Whether the submission is a Python application.
fn is_python(sub: &Submission) -> bool {
    sub.main_class.as_deref().is_none_or(str::is_empty)
        && file_name(&sub.app_resource).is_some_and(|n| n.ends_with(".py"))
}

/// The job that runs `sub`'s driver on `cluster`, or why it cannot run.
pub fn plan(sub: &Submission, cluster: &Cluster) -> Result<JobSpec, SubmitError> {
    let d = &cluster.defaults;
    let invalid = |m: String| Err(SubmitError::Invalid(m));
    let Some(app_file) = file_name(&sub.app_resource) else {
        return invalid(format!(
            "appResource {:?} does not end in a usable file name (e.g. .../app.jar or .../job.py)",
            sub.app_resource
        ));
    };
    let scheme = sub.app_resource.split("://").next().unwrap_or_default();
    if !sub.app_resource.contains("://") || !["http", "https", "hdfs", "s3", "s3a", "ftp"].contains(&scheme) {
        return invalid(format!(
            "appResource {:?} is not a URL agents can fetch: give an http(s) URL, or a local file to \
             `herd spark submit` (which uploads it)",
            sub.app_resource
        ));
    }
    let python = is_python(sub);
    let conf = &sub.conf;
    let number = |key: &str| -> Result<Option<f64>, SubmitError> {
        match conf.get(key) {
            None => Ok(None),
            Some(v) => match v.trim().parse::<f64>() {
                Ok(n) if n > 0.0 && n.is_finite() => Ok(Some(n)),
                _ => Err(SubmitError::Invalid(format!("{key} = {v:?} is not a positive number"))),
            },
        }
    };
    let size = |key: &str| -> Result<Option<f64>, SubmitError> {
        match conf.get(key) {
            None => Ok(None),
            Some(v) => parse_mb(v)
                .map(Some)
                .ok_or_else(|| SubmitError::Invalid(format!("{key} = {v:?} is not a size (e.g. 512m, 2g)"))),
        }
    };
    let driver_cores = number("spark.driver.cores")?.unwrap_or(d.driver_cores);
    let driver_mb = size("spark.driver.memory")?.unwrap_or(f64::from(d.driver_memory_mb)).ceil();
    let overhead = size("spark.driver.memoryOverhead")?.unwrap_or((driver_mb * 0.1).max(384.0)).ceil();
    let executor_cores = number("spark.executor.cores")?.map_or(d.executor_cores, |c| c.ceil() as u32);
    let executor_mb = size("spark.executor.memory")?.unwrap_or(f64::from(d.executor_memory_mb)).ceil();
    let cores_max = number("spark.cores.max")?.map_or(d.cores_max, |c| c.ceil() as u32);
    let pool = d.pool_cores();
    if cores_max > pool {
        return Err(SubmitError::TooBig(format!(
            "the application asks {cores_max} executor cores (spark.cores.max), but the worker pool has only \
             {pool} ({} workers x {} cores): it could never run; ask for at most {pool}",
            d.worker_count, d.worker_cores
        )));
    }
    if executor_cores > d.worker_cores {
        return Err(SubmitError::TooBig(format!(
            "an executor asks {executor_cores} cores (spark.executor.cores), but a worker has only {}: \
             it could never start; ask for at most {}",
            d.worker_cores, d.worker_cores
        )));
    }
    if executor_mb > f64::from(d.worker_memory_mb) {
        return Err(SubmitError::TooBig(format!(
            "an executor asks {executor_mb} MB (spark.executor.memory), but a worker offers only {} MB: \
             it could never start; ask for at most {}m",
            d.worker_memory_mb, d.worker_memory_mb
        )));
    }
    if cores_max < executor_cores {
        return invalid(format!(
            "spark.cores.max = {cores_max} is less than one executor's cores (spark.executor.cores = \
             {executor_cores}): no executor could start"
        ));
    }
    let supervise = conf.get("spark.driver.supervise").is_some_and(|v| v.trim() == "true");
    let app_name = conf
        .get("spark.app.name")
        .cloned()
        .or_else(|| sub.main_class.clone().filter(|c| !c.is_empty()))
        .unwrap_or_else(|| app_file.clone());
    let mut properties: BTreeMap<String, String> = conf
        .iter()
        .filter(|(k, _)| !OWNED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    properties.insert("spark.app.name".into(), app_name.clone());
    properties.insert("spark.executor.cores".into(), executor_cores.to_string());
    properties.insert("spark.executor.memory".into(), format!("{executor_mb}m"));
    properties.insert("spark.cores.max".into(), cores_max.to_string());
    // Spark wants whole cores (its task may have a fraction).
    properties.insert("spark.driver.cores".into(), (driver_cores.ceil() as u32).max(1).to_string());
    if let Some(dir) = &d.event_log_dir
        && !properties.contains_key("spark.eventLog.enabled")
    {
        properties.insert("spark.eventLog.enabled".into(), "true".into());
        properties.insert("spark.eventLog.dir".into(), dir.clone());
    }
    if !d.driver_ui && !properties.contains_key("spark.ui.enabled") {
        properties.insert("spark.ui.enabled".into(), "false".into());
    }
    let list = |key: &str| -> Vec<String> {
        conf.get(key)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|e| !e.is_empty() && *e != sub.app_resource)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let command = driver_command(&DriverCommand {
        scala: &d.scala_version,
        master: &cluster.master,
        memory_mb: driver_mb,
        main_class: if python { None } else { sub.main_class.as_deref().filter(|c| !c.is_empty()) },
        jars: &list("spark.jars"),
        py_files: &list("spark.submit.pyFiles"),
        properties: &properties,
        app_file: &app_file,
        args: &sub.args,
        ui: d.driver_ui,
        event_log_dir: properties.get("spark.eventLog.dir").map(String::as_str),
    });
    let mut uris: Vec<Uri> = cluster
        .distribution
        .iter()
        .map(|url| Uri {
            value: cluster.fetchable(url),
            executable: None,
            extract: Some(true),
            cache: Some(true),
            output_file: None,
        })
        .collect();
    uris.push(Uri {
        value: cluster.fetchable(&sub.app_resource),
        executable: None,
        extract: Some(false),
        cache: Some(false),
        output_file: Some(app_file.clone()),
    });
    let env = sub.env.iter().filter(|(k, _)| !foreign_env(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
    let mut ports = vec!["driver".to_owned(), "blockmanager".to_owned()];
    if d.driver_ui {
        ports.push("ui".to_owned());
    }
    let labels = [
        (label::SPARK, d.spark_version.clone()),
        (label::APP_NAME, app_name.clone()),
        (label::APP_RESOURCE, sub.app_resource.clone()),
        (label::MAIN_CLASS, if python { String::new() } else { sub.main_class.clone().unwrap_or_default() }),
        (label::CORES_MAX, cores_max.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    Ok(JobSpec {
        name: format!("spark-driver {app_name}"),
        queue: sub.queue.clone().unwrap_or_else(|| cluster.default_queue.clone()),
        command,
        env,
        cpus: driver_cores,
        mem_mb: driver_mb + overhead,
        ports,
        uris,
        user: None,
        max_retries: if supervise { d.supervise_retries } else { d.driver_max_retries },
        share_cpus: Some(driver_cores + f64::from(cores_max)),
        labels,
    })
}

/// What a driver's command is made of.
#[derive(Debug)]
pub struct DriverCommand<'a> {
    /// Scala version of the distribution's jars.
    pub scala: &'a str,
    /// The standalone Master, `host:port`.
    pub master: &'a str,
    /// Driver heap, MB.
    pub memory_mb: f64,
    /// Main class (JVM applications that name one).
    pub main_class: Option<&'a str>,
    /// Extra jars (URLs).
    pub jars: &'a [String],
    /// Extra Python files (URLs).
    pub py_files: &'a [String],
    /// Spark properties.
    pub properties: &'a BTreeMap<String, String>,
    /// The application's file in the sandbox.
    pub app_file: &'a str,
    /// Its arguments.
    pub args: &'a [String],
    /// Whether the UI gets the task's `ui` port.
    pub ui: bool,
    /// The event log dir (created first when it is a `file:` path).
    pub event_log_dir: Option<&'a str>,
}

/// The shell command of a driver's task: the distribution's own `spark-submit` in client
/// mode, bound to the agent's address (`$HERD_HOST`) and the task's ports (`$PORT_DRIVER`,
/// `$PORT_BLOCKMANAGER`, `$PORT_UI`), scratch space in the sandbox.
pub fn driver_command(c: &DriverCommand<'_>) -> String {
    let mut out = crate::spec::prelude(c.scala, "\"$HERD_HOST\"");
    out += "mkdir -p tmp && ";
    if let Some(path) = c.event_log_dir.and_then(|d| d.strip_prefix("file:")) {
        out += &format!("mkdir -p {} && ", sh_quote(&format!("/{}", path.trim_start_matches('/'))));
    }
    out += "exec \"$SPARK_HOME/bin/spark-submit\" ";
    out += &format!("--master {} --deploy-mode client ", sh_quote(&format!("spark://{}", c.master)));
    out += &format!("--driver-memory {}m ", c.memory_mb);
    out += concat!(
        "--conf spark.driver.host=\"$HERD_HOST\" --conf spark.driver.bindAddress=\"$HERD_HOST\" ",
        "--conf spark.driver.port=\"$PORT_DRIVER\" --conf spark.driver.blockManager.port=\"$PORT_BLOCKMANAGER\" ",
        "--conf spark.local.dir=\"$PWD/tmp\" "
    );
    if c.ui {
        out += "--conf spark.ui.port=\"$PORT_UI\" ";
    }
    for (k, v) in c.properties {
        out += &format!("--conf {} ", sh_quote(&format!("{k}={v}")));
    }
    if let Some(class) = c.main_class {
        out += &format!("--class {} ", sh_quote(class));
    }
    if !c.jars.is_empty() {
        out += &format!("--jars {} ", sh_quote(&c.jars.join(",")));
    }
    if !c.py_files.is_empty() {
        out += &format!("--py-files {} ", sh_quote(&c.py_files.join(",")));
    }
    out += &sh_quote(&format!("./{}", c.app_file));
    for arg in c.args {
        out += " ";
        out += &sh_quote(arg);
    }
    out
}

/// `YYYYMMDDHHMMSS` of a Unix time (UTC).
pub fn utc_stamp(unix_secs: u64) -> String {
    let days = i64::try_from(unix_secs / 86_400).unwrap_or(0);
    let secs = unix_secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}{month:02}{day:02}{:02}{:02}{:02}", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// A submission id as Spark's Master names drivers: `driver-YYYYMMDDHHMMSS-NNNN`.
pub fn submission_id(unix_secs: u64, n: u32) -> String {
    format!("driver-{}-{:04}", utc_stamp(unix_secs), n % 10_000)
}

/// Whether a job is a Spark driver.
pub fn is_driver(job: &Job) -> bool {
    job.spec.labels.contains_key(label::SPARK)
}

/// The Spark name of a job's state (`driverState` in Spark's protocol): SUBMITTED while it
/// waits or launches, RELAUNCHING while a failed attempt waits to run again.
pub fn spark_state(job: &Job) -> &'static str {
    match job.state {
        JobState::Queued if job.attempts > 0 => "RELAUNCHING",
        JobState::Queued | JobState::Launching => "SUBMITTED",
        JobState::Running => "RUNNING",
        JobState::Finished => "FINISHED",
        JobState::Failed => "FAILED",
        JobState::Killed => "KILLED",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cluster() -> Cluster {
        let spec = crate::default_spec().unwrap();
        Cluster {
            master: "127.0.9.1:7077".into(),
            distribution: vec!["http://api/v1/artifacts/abc/spark4-4.3.0.tar.gz".into()],
            defaults: SubmitDefaults::of(&spec).unwrap(),
            default_queue: "default".into(),
            api_base: Some("http://api".into()),
        }
    }

    fn pi() -> Submission {
        Submission {
            app_resource: "http://api/v1/artifacts/def/pi.jar".into(),
            main_class: Some("HerdSparkPi".into()),
            args: vec!["4".into(), "it's".into()],
            conf: [("spark.executor.memory".to_owned(), "512m".to_owned())].into(),
            ..Submission::default()
        }
    }

    #[test]
    fn a_driver_runs_spark_submit_in_client_mode_on_its_task() {
        let job = plan(&pi(), &cluster()).unwrap();
        let c = &job.command;
        assert!(c.contains("--master spark://127.0.9.1:7077 --deploy-mode client"), "{c}");
        assert!(
            c.contains("spark.driver.host=\"$HERD_HOST\"") && c.contains("\"$PORT_BLOCKMANAGER\""),
            "{c}"
        );
        assert!(c.contains("--class HerdSparkPi ./pi.jar 4 'it'\\''s'"), "{c}");
        assert!(c.contains("--conf spark.executor.memory=512m"), "{c}");
        assert!(c.contains("--conf spark.cores.max=2"), "the default: {c}");
        assert_eq!(job.cpus, 1.0);
        assert_eq!(job.mem_mb, 1024.0 + 384.0, "heap + overhead");
        assert_eq!(job.share_cpus, Some(3.0), "driver + executor cores");
        assert_eq!(job.ports, ["driver", "blockmanager", "ui"]);
        assert_eq!(job.uris.len(), 2);
        assert_eq!(job.uris[1].output_file.as_deref(), Some("pi.jar"));
        let values: Vec<&str> = job.uris.iter().map(|u| u.value.as_str()).collect();
        assert_eq!(
            values,
            ["/v1/artifacts/abc/spark4-4.3.0.tar.gz", "/v1/artifacts/def/pi.jar"],
            "what the operator API serves goes in as paths, resolved where the API is at launch"
        );
        assert_eq!(job.max_retries, 0);
    }

    #[test]
    fn python_apps_supervision_and_refusals() {
        let mut py = pi();
        py.main_class = Some(String::new());
        py.app_resource = "https://h/x/wc.py".into();
        py.conf.insert("spark.driver.supervise".into(), "true".into());
        let job = plan(&py, &cluster()).unwrap();
        assert!(!job.command.contains("--class") && job.command.contains("./wc.py"), "{}", job.command);
        assert_eq!(job.max_retries, 3, "supervised");

        let mut big = pi();
        big.conf.insert("spark.cores.max".into(), "5".into());
        let err = plan(&big, &cluster()).unwrap_err().to_string();
        assert!(err.contains("only 4") && err.contains("could never run"), "{err}");
        let mut fat = pi();
        fat.conf.insert("spark.executor.memory".into(), "8g".into());
        assert!(matches!(plan(&fat, &cluster()), Err(SubmitError::TooBig(_))));
        let mut local = pi();
        local.app_resource = "file:/tmp/pi.jar".into();
        assert!(plan(&local, &cluster()).unwrap_err().to_string().contains("herd spark submit"));
    }

    #[test]
    fn ids_and_sizes() {
        assert_eq!(utc_stamp(0), "19700101000000");
        assert_eq!(utc_stamp(1_795_723_136), "20261126195856");
        assert_eq!(submission_id(1_795_723_136, 7), "driver-20261126195856-0007");
        assert_eq!(parse_mb("512m"), Some(512.0));
        assert_eq!(parse_mb("2g"), Some(2048.0));
        assert_eq!(parse_mb("768"), Some(768.0));
        assert_eq!(parse_mb("x"), None);
        assert_eq!(file_name("http://h/a/b.jar?x=1"), Some("b.jar".into()));
        assert_eq!(sh_quote("a b"), "'a b'");
    }
}

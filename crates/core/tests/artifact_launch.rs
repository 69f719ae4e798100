//! Launch building and artifacts: agents fetch an artifact from its resolved `fetch_url`
//! (else its `url`); a `maven` or `pypi` artifact the runtime has not resolved fails the
//! launch with a message naming it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use herd_core::model::{InstanceId, Placement};
use herd_core::offer::Assignment;
use herd_core::scheduler::launch::{LaunchInput, build};
use herd_core::scheduler::state::Instance;
use herd_core::spec::{ServiceSpec, SpecFormat};
use herd_core::template::Renderer;
use herd_mesos_api::{AgentId, FrameworkId};
use std::collections::BTreeMap;

const SPEC: &str = r#"
name = "svc"

[[pods]]
name = "broker"
count = 1

[[pods.artifacts]]
url = "https://example.com/tools.tar.gz"

[[pods.artifacts]]
name = "kafka"
[pods.artifacts.maven]
version = "3.9.0"
[[pods.artifacts.maven.dirs]]
path = "libs"
coordinates = ["org.apache.kafka:kafka_2.13:3.9.0"]

[[pods.tasks]]
name = "server"
command = "sleep 100"
cpus = 0.1
mem_mb = 32
"#;

fn launch(spec: &ServiceSpec) -> Result<Vec<String>, String> {
    let pod = &spec.pods[0];
    let instance = Instance::new(InstanceId::new("broker", 0));
    let assignment = Assignment {
        placement: Placement {
            agent_id: AgentId::new("agent-1"),
            hostname: "host-1".to_owned(),
            reservation_id: "r-1".to_owned(),
            reserved: Vec::new(),
            volumes: Vec::new(),
            ports: BTreeMap::new(),
            attributes: Vec::new(),
        },
        operations: Vec::new(),
        executor_resources: Vec::new(),
        task_resources: BTreeMap::new(),
        volumes: Vec::new(),
    };
    let input = LaunchInput {
        spec,
        pod,
        instance: &instance,
        assignment: &assignment,
        framework_id: &FrameworkId::new("fw-1"),
        config_id: "cfg-1",
        addresses: BTreeMap::new(),
        params: BTreeMap::new(),
        tasks: vec!["server".to_owned()],
        executor_launch: None,
    };
    let launch = build(&input, &Renderer::new()).map_err(|e| e.to_string())?;
    let command = launch.tasks[0].1.command.clone().unwrap();
    Ok(command.uris.into_iter().map(|u| u.value).collect())
}

#[test]
fn an_unresolved_maven_artifact_fails_the_launch_naming_it() {
    let spec = ServiceSpec::parse(SPEC, SpecFormat::Toml, "svc.toml").unwrap();
    let err = launch(&spec).unwrap_err();
    assert!(err.contains("pods[broker].artifacts[1]"), "{err}");
    assert!(err.contains("artifact `kafka` (maven) has not been resolved to a URL"), "{err}");
    assert!(err.contains("the runtime resolves it at start"), "{err}");
}

#[test]
fn a_resolved_artifact_is_fetched_from_its_fetch_url() {
    let mut spec = ServiceSpec::parse(SPEC, SpecFormat::Toml, "svc.toml").unwrap();
    let served = format!("http://127.0.0.1:8080/v1/artifacts/{}", "a".repeat(64));
    spec.pods[0].artifacts[1].fetch_url = Some(served.clone());
    assert_eq!(launch(&spec).unwrap(), ["https://example.com/tools.tar.gz".to_owned(), served]);
}

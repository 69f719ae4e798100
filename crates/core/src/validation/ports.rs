//! Ports: the tasks of an instance share one agent and one network namespace, so port
//! names and fixed port numbers are unique across all the tasks of a pod type. A port name
//! starts with a letter and has only letters, digits, `-` and `_`, so that its default
//! variable `PORT_<NAME>` is a shell identifier; an explicit `env` must be one too.

use super::{ValidationError, is_env_key, task_path};
use crate::spec::{PodSpec, PortSpec, ServiceSpec, TaskSpec};
use std::collections::BTreeMap;

/// Checks every pod type's ports.
pub(super) fn check(spec: &ServiceSpec) -> Vec<ValidationError> {
    let mut errors: Vec<ValidationError> = spec.pods.iter().flat_map(check_pod).collect();
    let primary: Vec<String> = spec
        .pods
        .iter()
        .flat_map(|pod| pod.tasks.iter().flat_map(move |t| t.ports.iter().map(move |p| (pod, t, p))))
        .filter(|(_, _, p)| p.primary)
        .map(|(pod, t, p)| format!("pods[{}].tasks[{}].ports[{}]", pod.name, t.name, p.name))
        .collect();
    if primary.len() > 1 {
        errors.push(ValidationError::new(
            primary[1].clone(),
            format!("is primary, and so is {}", primary[0]),
            "mark one port of the service primary (its main endpoint)",
        ));
    }
    errors
}

fn check_pod(pod: &PodSpec) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    // First task and port seen with each name and each fixed number.
    let mut names: BTreeMap<&str, &TaskSpec> = BTreeMap::new();
    let mut numbers: BTreeMap<u16, (&TaskSpec, &PortSpec)> = BTreeMap::new();
    for task in &pod.tasks {
        for (i, port) in task.ports.iter().enumerate() {
            let path = port_path(pod, task, i, port);
            if let Some(problem) = name_problem(&port.name) {
                errors.push(ValidationError::new(
                    format!("{path}.name"),
                    problem,
                    "name the port with letters, digits, '-' and '_', starting with a letter (e.g. \"http\")",
                ));
            } else if let Some(first) = names.get(port.name.as_str()) {
                errors.push(ValidationError::new(
                    format!("{path}.name"),
                    format!(
                        "{:?} is already a port of task {:?} (the tasks of a pod share its ports)",
                        port.name, first.name
                    ),
                    "give each port of the pod type its own name",
                ));
            } else {
                names.insert(&port.name, task);
            }
            if port.port != 0 {
                if let Some((first_task, first_port)) = numbers.get(&port.port) {
                    errors.push(ValidationError::new(
                        format!("{path}.port"),
                        format!(
                            "{} is already the fixed port {:?} of task {:?} (the tasks of a pod share \
                             one agent)",
                            port.port, first_port.name, first_task.name
                        ),
                        "use another port number, or 0 for any port the offer has",
                    ));
                } else {
                    numbers.insert(port.port, (task, port));
                }
            }
            if let Some(env) = port.env.as_deref().filter(|env| !is_env_key(env)) {
                errors.push(ValidationError::new(
                    format!("{path}.env"),
                    format!("{env:?} is not a shell variable name"),
                    "set env to letters, digits and '_', not starting with a digit (e.g. \"PORT_HTTP\"), or \
                     remove it for PORT_<NAME>",
                ));
            }
        }
    }
    errors
}

/// Path of a port: by name, or by index when the name is empty.
fn port_path(pod: &PodSpec, task: &TaskSpec, index: usize, port: &PortSpec) -> String {
    let item = if port.name.is_empty() { index.to_string() } else { port.name.clone() };
    format!("{}.ports[{item}]", task_path(pod, task))
}

/// What is wrong with a port name, if anything.
fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("is empty".to_owned())
    } else if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))) {
        Some(format!("contains {c:?} in {name:?} (only letters, digits, '-' and '_')"))
    } else if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        Some(format!("{name:?} does not start with a letter"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::test_support::{assert_one, base, task};

    fn port(name: &str, number: u16) -> PortSpec {
        PortSpec { name: name.to_owned(), port: number, env: None, primary: false }
    }

    #[test]
    fn distinct_ports_pass() {
        let mut spec = base();
        assert_eq!(check(&spec), []);
        // Another pod type may use the same names and numbers: it is another task group,
        // and offers only carry ports that are free.
        task(&mut spec, "proxy", "proxy").ports.push(port("http", 9090));
        // Dynamic ports (0) never clash.
        task(&mut spec, "hello", "init").ports.push(port("scratch", 0));
        task(&mut spec, "hello", "backup").ports.push(port("scratch2", 0));
        assert_eq!(check(&spec), []);
    }

    #[test]
    fn a_port_name_used_by_two_tasks_of_a_pod_is_named_with_the_fix() {
        let mut spec = base();
        task(&mut spec, "hello", "backup").ports.push(port("http", 0));
        assert_one(
            check(&spec),
            "pods[hello].tasks[backup].ports[http].name",
            &["already a port of task \"server\"", "its own name"],
        );
    }

    #[test]
    fn a_port_name_repeated_in_a_task_is_named_with_the_fix() {
        let mut spec = base();
        task(&mut spec, "proxy", "proxy").ports.push(port("web", 0));
        assert_one(check(&spec), "pods[proxy].tasks[proxy].ports[web].name", &["already a port"]);
    }

    #[test]
    fn a_fixed_port_used_twice_in_a_pod_is_named_with_the_fix() {
        let mut spec = base();
        task(&mut spec, "hello", "backup").ports.push(port("debug", 9090));
        assert_one(
            check(&spec),
            "pods[hello].tasks[backup].ports[debug].port",
            &["9090 is already the fixed port \"admin\" of task \"server\"", "or 0 for any port"],
        );
    }

    #[test]
    fn bad_port_names_and_env_are_named_with_the_fix() {
        let mut spec = base();
        task(&mut spec, "proxy", "proxy").ports[0].name = "web.ui".to_owned();
        assert_one(check(&spec), "pods[proxy].tasks[proxy].ports[web.ui].name", &["'.'", "name the port"]);

        let mut spec = base();
        task(&mut spec, "proxy", "proxy").ports[0].name = String::new();
        assert_one(check(&spec), "pods[proxy].tasks[proxy].ports[0].name", &["is empty"]);

        let mut spec = base();
        task(&mut spec, "proxy", "proxy").ports[0].env = Some("WEB-PORT".to_owned());
        assert_one(
            check(&spec),
            "pods[proxy].tasks[proxy].ports[web].env",
            &["not a shell variable", "set env to"],
        );
    }
}

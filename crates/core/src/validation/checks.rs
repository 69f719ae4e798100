//! Health and readiness checks: each probes in exactly one way (a command, an HTTP GET or
//! a TCP connect); HTTP and TCP probes name one of the task's own ports; an HTTP path is
//! absolute; interval and timeout are finite and above 0, delay and grace period finite
//! and at least 0; a health check tolerates at least one failure before killing.

use super::{ValidationError, non_negative, positive, task_path};
use crate::spec::{CheckSpec, ServiceSpec, TaskSpec};

/// Checks every task's health and readiness checks.
pub(super) fn check(spec: &ServiceSpec) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    for pod in &spec.pods {
        for task in &pod.tasks {
            let path = task_path(pod, task);
            if let Some(check) = &task.health_check {
                errors.extend(check_one(&format!("{path}.health_check"), check, task, true));
            }
            if let Some(check) = &task.readiness_check {
                errors.extend(check_one(&format!("{path}.readiness_check"), check, task, false));
            }
        }
    }
    errors
}

fn check_one(path: &str, check: &CheckSpec, task: &TaskSpec, health: bool) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    let kinds: Vec<&str> = [
        check.command.as_ref().map(|_| "command"),
        check.http.as_ref().map(|_| "http"),
        check.tcp.as_ref().map(|_| "tcp"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if health && check.probe.is_some() {
        errors.push(ValidationError::new(
            format!("{path}.probe"),
            "a scheduler probe only decides readiness",
            "move the probe to readiness_check, or use command, http or tcp for health",
        ));
    }
    let probe_alone = !health && kinds.is_empty() && check.probe.is_some();
    if kinds.len() != 1 && !probe_alone {
        let problem = if kinds.is_empty() {
            "has no probe".to_owned()
        } else {
            format!("has {} probes", kinds.join(" and "))
        };
        errors.push(ValidationError::new(
            path,
            problem,
            "set exactly one of command, http or tcp (e.g. http = { port = \"http\", path = \"/health\" })",
        ));
    }
    if let Some(command) = check.command.as_deref().filter(|c| c.trim().is_empty()) {
        errors.push(ValidationError::new(
            format!("{path}.command"),
            format!("{command:?} is empty"),
            "set command to a shell command that exits 0 when the task is good",
        ));
    }
    let probes =
        [check.http.as_ref().map(|h| ("http", &h.port)), check.tcp.as_ref().map(|t| ("tcp", &t.port))];
    for (kind, port) in probes.into_iter().flatten() {
        if !task.ports.iter().any(|p| &p.name == port) {
            let ports: Vec<&str> = task.ports.iter().map(|p| p.name.as_str()).collect();
            let has = if ports.is_empty() {
                "the task has no ports".to_owned()
            } else {
                format!("its ports: {}", ports.join(", "))
            };
            errors.push(ValidationError::new(
                format!("{path}.{kind}.port"),
                format!("{port:?} is not a port of task {:?} ({has})", task.name),
                "set port to the name of one of the task's [[pods.tasks.ports]], or add that port",
            ));
        }
    }
    if let Some(http) = check.http.as_ref().filter(|h| !h.path.starts_with('/')) {
        errors.push(ValidationError::new(
            format!("{path}.http.path"),
            format!("{:?} does not start with '/'", http.path),
            format!("set path to \"/{}\"", http.path),
        ));
    }
    let numbers = [
        ("interval_secs", check.interval_secs, true),
        ("timeout_secs", check.timeout_secs, true),
        ("delay_secs", check.delay_secs, false),
        ("grace_period_secs", check.grace_period_secs, false),
    ];
    for (name, value, above_zero) in numbers {
        let (ok, bound) =
            if above_zero { (positive(value), "more than 0") } else { (non_negative(value), "at least 0") };
        if !ok {
            errors.push(ValidationError::new(
                format!("{path}.{name}"),
                format!("must be a number of seconds {bound} (got {value})"),
                format!("set {name} to {bound} seconds, or remove it for the default"),
            ));
        }
    }
    if health && check.max_consecutive_failures == 0 {
        errors.push(ValidationError::new(
            format!("{path}.max_consecutive_failures"),
            "must be at least 1 (got 0)",
            "set max_consecutive_failures to the failures in a row that kill the task (default 3)",
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{HttpCheckSpec, TcpCheckSpec};
    use crate::validation::test_support::{assert_one, base, task};

    fn health(change: impl FnOnce(&mut CheckSpec)) -> Vec<ValidationError> {
        let mut spec = base();
        change(task(&mut spec, "hello", "server").health_check.as_mut().unwrap());
        check(&spec)
    }

    fn readiness(change: impl FnOnce(&mut CheckSpec)) -> Vec<ValidationError> {
        let mut spec = base();
        change(task(&mut spec, "hello", "server").readiness_check.as_mut().unwrap());
        check(&spec)
    }

    const HEALTH: &str = "pods[hello].tasks[server].health_check";
    const READINESS: &str = "pods[hello].tasks[server].readiness_check";

    #[test]
    fn valid_checks_pass() {
        assert_eq!(check(&base()), []);
        let command = |c: &mut CheckSpec| {
            c.tcp = None;
            c.command = Some("test -f data/ok".to_owned());
            c.delay_secs = 0.0;
            c.grace_period_secs = 0.0;
        };
        assert_eq!(health(command), []);
    }

    #[test]
    fn no_probe_or_two_probes_are_named_with_the_fix() {
        assert_one(
            health(|c| c.tcp = None),
            HEALTH,
            &["has no probe", "exactly one of command, http or tcp"],
        );
        let error = assert_one(
            readiness(|c| c.tcp = Some(TcpCheckSpec { port: "http".to_owned() })),
            READINESS,
            &["exactly one of"],
        );
        assert_eq!(error.problem, "has http and tcp probes");
    }

    #[test]
    fn a_blank_command_is_named_with_the_fix() {
        assert_one(
            health(|c| {
                c.tcp = None;
                c.command = Some(" ".to_owned());
            }),
            &format!("{HEALTH}.command"),
            &["set command to a shell command"],
        );
    }

    #[test]
    fn a_probe_on_an_unknown_port_is_named_with_the_fix() {
        assert_one(
            health(|c| c.tcp = Some(TcpCheckSpec { port: "web".to_owned() })),
            &format!("{HEALTH}.tcp.port"),
            &["\"web\" is not a port of task \"server\" (its ports: http, admin)", "set port to the name"],
        );
        // A port of another task of the pod does not count: the probe runs against this task.
        let mut spec = base();
        task(&mut spec, "hello", "init").readiness_check = base().pods[0].tasks[1].readiness_check.clone();
        assert_one(
            check(&spec),
            "pods[hello].tasks[init].readiness_check.http.port",
            &["the task has no ports", "or add that port"],
        );
    }

    #[test]
    fn a_relative_http_path_is_named_with_the_fix() {
        assert_one(
            readiness(|c| c.http = Some(HttpCheckSpec { port: "http".to_owned(), path: "ready".to_owned() })),
            &format!("{READINESS}.http.path"),
            &["set path to \"/ready\""],
        );
    }

    #[test]
    fn bad_durations_are_named_with_the_fix() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_one(
                health(|c| c.interval_secs = bad),
                &format!("{HEALTH}.interval_secs"),
                &["set interval_secs"],
            );
            assert_one(
                readiness(|c| c.timeout_secs = bad),
                &format!("{READINESS}.timeout_secs"),
                &["set timeout_secs"],
            );
        }
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            assert_one(health(|c| c.delay_secs = bad), &format!("{HEALTH}.delay_secs"), &["set delay_secs"]);
            assert_one(
                health(|c| c.grace_period_secs = bad),
                &format!("{HEALTH}.grace_period_secs"),
                &["at least 0", "set grace_period_secs"],
            );
        }
    }

    #[test]
    fn a_health_check_must_tolerate_a_failure() {
        assert_one(
            health(|c| c.max_consecutive_failures = 0),
            &format!("{HEALTH}.max_consecutive_failures"),
            &["set max_consecutive_failures"],
        );
        // Readiness checks do not count failures.
        assert_eq!(readiness(|c| c.max_consecutive_failures = 0), []);
    }
}

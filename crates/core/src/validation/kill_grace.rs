//! A task's kill grace period, when set, is a finite number of seconds of at least 0.

use super::{ValidationError, non_negative, task_path};
use crate::spec::ServiceSpec;

/// Checks every task's kill_grace_secs.
pub(super) fn check(spec: &ServiceSpec) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    for pod in &spec.pods {
        for task in &pod.tasks {
            if let Some(secs) = task.kill_grace_secs.filter(|secs| !non_negative(*secs)) {
                errors.push(ValidationError::new(
                    format!("{}.kill_grace_secs", task_path(pod, task)),
                    format!("must be a number of seconds of at least 0 (got {secs})"),
                    "set kill_grace_secs to the seconds between SIGTERM and SIGKILL, or remove it for \
                     the agent's default",
                ));
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::test_support::{assert_one, base, task};

    #[test]
    fn set_zero_and_unset_grace_pass() {
        let mut spec = base();
        assert_eq!(check(&spec), []);
        task(&mut spec, "hello", "server").kill_grace_secs = Some(0.0);
        task(&mut spec, "hello", "init").kill_grace_secs = None;
        assert_eq!(check(&spec), []);
    }

    #[test]
    fn negative_or_infinite_grace_is_named_with_the_fix() {
        for bad in [-1.0, f64::INFINITY, f64::NAN] {
            let mut spec = base();
            task(&mut spec, "hello", "server").kill_grace_secs = Some(bad);
            assert_one(check(&spec), "pods[hello].tasks[server].kill_grace_secs", &["set kill_grace_secs"]);
        }
    }
}

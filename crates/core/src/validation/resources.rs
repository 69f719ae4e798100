//! A task's resources are finite numbers: cpus and mem_mb above 0, disk_mb at least 0.
//!
//! Mesos requires at least 0.01 CPUs and 32 MB for an executor, but tasks in a task group
//! have no minimum of their own (the executor's share is accounted for separately when an
//! offer is evaluated), so any positive amount is accepted here; the fixes suggest the
//! usual minimums.

use super::{ValidationError, non_negative, positive, task_path};
use crate::spec::ServiceSpec;

/// Checks every task's cpus, mem_mb and disk_mb.
pub(super) fn check(spec: &ServiceSpec) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    for pod in &spec.pods {
        for task in &pod.tasks {
            let path = task_path(pod, task);
            if !positive(task.cpus) {
                errors.push(ValidationError::new(
                    format!("{path}.cpus"),
                    format!("must be a number more than 0 (got {})", task.cpus),
                    "set cpus to at least 0.01",
                ));
            }
            if !positive(task.mem_mb) {
                errors.push(ValidationError::new(
                    format!("{path}.mem_mb"),
                    format!("must be a number more than 0 (got {})", task.mem_mb),
                    "set mem_mb to the task's memory in MB, e.g. 32",
                ));
            }
            if !non_negative(task.disk_mb) {
                errors.push(ValidationError::new(
                    format!("{path}.disk_mb"),
                    format!("must be a number of at least 0 (got {})", task.disk_mb),
                    "set disk_mb to the sandbox disk in MB, or remove it for none",
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
    fn positive_resources_pass() {
        let mut spec = base();
        assert_eq!(check(&spec), []);
        let t = task(&mut spec, "hello", "server");
        t.cpus = 0.001;
        t.mem_mb = 1.0;
        t.disk_mb = 0.0;
        assert_eq!(check(&spec), []);
    }

    #[test]
    fn zero_cpus_is_named_with_the_fix() {
        let mut spec = base();
        task(&mut spec, "hello", "server").cpus = 0.0;
        let error = assert_one(check(&spec), "pods[hello].tasks[server].cpus", &[]);
        assert_eq!(
            error.to_string(),
            "pods[hello].tasks[server].cpus: must be a number more than 0 (got 0); set cpus to at least 0.01"
        );
    }

    #[test]
    fn non_finite_and_negative_amounts_are_named_with_the_fix() {
        for bad in [f64::NAN, f64::INFINITY, -1.0] {
            let mut spec = base();
            task(&mut spec, "hello", "server").cpus = bad;
            assert_one(check(&spec), "pods[hello].tasks[server].cpus", &["set cpus"]);

            let mut spec = base();
            task(&mut spec, "hello", "server").mem_mb = bad;
            assert_one(check(&spec), "pods[hello].tasks[server].mem_mb", &["set mem_mb"]);

            let mut spec = base();
            task(&mut spec, "hello", "server").disk_mb = bad;
            assert_one(check(&spec), "pods[hello].tasks[server].disk_mb", &["set disk_mb"]);
        }
        let mut spec = base();
        task(&mut spec, "proxy", "proxy").mem_mb = 0.0;
        assert_one(check(&spec), "pods[proxy].tasks[proxy].mem_mb", &["got 0", "e.g. 32"]);
    }
}

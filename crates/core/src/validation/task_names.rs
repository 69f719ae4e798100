//! Every pod type has at least one task, and task names are DNS labels unique in their pod
//! type: task ids and hostnames are built from the service, instance and task names.

use super::{ValidationError, duplicates, name_fix, name_problem, pod_path};
use crate::spec::ServiceSpec;

/// Checks that every pod type has tasks and that their names are valid and unique.
pub(super) fn check(spec: &ServiceSpec) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    for pod in &spec.pods {
        if pod.tasks.is_empty() {
            errors.push(ValidationError::new(
                format!("{}.tasks", pod_path(pod)),
                "is empty (a pod type needs at least one task)",
                "add a [[pods.tasks]] table with a name, a command, cpus and mem_mb",
            ));
            continue;
        }
        for (i, task) in pod.tasks.iter().enumerate() {
            if let Some(problem) = name_problem(&task.name) {
                let item = if task.name.is_empty() { i.to_string() } else { task.name.clone() };
                errors.push(ValidationError::new(
                    format!("{}.tasks[{item}].name", pod_path(pod)),
                    problem,
                    name_fix("task"),
                ));
            }
        }
        for (_, name) in duplicates(&pod.tasks, |task| task.name.as_str()) {
            errors.push(ValidationError::new(
                format!("{}.tasks[{name}].name", pod_path(pod)),
                format!("{name:?} names more than one task of the pod type"),
                "give each task of a pod type its own name",
            ));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::test_support::{assert_one, base, pod};

    #[test]
    fn valid_task_names_pass() {
        let mut spec = base();
        assert_eq!(check(&spec), []);
        // The same task name in two pod types is fine.
        pod(&mut spec, "proxy").tasks[0].name = "server".to_owned();
        assert_eq!(check(&spec), []);
    }

    #[test]
    fn a_pod_without_tasks_is_named_with_the_fix() {
        let mut spec = base();
        pod(&mut spec, "proxy").tasks.clear();
        assert_one(check(&spec), "pods[proxy].tasks", &["at least one task", "add a [[pods.tasks]]"]);
    }

    #[test]
    fn an_invalid_task_name_is_named_with_the_fix() {
        let mut spec = base();
        pod(&mut spec, "hello").tasks[1].name = "my_server".to_owned();
        assert_one(check(&spec), "pods[hello].tasks[my_server].name", &["'_'", "name the task with"]);

        let mut spec = base();
        pod(&mut spec, "hello").tasks[2].name = String::new();
        assert_one(check(&spec), "pods[hello].tasks[2].name", &["is empty", "name the task"]);
    }

    #[test]
    fn a_repeated_task_name_is_named_with_the_fix() {
        let mut spec = base();
        pod(&mut spec, "hello").tasks[2].name = "init".to_owned();
        assert_one(check(&spec), "pods[hello].tasks[init].name", &["more than one task", "its own name"]);
    }
}

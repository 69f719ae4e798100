//! A pod type's `decommission_tasks` name FINISH tasks of that pod type, each once: they
//! drain an instance being scaled in, so they must end by themselves.

use super::ValidationError;
use crate::spec::{Goal, ServiceSpec};

/// Checks every pod type's decommission tasks.
pub(super) fn check(spec: &ServiceSpec) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    for pod in &spec.pods {
        for (i, name) in pod.decommission_tasks.iter().enumerate() {
            let field = format!("pods[{}].decommission_tasks[{i}]", pod.name);
            if pod.decommission_tasks[..i].contains(name) {
                errors.push(ValidationError::new(
                    field,
                    format!("names {name:?} twice"),
                    "list each task once",
                ));
                continue;
            }
            match pod.task(name) {
                None => errors.push(ValidationError::new(
                    field,
                    format!("names {name:?}, which is not a task of pod type {}", pod.name),
                    format!(
                        "name one of its tasks ({}) or add a task called {name:?} with goal = \"finish\"",
                        pod.tasks.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                )),
                Some(task) if task.goal != Goal::Finish => errors.push(ValidationError::new(
                    field,
                    format!("task {name:?} has goal {:?}, but a drain must end by itself", task.goal),
                    format!("set goal = \"finish\" on task {name:?}"),
                )),
                Some(_) => {}
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::test_support::{assert_one, base, pod};

    #[test]
    fn finish_tasks_of_the_pod_pass() {
        let mut spec = base();
        assert_eq!(check(&spec), []);
        pod(&mut spec, "hello").decommission_tasks = vec!["backup".to_owned()];
        assert_eq!(check(&spec), []);
    }

    #[test]
    fn unknown_running_or_repeated_tasks_are_named_with_the_fix() {
        let mut spec = base();
        pod(&mut spec, "hello").decommission_tasks = vec!["drain".to_owned()];
        assert_one(check(&spec), "pods[hello].decommission_tasks[0]", &["not a task", "server"]);
        pod(&mut spec, "hello").decommission_tasks = vec!["server".to_owned()];
        assert_one(check(&spec), "pods[hello].decommission_tasks[0]", &["goal = \"finish\""]);
        pod(&mut spec, "hello").decommission_tasks = vec!["backup".to_owned(), "backup".to_owned()];
        assert_one(check(&spec), "pods[hello].decommission_tasks[1]", &["twice"]);
    }
}

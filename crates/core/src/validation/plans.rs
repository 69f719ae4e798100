//! Operator plans: names are unique DNS labels (they appear in commands and URLs) and not
//! one of the built-in plans; parameters are distinct shell variable names (they are
//! exported to the tasks); a plan has phases with unique names, and each phase runs at
//! least one task, each an existing task of an existing pod type whose goal is FINISH or
//! ONCE (a plan step completes when its tasks do; a RUNNING task never does).

use super::{ValidationError, duplicates, is_env_key, label_fix, label_problem, name_fix, name_problem};
use crate::spec::{Goal, PhaseSpec, PlanSpec, ServiceSpec};

/// Plans every service has; an operator plan cannot take their names.
pub(crate) const BUILT_IN_PLANS: [&str; 5] = ["deploy", "update", "recovery", "decommission", "uninstall"];

/// Checks every operator plan.
pub(super) fn check(spec: &ServiceSpec) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    for (i, plan) in spec.plans.iter().enumerate() {
        let path = if plan.name.is_empty() { format!("plans[{i}]") } else { format!("plans[{}]", plan.name) };
        if let Some(problem) = name_problem(&plan.name) {
            errors.push(ValidationError::new(format!("{path}.name"), problem, name_fix("plan")));
        } else if BUILT_IN_PLANS.contains(&plan.name.as_str()) {
            errors.push(ValidationError::new(
                format!("{path}.name"),
                format!("{:?} is a built-in plan", plan.name),
                format!("name the plan something other than {}", BUILT_IN_PLANS.join(", ")),
            ));
        }
        errors.extend(check_plan(&path, plan, spec));
    }
    for (_, name) in duplicates(&spec.plans, |plan| plan.name.as_str()) {
        if !name.is_empty() {
            errors.push(ValidationError::new(
                format!("plans[{name}].name"),
                format!("{name:?} names more than one plan"),
                "give each plan its own name",
            ));
        }
    }
    errors
}

fn check_plan(path: &str, plan: &PlanSpec, spec: &ServiceSpec) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    for (i, parameter) in plan.parameters.iter().enumerate() {
        if !is_env_key(parameter) {
            errors.push(ValidationError::new(
                format!("{path}.parameters[{i}]"),
                format!("{parameter:?} is not a shell variable name (parameters are exported to the tasks)"),
                "name the parameter with letters, digits and '_', not starting with a digit (e.g. \"BACKUP_TARGET\")",
            ));
        }
    }
    for ((i, _), parameter) in duplicates(plan.parameters.iter().enumerate(), |(_, p)| p.as_str()) {
        errors.push(ValidationError::new(
            format!("{path}.parameters[{i}]"),
            format!("{parameter:?} is listed more than once"),
            "list each parameter once",
        ));
    }
    if plan.phases.is_empty() {
        errors.push(ValidationError::new(
            format!("{path}.phases"),
            "is empty (a plan needs at least one phase)",
            "add a [[plans.phases]] table with a name, a pod and the tasks to run",
        ));
    }
    for (i, phase) in plan.phases.iter().enumerate() {
        let phase_path = if phase.name.is_empty() {
            format!("{path}.phases[{i}]")
        } else {
            format!("{path}.phases[{}]", phase.name)
        };
        if let Some(problem) = label_problem(&phase.name) {
            errors.push(ValidationError::new(format!("{phase_path}.name"), problem, label_fix("phase")));
        }
        errors.extend(check_phase(&phase_path, phase, spec));
    }
    for (_, name) in duplicates(&plan.phases, |phase| phase.name.as_str()) {
        if !name.is_empty() {
            errors.push(ValidationError::new(
                format!("{path}.phases[{name}].name"),
                format!("{name:?} names more than one phase of the plan"),
                "give each phase of a plan its own name",
            ));
        }
    }
    errors
}

fn check_phase(path: &str, phase: &PhaseSpec, spec: &ServiceSpec) -> Vec<ValidationError> {
    let Some(pod) = spec.pod(&phase.pod) else {
        let pods: Vec<&str> = spec.pods.iter().map(|p| p.name.as_str()).collect();
        return vec![ValidationError::new(
            format!("{path}.pod"),
            format!("{:?} is not a pod type of the service (its pod types: {})", phase.pod, pods.join(", ")),
            "set pod to the name of one of the service's pod types",
        )];
    };
    let mut errors = Vec::new();
    if phase.tasks.is_empty() {
        errors.push(ValidationError::new(
            format!("{path}.tasks"),
            "is empty (a phase runs at least one task)",
            format!("list the {:?} tasks to run, e.g. tasks = [\"backup\"]", pod.name),
        ));
    }
    for (i, name) in phase.tasks.iter().enumerate() {
        let field = format!("{path}.tasks[{i}]");
        match pod.task(name) {
            None => {
                let tasks: Vec<&str> = pod.tasks.iter().map(|t| t.name.as_str()).collect();
                errors.push(ValidationError::new(
                    field,
                    format!(
                        "{name:?} is not a task of pod type {:?} (its tasks: {})",
                        pod.name,
                        tasks.join(", ")
                    ),
                    "name one of the pod type's tasks",
                ));
            }
            Some(task) if task.goal == Goal::Running => errors.push(ValidationError::new(
                field,
                format!("task {name:?} has goal RUNNING, so a step running it would never complete"),
                format!("run a task whose goal is finish or once, or set goal = \"finish\" on {name:?}"),
            )),
            Some(_) => {}
        }
    }
    for ((i, _), name) in duplicates(phase.tasks.iter().enumerate(), |(_, t)| t.as_str()) {
        errors.push(ValidationError::new(
            format!("{path}.tasks[{i}]"),
            format!("{name:?} is listed more than once"),
            "list each task once",
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Strategy;
    use crate::validation::test_support::{assert_one, base};

    fn phase(name: &str, pod: &str, tasks: &[&str]) -> PhaseSpec {
        PhaseSpec {
            name: name.to_owned(),
            pod: pod.to_owned(),
            tasks: tasks.iter().map(|t| (*t).to_owned()).collect(),
            strategy: Strategy::Serial,
        }
    }

    fn plan(name: &str, phases: Vec<PhaseSpec>) -> PlanSpec {
        PlanSpec { name: name.to_owned(), parameters: Vec::new(), strategy: Strategy::Serial, phases }
    }

    fn with_plan(plan: PlanSpec) -> Vec<ValidationError> {
        let mut spec = base();
        spec.plans.push(plan);
        check(&spec)
    }

    #[test]
    fn valid_plans_pass() {
        assert_eq!(check(&base()), []);
        assert_eq!(with_plan(plan("repair", vec![phase("init", "hello", &["init", "backup"])])), []);
        let mut spec = base();
        spec.plans.clear();
        assert_eq!(check(&spec), []);
    }

    #[test]
    fn bad_and_built_in_names_are_named_with_the_fix() {
        assert_one(
            with_plan(plan("Repair", vec![phase("p", "hello", &["init"])])),
            "plans[Repair].name",
            &["name the plan"],
        );
        for built_in in BUILT_IN_PLANS {
            assert_one(
                with_plan(plan(built_in, vec![phase("p", "hello", &["init"])])),
                &format!("plans[{built_in}].name"),
                &["is a built-in plan", "other than deploy, update, recovery, decommission, uninstall"],
            );
        }
    }

    #[test]
    fn a_repeated_plan_name_is_named_with_the_fix() {
        assert_one(
            with_plan(plan("backup", vec![phase("p", "hello", &["init"])])),
            "plans[backup].name",
            &["more than one plan", "its own name"],
        );
    }

    #[test]
    fn bad_and_repeated_parameters_are_named_with_the_fix() {
        let mut spec = base();
        spec.plans[0].parameters = vec!["TARGET".to_owned(), "backup-dir".to_owned(), "TARGET".to_owned()];
        let errors = check(&spec);
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert_one(
            vec![errors[0].clone()],
            "plans[backup].parameters[1]",
            &["not a shell variable", "name the parameter"],
        );
        assert_one(
            vec![errors[1].clone()],
            "plans[backup].parameters[2]",
            &["more than once", "list each parameter once"],
        );
    }

    #[test]
    fn a_plan_without_phases_is_named_with_the_fix() {
        assert_one(
            with_plan(plan("repair", vec![])),
            "plans[repair].phases",
            &["at least one phase", "[[plans.phases]]"],
        );
    }

    #[test]
    fn bad_and_repeated_phase_names_are_named_with_the_fix() {
        assert_one(
            with_plan(plan("repair", vec![phase("a b", "hello", &["init"])])),
            "plans[repair].phases[a b].name",
            &["name the phase"],
        );
        assert_one(
            with_plan(plan("repair", vec![phase("p", "hello", &["init"]), phase("p", "hello", &["backup"])])),
            "plans[repair].phases[p].name",
            &["more than one phase", "its own name"],
        );
    }

    #[test]
    fn an_unknown_pod_is_named_with_the_fix() {
        assert_one(
            with_plan(plan("repair", vec![phase("p", "db", &["init"])])),
            "plans[repair].phases[p].pod",
            &["\"db\" is not a pod type of the service (its pod types: hello, proxy)", "set pod to"],
        );
    }

    #[test]
    fn unknown_running_repeated_and_missing_tasks_are_named_with_the_fix() {
        assert_one(
            with_plan(plan("repair", vec![phase("p", "hello", &["init", "fsck"])])),
            "plans[repair].phases[p].tasks[1]",
            &[
                "\"fsck\" is not a task of pod type \"hello\" (its tasks: init, server, backup)",
                "name one of",
            ],
        );
        assert_one(
            with_plan(plan("repair", vec![phase("p", "hello", &["server"])])),
            "plans[repair].phases[p].tasks[0]",
            &["goal RUNNING", "goal = \"finish\""],
        );
        assert_one(
            with_plan(plan("repair", vec![phase("p", "hello", &["init", "init"])])),
            "plans[repair].phases[p].tasks[1]",
            &["more than once", "list each task once"],
        );
        assert_one(
            with_plan(plan("repair", vec![phase("p", "hello", &[])])),
            "plans[repair].phases[p].tasks",
            &["at least one task", "list the \"hello\" tasks"],
        );
    }
}

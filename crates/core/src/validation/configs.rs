//! A task's config files: names are unique labels in the task, destinations are distinct
//! relative paths that stay inside the sandbox, and templates compile.

use super::{
    TEMPLATE_FIX, ValidationError, duplicates, label_fix, label_problem, path_parts, sandbox_path_problem,
    task_path, template_problem,
};
use crate::spec::ServiceSpec;

/// Checks every task's configs.
pub(super) fn check(spec: &ServiceSpec) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    for pod in &spec.pods {
        for task in &pod.tasks {
            let path = task_path(pod, task);
            let config_path = |i: usize, name: &str| {
                if name.is_empty() {
                    format!("{path}.configs[{i}]")
                } else {
                    format!("{path}.configs[{name}]")
                }
            };
            for (i, config) in task.configs.iter().enumerate() {
                let config_path = config_path(i, &config.name);
                if let Some(problem) = label_problem(&config.name) {
                    errors.push(ValidationError::new(
                        format!("{config_path}.name"),
                        problem,
                        label_fix("config"),
                    ));
                }
                if let Some(problem) = sandbox_path_problem(&config.dest) {
                    errors.push(ValidationError::new(
                        format!("{config_path}.dest"),
                        problem,
                        "set dest to a path relative to the sandbox, without '..' (e.g. \"conf/app.conf\")",
                    ));
                }
                if let Some(problem) = template_problem(&config.template) {
                    errors.push(ValidationError::new(
                        format!("{config_path}.template"),
                        problem,
                        TEMPLATE_FIX,
                    ));
                }
            }
            for (config, name) in duplicates(&task.configs, |config| config.name.as_str()) {
                if !name.is_empty() {
                    errors.push(ValidationError::new(
                        format!("{}.name", config_path(0, &config.name)),
                        format!("{name:?} names more than one config of the task"),
                        "give each config of a task its own name",
                    ));
                }
            }
            let valid_dests =
                task.configs.iter().enumerate().filter(|(_, c)| sandbox_path_problem(&c.dest).is_none());
            for ((i, config), _) in duplicates(valid_dests, |(_, config)| path_parts(&config.dest)) {
                errors.push(ValidationError::new(
                    format!("{}.dest", config_path(i, &config.name)),
                    format!("{:?} is also the dest of another config of the task", config.dest),
                    "render each config to its own file",
                ));
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::ConfigSpec;
    use crate::validation::test_support::{assert_one, base, task};

    fn config(name: &str, dest: &str) -> ConfigSpec {
        ConfigSpec { name: name.to_owned(), template: "x = {{ y }}".to_owned(), dest: dest.to_owned() }
    }

    #[test]
    fn valid_configs_pass() {
        let mut spec = base();
        assert_eq!(check(&spec), []);
        // Another task may reuse a name and a dest (its sandbox is its own).
        task(&mut spec, "hello", "init").configs.push(config("settings", "conf/hello.conf"));
        assert_eq!(check(&spec), []);
    }

    #[test]
    fn a_repeated_name_is_named_with_the_fix() {
        let mut spec = base();
        task(&mut spec, "hello", "server").configs.push(config("settings", "conf/other.conf"));
        assert_one(
            check(&spec),
            "pods[hello].tasks[server].configs[settings].name",
            &["more than one config", "its own name"],
        );
    }

    #[test]
    fn a_bad_name_is_named_with_the_fix() {
        let mut spec = base();
        task(&mut spec, "hello", "server").configs[0].name = "my settings".to_owned();
        assert_one(
            check(&spec),
            "pods[hello].tasks[server].configs[my settings].name",
            &["' '", "name the config"],
        );
    }

    #[test]
    fn a_repeated_dest_is_named_with_the_fix() {
        let mut spec = base();
        task(&mut spec, "hello", "server").configs.push(config("other", "./conf//hello.conf"));
        assert_one(
            check(&spec),
            "pods[hello].tasks[server].configs[other].dest",
            &["also the dest of another config", "its own file"],
        );
    }

    #[test]
    fn a_dest_outside_the_sandbox_is_named_with_the_fix() {
        for bad in ["/etc/hello.conf", "../hello.conf", "conf/../../x", ""] {
            let mut spec = base();
            task(&mut spec, "hello", "server").configs[0].dest = bad.to_owned();
            assert_one(
                check(&spec),
                "pods[hello].tasks[server].configs[settings].dest",
                &["set dest to a path"],
            );
        }
    }

    #[test]
    fn a_bad_template_names_the_line_and_the_fix() {
        let mut spec = base();
        task(&mut spec, "hello", "server").configs[0].template = "a = 1\nb = 2\n{% if x %}c = 3\n".to_owned();
        assert_one(
            check(&spec),
            "pods[hello].tasks[server].configs[settings].template",
            &["template does not compile at line", "fix the template syntax"],
        );
    }
}

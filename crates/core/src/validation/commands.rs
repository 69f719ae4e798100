//! A task's command is a non-blank shell command and, being rendered per instance like the
//! config files, a template whose syntax compiles.

use super::{TEMPLATE_FIX, ValidationError, task_path, template_problem};
use crate::spec::ServiceSpec;

/// Checks every task's command.
pub(super) fn check(spec: &ServiceSpec) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    for pod in &spec.pods {
        for task in &pod.tasks {
            let field = format!("{}.command", task_path(pod, task));
            if task.command.trim().is_empty() {
                errors.push(ValidationError::new(
                    field,
                    "is empty",
                    "set command to the shell command that runs the task",
                ));
            } else if let Some(problem) = template_problem(&task.command) {
                errors.push(ValidationError::new(field, problem, TEMPLATE_FIX));
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
    fn commands_and_templated_commands_pass() {
        assert_eq!(check(&base()), []);
    }

    #[test]
    fn a_blank_command_is_named_with_the_fix() {
        let mut spec = base();
        task(&mut spec, "proxy", "proxy").command = " \n".to_owned();
        assert_one(check(&spec), "pods[proxy].tasks[proxy].command", &["is empty", "set command to"]);
    }

    #[test]
    fn a_template_error_names_the_line_and_the_fix() {
        let mut spec = base();
        task(&mut spec, "hello", "server").command = "set -e\n./hello {% if x %}--x".to_owned();
        assert_one(
            check(&spec),
            "pods[hello].tasks[server].command",
            &["template does not compile at line 2", "fix the template syntax"],
        );
    }

    #[test]
    fn shell_length_syntax_is_accepted_as_the_renderer_accepts_it() {
        // `{#` opens a template comment, but the renderer keeps bash's `${#VAR}` literal.
        let mut spec = base();
        task(&mut spec, "hello", "init").command = "echo ${#HOME} ${#ARGS[@]}".to_owned();
        assert_eq!(check(&spec), []);
        // Any other unclosed `{#` is an error whose fix says how to keep literal braces.
        task(&mut spec, "hello", "init").command = "echo {#HOME}".to_owned();
        assert_one(check(&spec), "pods[hello].tasks[init].command", &["line 1", "{% raw %}"]);
    }
}

//! A task's environment: every variable name (its `env` keys and its ports' variables) is a
//! shell identifier set by one source only, and every value, being rendered per instance,
//! is a template whose syntax compiles.
//!
//! Port variables that are not shell identifiers are reported by the ports rule.

use super::{TEMPLATE_FIX, ValidationError, is_env_key, task_path, template_problem};
use crate::spec::ServiceSpec;
use std::collections::BTreeMap;

/// Checks every task's env keys, values and port variables.
pub(super) fn check(spec: &ServiceSpec) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    for pod in &spec.pods {
        for task in &pod.tasks {
            let path = task_path(pod, task);
            // Port variable → the port that sets it first.
            let mut port_vars: BTreeMap<String, &str> = BTreeMap::new();
            for port in &task.ports {
                let key = port.env_key();
                if let Some(first) = port_vars.get(&key) {
                    errors.push(ValidationError::new(
                        format!("{path}.ports[{}].env", port.name),
                        format!("{key} is already the variable of port {first:?}"),
                        "set env on one of the two ports to another variable name",
                    ));
                } else {
                    port_vars.insert(key, &port.name);
                }
            }
            for (key, value) in &task.env {
                let field = format!("{path}.env[{key}]");
                if !is_env_key(key) {
                    errors.push(ValidationError::new(
                        field.clone(),
                        format!("{key:?} is not a shell variable name"),
                        "name the variable with letters, digits and '_', not starting with a digit",
                    ));
                }
                if let Some(port) = port_vars.get(key) {
                    errors.push(ValidationError::new(
                        field.clone(),
                        format!("{key} is also the variable of port {port:?}, which sets it"),
                        "rename the variable, or set the port's env to another name",
                    ));
                }
                if let Some(problem) = template_problem(value) {
                    errors.push(ValidationError::new(field, problem, TEMPLATE_FIX));
                }
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::PortSpec;
    use crate::validation::test_support::{assert_one, base, task};

    #[test]
    fn valid_env_passes() {
        let mut spec = base();
        assert_eq!(check(&spec), []);
        task(&mut spec, "proxy", "proxy").env.insert("_private1".to_owned(), String::new());
        assert_eq!(check(&spec), []);
    }

    #[test]
    fn a_bad_key_is_named_with_the_fix() {
        for bad in ["1X", "A-B", "A B", ""] {
            let mut spec = base();
            task(&mut spec, "hello", "server").env.insert(bad.to_owned(), "x".to_owned());
            assert_one(
                check(&spec),
                &format!("pods[hello].tasks[server].env[{bad}]"),
                &["not a shell variable", "letters, digits and '_'"],
            );
        }
    }

    #[test]
    fn a_key_set_by_a_port_is_named_with_the_fix() {
        let mut spec = base();
        task(&mut spec, "hello", "server").env.insert("ADMIN_PORT".to_owned(), "1".to_owned());
        assert_one(
            check(&spec),
            "pods[hello].tasks[server].env[ADMIN_PORT]",
            &["port \"admin\"", "set the port's env"],
        );
    }

    #[test]
    fn two_ports_with_one_variable_are_named_with_the_fix() {
        let mut spec = base();
        task(&mut spec, "proxy", "proxy").ports.push(PortSpec {
            name: "other".to_owned(),
            port: 0,
            env: Some("PORT_WEB".to_owned()),
            primary: false,
        });
        assert_one(
            check(&spec),
            "pods[proxy].tasks[proxy].ports[other].env",
            &["PORT_WEB is already the variable of port \"web\"", "set env"],
        );
    }

    #[test]
    fn a_bad_value_template_names_the_line_and_the_fix() {
        let mut spec = base();
        task(&mut spec, "hello", "server").env.insert("X".to_owned(), "{{ a }".to_owned());
        assert_one(
            check(&spec),
            "pods[hello].tasks[server].env[X]",
            &["template does not compile at line 1", "fix the template syntax"],
        );
    }
}

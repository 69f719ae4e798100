//! The role the service reserves resources for must be a valid Mesos role, and not `*`:
//! resources cannot be reserved for the default role.
//!
//! Mesos' rules (`roles::validate`): a role is not empty; is not `.` or `..`; has no
//! whitespace or control characters; and, read as a `/`-separated hierarchy, does not start
//! or end with `/`, has no empty component (`//`), and no component is `.`, `..`, `*` or
//! starts with `-`.

use super::ValidationError;
use crate::spec::ServiceSpec;

/// Checks the role (as defaulted from the name when unset).
pub(super) fn check(spec: &ServiceSpec) -> Vec<ValidationError> {
    let role = spec.role();
    role_problem(&role)
        .map(|problem| {
            ValidationError::new(
                "role",
                problem,
                "set role to a name like \"hello-role\" or \"team/hello\": no spaces, no leading \
                 or trailing '/', no empty, '.', '..' or '*' parts, no part starting with '-'",
            )
        })
        .into_iter()
        .collect()
}

/// What is wrong with `role` as a reservation role, if anything.
fn role_problem(role: &str) -> Option<String> {
    if role.is_empty() {
        return Some("is empty".to_owned());
    }
    if role == "*" {
        return Some("is \"*\", the default role, which resources cannot be reserved for".to_owned());
    }
    if let Some(c) = role.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Some(format!("{role:?} contains whitespace or a control character ({c:?})"));
    }
    if role.starts_with('/') || role.ends_with('/') {
        return Some(format!("{role:?} starts or ends with '/'"));
    }
    if role.contains("//") {
        return Some(format!("{role:?} has an empty part ('//')"));
    }
    if let Some(part) =
        role.split('/').find(|part| matches!(*part, "." | ".." | "*") || part.starts_with('-'))
    {
        return Some(format!("{role:?} has the invalid part {part:?}"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::test_support::{assert_one, base};

    #[test]
    fn valid_roles_pass() {
        for good in [Some("hello-role"), Some("team/hello"), Some("a.b"), Some("x-"), None] {
            let mut spec = base();
            spec.role = good.map(str::to_owned);
            assert_eq!(check(&spec), [], "{good:?}");
        }
    }

    #[test]
    fn invalid_roles_are_named_with_the_fix() {
        for bad in
            ["", "*", ".", "..", "-x", "a b", "a\tb", "/a", "a/", "a//b", "a/./b", "a/../b", "a/*", "a/-b"]
        {
            let mut spec = base();
            spec.role = Some(bad.to_owned());
            assert_one(check(&spec), "role", &["set role to"]);
        }
    }
}

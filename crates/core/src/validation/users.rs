//! The Unix users tasks run as (service-wide and per pod type), when set, must be plausible
//! user names: the agent fails every launch of a task whose user cannot exist.

use super::{ValidationError, pod_path};
use crate::spec::ServiceSpec;

/// Checks the service's and every pod type's `user`.
pub(super) fn check(spec: &ServiceSpec) -> Vec<ValidationError> {
    let service = spec.user.as_deref().map(|user| ("user".to_owned(), user));
    let pods = spec
        .pods
        .iter()
        .filter_map(|pod| pod.user.as_deref().map(|user| (format!("{}.user", pod_path(pod)), user)));
    service
        .into_iter()
        .chain(pods)
        .filter_map(|(field, user)| {
            user_problem(user).map(|problem| {
                ValidationError::new(
                    field,
                    problem,
                    "set user to an existing Unix user name (e.g. \"nobody\"), or remove it to run as \
                     the scheduler's user",
                )
            })
        })
        .collect()
}

/// What is wrong with a Unix user name, if anything.
fn user_problem(user: &str) -> Option<String> {
    if user.is_empty() {
        return Some("is empty".to_owned());
    }
    let bad = user.chars().find(|c| c.is_whitespace() || c.is_control() || matches!(c, ':' | '/'))?;
    Some(format!("{user:?} contains {bad:?}, which no Unix user name has"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::test_support::{assert_one, base, pod};

    #[test]
    fn set_and_unset_users_pass() {
        let mut spec = base();
        assert_eq!(check(&spec), []);
        spec.user = None;
        pod(&mut spec, "proxy").user = Some("www-data".to_owned());
        assert_eq!(check(&spec), []);
    }

    #[test]
    fn bad_users_are_named_with_the_fix() {
        let mut spec = base();
        spec.user = Some(String::new());
        assert_one(check(&spec), "user", &["is empty", "existing Unix user"]);

        let mut spec = base();
        pod(&mut spec, "proxy").user = Some("root:root".to_owned());
        assert_one(check(&spec), "pods[proxy].user", &["':'", "existing Unix user"]);
    }
}

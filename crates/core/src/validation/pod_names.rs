//! A service has at least one pod type, and pod type names are unique DNS labels: an
//! instance is `<pod>-<index>` and its tasks' ids and hostnames start with it.

use super::{ValidationError, duplicates, name_fix, name_problem};
use crate::spec::ServiceSpec;

/// Checks that there are pod types and that their names are valid and unique.
pub(super) fn check(spec: &ServiceSpec) -> Vec<ValidationError> {
    if spec.pods.is_empty() {
        return vec![ValidationError::new(
            "pods",
            "is empty (a service needs at least one pod type)",
            "add a [[pods]] table with a name, a count and at least one [[pods.tasks]]",
        )];
    }
    let invalid = spec.pods.iter().enumerate().filter_map(|(i, pod)| {
        name_problem(&pod.name).map(|problem| {
            let field = if pod.name.is_empty() {
                format!("pods[{i}].name")
            } else {
                format!("pods[{}].name", pod.name)
            };
            ValidationError::new(field, problem, name_fix("pod type"))
        })
    });
    let repeated = duplicates(&spec.pods, |pod| pod.name.as_str()).into_iter().map(|(_, name)| {
        ValidationError::new(
            format!("pods[{name}].name"),
            format!("{name:?} names more than one pod type"),
            "give each pod type its own name (or merge the two into one pod type)",
        )
    });
    invalid.chain(repeated).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::test_support::{assert_one, base};

    #[test]
    fn valid_pod_names_pass() {
        assert_eq!(check(&base()), []);
    }

    #[test]
    fn no_pods_is_an_error() {
        let mut spec = base();
        spec.pods.clear();
        assert_one(check(&spec), "pods", &["at least one pod type", "add a [[pods]]"]);
    }

    #[test]
    fn an_invalid_pod_name_is_named_with_the_fix() {
        let mut spec = base();
        spec.pods[1].name = "Proxy".to_owned();
        assert_one(check(&spec), "pods[Proxy].name", &["'P'", "name the pod type with lowercase"]);

        let mut spec = base();
        spec.pods[1].name = String::new();
        assert_one(check(&spec), "pods[1].name", &["is empty", "name the pod type"]);
    }

    #[test]
    fn a_repeated_pod_name_is_named_with_the_fix() {
        let mut spec = base();
        spec.pods[1].name = "hello".to_owned();
        assert_one(check(&spec), "pods[hello].name", &["more than one pod type", "its own name"]);
    }
}

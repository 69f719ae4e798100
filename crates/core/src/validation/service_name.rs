//! The service name becomes the framework name, the prefix of every task id and part of
//! hostnames, so it must be a DNS label.

use super::{ValidationError, name_fix, name_problem};
use crate::spec::ServiceSpec;

/// Checks the service name.
pub(super) fn check(spec: &ServiceSpec) -> Vec<ValidationError> {
    name_problem(&spec.name)
        .map(|problem| ValidationError::new("name", problem, name_fix("service")))
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::test_support::{assert_one, base};

    #[test]
    fn a_valid_name_passes() {
        assert_eq!(check(&base()), []);
    }

    #[test]
    fn a_bad_name_is_named_with_the_fix() {
        for bad in ["", "Hello", "9lives", "my_service", "web-", &"x".repeat(64)] {
            let mut spec = base();
            spec.name = bad.to_owned();
            assert_one(check(&spec), "name", &["name the service with lowercase letters"]);
        }
    }
}

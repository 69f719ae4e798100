//! The principal owns the service's reservations and volumes; Mesos rejects reservations
//! with an empty principal.

use super::ValidationError;
use crate::spec::ServiceSpec;

/// Checks the principal (as defaulted from the name when unset).
pub(super) fn check(spec: &ServiceSpec) -> Vec<ValidationError> {
    let principal = spec.principal();
    let problem = if principal.trim().is_empty() {
        "is empty".to_owned()
    } else if principal.chars().any(char::is_control) {
        format!("{principal:?} contains a control character")
    } else {
        return Vec::new();
    };
    vec![ValidationError::new(
        "principal",
        problem,
        "set principal to the Mesos principal the scheduler authenticates as, or remove it to use \
         \"<name>-principal\"",
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::test_support::{assert_one, base};

    #[test]
    fn a_set_or_defaulted_principal_passes() {
        let mut spec = base();
        assert_eq!(check(&spec), []);
        spec.principal = None;
        assert_eq!(check(&spec), []);
    }

    #[test]
    fn an_empty_principal_is_named_with_the_fix() {
        for bad in ["", "  ", "a\nb"] {
            let mut spec = base();
            spec.principal = Some(bad.to_owned());
            assert_one(check(&spec), "principal", &["set principal to"]);
        }
    }
}

//! A pod type runs at least one instance and at most [`MAX_POD_COUNT`]: zero instances is
//! a pod type that should be removed, and a count beyond the bound is a typo, not a plan
//! (every instance is a step of the deploy plan and a set of reservations in the state
//! store).

use super::{ValidationError, pod_path};
use crate::spec::ServiceSpec;

/// Most instances a pod type may have.
pub(super) const MAX_POD_COUNT: u32 = 10_000;

/// Checks every pod type's count.
pub(super) fn check(spec: &ServiceSpec) -> Vec<ValidationError> {
    spec.pods
        .iter()
        .filter_map(|pod| {
            let field = format!("{}.count", pod_path(pod));
            if pod.count == 0 {
                Some(ValidationError::new(
                    field,
                    "must be at least 1 (got 0)",
                    "set count to 1 or more, or remove the pod type (an update that removes it needs \
                     decommission)",
                ))
            } else if pod.count > MAX_POD_COUNT {
                Some(ValidationError::new(
                    field,
                    format!("must be at most {MAX_POD_COUNT} (got {})", pod.count),
                    format!("set count to at most {MAX_POD_COUNT}"),
                ))
            } else {
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::test_support::{assert_one, base};

    #[test]
    fn counts_in_range_pass() {
        let mut spec = base();
        assert_eq!(check(&spec), []);
        spec.pods[0].count = MAX_POD_COUNT;
        assert_eq!(check(&spec), []);
    }

    #[test]
    fn zero_and_huge_counts_are_named_with_the_fix() {
        let mut spec = base();
        spec.pods[0].count = 0;
        assert_one(check(&spec), "pods[hello].count", &["got 0", "set count to 1 or more"]);

        let mut spec = base();
        spec.pods[1].count = MAX_POD_COUNT + 1;
        assert_one(check(&spec), "pods[proxy].count", &["got 10001", "set count to at most 10000"]);
    }
}

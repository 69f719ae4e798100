//! Update rule: shrinking a pod type's count or removing a pod type kills instances and
//! destroys their volumes, so it needs the operator's explicit consent
//! ([`UpdateOptions::allow_decommission`]); the decommission plan then carries it out.

use super::{UpdateOptions, ValidationError};
use crate::spec::ServiceSpec;

/// The fix when consent is missing, ending with the alternative.
fn fix(or: &str) -> String {
    format!(
        "scale in through decommission (allow_decommission), which kills the surplus instances and destroys \
         their volumes; or {or}"
    )
}

/// Checks that no pod type shrinks or disappears unless decommission is allowed.
pub(super) fn check(old: &ServiceSpec, new: &ServiceSpec, options: UpdateOptions) -> Vec<ValidationError> {
    if options.allow_decommission {
        return Vec::new();
    }
    old.pods
        .iter()
        .filter_map(|old_pod| match new.pod(&old_pod.name) {
            None => Some(ValidationError::new(
                format!("pods[{}]", old_pod.name),
                format!("cannot be removed without decommission (count {})", old_pod.count),
                fix("keep the pod type"),
            )),
            Some(new_pod) if new_pod.count < old_pod.count => Some(ValidationError::new(
                format!("pods[{}].count", old_pod.name),
                format!("cannot shrink from {} to {} without decommission", old_pod.count, new_pod.count),
                fix(&format!("keep count = {}", old_pod.count)),
            )),
            Some(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::test_support::{assert_one, base, pod};

    fn update(options: UpdateOptions, change: impl FnOnce(&mut ServiceSpec)) -> Vec<ValidationError> {
        let mut new = base();
        change(&mut new);
        check(&base(), &new, options)
    }

    const STRICT: UpdateOptions = UpdateOptions { allow_decommission: false };
    const DECOMMISSION: UpdateOptions = UpdateOptions { allow_decommission: true };

    #[test]
    fn growing_and_keeping_counts_pass() {
        assert_eq!(update(STRICT, |_| {}), []);
        assert_eq!(update(STRICT, |s| pod(s, "hello").count = 5), []);
        assert_eq!(
            update(STRICT, |s| {
                let mut extra = s.pods[1].clone();
                extra.name = "extra".to_owned();
                s.pods.push(extra);
            }),
            []
        );
    }

    #[test]
    fn shrinking_needs_decommission() {
        assert_one(
            update(STRICT, |s| pod(s, "hello").count = 1),
            "pods[hello].count",
            &[
                "cannot shrink from 3 to 1",
                "scale in through decommission (allow_decommission)",
                "keep count = 3",
            ],
        );
        assert_eq!(update(DECOMMISSION, |s| pod(s, "hello").count = 1), []);
    }

    #[test]
    fn removing_a_pod_type_needs_decommission() {
        assert_one(
            update(STRICT, |s| s.pods.retain(|p| p.name != "proxy")),
            "pods[proxy]",
            &["cannot be removed", "allow_decommission", "keep the pod type"],
        );
        assert_eq!(update(DECOMMISSION, |s| s.pods.retain(|p| p.name != "proxy")), []);
    }
}

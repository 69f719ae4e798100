//! Update rule: a pod type that says its count is fixed once deployed (`fixed_count`, with
//! the reason) cannot grow or shrink by a config change, even with decommission allowed —
//! e.g. Kafka brokers that are also the KRaft quorum's static voters.

use super::{UpdateOptions, ValidationError};
use crate::spec::ServiceSpec;

/// Checks that no pod type with a fixed count changes its count.
pub(super) fn check(old: &ServiceSpec, new: &ServiceSpec, _: UpdateOptions) -> Vec<ValidationError> {
    old.pods
        .iter()
        .filter_map(|old_pod| {
            let reason = old_pod.fixed_count.as_ref()?;
            let new_count = new.pod(&old_pod.name).map_or(0, |p| p.count);
            (new_count != old_pod.count).then(|| {
                ValidationError::new(
                    format!("pods[{}].count", old_pod.name),
                    format!("cannot change from {} to {new_count} once deployed: {reason}", old_pod.count),
                    format!("keep count = {}", old_pod.count),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::test_support::{base, pod};

    #[test]
    fn a_fixed_count_cannot_change_even_with_decommission() {
        let mut old = base();
        pod(&mut old, "hello").fixed_count = Some("the quorum's voters are static".to_owned());
        let mut grown = old.clone();
        pod(&mut grown, "hello").count += 1;
        let options = UpdateOptions { allow_decommission: true };
        let errors = check(&old, &grown, options);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].to_string().contains("the quorum's voters are static"), "{}", errors[0]);
        assert_eq!(check(&old, &old.clone(), options), []);
        let mut plain = base();
        pod(&mut plain, "hello").count += 1;
        assert_eq!(check(&base(), &plain, options), [], "other pod types grow freely");
    }
}

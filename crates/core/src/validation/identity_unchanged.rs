//! Update rule: the service name, role and principal cannot change. The name is the
//! framework's identity and the prefix of its task ids; the role and principal own the
//! reservations and volumes already made, which a new role could neither use nor release.

use super::{UpdateOptions, ValidationError};
use crate::spec::ServiceSpec;

/// The fix for every identity change.
const FIX: &str = "keep the old value; to run under another identity, deploy a new service instead";

/// Checks that `new` keeps `old`'s name, role and principal (as defaulted).
pub(super) fn check(old: &ServiceSpec, new: &ServiceSpec, _options: UpdateOptions) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    let renamed = old.name != new.name;
    if renamed {
        errors.push(changed("name", &old.name, &new.name));
    }
    // A role or principal defaulted from the name changes with it: the name's error says it.
    let derived = |old_set: bool, new_set: bool| renamed && !old_set && !new_set;
    if old.role() != new.role() && !derived(old.role.is_some(), new.role.is_some()) {
        errors.push(changed("role", &old.role(), &new.role()));
    }
    if old.principal() != new.principal() && !derived(old.principal.is_some(), new.principal.is_some()) {
        errors.push(changed("principal", &old.principal(), &new.principal()));
    }
    errors
}

fn changed(field: &str, old: &str, new: &str) -> ValidationError {
    ValidationError::new(field, format!("cannot change from {old:?} to {new:?}"), FIX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::test_support::{assert_one, base};

    fn update(change: impl FnOnce(&mut ServiceSpec)) -> Vec<ValidationError> {
        let mut new = base();
        change(&mut new);
        check(&base(), &new, UpdateOptions::default())
    }

    #[test]
    fn an_unchanged_identity_passes() {
        assert_eq!(update(|_| {}), []);
        // Spelling out the default is no change.
        let mut old = base();
        old.role = None;
        let mut new = old.clone();
        new.role = Some("hello-role".to_owned());
        assert_eq!(check(&old, &new, UpdateOptions::default()), []);
    }

    #[test]
    fn a_new_name_is_named_with_the_fix() {
        assert_one(
            update(|s| s.name = "hi".to_owned()),
            "name",
            &["\"hello\" to \"hi\"", "deploy a new service instead"],
        );
        // With a defaulted role and principal, only the name is reported.
        let mut old = base();
        old.role = None;
        old.principal = None;
        let mut new = old.clone();
        new.name = "hi".to_owned();
        assert_one(
            check(&old, &new, UpdateOptions { allow_decommission: true }),
            "name",
            &["deploy a new service"],
        );
    }

    #[test]
    fn a_new_role_is_named_with_the_fix() {
        assert_one(
            update(|s| s.role = Some("other".to_owned())),
            "role",
            &["from \"hello-role\" to \"other\"", "deploy a new service instead"],
        );
        // Unsetting an explicit role that differs from the default is a change too.
        let mut old = base();
        old.role = Some("team/hello".to_owned());
        assert_one(check(&old, &base(), UpdateOptions::default()), "role", &["\"team/hello\""]);
    }

    #[test]
    fn a_new_principal_is_named_with_the_fix() {
        assert_one(
            update(|s| s.principal = Some("admin".to_owned())),
            "principal",
            &["to \"admin\"", "deploy a new service instead"],
        );
    }
}

//! Update rule: a pod type's volumes cannot be added, removed or changed (size, path,
//! kind). Volumes are created with an instance's reservations at its first launch and every
//! relaunch uses those same volumes; the update plan only restarts instances in place.

use super::{UpdateOptions, ValidationError};
use crate::spec::{DiskKind, ServiceSpec};

/// The fix for every volume change.
const FIX: &str = "keep the volume as it was: volumes are created at an instance's first launch and \
                   reused by every relaunch; to change them, add a new pod type with the new volumes and \
                   decommission this one";

/// Checks that every pod type in both specs keeps its volumes.
pub(super) fn check(old: &ServiceSpec, new: &ServiceSpec, _options: UpdateOptions) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    for new_pod in &new.pods {
        let Some(old_pod) = old.pod(&new_pod.name) else { continue };
        let path = format!("pods[{}].volumes", new_pod.name);
        for old_volume in &old_pod.volumes {
            let Some(new_volume) = new_pod.volumes.iter().find(|v| v.name == old_volume.name) else {
                errors.push(ValidationError::new(
                    format!("{path}[{}]", old_volume.name),
                    format!("cannot be removed (instances hold it at {:?})", old_volume.path),
                    FIX,
                ));
                continue;
            };
            let field = |name: &str| format!("{path}[{}].{name}", old_volume.name);
            if new_volume.size_mb != old_volume.size_mb {
                errors.push(ValidationError::new(
                    field("size_mb"),
                    format!("cannot change from {} to {}", old_volume.size_mb, new_volume.size_mb),
                    FIX,
                ));
            }
            if new_volume.path != old_volume.path {
                errors.push(ValidationError::new(
                    field("path"),
                    format!("cannot change from {:?} to {:?}", old_volume.path, new_volume.path),
                    FIX,
                ));
            }
            if new_volume.kind != old_volume.kind {
                errors.push(ValidationError::new(
                    field("kind"),
                    format!("cannot change from {} to {}", kind(old_volume.kind), kind(new_volume.kind)),
                    FIX,
                ));
            }
        }
        for new_volume in new_pod.volumes.iter().filter(|v| !old_pod.volumes.iter().any(|o| o.name == v.name))
        {
            errors.push(ValidationError::new(
                format!("{path}[{}]", new_volume.name),
                "cannot be added to running instances",
                FIX,
            ));
        }
    }
    errors
}

fn kind(kind: DiskKind) -> &'static str {
    match kind {
        DiskKind::Root => "root",
        DiskKind::Mount => "mount",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::VolumeSpec;
    use crate::validation::test_support::{assert_one, base, pod};

    fn update(change: impl FnOnce(&mut ServiceSpec)) -> Vec<ValidationError> {
        let mut new = base();
        change(&mut new);
        check(&base(), &new, UpdateOptions { allow_decommission: true })
    }

    #[test]
    fn unchanged_volumes_pass() {
        assert_eq!(update(|_| {}), []);
        // Reordering volumes, removing a pod type or adding one with volumes is fine.
        assert_eq!(update(|s| pod(s, "hello").volumes.reverse()), []);
        assert_eq!(update(|s| s.pods.retain(|p| p.name != "hello")), []);
        assert_eq!(
            update(|s| {
                let mut db = s.pods[0].clone();
                db.name = "db".to_owned();
                s.pods.push(db);
            }),
            []
        );
    }

    #[test]
    fn a_resized_volume_is_named_with_the_fix() {
        assert_one(
            update(|s| pod(s, "hello").volumes[0].size_mb = 128.0),
            "pods[hello].volumes[data].size_mb",
            &["from 64 to 128", "decommission this one"],
        );
    }

    #[test]
    fn a_moved_volume_is_named_with_the_fix() {
        assert_one(
            update(|s| pod(s, "hello").volumes[0].path = "db".to_owned()),
            "pods[hello].volumes[data].path",
            &["from \"data\" to \"db\"", "add a new pod type"],
        );
    }

    #[test]
    fn a_new_disk_kind_is_named_with_the_fix() {
        assert_one(
            update(|s| pod(s, "hello").volumes[1].kind = DiskKind::Root),
            "pods[hello].volumes[logs].kind",
            &["from mount to root", "keep the volume as it was"],
        );
    }

    #[test]
    fn added_and_removed_volumes_are_named_with_the_fix() {
        assert_one(
            update(|s| pod(s, "hello").volumes.retain(|v| v.name != "logs")),
            "pods[hello].volumes[logs]",
            &["cannot be removed", "keep the volume as it was"],
        );
        assert_one(
            update(|s| {
                pod(s, "proxy").volumes.push(VolumeSpec {
                    name: "cache".to_owned(),
                    path: "cache".to_owned(),
                    size_mb: 10.0,
                    kind: DiskKind::Root,
                })
            }),
            "pods[proxy].volumes[cache]",
            &["cannot be added", "keep the volume as it was"],
        );
    }
}

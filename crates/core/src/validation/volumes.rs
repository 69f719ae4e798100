//! A pod type's persistent volumes: names are unique labels (they end up in persistence
//! ids); paths are relative to the sandbox, stay inside it, and are distinct and not nested
//! in one another (a volume mounted inside another would hide or be hidden by it); sizes
//! are finite numbers of MB above 0.

use super::ValidationError;
use super::{duplicates, label_fix, label_problem, path_parts, pod_path, positive, sandbox_path_problem};
use crate::spec::{PodSpec, ServiceSpec, VolumeSpec};

/// Checks every pod type's volumes.
pub(super) fn check(spec: &ServiceSpec) -> Vec<ValidationError> {
    spec.pods.iter().flat_map(check_pod).collect()
}

fn check_pod(pod: &PodSpec) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    let path_of = |i: usize, volume: &VolumeSpec| {
        let item = if volume.name.is_empty() { i.to_string() } else { volume.name.clone() };
        format!("{}.volumes[{item}]", pod_path(pod))
    };
    for (i, volume) in pod.volumes.iter().enumerate() {
        let path = path_of(i, volume);
        if let Some(problem) = label_problem(&volume.name) {
            errors.push(ValidationError::new(format!("{path}.name"), problem, label_fix("volume")));
        }
        if let Some(problem) = sandbox_path_problem(&volume.path) {
            errors.push(ValidationError::new(
                format!("{path}.path"),
                problem,
                "set path to a directory relative to the sandbox, without '..' (e.g. \"data\")",
            ));
        }
        if !positive(volume.size_mb) {
            errors.push(ValidationError::new(
                format!("{path}.size_mb"),
                format!("must be a number more than 0 (got {})", volume.size_mb),
                "set size_mb to the volume's size in MB",
            ));
        }
    }
    for ((i, volume), name) in duplicates(pod.volumes.iter().enumerate(), |(_, v)| v.name.as_str()) {
        if !name.is_empty() {
            errors.push(ValidationError::new(
                format!("{}.name", path_of(i, volume)),
                format!("{name:?} names more than one volume of the pod type"),
                "give each volume its own name",
            ));
        }
    }
    // Paths: compared by their components, so "data/" and "./data" are the same path.
    let mut seen: Vec<(&VolumeSpec, Vec<&str>)> = Vec::new();
    for (i, volume) in pod.volumes.iter().enumerate() {
        if sandbox_path_problem(&volume.path).is_some() {
            continue;
        }
        let parts = path_parts(&volume.path);
        let clash = seen.iter().find(|(_, other)| parts.starts_with(other) || other.starts_with(&parts));
        if let Some((other, other_parts)) = clash {
            let problem = if *other_parts == parts {
                format!("{:?} is also the path of volume {:?}", volume.path, other.name)
            } else if parts.starts_with(other_parts) {
                format!("{:?} is inside volume {:?} ({:?})", volume.path, other.name, other.path)
            } else {
                format!("{:?} contains volume {:?} ({:?})", volume.path, other.name, other.path)
            };
            errors.push(ValidationError::new(
                format!("{}.path", path_of(i, volume)),
                problem,
                "give each volume its own directory, not inside another volume (e.g. \"data\" and \"logs\", \
                 not \"data\" and \"data/logs\")",
            ));
        }
        seen.push((volume, parts));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::DiskKind;
    use crate::validation::test_support::{assert_one, base, pod};

    fn volume(name: &str, path: &str) -> VolumeSpec {
        VolumeSpec { name: name.to_owned(), path: path.to_owned(), size_mb: 10.0, kind: DiskKind::Root }
    }

    #[test]
    fn valid_volumes_pass() {
        let mut spec = base();
        assert_eq!(check(&spec), []);
        // Sibling paths sharing a prefix are not nested; other pod types are separate.
        pod(&mut spec, "hello").volumes.push(volume("data2", "data2"));
        pod(&mut spec, "proxy").volumes.push(volume("data", "data"));
        assert_eq!(check(&spec), []);
    }

    #[test]
    fn a_repeated_name_is_named_with_the_fix() {
        let mut spec = base();
        pod(&mut spec, "hello").volumes.push(volume("data", "more"));
        assert_one(check(&spec), "pods[hello].volumes[data].name", &["more than one volume", "its own name"]);
    }

    #[test]
    fn a_bad_name_is_named_with_the_fix() {
        let mut spec = base();
        pod(&mut spec, "hello").volumes[0].name = "-data".to_owned();
        assert_one(check(&spec), "pods[hello].volumes[-data].name", &["start with", "name the volume"]);
    }

    #[test]
    fn a_bad_path_is_named_with_the_fix() {
        for bad in ["/var/lib/data", "../data", "a/../../b", "", "."] {
            let mut spec = base();
            pod(&mut spec, "hello").volumes[0].path = bad.to_owned();
            assert_one(check(&spec), "pods[hello].volumes[data].path", &["set path to a directory relative"]);
        }
    }

    #[test]
    fn the_same_path_twice_is_named_with_the_fix() {
        let mut spec = base();
        pod(&mut spec, "hello").volumes.push(volume("again", "./data/"));
        assert_one(
            check(&spec),
            "pods[hello].volumes[again].path",
            &["also the path of volume \"data\"", "its own directory"],
        );
    }

    #[test]
    fn nested_paths_are_named_with_the_fix() {
        let mut spec = base();
        pod(&mut spec, "hello").volumes.push(volume("db", "data/db"));
        assert_one(
            check(&spec),
            "pods[hello].volumes[db].path",
            &["inside volume \"data\"", "its own directory"],
        );

        let mut spec = base();
        pod(&mut spec, "hello").volumes.push(volume("var", "var"));
        assert_one(
            check(&spec),
            "pods[hello].volumes[var].path",
            &["contains volume \"logs\"", "its own directory"],
        );
    }

    #[test]
    fn a_bad_size_is_named_with_the_fix() {
        for bad in [0.0, -5.0, f64::NAN, f64::INFINITY] {
            let mut spec = base();
            pod(&mut spec, "hello").volumes[1].size_mb = bad;
            assert_one(check(&spec), "pods[hello].volumes[logs].size_mb", &["more than 0", "set size_mb"]);
        }
    }
}

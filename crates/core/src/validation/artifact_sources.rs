//! What is inside an artifact's `maven` or `pypi` table: a version label that can be part of
//! a folder name; repository and index URLs herd can fetch; at least one dir, each with a
//! path inside the distribution and well-formed coordinates (exact versions, no ranges) and
//! exclusions; extra files and the sdist root at relative paths without `..`; a package
//! name PyPI accepts; a pinned sdist digest of 64 hex digits.
//!
//! Which source an artifact sets, its name and its checksums are `artifacts.rs`'s.

use super::artifacts::{digest_problem, folder_name_problem, url_problem};
use super::{ValidationError, path_parts, pod_path};
use crate::spec::{MavenCoordinate, MavenDir, MavenSource, PypiSource, ServiceSpec, maven_id_char};
use std::collections::BTreeMap;

/// Checks the `maven` and `pypi` tables of every pod type's artifacts.
pub(super) fn check(spec: &ServiceSpec) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    for pod in &spec.pods {
        for (i, artifact) in pod.artifacts.iter().enumerate() {
            let path = format!("{}.artifacts[{i}]", pod_path(pod));
            if let Some(maven) = &artifact.maven {
                errors.extend(check_maven(&format!("{path}.maven"), maven));
            }
            if let Some(pypi) = &artifact.pypi {
                errors.extend(check_pypi(&format!("{path}.pypi"), pypi));
            }
        }
    }
    errors
}

fn check_maven(path: &str, maven: &MavenSource) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    errors.extend(version_problem(path, &maven.version));
    if let Some(problem) = maven.repository.as_deref().and_then(url_problem) {
        errors.push(ValidationError::new(
            format!("{path}.repository"),
            problem,
            "set repository to the base URL of a Maven repository (e.g. \
             \"https://repo.maven.apache.org/maven2\"), or remove it to use Maven's settings",
        ));
    }
    if maven.dirs.is_empty() {
        errors.push(ValidationError::new(
            format!("{path}.dirs"),
            "is empty (a maven source assembles its distribution from dirs of jars)",
            "add a dir, e.g. [[pods.artifacts.maven.dirs]] path = \"libs\" coordinates = \
             [\"group:artifact:version\"]",
        ));
    }
    errors.extend(check_dirs(path, &maven.dirs));
    errors.extend(check_files(path, &maven.files));
    errors
}

fn check_pypi(path: &str, pypi: &PypiSource) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    if let Some(problem) = package_problem(&pypi.package) {
        errors.push(ValidationError::new(
            format!("{path}.package"),
            problem,
            "set package to the project's name on PyPI (letters, digits, '.', '_' and '-'; e.g. \
             \"pyspark\")",
        ));
    }
    errors.extend(version_problem(path, &pypi.version));
    errors.extend(digest_problem(path, "sha256", pypi.sha256.as_deref(), 64, "sha256sum"));
    if let Some(problem) = pypi.index.as_deref().and_then(url_problem) {
        errors.push(ValidationError::new(
            format!("{path}.index"),
            problem,
            "set index to the base URL of a PyPI JSON API (e.g. \"https://pypi.org/pypi\"), or \
             remove it",
        ));
    }
    if let Some(problem) = pypi.root.as_deref().and_then(dist_path_problem) {
        errors.push(ValidationError::new(
            format!("{path}.root"),
            problem,
            "set root to a folder inside the sdist's top-level folder (e.g. \"deps\"), or remove it \
             to use the top-level folder",
        ));
    }
    errors.extend(check_dirs(path, &pypi.dirs));
    errors.extend(check_files(path, &pypi.files));
    errors
}

/// Checks a version label, which becomes part of the folder name `<name>-<version>/`.
fn version_problem(path: &str, version: &str) -> Option<ValidationError> {
    let problem = folder_name_problem(version)?;
    Some(ValidationError::new(
        format!("{path}.version"),
        problem,
        "set version to the distribution's version with letters, digits, '-', '_' and '.' (e.g. \
         \"3.9.0\")",
    ))
}

fn check_dirs(path: &str, dirs: &[MavenDir]) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    for (d, dir) in dirs.iter().enumerate() {
        let dir_path = format!("{path}.dirs[{d}]");
        if let Some(problem) = dist_path_problem(&dir.path) {
            errors.push(ValidationError::new(
                format!("{dir_path}.path"),
                problem,
                "set path to a folder inside the distribution, without '..' (e.g. \"libs\")",
            ));
        }
        if dir.coordinates.is_empty() {
            errors.push(ValidationError::new(
                format!("{dir_path}.coordinates"),
                "is empty (the dir would hold no jar)",
                "list at least one coordinate, e.g. \"org.apache.kafka:kafka_2.13:3.9.0\"",
            ));
        }
        for (c, coordinate) in dir.coordinates.iter().enumerate() {
            if let Err(problem) = MavenCoordinate::parse(coordinate) {
                errors.push(ValidationError::new(
                    format!("{dir_path}.coordinates[{c}]"),
                    problem,
                    "write the coordinate as group:artifact:version (or \
                     group:artifact:version:classifier, or group:artifact:packaging:classifier:version) \
                     with an exact version, e.g. \"org.apache.kafka:kafka_2.13:3.9.0\"",
                ));
            }
        }
        for (x, exclude) in dir.exclude.iter().enumerate() {
            if let Some(problem) = exclude_problem(exclude) {
                errors.push(ValidationError::new(
                    format!("{dir_path}.exclude[{x}]"),
                    problem,
                    "write the exclusion as group:artifact, either of which may be '*' (e.g. \
                     \"org.slf4j:*\")",
                ));
            }
        }
    }
    errors
}

fn check_files(path: &str, files: &BTreeMap<String, String>) -> Vec<ValidationError> {
    files
        .keys()
        .filter_map(|file| {
            let problem = dist_path_problem(file)?;
            Some(ValidationError::new(
                format!("{path}.files[{file}]"),
                problem,
                "name the file by its path inside the distribution, without '..' (e.g. \
                 \"conf/server.properties\")",
            ))
        })
        .collect()
}

/// What is wrong with a path that must stay inside the distribution, if anything.
fn dist_path_problem(path: &str) -> Option<String> {
    if path.is_empty() {
        Some("is empty".to_owned())
    } else if path.starts_with('/') {
        Some(format!("{path:?} is absolute (must be relative to the distribution's folder)"))
    } else if path.split('/').any(|part| part == "..") {
        Some(format!("{path:?} contains '..' (must stay inside the distribution)"))
    } else if path.contains(['\\', '\0']) {
        Some(format!("{path:?} contains a backslash or NUL (use '/' between folders)"))
    } else if path_parts(path).is_empty() {
        Some(format!("{path:?} names the distribution's folder itself"))
    } else {
        None
    }
}

/// What is wrong with an exclusion (`group:artifact`, either may be `*`), if anything.
fn exclude_problem(exclude: &str) -> Option<String> {
    let Some((group, artifact)) = exclude.split_once(':') else {
        return Some(format!("{exclude:?} is not group:artifact"));
    };
    for (what, part) in [("group", group), ("artifact", artifact)] {
        if part.is_empty() {
            return Some(format!("{exclude:?} has an empty {what}"));
        }
        if part != "*"
            && let Some(c) = part.chars().find(|c| !maven_id_char(*c))
        {
            return Some(format!("{exclude:?} has {c:?} in its {what}"));
        }
    }
    None
}

/// What is wrong with a PyPI project name (PEP 508: letters, digits, `.`, `_`, `-`, starting
/// and ending with a letter or digit), if anything.
fn package_problem(package: &str) -> Option<String> {
    if package.is_empty() {
        return Some("is empty".to_owned());
    }
    if let Some(c) = package.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return Some(format!("contains {c:?} in {package:?}"));
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !edge_ok(package.chars().next()) || !edge_ok(package.chars().last()) {
        return Some(format!("{package:?} does not start and end with a letter or digit"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::ArtifactSpec;
    use crate::validation::test_support::{assert_one, base, fields, pod};

    fn maven() -> MavenSource {
        MavenSource {
            version: "3.9.5".to_owned(),
            repository: Some("https://repo.maven.apache.org/maven2".to_owned()),
            dirs: vec![
                MavenDir {
                    path: "libs".to_owned(),
                    coordinates: vec![
                        "org.apache.zookeeper:zookeeper:3.9.5".to_owned(),
                        "io.dropwizard.metrics:metrics-core:4.1.12.1".to_owned(),
                        "org.apache.spark:spark-examples_2.13:3.5.5:tests".to_owned(),
                    ],
                    exclude: vec![
                        "io.netty:netty-tcnative-boringssl-static".to_owned(),
                        "org.slf4j:*".to_owned(),
                    ],
                    transitive: true,
                },
                MavenDir {
                    path: "tools/lib".to_owned(),
                    coordinates: vec!["commons-cli:commons-cli:jar:sources:1.5.0".to_owned()],
                    exclude: Vec::new(),
                    transitive: false,
                },
            ],
            files: [("conf/zoo.cfg".to_owned(), "tickTime=2000\n".to_owned())].into(),
        }
    }

    fn pypi() -> PypiSource {
        PypiSource {
            package: "pyspark".to_owned(),
            version: "3.5.5".to_owned(),
            sha256: Some("a".repeat(64)),
            index: Some("https://pypi.org/pypi".to_owned()),
            root: Some("deps".to_owned()),
            dirs: vec![MavenDir {
                path: "examples/jars".to_owned(),
                coordinates: vec!["org.apache.spark:spark-examples_2.12:3.5.5".to_owned()],
                exclude: Vec::new(),
                transitive: false,
            }],
            files: [("conf/spark-defaults.conf".to_owned(), String::new())].into(),
        }
    }

    /// Errors of the base spec whose first artifact is the maven source `change` made.
    fn with_maven(change: impl FnOnce(&mut MavenSource)) -> Vec<ValidationError> {
        let mut spec = base();
        let artifact: &mut ArtifactSpec = &mut pod(&mut spec, "hello").artifacts[0];
        let mut source = maven();
        change(&mut source);
        artifact.maven = Some(source);
        check(&spec)
    }

    /// Errors of the base spec whose first artifact is the pypi source `change` made.
    fn with_pypi(change: impl FnOnce(&mut PypiSource)) -> Vec<ValidationError> {
        let mut spec = base();
        let mut source = pypi();
        change(&mut source);
        pod(&mut spec, "hello").artifacts[0].pypi = Some(source);
        check(&spec)
    }

    const MAVEN: &str = "pods[hello].artifacts[0].maven";
    const PYPI: &str = "pods[hello].artifacts[0].pypi";

    #[test]
    fn valid_sources_pass() {
        assert_eq!(check(&base()), []);
        assert_eq!(with_maven(|_| {}), []);
        assert_eq!(with_pypi(|_| {}), []);
        assert_eq!(
            with_pypi(|p| {
                p.sha256 = None;
                p.index = None;
                p.root = None;
                p.dirs.clear();
                p.files.clear();
            }),
            []
        );
    }

    #[test]
    fn bad_coordinates_are_named_by_index_with_the_fix() {
        for bad in [
            "org.apache.kafka:kafka_2.13",
            "org.apache.kafka:kafka_2.13:3.9.0:a:b:c",
            "org.apache.kafka::3.9.0",
            "org.apache.kafka:kafka_2.13:[3.0,4.0)",
            "org.apache.kafka:kafka 2.13:3.9.0",
            "org.apache.kafka:kafka_2.13:${kafka.version}",
            "",
        ] {
            let error = assert_one(
                with_maven(|m| m.dirs[1].coordinates.push(bad.to_owned())),
                &format!("{MAVEN}.dirs[1].coordinates[1]"),
                &["write the coordinate as group:artifact:version"],
            );
            assert!(error.problem.contains(&format!("{bad:?}")), "{error}");
        }
        let range = with_maven(|m| m.dirs[0].coordinates[0] = "g:a:[1.0,2.0)".to_owned());
        assert_one(range, &format!("{MAVEN}.dirs[0].coordinates[0]"), &["version range", "same tarball"]);
    }

    #[test]
    fn coordinates_parse_in_all_three_forms() {
        let c = MavenCoordinate::parse("org.apache.kafka:kafka_2.13:3.9.0").unwrap();
        assert_eq!(
            (c.group.as_str(), c.artifact.as_str(), c.version.as_str()),
            ("org.apache.kafka", "kafka_2.13", "3.9.0")
        );
        assert_eq!((c.packaging, c.classifier), (None, None));
        let c = MavenCoordinate::parse("g:a:1.0:tests").unwrap();
        assert_eq!((c.version.as_str(), c.classifier.as_deref(), c.packaging), ("1.0", Some("tests"), None));
        let c = MavenCoordinate::parse("g:a:test-jar:tests:1.0").unwrap();
        assert_eq!(
            (c.version.as_str(), c.classifier.as_deref(), c.packaging.as_deref()),
            ("1.0", Some("tests"), Some("test-jar"))
        );
    }

    #[test]
    fn bad_exclusions_are_named_with_the_fix() {
        for bad in ["org.slf4j", "org.slf4j:", ":slf4j-api", "org slf4j:api", "a:b:c"] {
            assert_one(
                with_maven(|m| m.dirs[0].exclude.push(bad.to_owned())),
                &format!("{MAVEN}.dirs[0].exclude[2]"),
                &["group:artifact", "'*'"],
            );
        }
    }

    #[test]
    fn dir_and_file_paths_stay_inside_the_distribution() {
        for bad in ["", "/opt/libs", "../libs", "libs/../../x", ".", "a\\b"] {
            assert_one(
                with_maven(|m| m.dirs[1].path = bad.to_owned()),
                &format!("{MAVEN}.dirs[1].path"),
                &["set path to a folder inside the distribution"],
            );
            assert_one(
                with_maven(|m| {
                    m.files.insert(bad.to_owned(), "x".to_owned());
                }),
                &format!("{MAVEN}.files[{bad}]"),
                &["name the file by its path inside the distribution"],
            );
            assert_one(
                with_pypi(|p| p.root = Some(bad.to_owned())),
                &format!("{PYPI}.root"),
                &["set root to a folder inside the sdist"],
            );
        }
    }

    #[test]
    fn a_maven_source_needs_dirs_with_coordinates() {
        assert_one(with_maven(|m| m.dirs.clear()), &format!("{MAVEN}.dirs"), &["is empty", "add a dir"]);
        assert_one(
            with_maven(|m| m.dirs[0].coordinates.clear()),
            &format!("{MAVEN}.dirs[0].coordinates"),
            &["list at least one coordinate"],
        );
    }

    #[test]
    fn versions_repositories_and_indexes_are_checked() {
        assert_one(
            with_maven(|m| m.version = "1.0/2".to_owned()),
            &format!("{MAVEN}.version"),
            &["set version"],
        );
        assert_one(
            with_maven(|m| m.repository = Some("repo.example.com".to_owned())),
            &format!("{MAVEN}.repository"),
            &["set repository to the base URL"],
        );
        assert_one(with_pypi(|p| p.version = String::new()), &format!("{PYPI}.version"), &["set version"]);
        assert_one(
            with_pypi(|p| p.index = Some("ftp://mirror/pypi".to_owned())),
            &format!("{PYPI}.index"),
            &["set index to the base URL"],
        );
    }

    #[test]
    fn a_bad_pypi_package_or_digest_is_named_with_the_fix() {
        for bad in ["", "py spark", "-pyspark", "pyspark.", "pyspark==3.5"] {
            assert_one(
                with_pypi(|p| p.package = bad.to_owned()),
                &format!("{PYPI}.package"),
                &["set package to the project's name on PyPI"],
            );
        }
        assert_one(
            with_pypi(|p| p.sha256 = Some("abc".to_owned())),
            &format!("{PYPI}.sha256"),
            &["64 hex digits", "sha256sum"],
        );
    }

    #[test]
    fn maven_dirs_of_a_pypi_source_are_checked_too() {
        let errors = with_pypi(|p| {
            p.dirs[0].path = "/abs".to_owned();
            p.dirs[0].coordinates[0] = "nope".to_owned();
        });
        assert_eq!(
            fields(&errors),
            [format!("{PYPI}.dirs[0].path"), format!("{PYPI}.dirs[0].coordinates[0]")]
        );
    }
}

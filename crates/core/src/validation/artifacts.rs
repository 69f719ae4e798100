//! A pod type's artifacts: each sets exactly one source (`url`, `maven` or `pypi`); a URL is
//! one the Mesos fetcher can fetch (`http://`, `https://` or `file://`, with something after
//! the scheme); checksums are SHA-256 (64 hex digits) or SHA-512 (128) digests and belong to
//! `url` sources; a name, required for `maven` and `pypi` sources (it becomes the tarball's
//! folder), is a safe folder name; output files stay inside the sandbox.
//!
//! What is inside a `maven` or `pypi` table is checked by `artifact_sources.rs`.

use super::{ValidationError, label_problem, pod_path, sandbox_path_problem};
use crate::spec::{ArtifactSpec, ServiceSpec};

/// Schemes the fetcher is expected to handle.
const SCHEMES: [&str; 3] = ["http://", "https://", "file://"];

/// Longest artifact name (it becomes a folder and file name, with the version).
const MAX_ARTIFACT_NAME_LEN: usize = 100;

/// Checks every pod type's artifacts.
pub(super) fn check(spec: &ServiceSpec) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    for pod in &spec.pods {
        for (i, artifact) in pod.artifacts.iter().enumerate() {
            let path = format!("{}.artifacts[{i}]", pod_path(pod));
            errors.extend(check_artifact(&path, artifact));
        }
    }
    errors
}

fn check_artifact(path: &str, artifact: &ArtifactSpec) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    let set: Vec<&str> = [
        ("url", artifact.url.is_some()),
        ("maven", artifact.maven.is_some()),
        ("pypi", artifact.pypi.is_some()),
    ]
    .into_iter()
    .filter_map(|(field, is_set)| is_set.then_some(field))
    .collect();
    match set.as_slice() {
        [] => errors.push(ValidationError::new(
            path,
            "has no source (none of url, maven, pypi is set)",
            "set exactly one of url (a file to download), maven (jars to assemble) or pypi (a \
             source archive to repackage)",
        )),
        [_] => {}
        several => errors.push(ValidationError::new(
            path,
            format!("has several sources ({} are all set)", several.join(", ")),
            "keep exactly one of url, maven and pypi: an artifact comes from one place; declare \
             another artifact for the other",
        )),
    }
    if let Some(problem) = artifact.url.as_deref().and_then(url_problem) {
        errors.push(ValidationError::new(
            format!("{path}.url"),
            problem,
            "set url to an http://, https:// or file:// URL (e.g. \"https://example.com/app.tar.gz\")",
        ));
    }
    errors.extend(digest_problem(path, "sha256", artifact.sha256.as_deref(), 64, "sha256sum"));
    errors.extend(digest_problem(path, "sha512", artifact.sha512.as_deref(), 128, "sha512sum"));
    let assembled = if artifact.maven.is_some() {
        Some("maven")
    } else if artifact.pypi.is_some() {
        Some("pypi")
    } else {
        None
    };
    if let Some(kind) = assembled {
        for (field, digest) in [("sha256", &artifact.sha256), ("sha512", &artifact.sha512)] {
            if digest.is_some() && artifact.url.is_none() {
                let fix = if kind == "pypi" {
                    format!("remove {field}: to pin the source archive, set pypi.sha256")
                } else {
                    format!("remove {field}: herd computes the assembled tarball's digest")
                };
                errors.push(ValidationError::new(
                    format!("{path}.{field}"),
                    format!("checks a url download, but this artifact is a {kind} source"),
                    fix,
                ));
            }
        }
        if artifact.name.is_none() {
            errors.push(ValidationError::new(
                format!("{path}.name"),
                format!(
                    "is missing (a {kind} source needs a name: the tarball's folder is <name>-<version>/)"
                ),
                "set name to the system's name, e.g. name = \"kafka\"",
            ));
        }
    }
    if let Some(problem) = artifact.name.as_deref().and_then(folder_name_problem) {
        errors.push(ValidationError::new(
            format!("{path}.name"),
            problem,
            "name the artifact with letters, digits, '-', '_' and '.', starting with a letter or \
             digit (e.g. \"kafka\")",
        ));
    }
    if let Some(problem) = artifact.output_file.as_deref().and_then(sandbox_path_problem) {
        errors.push(ValidationError::new(
            format!("{path}.output_file"),
            problem,
            "set output_file to a file name relative to the sandbox, without '..', or remove it to keep \
             the URL's file name",
        ));
    }
    errors
}

/// What is wrong with a name that becomes a folder and file name, if anything.
pub(super) fn folder_name_problem(name: &str) -> Option<String> {
    if name.len() > MAX_ARTIFACT_NAME_LEN {
        return Some(format!("is {} characters long (at most {MAX_ARTIFACT_NAME_LEN})", name.len()));
    }
    label_problem(name)
}

/// An error for `field` of `path` unless `digest` is `len` hex digits.
pub(super) fn digest_problem(
    path: &str,
    field: &str,
    digest: Option<&str>,
    len: usize,
    tool: &str,
) -> Option<ValidationError> {
    let digest = digest?;
    if digest.len() == len && digest.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let algorithm = field.to_uppercase().replace("SHA", "SHA-");
    Some(ValidationError::new(
        format!("{path}.{field}"),
        format!("{digest:?} is not a {algorithm} digest ({len} hex digits)"),
        format!("set {field} to the output of `{tool} FILE` ({len} hex digits), or remove it"),
    ))
}

/// What is wrong with an artifact URL, if anything.
pub(super) fn url_problem(url: &str) -> Option<String> {
    if url.is_empty() {
        return Some("is empty".to_owned());
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some(format!("{url:?} contains whitespace (escape it as %20)"));
    }
    let Some(scheme) = SCHEMES.into_iter().find(|scheme| url.starts_with(scheme)) else {
        let scheme = url.split_once("://").map_or("none", |(scheme, _)| scheme);
        return Some(format!("{url:?} has the scheme {scheme:?} (the fetcher takes http, https and file)"));
    };
    let rest = &url[scheme.len()..];
    if scheme == "file://" && !rest.starts_with('/') {
        return Some(format!("{url:?} is not an absolute file:// URL (file:///path)"));
    }
    let nothing_after =
        if scheme == "file://" { rest == "/" } else { rest.is_empty() || rest.starts_with('/') };
    if nothing_after {
        return Some(format!("{url:?} has no host or path after {scheme}"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{MavenDir, MavenSource, PypiSource};
    use crate::validation::test_support::{assert_one, base, fields, pod};

    fn with_artifact(change: impl FnOnce(&mut ArtifactSpec)) -> Vec<ValidationError> {
        let mut spec = base();
        change(&mut pod(&mut spec, "hello").artifacts[0]);
        check(&spec)
    }

    fn maven() -> MavenSource {
        MavenSource {
            version: "3.9.5".to_owned(),
            repository: None,
            dirs: vec![MavenDir {
                path: "libs".to_owned(),
                coordinates: vec!["org.apache.zookeeper:zookeeper:3.9.5".to_owned()],
                exclude: Vec::new(),
                transitive: true,
            }],
            files: Default::default(),
        }
    }

    fn pypi() -> PypiSource {
        PypiSource {
            package: "pyspark".to_owned(),
            version: "3.5.5".to_owned(),
            sha256: None,
            index: None,
            root: Some("deps".to_owned()),
            dirs: Vec::new(),
            files: Default::default(),
        }
    }

    /// Turns the first artifact into a named maven source.
    fn as_maven(a: &mut ArtifactSpec) {
        a.url = None;
        a.sha256 = None;
        a.name = Some("zookeeper".to_owned());
        a.maven = Some(maven());
    }

    #[test]
    fn valid_artifacts_pass() {
        assert_eq!(check(&base()), []);
        for good in ["http://h/a", "https://example.com:8443/x.tgz?sig=1", "file:///opt/a.tar.gz"] {
            assert_eq!(with_artifact(|a| a.url = Some(good.to_owned())), [], "{good}");
        }
        assert_eq!(
            with_artifact(|a| a.sha256 =
                Some("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855".to_owned())),
            []
        );
        assert_eq!(with_artifact(|a| a.sha512 = Some("ab".repeat(64))), []);
        assert_eq!(with_artifact(|a| a.name = Some("kafka_2.13-3.9.0".to_owned())), []);
        assert_eq!(with_artifact(as_maven), []);
        assert_eq!(
            with_artifact(|a| {
                as_maven(a);
                a.maven = None;
                a.name = Some("spark".to_owned());
                a.pypi = Some(pypi());
            }),
            []
        );
    }

    #[test]
    fn an_artifact_without_a_source_is_named_with_the_fix() {
        assert_one(
            with_artifact(|a| {
                a.url = None;
                a.sha256 = None;
            }),
            "pods[hello].artifacts[0]",
            &["has no source", "set exactly one of url", "maven", "pypi"],
        );
    }

    #[test]
    fn an_artifact_with_several_sources_is_named_with_the_fix() {
        let errors = with_artifact(|a| {
            as_maven(a);
            a.url = Some("https://h/a.tgz".to_owned());
            a.pypi = Some(pypi());
        });
        assert_one(
            errors,
            "pods[hello].artifacts[0]",
            &["url, maven, pypi are all set", "keep exactly one of url, maven and pypi"],
        );
    }

    #[test]
    fn bad_urls_are_named_with_the_fix() {
        for bad in [
            "",
            "ftp://h/a",
            "s3://bucket/key",
            "example.com/a",
            "https://",
            "http:///a",
            "file://a",
            "file:///",
            "https://h/a b",
        ] {
            assert_one(
                with_artifact(|a| a.url = Some(bad.to_owned())),
                "pods[hello].artifacts[0].url",
                &["set url to an http://, https:// or file:// URL"],
            );
        }
    }

    #[test]
    fn a_bad_checksum_is_named_with_the_fix() {
        for bad in ["", "abc", &"g".repeat(64), &"a".repeat(63), &"a".repeat(65)] {
            assert_one(
                with_artifact(|a| a.sha256 = Some(bad.to_owned())),
                "pods[hello].artifacts[0].sha256",
                &["64 hex digits", "sha256sum", "not a SHA-256 digest"],
            );
        }
        for bad in ["", &"a".repeat(64), &"z".repeat(128), &"a".repeat(129)] {
            assert_one(
                with_artifact(|a| a.sha512 = Some(bad.to_owned())),
                "pods[hello].artifacts[0].sha512",
                &["128 hex digits", "sha512sum", "not a SHA-512 digest"],
            );
        }
    }

    #[test]
    fn a_checksum_on_an_assembled_source_is_named_with_the_fix() {
        assert_one(
            with_artifact(|a| {
                as_maven(a);
                a.sha256 = Some("a".repeat(64));
            }),
            "pods[hello].artifacts[0].sha256",
            &["maven source", "herd computes"],
        );
        assert_one(
            with_artifact(|a| {
                as_maven(a);
                a.maven = None;
                a.pypi = Some(pypi());
                a.sha512 = Some("a".repeat(128));
            }),
            "pods[hello].artifacts[0].sha512",
            &["pypi source", "set pypi.sha256"],
        );
    }

    #[test]
    fn an_assembled_source_needs_a_name() {
        assert_one(
            with_artifact(|a| {
                as_maven(a);
                a.name = None;
            }),
            "pods[hello].artifacts[0].name",
            &["maven source needs a name", "<name>-<version>/", "set name"],
        );
    }

    #[test]
    fn a_name_that_is_not_a_safe_folder_name_is_named_with_the_fix() {
        for bad in ["", "..", ".hidden", "a/b", "a b", "kafka\n", &"a".repeat(101)] {
            assert_one(
                with_artifact(|a| {
                    as_maven(a);
                    a.name = Some(bad.to_owned());
                }),
                "pods[hello].artifacts[0].name",
                &["name the artifact with letters, digits"],
            );
        }
    }

    #[test]
    fn several_problems_of_one_artifact_are_reported_together() {
        let errors = with_artifact(|a| {
            a.url = Some("ftp://h/a".to_owned());
            a.sha256 = Some("x".to_owned());
            a.name = Some("a/b".to_owned());
        });
        assert_eq!(
            fields(&errors),
            [
                "pods[hello].artifacts[0].url",
                "pods[hello].artifacts[0].sha256",
                "pods[hello].artifacts[0].name"
            ]
        );
    }

    #[test]
    fn an_output_file_outside_the_sandbox_is_named_with_the_fix() {
        for bad in ["/usr/bin/probe", "../probe", "bin/../../probe", ""] {
            let mut spec = base();
            pod(&mut spec, "hello").artifacts[1].output_file = Some(bad.to_owned());
            assert_one(
                check(&spec),
                "pods[hello].artifacts[1].output_file",
                &["set output_file to a file name"],
            );
        }
    }
}

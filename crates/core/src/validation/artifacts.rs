//! A pod type's artifacts: URLs the Mesos fetcher can fetch (`http://`, `https://` or
//! `file://`, with something after the scheme), checksums that are SHA-256 digests in hex,
//! and output files that stay inside the sandbox.

use super::{ValidationError, pod_path, sandbox_path_problem};
use crate::spec::{ArtifactSpec, ServiceSpec};

/// Schemes the fetcher is expected to handle.
const SCHEMES: [&str; 3] = ["http://", "https://", "file://"];

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
    if let Some(problem) = url_problem(&artifact.url) {
        errors.push(ValidationError::new(
            format!("{path}.url"),
            problem,
            "set url to an http://, https:// or file:// URL (e.g. \"https://example.com/app.tar.gz\")",
        ));
    }
    let not_a_digest = |sha: &&String| sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit());
    if let Some(sha) = artifact.sha256.as_ref().filter(not_a_digest) {
        errors.push(ValidationError::new(
            format!("{path}.sha256"),
            format!("{sha:?} is not a SHA-256 digest (64 hex digits)"),
            "set sha256 to the output of `sha256sum FILE` (64 hex digits), or remove it",
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

/// What is wrong with an artifact URL, if anything.
fn url_problem(url: &str) -> Option<String> {
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
    use crate::validation::test_support::{assert_one, base, pod};

    fn with_artifact(change: impl FnOnce(&mut ArtifactSpec)) -> Vec<ValidationError> {
        let mut spec = base();
        change(&mut pod(&mut spec, "hello").artifacts[0]);
        check(&spec)
    }

    #[test]
    fn valid_artifacts_pass() {
        assert_eq!(check(&base()), []);
        for good in ["http://h/a", "https://example.com:8443/x.tgz?sig=1", "file:///opt/a.tar.gz"] {
            assert_eq!(with_artifact(|a| a.url = good.to_owned()), [], "{good}");
        }
        assert_eq!(
            with_artifact(|a| a.sha256 =
                Some("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855".to_owned())),
            []
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
                with_artifact(|a| a.url = bad.to_owned()),
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
                &["64 hex digits", "sha256sum"],
            );
        }
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

//! Finding a package version's source archive (sdist) on a PyPI JSON API and its published
//! SHA-256.
//!
//! The version's own document (`{index}/{package}/{version}/json`) is asked first; when the
//! index does not serve it (404: some mirrors and proxies serve only the project document),
//! the project document (`{index}/{package}/json`) and its `releases` map are used. File URLs
//! may be relative to the document (mirrors rewrite them so): they are resolved against it.

use super::download::Downloader;
use super::error::ArtifactError;
use herd_core::spec::{DEFAULT_PYPI_INDEX, PypiSource};
use serde::Deserialize;
use std::collections::BTreeMap;

/// A file of a release, as the JSON API lists it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ReleaseFile {
    /// File name, e.g. `six-1.16.0.tar.gz`.
    pub(crate) filename: String,
    /// `sdist`, `bdist_wheel`...
    pub(crate) packagetype: String,
    /// Download URL (maybe relative to the document).
    pub(crate) url: String,
    /// Digests PyPI computed.
    #[serde(default)]
    pub(crate) digests: BTreeMap<String, String>,
    /// Whether the file was yanked.
    #[serde(default)]
    pub(crate) yanked: bool,
}

/// `{index}/{package}/{version}/json`.
#[derive(Debug, Deserialize)]
struct VersionDocument {
    urls: Vec<ReleaseFile>,
}

/// `{index}/{package}/json`.
#[derive(Debug, Deserialize)]
struct ProjectDocument {
    #[serde(default)]
    releases: BTreeMap<String, Vec<ReleaseFile>>,
}

/// The sdist to download.
#[derive(Debug, Clone)]
pub(crate) struct Sdist {
    /// Its file name.
    pub(crate) filename: String,
    /// Absolute URL.
    pub(crate) url: String,
    /// Published SHA-256, lowercase.
    pub(crate) sha256: Option<String>,
}

/// The index of a source, without a trailing `/`.
pub(crate) fn index_of(pypi: &PypiSource) -> String {
    pypi.index.as_deref().unwrap_or(DEFAULT_PYPI_INDEX).trim_end_matches('/').to_owned()
}

/// Looks the version's sdist up on the index.
pub(crate) async fn find_sdist(
    http: &Downloader,
    name: &str,
    pypi: &PypiSource,
) -> Result<Sdist, ArtifactError> {
    let index = index_of(pypi);
    let version_url = format!("{index}/{}/{}/json", pypi.package, pypi.version);
    let bad = |url: &str, cause: String| ArtifactError::PypiBadAnswer {
        name: name.to_owned(),
        url: url.to_owned(),
        cause,
    };
    let (files, base) = match http.document(name, &version_url).await? {
        Some(body) => {
            let doc: VersionDocument =
                serde_json::from_slice(&body).map_err(|e| bad(&version_url, e.to_string()))?;
            (doc.urls, version_url)
        }
        None => {
            let project_url = format!("{index}/{}/json", pypi.package);
            let body =
                http.document(name, &project_url).await?.ok_or_else(|| ArtifactError::PypiNoSuchVersion {
                    name: name.to_owned(),
                    package: pypi.package.clone(),
                    version: pypi.version.clone(),
                    index: index.clone(),
                    known: "none: the index does not know the package".to_owned(),
                })?;
            let mut doc: ProjectDocument =
                serde_json::from_slice(&body).map_err(|e| bad(&project_url, e.to_string()))?;
            let Some(files) = doc.releases.remove(&pypi.version) else {
                let known: Vec<&String> = doc.releases.keys().rev().take(10).collect();
                return Err(ArtifactError::PypiNoSuchVersion {
                    name: name.to_owned(),
                    package: pypi.package.clone(),
                    version: pypi.version.clone(),
                    index,
                    known: known.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", "),
                });
            };
            (files, project_url)
        }
    };
    pick_sdist(name, pypi, &index, &base, files)
}

/// The release's sdist (not yanked preferred), with its URL made absolute.
fn pick_sdist(
    name: &str,
    pypi: &PypiSource,
    index: &str,
    base: &str,
    files: Vec<ReleaseFile>,
) -> Result<Sdist, ArtifactError> {
    let listed = files.iter().map(|f| f.filename.as_str()).collect::<Vec<_>>().join(", ");
    let mut sdists: Vec<ReleaseFile> = files.into_iter().filter(|f| f.packagetype == "sdist").collect();
    sdists.sort_by_key(|f| f.yanked);
    let Some(file) = sdists.into_iter().next() else {
        return Err(ArtifactError::PypiNoSdist {
            name: name.to_owned(),
            package: pypi.package.clone(),
            version: pypi.version.clone(),
            index: index.to_owned(),
            files: if listed.is_empty() { "no files".to_owned() } else { listed },
        });
    };
    let url =
        url::Url::parse(base).and_then(|b| b.join(&file.url)).map_err(|e| ArtifactError::PypiBadAnswer {
            name: name.to_owned(),
            url: base.to_owned(),
            cause: format!("the file URL {:?} is not usable: {e}", file.url),
        })?;
    Ok(Sdist {
        filename: file.filename,
        url: url.to_string(),
        sha256: file.digests.get("sha256").map(|d| d.to_ascii_lowercase()),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn source() -> PypiSource {
        PypiSource {
            package: "demo".to_owned(),
            version: "1.0".to_owned(),
            sha256: None,
            index: Some("https://mirror.example/pypi/".to_owned()),
            root: None,
            dirs: Vec::new(),
            files: BTreeMap::new(),
        }
    }

    fn file(filename: &str, packagetype: &str, url: &str) -> ReleaseFile {
        ReleaseFile {
            filename: filename.to_owned(),
            packagetype: packagetype.to_owned(),
            url: url.to_owned(),
            digests: [("sha256".to_owned(), "AB".repeat(32))].into(),
            yanked: false,
        }
    }

    #[test]
    fn the_sdist_is_picked_and_its_relative_url_resolved() {
        let files = vec![
            file("demo-1.0-py3-none-any.whl", "bdist_wheel", "https://files.example/demo.whl"),
            file("demo-1.0.tar.gz", "sdist", "../../packages/ab/demo-1.0.tar.gz"),
        ];
        let base = "https://mirror.example/pypi/demo/json";
        let sdist = pick_sdist("demo", &source(), "https://mirror.example/pypi", base, files).unwrap();
        assert_eq!(sdist.url, "https://mirror.example/packages/ab/demo-1.0.tar.gz");
        assert_eq!(sdist.sha256, Some("ab".repeat(32)));
        assert_eq!(index_of(&source()), "https://mirror.example/pypi");
    }

    #[test]
    fn a_release_without_an_sdist_names_its_files() {
        let files = vec![file("demo-1.0-py3-none-any.whl", "bdist_wheel", "https://files.example/demo.whl")];
        let err =
            pick_sdist("demo", &source(), "https://mirror.example/pypi", "https://m/x", files).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("no source archive (sdist)") && text.contains("demo-1.0-py3-none-any.whl"),
            "{text}"
        );
    }
}

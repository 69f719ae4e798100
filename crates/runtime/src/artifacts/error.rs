//! Why an artifact cannot be resolved. Every message names the artifact and says what to do;
//! whatever failed, nothing was added to the cache.

use std::path::PathBuf;

/// Why an artifact could not be resolved (downloaded, verified, assembled or cached).
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The spec sets no source or several (validation reports this first).
    #[error("artifact `{name}` has no single source ({problem}); set exactly one of url, maven or pypi")]
    InvalidSource {
        /// The artifact.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// The HTTP client could not be set up (TLS roots).
    #[error("cannot set up the HTTP client for artifacts: {reason}")]
    Client {
        /// Why.
        reason: String,
    },
    /// A download failed (after retries, for transient failures).
    #[error(
        "cannot download `{name}` from {url}: {cause}; check the URL and the network (proxies come \
         from HTTP_PROXY, HTTPS_PROXY and NO_PROXY)"
    )]
    Download {
        /// The artifact.
        name: String,
        /// The URL.
        url: String,
        /// What went wrong (status, connection error...).
        cause: String,
    },
    /// The server closed the connection before the whole body arrived (after retries).
    #[error(
        "truncated download of `{name}` from {url}: got {got} of {expected} bytes; retry later, or \
         check the server and any proxy in between"
    )]
    Truncated {
        /// The artifact.
        name: String,
        /// The URL.
        url: String,
        /// Bytes received.
        got: u64,
        /// Bytes announced (Content-Length).
        expected: u64,
    },
    /// The downloaded bytes do not have the expected digest.
    #[error(
        "checksum mismatch for `{name}` ({what}): expected {algorithm} {expected}, got {actual}; \
         nothing was cached. If the new file is the one you want, put its digest in the config; \
         otherwise find out why the file changed"
    )]
    ChecksumMismatch {
        /// The artifact.
        name: String,
        /// What was checked (a URL, or "pinned pypi.sha256 vs the digest PyPI publishes").
        what: String,
        /// `sha256` or `sha512`.
        algorithm: &'static str,
        /// The digest the config (or the index) expects.
        expected: String,
        /// The digest found.
        actual: String,
    },
    /// The file is an archive that cannot be read to the end.
    #[error(
        "corrupt archive `{name}`: {cause}; nothing was cached. Check that the URL serves the archive \
         itself (not an error page) and that its checksum is the one published"
    )]
    CorruptArchive {
        /// The artifact.
        name: String,
        /// What the archive reader said.
        cause: String,
    },
    /// A maven source needs `mvn`, which is not installed.
    #[error(
        "maven source `{name}` needs Maven (`mvn`) on this machine; install it, or pre-fill the cache \
         with `herd artifacts fetch` elsewhere, or use a url source (looked for {looked_for})"
    )]
    MavenMissing {
        /// The artifact.
        name: String,
        /// Where `mvn` was looked for (HERD_MVN or PATH).
        looked_for: String,
    },
    /// `mvn` ran and failed.
    #[error(
        "maven could not assemble `{name}` (dir {dir}, {status}); check the coordinates, the \
         repository and Maven's settings (~/.m2/settings.xml for mirrors and proxies). Maven said:\n{output}"
    )]
    MavenFailed {
        /// The artifact.
        name: String,
        /// The dir being filled.
        dir: String,
        /// How mvn ended.
        status: String,
        /// The tail of its output.
        output: String,
    },
    /// The package has no such version on the index.
    #[error(
        "pypi source `{name}`: {package} has no version {version} at {index}; check the version on the \
         index (known: {known})"
    )]
    PypiNoSuchVersion {
        /// The artifact.
        name: String,
        /// The package.
        package: String,
        /// The version asked for.
        version: String,
        /// The index.
        index: String,
        /// Some versions the index does have.
        known: String,
    },
    /// The version has no source archive.
    #[error(
        "pypi source `{name}`: {package} {version} has no source archive (sdist) at {index}, only {files}; \
         pick a version that publishes an sdist, or use a url source"
    )]
    PypiNoSdist {
        /// The artifact.
        name: String,
        /// The package.
        package: String,
        /// The version.
        version: String,
        /// The index.
        index: String,
        /// The files it has.
        files: String,
    },
    /// The index answered something herd cannot use.
    #[error("pypi source `{name}`: unexpected answer from {url}: {cause}; check pypi.index")]
    PypiBadAnswer {
        /// The artifact.
        name: String,
        /// What was fetched.
        url: String,
        /// What is wrong with it.
        cause: String,
    },
    /// Neither a digest was pinned nor does the index publish one.
    #[error(
        "pypi source `{name}`: {url} has no published sha256 and pypi.sha256 is not set; set \
         pypi.sha256 to the sdist's digest (`sha256sum FILE`)"
    )]
    PypiNoDigest {
        /// The artifact.
        name: String,
        /// The sdist's URL.
        url: String,
    },
    /// `pypi.root` is not a folder of the sdist.
    #[error(
        "pypi source `{name}`: the sdist has no folder {root:?} under its top-level folder (it has: \
         {found}); set pypi.root to one of those, or remove it"
    )]
    PypiRoot {
        /// The artifact.
        name: String,
        /// The root asked for.
        root: String,
        /// What the top-level folder holds.
        found: String,
    },
    /// A path of `dirs` or `files` leaves the distribution (validation reports this first).
    #[error(
        "artifact `{name}`: {path:?} is not a relative path inside the distribution; fix it in the config"
    )]
    UnsafePath {
        /// The artifact.
        name: String,
        /// The path.
        path: String,
    },
    /// A file of the cache (or a work file) could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done (`create`, `write`, `rename`...).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
}

impl ArtifactError {
    /// An [`ArtifactError::Io`] maker for `map_err`.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { action, path, source }
    }
}

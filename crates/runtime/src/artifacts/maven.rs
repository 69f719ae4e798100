//! Filling a distribution's folders with jars from a Maven repository, by Maven itself: for
//! each dir a generated pom lists the coordinates as dependencies (with the dir's exclusions
//! on each), and `mvn dependency:copy-dependencies` copies them, with their runtime
//! dependencies unless `transitive = false`, into the folder.
//!
//! Maven does the resolving (its local repository, mirrors, proxies and credentials from
//! `~/.m2/settings.xml`), so herd agrees with what a Maven user gets. The dependency plugin's
//! version is pinned: an unpinned plugin resolves to whatever is newest.

use super::error::ArtifactError;
use herd_core::spec::{MavenCoordinate, MavenDir};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The dependency plugin goal, pinned.
const COPY_DEPENDENCIES: &str = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies";

/// Lines of Maven's output kept in an error.
const OUTPUT_TAIL_LINES: usize = 40;

/// Escapes text for XML element content.
fn xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The pom whose dependencies are `dir`'s coordinates.
pub(crate) fn pom(name: &str, repository: Option<&str>, dir: &MavenDir) -> Result<String, String> {
    let mut out = String::new();
    let _ = writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        out,
        r#"<project xmlns="http://maven.apache.org/POM/4.0.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 http://maven.apache.org/xsd/maven-4.0.0.xsd">"#
    );
    let _ = writeln!(out, "  <modelVersion>4.0.0</modelVersion>");
    let _ = writeln!(out, "  <groupId>herd.artifacts</groupId>");
    let _ = writeln!(out, "  <artifactId>{}</artifactId>", xml(name));
    let _ = writeln!(out, "  <version>0</version>");
    let _ = writeln!(out, "  <packaging>pom</packaging>");
    if let Some(repository) = repository {
        let _ = writeln!(out, "  <repositories>");
        let _ = writeln!(out, "    <repository><id>herd</id><url>{}</url></repository>", xml(repository));
        let _ = writeln!(out, "  </repositories>");
    }
    let _ = writeln!(out, "  <dependencies>");
    for text in &dir.coordinates {
        let c = MavenCoordinate::parse(text)?;
        let _ = writeln!(out, "    <dependency>");
        let _ = writeln!(out, "      <groupId>{}</groupId>", xml(&c.group));
        let _ = writeln!(out, "      <artifactId>{}</artifactId>", xml(&c.artifact));
        let _ = writeln!(out, "      <version>{}</version>", xml(&c.version));
        if let Some(packaging) = &c.packaging {
            let _ = writeln!(out, "      <type>{}</type>", xml(packaging));
        }
        if let Some(classifier) = &c.classifier {
            let _ = writeln!(out, "      <classifier>{}</classifier>", xml(classifier));
        }
        if !dir.exclude.is_empty() {
            let _ = writeln!(out, "      <exclusions>");
            for exclude in &dir.exclude {
                let (group, artifact) =
                    exclude.split_once(':').ok_or_else(|| format!("{exclude:?} is not group:artifact"))?;
                let _ = writeln!(
                    out,
                    "        <exclusion><groupId>{}</groupId><artifactId>{}</artifactId></exclusion>",
                    xml(group),
                    xml(artifact)
                );
            }
            let _ = writeln!(out, "      </exclusions>");
        }
        let _ = writeln!(out, "    </dependency>");
    }
    let _ = writeln!(out, "  </dependencies>");
    let _ = writeln!(out, "</project>");
    Ok(out)
}

/// The `mvn` to run: `configured` (from HERD_MVN) if set, else the first on PATH.
pub(crate) fn find_mvn(configured: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(path) = configured {
        return if path.is_file() {
            Ok(path.to_owned())
        } else {
            Err(format!("HERD_MVN={}", path.display()))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("mvn"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| "`mvn` on PATH".to_owned())
}

/// The last lines of a process's output.
fn tail(stdout: &[u8], stderr: &[u8]) -> String {
    let text = format!("{}{}", String::from_utf8_lossy(stdout), String::from_utf8_lossy(stderr));
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(OUTPUT_TAIL_LINES);
    lines[start..].join("\n")
}

/// Fills `dist/<dir.path>` for every dir with its jars, writing poms under `work`.
pub(crate) async fn copy_dirs(
    mvn: Option<&Path>,
    name: &str,
    repository: Option<&str>,
    dirs: &[MavenDir],
    dist: &Path,
    work: &Path,
) -> Result<(), ArtifactError> {
    if dirs.is_empty() {
        return Ok(());
    }
    let mvn = find_mvn(mvn)
        .map_err(|looked_for| ArtifactError::MavenMissing { name: name.to_owned(), looked_for })?;
    for (i, dir) in dirs.iter().enumerate() {
        let failed = |status: String, output: String| ArtifactError::MavenFailed {
            name: name.to_owned(),
            dir: dir.path.clone(),
            status,
            output,
        };
        let pom = pom(name, repository, dir).map_err(|problem| failed("not run".to_owned(), problem))?;
        let project = work.join(format!("maven-{i}"));
        tokio::fs::create_dir_all(&project).await.map_err(ArtifactError::io("create", &project))?;
        let pom_path = project.join("pom.xml");
        tokio::fs::write(&pom_path, pom).await.map_err(ArtifactError::io("write", &pom_path))?;
        let output_dir = super::inside(name, dist, &dir.path)?;
        tokio::fs::create_dir_all(&output_dir).await.map_err(ArtifactError::io("create", &output_dir))?;
        let mut command = tokio::process::Command::new(&mvn);
        command
            .current_dir(&project)
            .args(["-B", "-q", "-f"])
            .arg(&pom_path)
            .arg(COPY_DEPENDENCIES)
            .arg("-DincludeScope=runtime")
            .arg(format!("-DoutputDirectory={}", output_dir.display()));
        if !dir.transitive {
            command.arg("-DexcludeTransitive=true");
        }
        command.stdin(std::process::Stdio::null()).kill_on_drop(true);
        tracing::info!(artifact = name, dir = %dir.path, "running {}", mvn.display());
        let output = match command.output().await {
            Ok(output) => output,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ArtifactError::MavenMissing {
                    name: name.to_owned(),
                    looked_for: mvn.display().to_string(),
                });
            }
            Err(e) => return Err(failed("could not start".to_owned(), e.to_string())),
        };
        if !output.status.success() {
            return Err(failed(output.status.to_string(), tail(&output.stdout, &output.stderr)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_pom_lists_each_coordinate_with_every_exclusion() {
        let dir = MavenDir {
            path: "libs".to_owned(),
            coordinates: vec![
                "org.apache.zookeeper:zookeeper:3.9.5".to_owned(),
                "g:a:test-jar:tests:1.0".to_owned(),
            ],
            exclude: vec!["io.netty:*".to_owned(), "org.slf4j:slf4j-api".to_owned()],
            transitive: true,
        };
        let pom = pom("zookeeper", Some("https://repo.example.com/maven2?a=1&b=2"), &dir).unwrap();
        assert!(pom.contains("<url>https://repo.example.com/maven2?a=1&amp;b=2</url>"), "{pom}");
        assert_eq!(pom.matches("<dependency>").count(), 2);
        assert_eq!(pom.matches("<exclusions>").count(), 2);
        assert_eq!(
            pom.matches("<exclusion><groupId>io.netty</groupId><artifactId>*</artifactId></exclusion>")
                .count(),
            2
        );
        assert!(
            pom.contains("<type>test-jar</type>") && pom.contains("<classifier>tests</classifier>"),
            "{pom}"
        );
        assert!(pom.contains("<groupId>org.apache.zookeeper</groupId>\n      <artifactId>zookeeper</artifactId>\n      <version>3.9.5</version>"), "{pom}");
        let no_repo = pom_without_repository();
        assert!(!no_repo.contains("<repositories>"), "{no_repo}");
    }

    fn pom_without_repository() -> String {
        let dir = MavenDir {
            path: "l".to_owned(),
            coordinates: vec!["g:a:1".to_owned()],
            exclude: Vec::new(),
            transitive: false,
        };
        pom("x", None, &dir).unwrap()
    }

    #[test]
    fn a_missing_mvn_is_reported_with_where_it_was_looked_for() {
        let err = find_mvn(Some(Path::new("/nonexistent/mvn"))).unwrap_err();
        assert_eq!(err, "HERD_MVN=/nonexistent/mvn");
    }

    #[test]
    fn the_output_tail_keeps_the_last_lines() {
        let out: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let t = tail(out.as_bytes(), b"[ERROR] boom\n");
        assert!(t.ends_with("[ERROR] boom") && t.starts_with("line 61"), "{t}");
    }
}

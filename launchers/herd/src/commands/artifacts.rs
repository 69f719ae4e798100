//! `herd artifacts fetch <framework> [--config FILE] [--cache-dir DIR] [--output text|json]`:
//! resolves every artifact of a framework's config into the artifact cache (downloading,
//! verifying, assembling `maven` and `pypi` distributions) and prints what each resolved to.
//! Pre-filling the cache this way lets a scheduler start without network, or on a machine
//! without Maven.

use anyhow::{Context, bail};
use herd_core::spec::ArtifactSource;
use herd_runtime::artifacts::{Cache, Progress, Resolved};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Arguments of `herd artifacts`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Subcommand,
}

#[derive(Debug, clap::Subcommand)]
enum Subcommand {
    /// Resolve a framework's artifacts into the cache and print name, version, size and SHA-256.
    Fetch(FetchArgs),
}

/// How results are printed.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Output {
    /// A table.
    Text,
    /// A JSON array.
    Json,
}

#[derive(Debug, clap::Args)]
struct FetchArgs {
    /// The framework: hello.
    framework: String,
    /// Service config (TOML or YAML); default: the framework's documented default.
    #[arg(long, env = "HERD_CONFIG")]
    config: Option<PathBuf>,
    /// The artifact cache (default: $HERD_HOME/artifacts, HERD_HOME defaulting to ~/.herd).
    #[arg(long, env = "HERD_ARTIFACTS_DIR")]
    cache_dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

pub(crate) async fn exec(args: Args) -> anyhow::Result<()> {
    match args.command {
        Subcommand::Fetch(args) => fetch(args).await,
    }
}

async fn fetch(args: FetchArgs) -> anyhow::Result<()> {
    let spec = crate::frameworks::spec(&args.framework, args.config.as_deref())?;
    crate::frameworks::validate(&spec)?;
    let dir = args.cache_dir.unwrap_or_else(|| super::herd_home().join("artifacts"));
    let cache = Cache::open(&dir).with_context(|| format!("opening the artifact cache {}", dir.display()))?;
    let progress = CliProgress::new();
    let mut resolved: Vec<Resolved> = Vec::new();
    let mut failures = Vec::new();
    for pod in &spec.pods {
        for (i, artifact) in pod.artifacts.iter().enumerate() {
            let field = format!("pods[{}].artifacts[{i}]", pod.name);
            if let Some(ArtifactSource::Url { url, sha256: None, sha512: None }) = artifact.source() {
                eprintln!(
                    "skipping `{}` ({field}): {url} has no sha256 or sha512, so agents fetch it directly; \
                     add a checksum to cache it",
                    artifact.display_name()
                );
                continue;
            }
            match cache.resolve(artifact, &progress).await {
                Ok(r) if resolved.iter().any(|seen| seen.sha256 == r.sha256 && seen.name == r.name) => {}
                Ok(r) => resolved.push(r),
                Err(e) => {
                    progress.abandon();
                    failures.push(format!("{field}: {e}"));
                }
            }
        }
    }
    if spec.pods.iter().all(|p| p.artifacts.is_empty()) {
        eprintln!("{} declares no artifacts", spec.name);
    }
    match args.output {
        Output::Text => print_table(&resolved),
        Output::Json => {
            let rows: Vec<serde_json::Value> = resolved
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "name": r.name,
                        "version": r.version,
                        "size": r.size,
                        "sha256": r.sha256,
                        "source": r.source.to_string(),
                        "file_name": r.file_name,
                        "path": r.path.display().to_string(),
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&rows)?);
        }
    }
    if !failures.is_empty() {
        bail!("{} artifact(s) could not be resolved:\n  {}", failures.len(), failures.join("\n  "));
    }
    Ok(())
}

/// Bytes as B, KiB, MiB or GiB with one decimal.
fn human(size: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = size as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{size} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

fn print_table(resolved: &[Resolved]) {
    let rows: Vec<[String; 5]> = resolved
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.version.clone().unwrap_or_else(|| "-".to_owned()),
                human(r.size),
                r.sha256.clone(),
                r.source.to_string(),
            ]
        })
        .collect();
    let header = ["NAME", "VERSION", "SIZE", "SHA256", "SOURCE"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row.iter().zip(widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        println!("{}", cells.join("  ").trim_end());
    }
}

/// Progress on stderr: a bar on a terminal, a line per step otherwise.
struct CliProgress {
    terminal: bool,
    bar: Mutex<Option<indicatif::ProgressBar>>,
    current: Mutex<String>,
    bytes: AtomicU64,
}

impl CliProgress {
    fn new() -> Self {
        Self {
            terminal: std::io::stderr().is_terminal(),
            bar: Mutex::new(None),
            current: Mutex::new(String::new()),
            bytes: AtomicU64::new(0),
        }
    }

    /// Drops a bar left by a failed transfer.
    fn abandon(&self) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bar.abandon();
        }
    }
}

impl Progress for CliProgress {
    fn start(&self, name: &str, total: Option<u64>) {
        self.bytes.store(0, Ordering::Relaxed);
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = name.to_owned();
        if self.terminal {
            let bar = match total {
                Some(total) => indicatif::ProgressBar::new(total).with_style(
                    indicatif::ProgressStyle::with_template(
                        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
                ),
                None => indicatif::ProgressBar::new_spinner(),
            };
            bar.set_message(name.to_owned());
            if let Some(old) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).replace(bar) {
                old.finish_and_clear();
            }
        } else {
            match total {
                Some(total) => eprintln!("fetching {name} ({})", human(total)),
                None => eprintln!("fetching {name}"),
            }
        }
    }

    fn advance(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        if let Some(bar) = &*self.bar.lock().unwrap_or_else(|e| e.into_inner()) {
            bar.inc(bytes);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bar.finish_and_clear();
        }
        if !self.terminal {
            let name = self.current.lock().unwrap_or_else(|e| e.into_inner()).clone();
            eprintln!("fetched {name} ({})", human(self.bytes.load(Ordering::Relaxed)));
        }
    }

    fn step(&self, name: &str, what: &str) {
        eprintln!("{name}: {what}");
    }
}

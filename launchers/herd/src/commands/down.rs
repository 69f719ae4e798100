//! `herd down [STACK] [--purge]`: uninstalls a running stack's services (tasks killed,
//! volumes destroyed, reservations released, frameworks torn down), in reverse dependency
//! order, then stops its `herd up`. `--purge` also removes the stack's local state and the
//! embedded cluster's work dir.

use super::up::{read_record, stack_dir};
use crate::operator::Operator;
use anyhow::{Context, bail};
use std::time::{Duration, Instant};

/// Arguments of `herd down`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The stack's name (default: the only running stack).
    stack: Option<String>,
    /// Also remove the stack's local state, logs and the embedded cluster's work dir.
    #[arg(long)]
    purge: bool,
    /// Seconds to wait for each service's uninstall.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
}

fn running_stacks() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(super::herd_home().join("stacks")) else { return Vec::new() };
    entries
        .flatten()
        .filter(|e| e.path().join("up.json").exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect()
}

pub(crate) async fn exec(args: Args) -> anyhow::Result<()> {
    let name = match args.stack {
        Some(name) => name,
        None => match running_stacks().as_slice() {
            [one] => one.clone(),
            [] => bail!(
                "no stack is up (herd up records running stacks in {})",
                super::herd_home().join("stacks").display()
            ),
            several => bail!("several stacks are up ({}); name one: herd down NAME", several.join(", ")),
        },
    };
    let dir = stack_dir(&name);
    let record = read_record(&dir)
        .with_context(|| format!("stack {name} is not up (no {})", dir.join("up.json").display()))?;
    for service in record.services.iter().rev() {
        let operator = Operator::new(&service.name, service.api.clone())?;
        eprintln!("herd down: uninstalling {}", service.name);
        operator.post("/v1/uninstall", None).await?;
        let deadline = Instant::now() + Duration::from_secs(args.timeout);
        loop {
            let pods = operator.get("/v1/pods").await?;
            let orphans = operator.get("/v1/orphans").await?;
            let pending = orphans["pending"].as_array().map_or(0, Vec::len);
            if pods.as_array().is_some_and(Vec::is_empty) && pending == 0 {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not finish uninstalling within {}s: pods {pods}, releases pending {pending}",
                    service.name,
                    args.timeout
                );
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let _ =
            std::fs::remove_file(super::herd_home().join("services").join(format!("{}.json", service.name)));
    }
    let pid = nix::unistd::Pid::from_raw(i32::try_from(record.pid).unwrap_or(0));
    if nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).is_ok() {
        let deadline = Instant::now() + Duration::from_secs(60);
        while nix::sys::signal::kill(pid, None).is_ok() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let _ = std::fs::remove_file(dir.join("up.json"));
    if args.purge {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        eprintln!("herd down: stack {name} uninstalled and its local state removed");
    } else {
        eprintln!(
            "herd down: stack {name} uninstalled (logs kept in {}; --purge removes them)",
            dir.display()
        );
    }
    Ok(())
}

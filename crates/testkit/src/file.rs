//! The stack file: which services to run together, from which framework and config, after
//! which others, and the local cluster to run them on when no master is given.
//!
//! ```toml
//! name = "demo"
//!
//! [cluster]            # the embedded local cluster (when no master is given)
//! agents = 3
//! cpus = 2.0
//! mem_mb = 4096
//! disk_mb = 20000
//!
//! [[services]]
//! name = "hello"       # the service's name in the stack (its config names the service)
//! framework = "hello"
//! config = "../configs/hello.toml"   # default: the framework's default config
//! depends_on = []
//! ```

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A stack file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackFile {
    /// The stack's name (state and records are kept under it).
    pub name: String,
    /// The embedded cluster, when no master is given.
    #[serde(default)]
    pub cluster: ClusterSection,
    /// The services, in any order (`depends_on` decides the order).
    pub services: Vec<ServiceEntry>,
}

/// The embedded local cluster's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    /// Agents (each on its own 127.0.x.y address).
    #[serde(default = "default_agents")]
    pub agents: usize,
    /// CPUs per agent.
    #[serde(default = "default_cpus")]
    pub cpus: f64,
    /// Memory per agent, MB.
    #[serde(default = "default_mem")]
    pub mem_mb: f64,
    /// Disk per agent, MB.
    #[serde(default = "default_disk")]
    pub disk_mb: f64,
    /// The `x` of the agents' `127.0.x.y` addresses.
    #[serde(default = "default_block")]
    pub agent_ip_block: u8,
    /// Racks: agent `i` gets the attribute `rack:<racks[i % len]>` (none when empty).
    #[serde(default)]
    pub racks: Vec<String>,
}

fn default_agents() -> usize {
    3
}
fn default_cpus() -> f64 {
    4.0
}
fn default_mem() -> f64 {
    8192.0
}
fn default_disk() -> f64 {
    20000.0
}
fn default_block() -> u8 {
    1
}

impl Default for ClusterSection {
    fn default() -> Self {
        Self {
            agents: default_agents(),
            cpus: default_cpus(),
            mem_mb: default_mem(),
            disk_mb: default_disk(),
            agent_ip_block: default_block(),
            racks: Vec::new(),
        }
    }
}

/// One service of a stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceEntry {
    /// Its name in the stack (for `depends_on` and endpoint references).
    pub name: String,
    /// The framework that runs it (`hello`, `kafka`...).
    pub framework: String,
    /// Its config (TOML or YAML), relative to the stack file; default: the framework's.
    #[serde(default)]
    pub config: Option<PathBuf>,
    /// Services that must be deployed first (their endpoints can be used in the config).
    #[serde(default)]
    pub depends_on: Vec<String>,
}

impl StackFile {
    /// Reads a stack file (TOML).
    pub fn load(path: &Path) -> Result<Self, crate::StackError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| crate::StackError::Read { path: path.to_owned(), message: e.to_string() })?;
        Self::parse(&text, path)
    }

    /// Parses a stack file's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self, crate::StackError> {
        toml::from_str(text)
            .map_err(|e| crate::StackError::Parse { path: origin.to_owned(), message: e.to_string() })
    }
}

//! The durable facts about pod instances: identity, where an instance was placed and
//! which reserved resources and volumes are its own.

use herd_mesos_api::{AgentId, Resource};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A pod instance: pod type and index, shown as `<pod>-<index>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InstanceId {
    /// Pod type.
    pub pod: String,
    /// Index, from 0.
    pub index: u32,
}

impl InstanceId {
    /// `pod`-`index`.
    pub fn new(pod: impl Into<String>, index: u32) -> Self {
        Self { pod: pod.into(), index }
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.pod, self.index)
    }
}

/// The reservation label that marks resources as an instance's own.
pub const RESOURCE_ID_LABEL: &str = "resource_id";

/// Label naming the framework that made a reservation: a service only ever releases
/// reservations of its own framework, even when another framework shares its role.
pub const FRAMEWORK_LABEL: &str = "framework_id";

/// Where an instance lives once its resources are reserved: every relaunch uses exactly
/// these resources on this agent, so its volumes (and data) come along.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    /// The agent.
    pub agent_id: AgentId,
    /// The agent's hostname (for constraints and addresses).
    pub hostname: String,
    /// Value of the `resource_id` label on every reserved resource of the instance.
    pub reservation_id: String,
    /// The reserved resources (as reserved: refined format, no allocation info).
    pub reserved: Vec<Resource>,
    /// The persistent volumes (as created).
    pub volumes: Vec<Resource>,
    /// Port name → port number.
    pub ports: BTreeMap<String, u16>,
    /// The agent's attributes when the instance was placed (for attribute constraints
    /// against the other instances, and `{{ attributes.x }}` in templates).
    #[serde(default)]
    pub attributes: Vec<herd_mesos_api::Attribute>,
}

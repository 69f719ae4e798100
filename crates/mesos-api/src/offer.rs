//! Offers and what a framework does with them: `Offer`, `InverseOffer`, `AgentInfo` and the
//! `Offer.Operation`s of an ACCEPT (reserve, create volumes, launch, ...).

use crate::common::{Attribute, DomainInfo, DurationInfo, TimeInfo, Url};
use crate::ids::{AgentId, ExecutorId, FrameworkId, OfferId, OperationId};
use crate::num::Num;
use crate::resources::{AllocationInfo, Resource};
use crate::task::{ExecutorInfo, TaskGroupInfo, TaskInfo};
use serde::{Deserialize, Serialize};
use serde_with::serde_as;

/// `Unavailability`: a maintenance window.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Unavailability {
    /// Start.
    pub start: TimeInfo,
    /// Length (unset = forever).
    pub duration: Option<DurationInfo>,
}

/// `Offer`: resources of one agent, for one role, offered to one framework.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    /// Offer id; usable in exactly one ACCEPT or DECLINE.
    pub id: OfferId,
    /// The framework.
    pub framework_id: FrameworkId,
    /// The agent.
    pub agent_id: AgentId,
    /// Agent host name.
    pub hostname: String,
    /// Agent URL (its HTTP endpoints).
    pub url: Option<Url>,
    /// Agent fault domain.
    pub domain: Option<DomainInfo>,
    /// Offered resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    /// Agent attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    /// This framework's executors running on the agent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub executor_ids: Vec<ExecutorId>,
    /// Scheduled maintenance.
    pub unavailability: Option<Unavailability>,
    /// Role the offer is allocated to (MULTI_ROLE frameworks).
    pub allocation_info: Option<AllocationInfo>,
}

/// `InverseOffer`: the master asks for resources back (maintenance).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InverseOffer {
    /// Id.
    pub id: OfferId,
    /// Agent URL.
    pub url: Option<Url>,
    /// The framework.
    pub framework_id: FrameworkId,
    /// The agent.
    pub agent_id: Option<AgentId>,
    /// When the resources are unavailable.
    pub unavailability: Unavailability,
    /// Affected resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
}

/// `AgentInfo.Capability`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentCapability {
    /// `MULTI_ROLE`, `RESERVATION_REFINEMENT`, ... (kept as text).
    #[serde(rename = "type")]
    pub kind: String,
}

/// `AgentInfo`: how an agent describes itself (executor SUBSCRIBED, operator API).
#[serde_as]
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentInfo {
    /// Host name.
    pub hostname: String,
    /// Port (default 5051).
    #[serde_as(as = "Option<Num>")]
    pub port: Option<i32>,
    /// Total resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    /// Attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    /// Agent id.
    pub id: Option<AgentId>,
    /// Fault domain.
    pub domain: Option<DomainInfo>,
    /// Capabilities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<AgentCapability>,
}

/// `Offer.Operation.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum OperationType {
    Unknown,
    Launch,
    LaunchGroup,
    Reserve,
    Unreserve,
    Create,
    Destroy,
    GrowVolume,
    ShrinkVolume,
    CreateDisk,
    DestroyDisk,
}

/// `Offer.Operation.Launch`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Launch {
    /// Tasks for the command executor or a custom executor.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub task_infos: Vec<TaskInfo>,
}

/// `Offer.Operation.LaunchGroup`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LaunchGroup {
    /// The (default) executor.
    pub executor: ExecutorInfo,
    /// The tasks.
    pub task_group: TaskGroupInfo,
}

/// `Offer.Operation.Reserve` (also `Unreserve`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ReserveResources {
    /// The resources with their new (or old, for unreserve) reservation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    /// Reserve only: the resources before the change (rejected by the scheduler API).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source: Vec<Resource>,
}

/// `Offer.Operation.Create` / `Destroy`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Volumes {
    /// Persistent volumes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Resource>,
}

/// `Offer.Operation.GrowVolume`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrowVolume {
    /// The volume.
    pub volume: Resource,
    /// Disk to add.
    pub addition: Resource,
}

/// `Offer.Operation.ShrinkVolume`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShrinkVolume {
    /// The volume.
    pub volume: Resource,
    /// Amount to remove.
    pub subtract: crate::common::Scalar,
}

/// `Offer.Operation.CreateDisk`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateDisk {
    /// RAW disk.
    pub source: Resource,
    /// `MOUNT` or `BLOCK`.
    pub target_type: String,
    /// Profile.
    pub target_profile: Option<String>,
}

/// `Offer.Operation.DestroyDisk`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DestroyDisk {
    /// The disk.
    pub source: Resource,
}

/// `Offer.Operation`: one step of an ACCEPT. Operations apply in order; each sees the
/// result of the previous ones.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    /// Which payload is set.
    #[serde(rename = "type")]
    pub kind: OperationType,
    /// Requests OPERATION status feedback (not allowed on launches).
    pub id: Option<OperationId>,
    /// LAUNCH.
    pub launch: Option<Launch>,
    /// LAUNCH_GROUP.
    pub launch_group: Option<LaunchGroup>,
    /// RESERVE.
    pub reserve: Option<ReserveResources>,
    /// UNRESERVE.
    pub unreserve: Option<ReserveResources>,
    /// CREATE.
    pub create: Option<Volumes>,
    /// DESTROY.
    pub destroy: Option<Volumes>,
    /// GROW_VOLUME.
    pub grow_volume: Option<GrowVolume>,
    /// SHRINK_VOLUME.
    pub shrink_volume: Option<ShrinkVolume>,
    /// CREATE_DISK.
    pub create_disk: Option<CreateDisk>,
    /// DESTROY_DISK.
    pub destroy_disk: Option<DestroyDisk>,
}

impl Operation {
    fn empty(kind: OperationType) -> Self {
        Self {
            kind,
            id: None,
            launch: None,
            launch_group: None,
            reserve: None,
            unreserve: None,
            create: None,
            destroy: None,
            grow_volume: None,
            shrink_volume: None,
            create_disk: None,
            destroy_disk: None,
        }
    }

    /// LAUNCH of tasks.
    pub fn launch(task_infos: Vec<TaskInfo>) -> Self {
        Self { launch: Some(Launch { task_infos }), ..Self::empty(OperationType::Launch) }
    }

    /// LAUNCH_GROUP of a task group on an executor.
    pub fn launch_group(executor: ExecutorInfo, tasks: Vec<TaskInfo>) -> Self {
        let launch_group = LaunchGroup { executor, task_group: TaskGroupInfo { tasks } };
        Self { launch_group: Some(launch_group), ..Self::empty(OperationType::LaunchGroup) }
    }

    /// RESERVE of resources (each carrying its new reservation).
    pub fn reserve(resources: Vec<Resource>) -> Self {
        let reserve = ReserveResources { resources, source: Vec::new() };
        Self { reserve: Some(reserve), ..Self::empty(OperationType::Reserve) }
    }

    /// UNRESERVE of reserved resources.
    pub fn unreserve(resources: Vec<Resource>) -> Self {
        let unreserve = ReserveResources { resources, source: Vec::new() };
        Self { unreserve: Some(unreserve), ..Self::empty(OperationType::Unreserve) }
    }

    /// CREATE of persistent volumes.
    pub fn create(volumes: Vec<Resource>) -> Self {
        Self { create: Some(Volumes { volumes }), ..Self::empty(OperationType::Create) }
    }

    /// DESTROY of persistent volumes.
    pub fn destroy(volumes: Vec<Resource>) -> Self {
        Self { destroy: Some(Volumes { volumes }), ..Self::empty(OperationType::Destroy) }
    }
}

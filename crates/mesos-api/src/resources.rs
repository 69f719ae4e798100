//! `Resource` and what hangs off it: reservations (legacy and refined), disk info,
//! persistent volumes and disk sources. Arithmetic lives in [`math`].

pub mod math;

use crate::common::{Labels, Ranges, Scalar, Set, ValueType};
use crate::container::Volume;
use crate::ids::ResourceProviderId;
use serde::{Deserialize, Serialize};

pub use math::{ResourceError, Resources};

/// `Resource.AllocationInfo`: the role an offered or allocated resource belongs to.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct AllocationInfo {
    /// The allocation role.
    pub role: Option<String>,
}

impl AllocationInfo {
    /// Allocation to `role`.
    pub fn role(role: impl Into<String>) -> Self {
        Self { role: Some(role.into()) }
    }
}

/// `Resource.ReservationInfo.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum ReservationType {
    Unknown,
    Static,
    Dynamic,
}

/// `Resource.ReservationInfo`: one level of a (possibly refined) reservation.
///
/// In the refined format every field but `labels` is set; in the legacy `reservation`
/// field only `principal` and `labels` are (the role is `Resource.role`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct ReservationInfo {
    /// STATIC or DYNAMIC.
    #[serde(rename = "type")]
    pub kind: Option<ReservationType>,
    /// The role reserved for.
    pub role: Option<String>,
    /// Principal that made the reservation.
    pub principal: Option<String>,
    /// Labels, e.g. identifying the pod instance a reservation belongs to.
    pub labels: Option<Labels>,
}

impl ReservationInfo {
    /// A dynamic reservation for `role` by `principal`.
    pub fn dynamic(role: impl Into<String>, principal: Option<String>, labels: Option<Labels>) -> Self {
        Self { kind: Some(ReservationType::Dynamic), role: Some(role.into()), principal, labels }
    }
}

/// `Resource.DiskInfo.Persistence`: makes a disk resource a persistent volume.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Persistence {
    /// Volume id, unique per role per agent.
    pub id: String,
    /// Principal that created the volume.
    pub principal: Option<String>,
}

/// `Resource.DiskInfo.Source.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum DiskSourceType {
    Unknown,
    Path,
    Mount,
    Block,
    Raw,
}

/// Root folder of a PATH or MOUNT disk.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct DiskRoot {
    /// Absolute path on the agent (or relative to its work dir).
    pub root: Option<String>,
}

/// `Resource.DiskInfo.Source`: where a non-root disk comes from.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct DiskSource {
    /// PATH, MOUNT, BLOCK or RAW.
    #[serde(rename = "type")]
    pub kind: Option<DiskSourceType>,
    /// PATH disk root (may be split).
    pub path: Option<DiskRoot>,
    /// MOUNT disk root (must be consumed whole).
    pub mount: Option<DiskRoot>,
    /// CSI vendor.
    pub vendor: Option<String>,
    /// CSI volume id.
    pub id: Option<String>,
    /// CSI metadata.
    pub metadata: Option<Labels>,
    /// Storage profile.
    pub profile: Option<String>,
}

/// `Resource.DiskInfo`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DiskInfo {
    /// Set for persistent volumes.
    pub persistence: Option<Persistence>,
    /// Where the volume appears in the container.
    pub volume: Option<Volume>,
    /// Non-root disk source.
    pub source: Option<DiskSource>,
}

/// `Resource.RevocableInfo` (empty marker).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct RevocableInfo {}

/// `Resource.SharedInfo` (empty marker).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct SharedInfo {}

/// `Resource`: a named quantity (scalar, ranges or set) with its reservation and disk info.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// Resource provider, for resources not from the agent's defaults.
    pub provider_id: Option<ResourceProviderId>,
    /// `cpus`, `mem`, `disk`, `ports`, `gpus`, ...
    pub name: String,
    /// Which value field is set.
    #[serde(rename = "type")]
    pub kind: ValueType,
    /// Scalar value.
    pub scalar: Option<Scalar>,
    /// Ranges value.
    pub ranges: Option<Ranges>,
    /// Set value.
    pub set: Option<Set>,
    /// Legacy (pre-refinement) role; `*` = unreserved.
    pub role: Option<String>,
    /// Allocation role of offered and allocated resources.
    pub allocation_info: Option<AllocationInfo>,
    /// Legacy dynamic reservation info (with `role`).
    pub reservation: Option<ReservationInfo>,
    /// Refined reservation stack: last = current reservation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reservations: Vec<ReservationInfo>,
    /// Disk details (volumes, sources).
    pub disk: Option<DiskInfo>,
    /// Marks revocable resources.
    pub revocable: Option<RevocableInfo>,
    /// Marks shared resources.
    pub shared: Option<SharedInfo>,
}

impl Resource {
    fn empty(name: impl Into<String>, kind: ValueType) -> Self {
        Self {
            provider_id: None,
            name: name.into(),
            kind,
            scalar: None,
            ranges: None,
            set: None,
            role: None,
            allocation_info: None,
            reservation: None,
            reservations: Vec::new(),
            disk: None,
            revocable: None,
            shared: None,
        }
    }

    /// An unreserved scalar resource.
    pub fn scalar(name: impl Into<String>, value: f64) -> Self {
        Self { scalar: Some(Scalar { value }), ..Self::empty(name, ValueType::Scalar) }
    }

    /// An unreserved ranges resource from inclusive `(begin, end)` pairs.
    pub fn ranges(name: impl Into<String>, ranges: impl IntoIterator<Item = (u64, u64)>) -> Self {
        let range = ranges.into_iter().map(|(begin, end)| crate::common::Range { begin, end }).collect();
        Self { ranges: Some(Ranges { range }), ..Self::empty(name, ValueType::Ranges) }
    }

    /// An unreserved set resource.
    pub fn set(name: impl Into<String>, items: impl IntoIterator<Item = impl Into<String>>) -> Self {
        let item = items.into_iter().map(Into::into).collect();
        Self { set: Some(Set { item }), ..Self::empty(name, ValueType::Set) }
    }

    /// This resource with `reservation` pushed on its refined reservation stack.
    pub fn reserved(mut self, reservation: ReservationInfo) -> Self {
        self.reservations.push(reservation);
        self
    }

    /// This resource allocated to `role`.
    pub fn allocated_to(mut self, role: impl Into<String>) -> Self {
        self.allocation_info = Some(AllocationInfo::role(role));
        self
    }

    /// The scalar value, if a scalar.
    pub fn scalar_value(&self) -> Option<f64> {
        self.scalar.map(|s| s.value)
    }

    /// The current reservation in refined form (the top of the stack, or the legacy
    /// `role` + `reservation` upgraded), `None` if unreserved.
    pub fn current_reservation(&self) -> Option<ReservationInfo> {
        if let Some(top) = self.reservations.last() {
            return Some(top.clone());
        }
        match self.role.as_deref() {
            None | Some("*") => None,
            Some(role) => Some(match &self.reservation {
                Some(r) => ReservationInfo {
                    kind: Some(ReservationType::Dynamic),
                    role: Some(role.to_owned()),
                    principal: r.principal.clone(),
                    labels: r.labels.clone(),
                },
                None => ReservationInfo {
                    kind: Some(ReservationType::Static),
                    role: Some(role.to_owned()),
                    principal: None,
                    labels: None,
                },
            }),
        }
    }

    /// The role this resource is reserved for, `None` if unreserved.
    pub fn reservation_role(&self) -> Option<String> {
        self.current_reservation().and_then(|r| r.role)
    }

    /// Whether the resource carries no reservation.
    pub fn is_unreserved(&self) -> bool {
        self.current_reservation().is_none()
    }

    /// Whether this is a persistent volume.
    pub fn is_persistent_volume(&self) -> bool {
        self.disk.as_ref().is_some_and(|d| d.persistence.is_some())
    }

    /// The disk a persistent volume was created on: the same resource without its
    /// persistence and volume (what CREATE consumed and DESTROY gives back).
    pub fn without_volume(&self) -> Self {
        let mut plain = self.clone();
        if let Some(d) = plain.disk.as_mut() {
            d.persistence = None;
            d.volume = None;
        }
        if plain.disk.as_ref().is_some_and(|d| d.source.is_none()) {
            plain.disk = None;
        }
        plain
    }

    /// The same resource in the refined reservation format (legacy `role`/`reservation`
    /// folded into `reservations`), as the master stores it internally.
    pub fn upgraded(&self) -> Self {
        let mut out = self.clone();
        if out.reservations.is_empty()
            && let Some(r) = self.current_reservation()
        {
            out.reservations.push(r);
        }
        out.role = None;
        out.reservation = None;
        out
    }
}

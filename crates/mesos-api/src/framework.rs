//! `FrameworkInfo` and the per-role offer filters and constraints a framework subscribes with.

use crate::common::{Labels, Scalar};
use crate::ids::FrameworkId;
use crate::num::Num;
use serde::{Deserialize, Serialize};
use serde_with::serde_as;
use std::collections::BTreeMap;

/// `FrameworkInfo.Capability.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum FrameworkCapabilityType {
    Unknown,
    RevocableResources,
    TaskKillingState,
    GpuResources,
    SharedResources,
    PartitionAware,
    MultiRole,
    ReservationRefinement,
    RegionAware,
}

/// `FrameworkInfo.Capability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FrameworkCapability {
    /// The capability.
    #[serde(rename = "type")]
    pub kind: FrameworkCapabilityType,
}

/// `Value.Scalar` quantities by resource name.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ResourceQuantities {
    /// Name → quantity.
    #[serde(default)]
    pub quantities: BTreeMap<String, Scalar>,
}

/// `OfferFilters.MinAllocatableResources`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MinAllocatableResources {
    /// Alternatives: an offer must satisfy at least one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quantities: Vec<ResourceQuantities>,
}

/// `OfferFilters`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OfferFilters {
    /// Minimum resources worth offering.
    pub min_allocatable_resources: Option<MinAllocatableResources>,
}

/// `FrameworkInfo`.
#[serde_as]
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FrameworkInfo {
    /// Unix user tasks run as by default (required).
    pub user: String,
    /// Name (required).
    pub name: String,
    /// Set when re-subscribing.
    pub id: Option<FrameworkId>,
    /// Seconds the master keeps the framework's tasks after it disconnects (default 0).
    #[serde_as(as = "Option<Num>")]
    pub failover_timeout: Option<f64>,
    /// Whether agents checkpoint the framework's tasks.
    pub checkpoint: Option<bool>,
    /// Deprecated single role (without MULTI_ROLE).
    pub role: Option<String>,
    /// Hostname.
    pub hostname: Option<String>,
    /// Principal (reservations and volumes carry it).
    pub principal: Option<String>,
    /// Web UI.
    pub webui_url: Option<String>,
    /// Capabilities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<FrameworkCapability>,
    /// Labels.
    pub labels: Option<Labels>,
    /// Roles (with MULTI_ROLE).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Per-role offer filters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub offer_filters: BTreeMap<String, OfferFilters>,
}

impl FrameworkInfo {
    /// Whether the framework declares `capability`.
    pub fn has_capability(&self, capability: FrameworkCapabilityType) -> bool {
        self.capabilities.iter().any(|c| c.kind == capability)
    }
}

/// `OfferConstraints.AttributeConstraint.Selector.PseudoattributeType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum PseudoattributeType {
    Unknown,
    Hostname,
    Region,
    Zone,
}

/// `AttributeConstraint.Selector`: which attribute a constraint looks at.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Selector {
    /// A pseudo-attribute.
    pub pseudoattribute_type: Option<PseudoattributeType>,
    /// A named agent attribute.
    pub attribute_name: Option<String>,
}

/// A text argument of a predicate.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TextValue {
    /// The text.
    pub value: String,
}

/// A regex argument of a predicate.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TextRegex {
    /// RE2 regex.
    pub regex: String,
}

/// An empty predicate argument.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Empty {}

/// `AttributeConstraint.Predicate` (exactly one field set).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Predicate {
    /// Attribute exists.
    pub exists: Option<Empty>,
    /// Attribute does not exist.
    pub not_exists: Option<Empty>,
    /// Text equals.
    pub text_equals: Option<TextValue>,
    /// Text differs.
    pub text_not_equals: Option<TextValue>,
    /// Text matches.
    pub text_matches: Option<TextRegex>,
    /// Text does not match.
    pub text_not_matches: Option<TextRegex>,
}

/// `OfferConstraints.AttributeConstraint`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AttributeConstraint {
    /// What to look at.
    pub selector: Selector,
    /// What must hold.
    pub predicate: Predicate,
}

/// `OfferConstraints.RoleConstraints.Group`: all constraints must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ConstraintGroup {
    /// Constraints, ANDed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attribute_constraints: Vec<AttributeConstraint>,
}

/// `OfferConstraints.RoleConstraints`: at least one group must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RoleConstraints {
    /// Groups, ORed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<ConstraintGroup>,
}

/// `OfferConstraints`: which agents a framework wants offers from, per role.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OfferConstraints {
    /// Role → constraints.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub role_constraints: BTreeMap<String, RoleConstraints>,
}

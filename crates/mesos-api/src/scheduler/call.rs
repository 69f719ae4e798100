//! Scheduler calls.

use crate::common::Filters;
use crate::framework::{FrameworkInfo, OfferConstraints};
use crate::ids::{AgentId, ExecutorId, FrameworkId, OfferId, OperationId, ResourceProviderId, TaskId};
use crate::offer::Operation;
use crate::resources::Resource;
use crate::task::KillPolicy;
use serde::{Deserialize, Serialize};
use serde_with::base64::Base64;
use serde_with::serde_as;

/// `Call.Subscribe` (also the payload of `Call.UpdateFramework`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Subscribe {
    /// The framework; `id` set when re-subscribing.
    pub framework_info: FrameworkInfo,
    /// Roles that start suppressed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed_roles: Vec<String>,
    /// Per-role agent constraints.
    pub offer_constraints: Option<OfferConstraints>,
}

/// `Call.Accept`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Accept {
    /// Offers (all of one agent and role).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offer_ids: Vec<OfferId>,
    /// Operations, applied in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<Operation>,
    /// Filter for the unused remainder.
    pub filters: Option<Filters>,
}

/// `Call.Decline`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Decline {
    /// Offers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offer_ids: Vec<OfferId>,
    /// How long not to re-offer.
    pub filters: Option<Filters>,
}

/// `Call.AcceptInverseOffers` / `Call.DeclineInverseOffers`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct InverseOffersReply {
    /// Inverse offers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inverse_offer_ids: Vec<OfferId>,
    /// Filters.
    pub filters: Option<Filters>,
}

/// `Call.Revive` / `Call.Suppress`: empty roles = all roles.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Roles {
    /// Roles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

/// `Call.Kill`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Kill {
    /// The task.
    pub task_id: TaskId,
    /// Its agent, if known.
    pub agent_id: Option<AgentId>,
    /// Override of the task's kill policy.
    pub kill_policy: Option<KillPolicy>,
}

/// `Call.Shutdown`: stop an executor.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Shutdown {
    /// Executor.
    pub executor_id: ExecutorId,
    /// Agent.
    pub agent_id: AgentId,
}

/// `Call.Acknowledge`: acknowledges a status update that carried a `uuid`.
#[serde_as]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Acknowledge {
    /// Agent.
    pub agent_id: AgentId,
    /// Task.
    pub task_id: TaskId,
    /// The update's uuid (16 bytes).
    #[serde_as(as = "Base64")]
    pub uuid: Vec<u8>,
}

/// `Call.AcknowledgeOperationStatus`.
#[serde_as]
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AcknowledgeOperationStatus {
    /// Agent.
    pub agent_id: Option<AgentId>,
    /// Resource provider.
    pub resource_provider_id: Option<ResourceProviderId>,
    /// The update's uuid (16 bytes).
    #[serde_as(as = "Base64")]
    pub uuid: Vec<u8>,
    /// Operation.
    pub operation_id: OperationId,
}

/// One task in `Call.Reconcile`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReconcileTask {
    /// Task.
    pub task_id: TaskId,
    /// Agent, if known.
    pub agent_id: Option<AgentId>,
}

/// `Call.Reconcile`: empty = implicit (all tasks the master knows).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Reconcile {
    /// Tasks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<ReconcileTask>,
}

/// One operation in `Call.ReconcileOperations`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReconcileOperation {
    /// Operation.
    pub operation_id: OperationId,
    /// Agent.
    pub agent_id: Option<AgentId>,
    /// Resource provider.
    pub resource_provider_id: Option<ResourceProviderId>,
}

/// `Call.ReconcileOperations`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReconcileOperations {
    /// Operations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<ReconcileOperation>,
}

/// `Call.Message`: data for an executor (unreliable).
#[serde_as]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Message {
    /// Agent.
    pub agent_id: AgentId,
    /// Executor.
    pub executor_id: ExecutorId,
    /// Data.
    #[serde_as(as = "Base64")]
    pub data: Vec<u8>,
}

/// `Request`: a resource request (ignored by the built-in allocator).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ResourceRequest {
    /// Agent.
    pub agent_id: Option<AgentId>,
    /// Resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
}

/// `Call.Request`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Request {
    /// Requests.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<ResourceRequest>,
}

/// `Call.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum CallType {
    Unknown,
    Subscribe,
    Teardown,
    Accept,
    Decline,
    AcceptInverseOffers,
    DeclineInverseOffers,
    Revive,
    Kill,
    Shutdown,
    Acknowledge,
    AcknowledgeOperationStatus,
    Reconcile,
    ReconcileOperations,
    Message,
    Request,
    Suppress,
    UpdateFramework,
}

impl CallType {
    /// The proto name, e.g. `ACCEPT`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unknown => "UNKNOWN",
            Self::Subscribe => "SUBSCRIBE",
            Self::Teardown => "TEARDOWN",
            Self::Accept => "ACCEPT",
            Self::Decline => "DECLINE",
            Self::AcceptInverseOffers => "ACCEPT_INVERSE_OFFERS",
            Self::DeclineInverseOffers => "DECLINE_INVERSE_OFFERS",
            Self::Revive => "REVIVE",
            Self::Kill => "KILL",
            Self::Shutdown => "SHUTDOWN",
            Self::Acknowledge => "ACKNOWLEDGE",
            Self::AcknowledgeOperationStatus => "ACKNOWLEDGE_OPERATION_STATUS",
            Self::Reconcile => "RECONCILE",
            Self::ReconcileOperations => "RECONCILE_OPERATIONS",
            Self::Message => "MESSAGE",
            Self::Request => "REQUEST",
            Self::Suppress => "SUPPRESS",
            Self::UpdateFramework => "UPDATE_FRAMEWORK",
        }
    }
}

/// `mesos.v1.scheduler.Call` as it travels: `type` plus one payload.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CallEnvelope {
    /// The framework (required on every call but SUBSCRIBE).
    pub framework_id: Option<FrameworkId>,
    /// Which payload is set.
    #[serde(rename = "type")]
    pub kind: Option<CallType>,
    /// SUBSCRIBE.
    pub subscribe: Option<Subscribe>,
    /// ACCEPT.
    pub accept: Option<Accept>,
    /// DECLINE.
    pub decline: Option<Decline>,
    /// ACCEPT_INVERSE_OFFERS.
    pub accept_inverse_offers: Option<InverseOffersReply>,
    /// DECLINE_INVERSE_OFFERS.
    pub decline_inverse_offers: Option<InverseOffersReply>,
    /// REVIVE.
    pub revive: Option<Roles>,
    /// KILL.
    pub kill: Option<Kill>,
    /// SHUTDOWN.
    pub shutdown: Option<Shutdown>,
    /// ACKNOWLEDGE.
    pub acknowledge: Option<Acknowledge>,
    /// ACKNOWLEDGE_OPERATION_STATUS.
    pub acknowledge_operation_status: Option<AcknowledgeOperationStatus>,
    /// RECONCILE.
    pub reconcile: Option<Reconcile>,
    /// RECONCILE_OPERATIONS.
    pub reconcile_operations: Option<ReconcileOperations>,
    /// MESSAGE.
    pub message: Option<Message>,
    /// REQUEST.
    pub request: Option<Request>,
    /// SUPPRESS.
    pub suppress: Option<Roles>,
    /// UPDATE_FRAMEWORK.
    pub update_framework: Option<Subscribe>,
}

/// A scheduler call, one variant per call type.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum Call {
    Subscribe(Subscribe),
    Teardown,
    Accept(Accept),
    Decline(Decline),
    AcceptInverseOffers(InverseOffersReply),
    DeclineInverseOffers(InverseOffersReply),
    Revive(Roles),
    Kill(Kill),
    Shutdown(Shutdown),
    Acknowledge(Acknowledge),
    AcknowledgeOperationStatus(AcknowledgeOperationStatus),
    Reconcile(Reconcile),
    ReconcileOperations(ReconcileOperations),
    Message(Message),
    Request(Request),
    Suppress(Roles),
    UpdateFramework(Subscribe),
}

/// Why a [`CallEnvelope`] is not a valid call; messages are the ones Mesos answers with
/// (after `Failed to validate scheduler::Call: `).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No (or an unknown) `type`.
    #[error("Expecting 'type' to be present")]
    MissingType,
    /// `type` set to UNKNOWN.
    #[error("Received a call of type UNKNOWN")]
    UnknownType,
    /// The payload for the type is missing.
    #[error("Expecting '{0}' to be present")]
    MissingPayload(&'static str),
    /// A non-SUBSCRIBE call without `framework_id`.
    #[error("Expecting 'framework_id' to be present")]
    MissingFrameworkId,
    /// SUBSCRIBE whose top-level and framework_info ids differ.
    #[error("'framework_id' differs from 'subscribe.framework_info.id'")]
    FrameworkIdMismatch,
}

impl Call {
    /// The call's type.
    pub fn kind(&self) -> CallType {
        match self {
            Self::Subscribe(_) => CallType::Subscribe,
            Self::Teardown => CallType::Teardown,
            Self::Accept(_) => CallType::Accept,
            Self::Decline(_) => CallType::Decline,
            Self::AcceptInverseOffers(_) => CallType::AcceptInverseOffers,
            Self::DeclineInverseOffers(_) => CallType::DeclineInverseOffers,
            Self::Revive(_) => CallType::Revive,
            Self::Kill(_) => CallType::Kill,
            Self::Shutdown(_) => CallType::Shutdown,
            Self::Acknowledge(_) => CallType::Acknowledge,
            Self::AcknowledgeOperationStatus(_) => CallType::AcknowledgeOperationStatus,
            Self::Reconcile(_) => CallType::Reconcile,
            Self::ReconcileOperations(_) => CallType::ReconcileOperations,
            Self::Message(_) => CallType::Message,
            Self::Request(_) => CallType::Request,
            Self::Suppress(_) => CallType::Suppress,
            Self::UpdateFramework(_) => CallType::UpdateFramework,
        }
    }

    /// The wire form, addressed from `framework_id`.
    pub fn into_envelope(self, framework_id: Option<FrameworkId>) -> CallEnvelope {
        let mut env = CallEnvelope { framework_id, kind: Some(self.kind()), ..CallEnvelope::default() };
        match self {
            Self::Subscribe(p) => env.subscribe = Some(p),
            Self::Teardown => {}
            Self::Accept(p) => env.accept = Some(p),
            Self::Decline(p) => env.decline = Some(p),
            Self::AcceptInverseOffers(p) => env.accept_inverse_offers = Some(p),
            Self::DeclineInverseOffers(p) => env.decline_inverse_offers = Some(p),
            Self::Revive(p) => env.revive = Some(p),
            Self::Kill(p) => env.kill = Some(p),
            Self::Shutdown(p) => env.shutdown = Some(p),
            Self::Acknowledge(p) => env.acknowledge = Some(p),
            Self::AcknowledgeOperationStatus(p) => env.acknowledge_operation_status = Some(p),
            Self::Reconcile(p) => env.reconcile = Some(p),
            Self::ReconcileOperations(p) => env.reconcile_operations = Some(p),
            Self::Message(p) => env.message = Some(p),
            Self::Request(p) => env.request = Some(p),
            Self::Suppress(p) => env.suppress = Some(p),
            Self::UpdateFramework(p) => env.update_framework = Some(p),
        }
        env
    }
}

fn need<T>(payload: Option<T>, name: &'static str) -> Result<T, CallError> {
    payload.ok_or(CallError::MissingPayload(name))
}

impl CallEnvelope {
    /// Validates the envelope the way the master does (type present, payload present,
    /// framework id present and consistent) and returns the typed call.
    pub fn into_call(self) -> Result<(Option<FrameworkId>, Call), CallError> {
        let kind = self.kind.ok_or(CallError::MissingType)?;
        if kind == CallType::Subscribe {
            let subscribe = need(self.subscribe, "subscribe")?;
            if let Some(id) = &self.framework_id
                && subscribe.framework_info.id.as_ref() != Some(id)
            {
                return Err(CallError::FrameworkIdMismatch);
            }
            return Ok((self.framework_id, Call::Subscribe(subscribe)));
        }
        if kind == CallType::Unknown {
            return Err(CallError::UnknownType);
        }
        let framework_id = self.framework_id.ok_or(CallError::MissingFrameworkId)?;
        let call = match kind {
            CallType::Unknown | CallType::Subscribe => return Err(CallError::UnknownType),
            CallType::Teardown => Call::Teardown,
            CallType::Accept => Call::Accept(need(self.accept, "accept")?),
            CallType::Decline => Call::Decline(need(self.decline, "decline")?),
            CallType::AcceptInverseOffers => {
                Call::AcceptInverseOffers(need(self.accept_inverse_offers, "accept_inverse_offers")?)
            }
            CallType::DeclineInverseOffers => {
                Call::DeclineInverseOffers(need(self.decline_inverse_offers, "decline_inverse_offers")?)
            }
            CallType::Revive => Call::Revive(self.revive.unwrap_or_default()),
            CallType::Kill => Call::Kill(need(self.kill, "kill")?),
            CallType::Shutdown => Call::Shutdown(need(self.shutdown, "shutdown")?),
            CallType::Acknowledge => Call::Acknowledge(need(self.acknowledge, "acknowledge")?),
            CallType::AcknowledgeOperationStatus => Call::AcknowledgeOperationStatus(need(
                self.acknowledge_operation_status,
                "acknowledge_operation_status",
            )?),
            CallType::Reconcile => Call::Reconcile(need(self.reconcile, "reconcile")?),
            CallType::ReconcileOperations => {
                Call::ReconcileOperations(need(self.reconcile_operations, "reconcile_operations")?)
            }
            CallType::Message => Call::Message(need(self.message, "message")?),
            CallType::Request => Call::Request(need(self.request, "request")?),
            CallType::Suppress => Call::Suppress(self.suppress.unwrap_or_default()),
            CallType::UpdateFramework => {
                Call::UpdateFramework(need(self.update_framework, "update_framework")?)
            }
        };
        Ok((Some(framework_id), call))
    }
}

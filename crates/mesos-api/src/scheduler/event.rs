//! Scheduler events.

use crate::common::MasterInfo;
use crate::ids::{AgentId, ExecutorId, FrameworkId, OfferId};
use crate::num::Num;
use crate::offer::{InverseOffer, Offer};
use crate::status::{OperationStatus, TaskStatus};
use serde::{Deserialize, Serialize, Serializer};
use serde_with::base64::Base64;
use serde_with::serde_as;

/// `Event.Subscribed`.
#[serde_as]
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscribed {
    /// The framework's id (new, or the one re-subscribed with).
    pub framework_id: FrameworkId,
    /// Seconds between heartbeats (15 on a real master).
    #[serde_as(as = "Option<Num>")]
    pub heartbeat_interval_seconds: Option<f64>,
    /// The master.
    pub master_info: Option<MasterInfo>,
}

/// `Event.Offers`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Offers {
    /// Offers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offers: Vec<Offer>,
}

/// `Event.InverseOffers`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct InverseOffers {
    /// Inverse offers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inverse_offers: Vec<InverseOffer>,
}

/// `Event.Rescind`: the offer is no longer valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rescind {
    /// Offer.
    pub offer_id: OfferId,
}

/// `Event.RescindInverseOffer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RescindInverseOffer {
    /// Inverse offer.
    pub inverse_offer_id: OfferId,
}

/// `Event.Update`: a task status update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Update {
    /// The status.
    pub status: TaskStatus,
}

/// `Event.UpdateOperationStatus`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateOperationStatus {
    /// The status.
    pub status: OperationStatus,
}

/// `Event.Message`: data from an executor.
#[serde_as]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutorMessage {
    /// Agent.
    pub agent_id: AgentId,
    /// Executor.
    pub executor_id: ExecutorId,
    /// Data.
    #[serde_as(as = "Base64")]
    pub data: Vec<u8>,
}

/// `Event.Failure`: an agent was removed, or (with `executor_id`) an executor exited.
#[serde_as]
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Failure {
    /// Agent.
    pub agent_id: Option<AgentId>,
    /// Executor that exited.
    pub executor_id: Option<ExecutorId>,
    /// Raw `waitpid` status of the executor.
    #[serde_as(as = "Option<Num>")]
    pub status: Option<i32>,
}

/// `Event.Error`: fatal for the subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEvent {
    /// What went wrong.
    pub message: String,
}

/// `Event.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum EventType {
    Unknown,
    Subscribed,
    Offers,
    InverseOffers,
    Rescind,
    RescindInverseOffer,
    Update,
    UpdateOperationStatus,
    Message,
    Failure,
    Error,
    Heartbeat,
}

impl EventType {
    /// The proto name, e.g. `OFFERS`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unknown => "UNKNOWN",
            Self::Subscribed => "SUBSCRIBED",
            Self::Offers => "OFFERS",
            Self::InverseOffers => "INVERSE_OFFERS",
            Self::Rescind => "RESCIND",
            Self::RescindInverseOffer => "RESCIND_INVERSE_OFFER",
            Self::Update => "UPDATE",
            Self::UpdateOperationStatus => "UPDATE_OPERATION_STATUS",
            Self::Message => "MESSAGE",
            Self::Failure => "FAILURE",
            Self::Error => "ERROR",
            Self::Heartbeat => "HEARTBEAT",
        }
    }
}

/// `mesos.v1.scheduler.Event` as it travels: `type` plus one payload.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    /// Which payload is set.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// SUBSCRIBED.
    pub subscribed: Option<Subscribed>,
    /// OFFERS.
    pub offers: Option<Offers>,
    /// INVERSE_OFFERS.
    pub inverse_offers: Option<InverseOffers>,
    /// RESCIND.
    pub rescind: Option<Rescind>,
    /// RESCIND_INVERSE_OFFER.
    pub rescind_inverse_offer: Option<RescindInverseOffer>,
    /// UPDATE.
    pub update: Option<Update>,
    /// UPDATE_OPERATION_STATUS.
    pub update_operation_status: Option<UpdateOperationStatus>,
    /// MESSAGE.
    pub message: Option<ExecutorMessage>,
    /// FAILURE.
    pub failure: Option<Failure>,
    /// ERROR.
    pub error: Option<ErrorEvent>,
}

/// A scheduler event, one variant per event type.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "EventEnvelope")]
#[allow(missing_docs)]
pub enum Event {
    Subscribed(Subscribed),
    Offers(Offers),
    InverseOffers(InverseOffers),
    Rescind(Rescind),
    RescindInverseOffer(RescindInverseOffer),
    Update(Update),
    UpdateOperationStatus(UpdateOperationStatus),
    Message(ExecutorMessage),
    Failure(Failure),
    Error(ErrorEvent),
    Heartbeat,
}

/// Why bytes are not a valid event.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// Not JSON, or JSON that does not fit the Event message.
    #[error("malformed event JSON: {source} (event starts with {preview:?})")]
    Json {
        /// The parser's error.
        #[source]
        source: serde_json::Error,
        /// The first bytes of the event, for the log.
        preview: String,
    },
    /// A `type` this client does not know (a newer master?).
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    /// The payload for the type is missing.
    #[error("event {event} has no '{field}' payload")]
    MissingPayload {
        /// Event type.
        event: &'static str,
        /// The missing field.
        field: &'static str,
    },
}

impl Event {
    /// The event's type.
    pub fn kind(&self) -> EventType {
        match self {
            Self::Subscribed(_) => EventType::Subscribed,
            Self::Offers(_) => EventType::Offers,
            Self::InverseOffers(_) => EventType::InverseOffers,
            Self::Rescind(_) => EventType::Rescind,
            Self::RescindInverseOffer(_) => EventType::RescindInverseOffer,
            Self::Update(_) => EventType::Update,
            Self::UpdateOperationStatus(_) => EventType::UpdateOperationStatus,
            Self::Message(_) => EventType::Message,
            Self::Failure(_) => EventType::Failure,
            Self::Error(_) => EventType::Error,
            Self::Heartbeat => EventType::Heartbeat,
        }
    }

    /// Parses one event from JSON: the single choke point for events from the wire.
    pub fn from_json(bytes: &[u8]) -> Result<Self, EventError> {
        match serde_json::from_slice::<EventEnvelope>(bytes) {
            Ok(envelope) => Self::try_from(envelope),
            Err(source) => {
                // Tell an unknown type apart from a malformed event.
                #[derive(Deserialize)]
                struct TypeOnly {
                    #[serde(rename = "type")]
                    kind: String,
                }
                if let Ok(t) = serde_json::from_slice::<TypeOnly>(bytes)
                    && serde_json::from_value::<EventType>(serde_json::Value::String(t.kind.clone())).is_err()
                {
                    return Err(EventError::UnknownType(t.kind));
                }
                let preview = String::from_utf8_lossy(&bytes[..bytes.len().min(120)]).into_owned();
                Err(EventError::Json { source, preview })
            }
        }
    }

    /// Compact JSON, as a Mesos master writes it.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain data to a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

fn payload<T>(p: Option<T>, event: &'static str, field: &'static str) -> Result<T, EventError> {
    p.ok_or(EventError::MissingPayload { event, field })
}

impl TryFrom<EventEnvelope> for Event {
    type Error = EventError;

    fn try_from(e: EventEnvelope) -> Result<Self, EventError> {
        let name = e.kind.name();
        Ok(match e.kind {
            EventType::Unknown => return Err(EventError::UnknownType(name.to_owned())),
            EventType::Subscribed => Self::Subscribed(payload(e.subscribed, name, "subscribed")?),
            EventType::Offers => Self::Offers(payload(e.offers, name, "offers")?),
            EventType::InverseOffers => {
                Self::InverseOffers(payload(e.inverse_offers, name, "inverse_offers")?)
            }
            EventType::Rescind => Self::Rescind(payload(e.rescind, name, "rescind")?),
            EventType::RescindInverseOffer => {
                Self::RescindInverseOffer(payload(e.rescind_inverse_offer, name, "rescind_inverse_offer")?)
            }
            EventType::Update => Self::Update(payload(e.update, name, "update")?),
            EventType::UpdateOperationStatus => Self::UpdateOperationStatus(payload(
                e.update_operation_status,
                name,
                "update_operation_status",
            )?),
            EventType::Message => Self::Message(payload(e.message, name, "message")?),
            EventType::Failure => Self::Failure(payload(e.failure, name, "failure")?),
            EventType::Error => Self::Error(payload(e.error, name, "error")?),
            EventType::Heartbeat => Self::Heartbeat,
        })
    }
}

/// The envelope of an [`Event`] by reference, for serialising without copying.
#[serde_with::skip_serializing_none]
#[derive(Serialize)]
struct EnvelopeRef<'a> {
    #[serde(rename = "type")]
    kind: EventType,
    subscribed: Option<&'a Subscribed>,
    offers: Option<&'a Offers>,
    inverse_offers: Option<&'a InverseOffers>,
    rescind: Option<&'a Rescind>,
    rescind_inverse_offer: Option<&'a RescindInverseOffer>,
    update: Option<&'a Update>,
    update_operation_status: Option<&'a UpdateOperationStatus>,
    message: Option<&'a ExecutorMessage>,
    failure: Option<&'a Failure>,
    error: Option<&'a ErrorEvent>,
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut env = EnvelopeRef {
            kind: self.kind(),
            subscribed: None,
            offers: None,
            inverse_offers: None,
            rescind: None,
            rescind_inverse_offer: None,
            update: None,
            update_operation_status: None,
            message: None,
            failure: None,
            error: None,
        };
        match self {
            Self::Subscribed(p) => env.subscribed = Some(p),
            Self::Offers(p) => env.offers = Some(p),
            Self::InverseOffers(p) => env.inverse_offers = Some(p),
            Self::Rescind(p) => env.rescind = Some(p),
            Self::RescindInverseOffer(p) => env.rescind_inverse_offer = Some(p),
            Self::Update(p) => env.update = Some(p),
            Self::UpdateOperationStatus(p) => env.update_operation_status = Some(p),
            Self::Message(p) => env.message = Some(p),
            Self::Failure(p) => env.failure = Some(p),
            Self::Error(p) => env.error = Some(p),
            Self::Heartbeat => {}
        }
        env.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_round_trips_compactly() {
        let e = Event::from_json(br#"{"type":"HEARTBEAT"}"#).unwrap();
        assert_eq!(e, Event::Heartbeat);
        assert_eq!(e.to_json(), br#"{"type":"HEARTBEAT"}"#);
    }

    #[test]
    fn unknown_type_is_its_own_error() {
        let err = Event::from_json(br#"{"type":"SHINY_NEW","shiny_new":{}}"#).unwrap_err();
        assert!(matches!(err, EventError::UnknownType(ref t) if t == "SHINY_NEW"), "{err}");
    }

    #[test]
    fn missing_payload_names_the_field() {
        let err = Event::from_json(br#"{"type":"OFFERS"}"#).unwrap_err();
        assert_eq!(err.to_string(), "event OFFERS has no 'offers' payload");
    }

    #[test]
    fn malformed_json_shows_the_start_of_the_event() {
        let err = Event::from_json(b"<html><body>502 Bad Gateway</body></html>").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("malformed event JSON"), "{msg}");
        assert!(msg.contains("<html>"), "{msg}");
    }

    #[test]
    fn error_event_uses_the_nested_message() {
        let e = Event::from_json(br#"{"type":"ERROR","error":{"message":"Framework failed over"}}"#).unwrap();
        assert_eq!(e, Event::Error(ErrorEvent { message: "Framework failed over".into() }));
    }
}

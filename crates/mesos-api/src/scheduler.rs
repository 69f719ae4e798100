//! The v1 scheduler API (`mesos.v1.scheduler`): the [`Call`]s a framework sends to
//! `POST /api/v1/scheduler` and the [`Event`]s the master streams back.
//!
//! Each has two forms. The *envelope* ([`CallEnvelope`], [`EventEnvelope`]) mirrors the
//! proto (a `type` plus one payload field) and is what travels as JSON. The typed form
//! ([`Call`], [`Event`]) is an enum with exactly one payload per variant; conversion between
//! the two is the single place where a missing payload or an unknown type is detected.

mod call;
mod event;

pub use call::*;
pub use event::*;

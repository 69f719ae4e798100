//! # herd-mesos-api
//!
//! The Mesos v1 API as Rust types, with no IO: what both ends of the v1 scheduler HTTP API
//! exchange (the [`scheduler`] calls and events and every message they carry), the v1
//! [`executor`] API, resource arithmetic ([`resources::math`]) and the RecordIO framing
//! ([`recordio`]) of the event streams.
//!
//! JSON is exactly what Apache Mesos writes and reads: proto field names, enums by name,
//! `bytes` in base64, numbers accepted as JSON numbers or quoted strings. Messages are plain
//! structs mirroring the `.proto` definitions (optional fields are `Option`, repeated fields
//! `Vec`), so parsing and serialising a message loses nothing.
//!
//! This crate is not a client or a server: `herd-mesos-client` speaks the API to a master,
//! and `herd-localmesos` serves it.
//!
//! Where to start: [`scheduler::Event`] and [`scheduler::Call`] (the wire envelopes and
//! their typed forms), then [`resources::Resource`] and [`recordio::Decoder`].

pub mod common;
pub mod container;
pub mod executor;
pub mod framework;
pub mod ids;
pub mod num;
pub mod offer;
pub mod recordio;
pub mod resources;
pub mod scheduler;
pub mod status;
pub mod task;

pub use common::*;
pub use container::*;
pub use framework::*;
pub use ids::*;
pub use offer::*;
pub use resources::{
    AllocationInfo, DiskInfo, DiskRoot, DiskSource, DiskSourceType, Persistence, ReservationInfo,
    ReservationType, Resource, Resources, RevocableInfo, SharedInfo,
};
pub use status::*;
pub use task::*;

//! # herd-mesos-client
//!
//! The Mesos v1 scheduler HTTP API, client side. [`Client::subscribe`] starts a background
//! subscription that finds the leading master (a fixed URL whose followers redirect with
//! 307, or ZooKeeper), sends SUBSCRIBE, decodes the RecordIO event stream, watches
//! heartbeats, and re-subscribes with the framework id after any disconnect, backing off
//! with jitter. [`Client::call`] sends every other call with the subscription's
//! `Mesos-Stream-Id`. Reports arrive in order on [`Events`] as [`Incoming`] values.
//!
//! This crate does IO but makes no scheduling decisions: what to do with offers and
//! updates belongs to `herd-core`, driven by `herd-runtime`.
//!
//! Where to start: [`Client`], then `subscription.rs` (the loop) and [`SubscribeError`]
//! (every way a subscription fails, and which ones are retried).

mod client;
pub mod config;
pub mod error;
mod http;
pub mod master;
mod subscription;
pub mod zk;

pub use client::{Client, Events, Session};
pub use config::{Backoff, ClientConfig, Credentials};
pub use error::{BuildError, CallError, SubscribeError};
pub use master::MasterUrl;
pub use subscription::Incoming;

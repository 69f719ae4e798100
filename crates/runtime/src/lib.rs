//! # herd-runtime
//!
//! Runs one herd service: the tokio driver that carries out the decisions of a `herd-core`
//! scheduler against a Mesos master (event loop, timers, shutdown), the state store it
//! resumes from after a crash, the operator HTTP API and metrics.
//!
//! Not here: scheduling decisions (`herd-core`, which has no IO and no clock), the Mesos
//! protocol types and HTTP client (`herd-mesos-api`, `herd-mesos-client`), the binary and its
//! commands (`launchers/herd`).
//!
//! Where to start: [`store`] says what a scheduler keeps across a crash and why, and the rule
//! its callers follow (persist before acting on Mesos). So far the crate holds only the store;
//! the driver and the operator API come next.

pub mod store;

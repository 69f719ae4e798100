//! # herd-core
//!
//! herd's scheduler logic, with no IO and no clock: `(state, event, now) → actions`. A
//! framework declares a [`spec::ServiceSpec`]; the core validates it
//! ([`validation`]), places pod instances on offers ([`placement`]), renders their config
//! templates ([`template`]), turns offers into reservations, volumes and task group
//! launches, and drives plans (deploy, update, recovery, decommission, uninstall) through
//! failures.
//!
//! Not here: talking to Mesos (`herd-mesos-client`), persisting state and serving the
//! operator API (`herd-runtime`).
//!
//! Where to start: [`spec`], then [`validation`].

pub mod model;
pub mod offer;
pub mod placement;
pub mod scheduler;
pub mod spec;
pub mod template;
pub mod validation;

//! # herd-testkit
//!
//! Stacks: several herd services brought up together, in dependency order, on an embedded
//! local Mesos cluster (or a given master), each waited on until its deploy plan completes,
//! with their endpoints handed out — like testcontainers, without Docker. Used by `herd up`
//! and by integration tests; usable from a user's own Rust tests:
//!
//! ```no_run
//! # async fn demo() -> Result<(), herd_testkit::StackError> {
//! use herd_testkit::Stack;
//! let stack = Stack::builder("demo")
//!     .service("hello", include_str!("../../../configs/hello.toml"), herd_core::spec::SpecFormat::Toml)
//!     .up()
//!     .await?;
//! let servers = stack.endpoints("hello")?.get("hello-http");
//! # let _ = servers;
//! # Ok(()) }
//! ```
//!
//! A service's config may use the endpoints of the services it depends on:
//! `{{ services.kafka.endpoints["broker-kafka"] | join(",") }}`.
//!
//! Where to start: [`StackFile`] (the stack file format), [`StackBuilder::up`], [`Stack`].

mod file;
mod stack;

pub use file::{ClusterSection, ServiceEntry, StackFile};
pub use stack::{Endpoints, Frameworks, Progress, Stack, StackBuilder, StackError};

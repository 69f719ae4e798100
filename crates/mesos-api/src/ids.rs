//! Identifier messages: `{"value": "..."}` wrappers that Mesos treats as opaque strings.

use serde::{Deserialize, Serialize};
use serde_with::base64::Base64;
use serde_with::serde_as;
use std::fmt;

macro_rules! id_type {
    ($($(#[$meta:meta])* $name:ident;)*) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
        pub struct $name {
            /// The opaque identifier.
            pub value: String,
        }

        impl $name {
            /// Wraps an identifier string.
            pub fn new(value: impl Into<String>) -> Self {
                Self { value: value.into() }
            }

            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.value
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self::new(value)
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self::new(value)
            }
        }
    )*};
}

id_type! {
    /// `FrameworkID`: assigned by the master on first SUBSCRIBE (`<master id>-NNNN`).
    FrameworkId;
    /// `OfferID` (also names inverse offers).
    OfferId;
    /// `AgentID` (`<master id>-S<n>` on a real master).
    AgentId;
    /// `TaskID`: chosen by the framework; unique within it.
    TaskId;
    /// `ExecutorID`: chosen by the framework (equals the task id for command tasks).
    ExecutorId;
    /// `OperationID`: chosen by the framework to get operation status feedback.
    OperationId;
    /// `ResourceProviderID`.
    ResourceProviderId;
}

/// `ContainerID`: a container, nested ones naming their parent.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct ContainerId {
    /// The container's id.
    pub value: String,
    /// The parent container of a nested container.
    pub parent: Option<Box<ContainerId>>,
}

/// `UUID` message: 16 raw bytes, base64 in JSON (used by operation status updates).
#[serde_as]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Uuid {
    /// The raw bytes.
    #[serde_as(as = "Base64")]
    pub value: Vec<u8>,
}

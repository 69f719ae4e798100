//! Placement constraints: where the instances of a pod type may run.
//!
//! A pod type's `placement` strings ([`crate::spec::PodSpec`]) are Marathon-style
//! constraints, `FIELD:OPERATOR[:VALUE]`, parsed into [`Constraint`]s
//! ([`parse_all`]). FIELD is `hostname` or an agent attribute; attribute values are
//! compared as text ([`attribute_text`]). The operators:
//!
//! | constraint | a candidate agent is allowed if |
//! |---|---|
//! | `F:UNIQUE` | no instance runs on its value of F |
//! | `F:CLUSTER:V` | its value of F is V |
//! | `F:CLUSTER` | every placed instance runs on its value of F (any value while none is placed) |
//! | `F:GROUP_BY[:N]` | its value's instance count is the least among the known values (see below) |
//! | `F:LIKE:RE` | its value of F matches RE as a whole |
//! | `F:UNLIKE:RE` | it has no value of F, or the value does not match RE as a whole |
//! | `F:MAX_PER:N` | fewer than N instances run on its value of F |
//!
//! An agent without the attribute satisfies only UNLIKE; placed instances on agents
//! without it are not counted (but do break `F:CLUSTER`, which wants them all on one value).
//!
//! GROUP_BY: the known values are those the placed instances run on plus the candidate's
//! (count 0 if unused). The candidate is allowed if its value's count is no more than the
//! least count among them — so an unused value is always allowed. With N, N values are
//! assumed to exist: while fewer than N are in use, the missing ones count 0, and only an
//! unused value is allowed. This is Marathon's rule.
//!
//! [`PlacementIndex`] keeps the counts per (field, value) of the placed instances, so that
//! [`PlacementIndex::allows`] costs O(constraints) however many instances run; [`check`]
//! is the one-shot form. A refusal is a [`Rejection`] naming the constraint and why.

mod agent;
mod constraint;
mod index;
#[cfg(test)]
mod tests;

pub use agent::{AgentView, attribute_text};
pub use constraint::{Constraint, ConstraintError, HOSTNAME, Operator, Pattern};
pub use index::{PlacementIndex, Rejection};

/// Parses a pod type's placement strings, stopping at the first that is not a constraint.
pub fn parse_all(strings: &[String]) -> Result<Vec<Constraint>, ConstraintError> {
    strings.iter().map(|s| Constraint::parse(s)).collect()
}

/// Whether one more instance may run on `candidate`, given the agents the other instances
/// of the pod type run on (one entry per instance). The first broken constraint wins.
///
/// Builds a [`PlacementIndex`] of `placed` (unless no constraint depends on it): to check
/// many candidates, build the index once and call [`PlacementIndex::allows`].
pub fn check(
    constraints: &[Constraint],
    candidate: &AgentView<'_>,
    placed: &[AgentView<'_>],
) -> Result<(), Rejection> {
    if constraints.iter().any(Constraint::depends_on_placed) {
        PlacementIndex::from_placed(placed).allows(constraints, candidate)
    } else {
        PlacementIndex::new().allows(constraints, candidate)
    }
}

//! [`PlacementIndex`]: how many instances of a pod type run on each value of each field,
//! kept up to date as instances are placed and removed, so that checking a candidate
//! agent costs O(constraints) whatever the number of instances.

use super::agent::{AgentView, attribute_text};
use super::constraint::{Constraint, HOSTNAME};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

/// Why a candidate agent does not satisfy a constraint.
///
/// Displays as `hostname:UNIQUE: an instance already runs on 127.0.1.2`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{constraint}: {reason}")]
pub struct Rejection {
    /// The constraint, in its canonical form.
    pub constraint: String,
    /// What about the candidate (and the placed instances) breaks it.
    pub reason: String,
}

/// Counts of the placed instances of one pod type per (field, value), for every field:
/// the hostname and each attribute of the agents they run on.
///
/// Build it once ([`PlacementIndex::from_placed`]), ask [`PlacementIndex::allows`] for
/// each candidate agent, and [`PlacementIndex::add`] the agent an instance is placed on
/// (or [`PlacementIndex::remove`] the agent of an instance that goes away).
#[derive(Debug, Clone, Default)]
pub struct PlacementIndex {
    placed: u32,
    hostnames: ValueCounts,
    attributes: HashMap<String, ValueCounts>,
}

impl PlacementIndex {
    /// An index with no instance.
    pub fn new() -> Self {
        PlacementIndex::default()
    }

    /// An index of the agents the instances run on (one entry per instance; an agent
    /// running two instances appears twice).
    pub fn from_placed(placed: &[AgentView<'_>]) -> Self {
        let mut index = PlacementIndex::new();
        for agent in placed {
            index.add(agent);
        }
        index
    }

    /// How many instances are indexed.
    pub fn len(&self) -> usize {
        self.placed as usize
    }

    /// Whether no instance is indexed.
    pub fn is_empty(&self) -> bool {
        self.placed == 0
    }

    /// How many instances run where `field` (hostname or attribute name) is `value`
    /// (an attribute value in the text form of [`super::attribute_text`]).
    pub fn count(&self, field: &str, value: &str) -> u32 {
        self.counts(field).map_or(0, |c| c.get(value))
    }

    /// Records an instance placed on `agent`. O(attributes of the agent).
    pub fn add(&mut self, agent: &AgentView<'_>) {
        self.placed += 1;
        self.hostnames.add(Cow::Borrowed(agent.hostname));
        for (name, value) in indexed_attributes(agent) {
            match self.attributes.get_mut(name) {
                Some(counts) => counts.add(value),
                None => {
                    let mut counts = ValueCounts::default();
                    counts.add(value);
                    self.attributes.insert(name.to_owned(), counts);
                }
            }
        }
    }

    /// Forgets an instance placed on `agent`, given the same view that was added.
    /// Returns false (and changes nothing) if no instance is indexed on that hostname.
    pub fn remove(&mut self, agent: &AgentView<'_>) -> bool {
        if self.placed == 0 || !self.hostnames.remove(agent.hostname) {
            return false;
        }
        self.placed -= 1;
        for (name, value) in indexed_attributes(agent) {
            if let Some(counts) = self.attributes.get_mut(name) {
                counts.remove(&value);
                if counts.counts.is_empty() {
                    self.attributes.remove(name);
                }
            }
        }
        true
    }

    /// Whether one more instance may run on `candidate`: the first constraint (in order)
    /// that it breaks, if any. O(constraints); allocates only to render non-TEXT
    /// attribute values and to describe a rejection.
    pub fn allows(&self, constraints: &[Constraint], candidate: &AgentView<'_>) -> Result<(), Rejection> {
        for constraint in constraints {
            if let Err(reason) = self.allows_one(constraint, candidate) {
                return Err(Rejection { constraint: constraint.to_string(), reason });
            }
        }
        Ok(())
    }

    fn counts(&self, field: &str) -> Option<&ValueCounts> {
        if field == HOSTNAME { Some(&self.hostnames) } else { self.attributes.get(field) }
    }

    fn allows_one(&self, constraint: &Constraint, candidate: &AgentView<'_>) -> Result<(), String> {
        let field = constraint.field();
        let value = candidate.value(field);
        let value = match (constraint, value) {
            (Constraint::Unlike { .. }, None) => return Ok(()),
            (_, None) => {
                return Err(format!("agent {} has no attribute {field:?}", candidate.hostname));
            }
            (_, Some(value)) => value,
        };
        let here = Here { field, value: &value };
        match constraint {
            Constraint::Like { regex, .. } => {
                if regex.is_match(&value) {
                    Ok(())
                } else {
                    Err(format!("{} does not match {regex}", here.subject()))
                }
            }
            Constraint::Unlike { regex, .. } => {
                if regex.is_match(&value) {
                    Err(format!("{} matches {regex}", here.subject()))
                } else {
                    Ok(())
                }
            }
            Constraint::Cluster { value: Some(wanted), .. } => {
                if *value == **wanted {
                    Ok(())
                } else {
                    Err(format!("{}, not {wanted}", here.subject()))
                }
            }
            Constraint::Cluster { value: None, .. } => {
                let count = self.count(field, &value);
                if count == self.placed {
                    Ok(())
                } else {
                    Err(format!(
                        "{} of the {} placed instances run {}; CLUSTER keeps them all on one value",
                        self.placed - count,
                        self.placed,
                        here.elsewhere(),
                    ))
                }
            }
            Constraint::Unique { .. } => match self.count(field, &value) {
                0 => Ok(()),
                _ => Err(format!("an instance already runs {}", here.on())),
            },
            Constraint::MaxPer { max, .. } => {
                let count = self.count(field, &value);
                if count < *max {
                    Ok(())
                } else {
                    Err(format!("{count} instances already run {} (at most {max})", here.on()))
                }
            }
            Constraint::GroupBy { groups, .. } => {
                let Some(counts) = self.counts(field) else {
                    return Ok(());
                };
                let count = counts.get(&value);
                if count == 0 {
                    return Ok(());
                }
                let used = counts.counts.len();
                if let Some(groups) = *groups
                    && used < groups as usize
                {
                    return Err(format!(
                        "{count} instance(s) already run {}, and only {used} of {groups} {field} values are in use",
                        here.on()
                    ));
                }
                let least = counts.least();
                if count <= least {
                    Ok(())
                } else {
                    Err(format!(
                        "{count} instances already run {}, and another {field} value has only {least}",
                        here.on()
                    ))
                }
            }
        }
    }
}

/// Words for a (field, value) in rejection reasons.
struct Here<'s> {
    field: &'s str,
    value: &'s str,
}

impl Here<'_> {
    /// "hostname is h1" / "rack is r1".
    fn subject(&self) -> String {
        format!("{} is {}", self.field, self.value)
    }

    /// "on h1" / "on an agent with rack r1".
    fn on(&self) -> String {
        if self.field == HOSTNAME {
            format!("on {}", self.value)
        } else {
            format!("on an agent with {} {}", self.field, self.value)
        }
    }

    /// "elsewhere than h1" / "where rack is not r1".
    fn elsewhere(&self) -> String {
        if self.field == HOSTNAME {
            format!("on other hosts than {}", self.value)
        } else {
            format!("where {} is not {}", self.field, self.value)
        }
    }
}

/// The attributes the index counts for `agent`: the first of each name, with a value,
/// except one called `hostname` (that field always means the hostname).
fn indexed_attributes<'a>(agent: &AgentView<'a>) -> impl Iterator<Item = (&'a str, Cow<'a, str>)> + 'a {
    let attributes = agent.attributes;
    attributes
        .iter()
        .enumerate()
        .filter(move |(i, a)| a.name != HOSTNAME && !attributes[..*i].iter().any(|b| b.name == a.name))
        .filter_map(|(_, a)| attribute_text(a).map(|v| (a.name.as_str(), v)))
}

/// Instances per value of one field, and how many values have each count (so the least
/// count, which GROUP_BY needs, is the first key).
#[derive(Debug, Clone, Default)]
struct ValueCounts {
    counts: HashMap<String, u32>,
    by_count: BTreeMap<u32, u32>,
}

impl ValueCounts {
    fn get(&self, value: &str) -> u32 {
        self.counts.get(value).copied().unwrap_or(0)
    }

    /// The smallest count of a value in use (0 when none is).
    fn least(&self) -> u32 {
        self.by_count.keys().next().copied().unwrap_or(0)
    }

    fn add(&mut self, value: Cow<'_, str>) {
        let count = match self.counts.get_mut(&*value) {
            Some(count) => {
                *count += 1;
                *count
            }
            None => {
                self.counts.insert(value.into_owned(), 1);
                1
            }
        };
        self.moved(count - 1, count);
    }

    /// Returns false if the value has no instance.
    fn remove(&mut self, value: &str) -> bool {
        let Some(count) = self.counts.get_mut(value) else {
            return false;
        };
        *count -= 1;
        let count = *count;
        if count == 0 {
            self.counts.remove(value);
        }
        self.moved(count + 1, count);
        true
    }

    /// One value's count went from `from` to `to`.
    fn moved(&mut self, from: u32, to: u32) {
        if from > 0
            && let Some(n) = self.by_count.get_mut(&from)
        {
            *n -= 1;
            if *n == 0 {
                self.by_count.remove(&from);
            }
        }
        if to > 0 {
            *self.by_count.entry(to).or_insert(0) += 1;
        }
    }
}

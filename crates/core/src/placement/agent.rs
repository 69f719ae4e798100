//! What placement sees of an agent: its hostname and attributes, and their text forms.

use super::constraint::HOSTNAME;
use herd_mesos_api::{Attribute, ValueType};
use std::borrow::Cow;
use std::fmt::Write as _;

/// An agent as placement sees it: borrowed from an offer or from stored instance state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AgentView<'a> {
    /// The agent's hostname (the `hostname` field of constraints).
    pub hostname: &'a str,
    /// The agent's attributes (every other field).
    pub attributes: &'a [Attribute],
}

impl<'a> AgentView<'a> {
    /// A view of an agent.
    pub fn new(hostname: &'a str, attributes: &'a [Attribute]) -> Self {
        AgentView { hostname, attributes }
    }

    /// The first attribute called `name`, if any.
    pub fn attribute(&self, name: &str) -> Option<&'a Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// The text a constraint on `field` compares: the hostname for [`HOSTNAME`], else the
    /// first attribute of that name rendered by [`attribute_text`]. Borrowed for
    /// hostnames and TEXT attributes; only SCALAR, RANGES and SET values are rendered.
    pub fn value(&self, field: &str) -> Option<Cow<'a, str>> {
        if field == HOSTNAME {
            Some(Cow::Borrowed(self.hostname))
        } else {
            self.attribute(field).and_then(attribute_text)
        }
    }
}

/// An attribute's value as constraint text, the way Mesos prints it:
/// TEXT as is; SCALAR with at most three decimals and no trailing zeros (`2`, `1.5`);
/// RANGES as `[a-b,c-d]`; SET as `{a,b}`. `None` when the field its type names is unset.
pub fn attribute_text(attribute: &Attribute) -> Option<Cow<'_, str>> {
    match attribute.kind {
        ValueType::Text => attribute.text.as_ref().map(|t| Cow::Borrowed(t.value.as_str())),
        ValueType::Scalar => attribute.scalar.map(|s| Cow::Owned(scalar_text(s.value))),
        ValueType::Ranges => attribute.ranges.as_ref().map(|r| {
            let mut out = String::from("[");
            for (i, range) in r.range.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                // Writing to a String cannot fail.
                let _ = write!(out, "{}-{}", range.begin, range.end);
            }
            out.push(']');
            Cow::Owned(out)
        }),
        ValueType::Set => attribute.set.as_ref().map(|s| {
            let mut out = String::from("{");
            for (i, item) in s.item.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(item);
            }
            out.push('}');
            Cow::Owned(out)
        }),
    }
}

/// Mesos keeps three decimal digits of a scalar; Rust prints the shortest form (`2`, `1.5`).
fn scalar_text(value: f64) -> String {
    let rounded = (value * 1000.0).round() / 1000.0;
    if rounded == 0.0 {
        // Not `-0`.
        "0".to_owned()
    } else {
        rounded.to_string()
    }
}

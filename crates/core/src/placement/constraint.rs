//! Constraint strings: parsing, the canonical form, and why a string is not a constraint.

use regex::Regex;
use std::fmt;
use std::str::FromStr;

/// The field that means the agent's hostname rather than one of its attributes.
pub const HOSTNAME: &str = "hostname";

/// A constraint operator, as written in a constraint string (upper case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `UNIQUE`.
    Unique,
    /// `CLUSTER`.
    Cluster,
    /// `GROUP_BY`.
    GroupBy,
    /// `LIKE`.
    Like,
    /// `UNLIKE`.
    Unlike,
    /// `MAX_PER`.
    MaxPer,
}

impl Operator {
    /// Every operator, in the order error messages list them.
    pub const ALL: [Operator; 6] = [
        Operator::Unique,
        Operator::Cluster,
        Operator::GroupBy,
        Operator::Like,
        Operator::Unlike,
        Operator::MaxPer,
    ];

    /// The operator as written in a constraint string, e.g. `GROUP_BY`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Unique => "UNIQUE",
            Operator::Cluster => "CLUSTER",
            Operator::GroupBy => "GROUP_BY",
            Operator::Like => "LIKE",
            Operator::Unlike => "UNLIKE",
            Operator::MaxPer => "MAX_PER",
        }
    }

    /// Reads an operator name, ignoring ASCII case (`group_by` is `GROUP_BY`).
    pub fn from_name(name: &str) -> Option<Operator> {
        Operator::ALL.into_iter().find(|op| op.as_str().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The regular expression of a `LIKE` or `UNLIKE` constraint, compiled once.
///
/// It matches a whole value (`rack-[12]` matches `rack-1` but not `rack-10`), like Java's
/// `String.matches` in Marathon. Two patterns are equal when their source text is.
#[derive(Clone)]
pub struct Pattern {
    source: String,
    anchored: Regex,
}

impl Pattern {
    /// Compiles `pattern` (the `regex` crate's syntax).
    pub fn new(pattern: &str) -> Result<Self, regex::Error> {
        // Compile the pattern alone first, so that something like `a)|(b` is rejected
        // rather than balanced by the anchoring group around it.
        Regex::new(pattern)?;
        let anchored = Regex::new(&format!(r"\A(?:{pattern})\z"))?;
        Ok(Pattern { source: pattern.to_owned(), anchored })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the whole of `value` matches.
    pub fn is_match(&self, value: &str) -> bool {
        self.anchored.is_match(value)
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pattern").field(&self.source).finish()
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Pattern {}

/// One placement constraint of a pod type, `FIELD:OPERATOR[:VALUE]` as in Marathon and
/// the DC/OS SDK.
///
/// `field` is [`HOSTNAME`] (the agent's hostname) or the name of an agent attribute, whose
/// value is compared as text (see [`super::attribute_text`]). An agent without the
/// attribute satisfies only `UNLIKE`. Instances already placed on agents without the
/// attribute are not counted by `UNIQUE`, `GROUP_BY` and `MAX_PER`.
///
/// `Display` writes the canonical string, which [`Constraint::parse`] reads back to an
/// equal constraint (for a `field` without `:`, as every parsed one is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    /// `FIELD:UNIQUE`: no two instances share a value.
    Unique {
        /// Hostname or attribute name.
        field: String,
    },
    /// `FIELD:CLUSTER:VALUE`: every instance runs where the field is `VALUE`.
    /// `FIELD:CLUSTER`: every instance runs on one value, the one the instances already
    /// placed share (any value while none is placed).
    Cluster {
        /// Hostname or attribute name.
        field: String,
        /// The required value; `None` for "whichever the placed instances use".
        value: Option<String>,
    },
    /// `FIELD:GROUP_BY[:N]`: spread instances evenly over the field's values. A value may
    /// take another instance only if no known value has fewer; with `N`, `N` values are
    /// assumed to exist, so until `N` values are in use only unused ones are allowed.
    GroupBy {
        /// Hostname or attribute name.
        field: String,
        /// How many distinct values to expect, if known.
        groups: Option<u32>,
    },
    /// `FIELD:LIKE:REGEX`: the field's whole value matches `REGEX`.
    Like {
        /// Hostname or attribute name.
        field: String,
        /// The pattern.
        regex: Pattern,
    },
    /// `FIELD:UNLIKE:REGEX`: the field is absent or its whole value does not match `REGEX`.
    Unlike {
        /// Hostname or attribute name.
        field: String,
        /// The pattern.
        regex: Pattern,
    },
    /// `FIELD:MAX_PER:N`: at most `N` instances per value.
    MaxPer {
        /// Hostname or attribute name.
        field: String,
        /// The most instances one value may hold (at least 1).
        max: u32,
    },
}

impl Constraint {
    /// Parses `FIELD:OPERATOR[:VALUE]`. The operator's case is ignored; the value is
    /// everything after the second `:` (so a regex may contain `:`), taken verbatim.
    pub fn parse(s: &str) -> Result<Self, ConstraintError> {
        let malformed = || ConstraintError::Malformed { constraint: s.to_owned() };
        let mut parts = s.splitn(3, ':');
        let field = parts.next().unwrap_or_default().trim();
        let operator_name = parts.next().ok_or_else(malformed)?.trim();
        if field.is_empty() || operator_name.is_empty() {
            return Err(malformed());
        }
        // `rack:CLUSTER:` is `rack:CLUSTER`, as in Marathon.
        let value = parts.next().filter(|v| !v.is_empty());
        let operator = Operator::from_name(operator_name).ok_or_else(|| {
            ConstraintError::UnknownOperator { constraint: s.to_owned(), operator: operator_name.to_owned() }
        })?;
        let field_owned = field.to_owned();
        let missing = |expected: &'static str, placeholder: &'static str| ConstraintError::MissingValue {
            constraint: s.to_owned(),
            field: field.to_owned(),
            operator,
            expected,
            placeholder,
        };
        let number = |value: &str, expected: &'static str, example: u32| {
            value.trim().parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
                ConstraintError::InvalidNumber {
                    constraint: s.to_owned(),
                    field: field.to_owned(),
                    operator,
                    value: value.to_owned(),
                    expected,
                    example,
                }
            })
        };
        let pattern = |value: &str| {
            Pattern::new(value).map_err(|source| ConstraintError::InvalidRegex {
                constraint: s.to_owned(),
                operator,
                source,
            })
        };
        Ok(match operator {
            Operator::Unique => {
                if value.is_some() {
                    return Err(ConstraintError::UnexpectedValue {
                        constraint: s.to_owned(),
                        field: field_owned,
                        operator,
                    });
                }
                Constraint::Unique { field: field_owned }
            }
            Operator::Cluster => Constraint::Cluster { field: field_owned, value: value.map(str::to_owned) },
            Operator::GroupBy => Constraint::GroupBy {
                groups: value.map(|v| number(v, "a number of groups", 3)).transpose()?,
                field: field_owned,
            },
            Operator::Like => Constraint::Like {
                regex: pattern(value.ok_or_else(|| missing("a regular expression", "REGEX"))?)?,
                field: field_owned,
            },
            Operator::Unlike => Constraint::Unlike {
                regex: pattern(value.ok_or_else(|| missing("a regular expression", "REGEX"))?)?,
                field: field_owned,
            },
            Operator::MaxPer => Constraint::MaxPer {
                max: number(
                    value.ok_or_else(|| missing("the most instances per value", "N"))?,
                    "the most instances per value",
                    2,
                )?,
                field: field_owned,
            },
        })
    }

    /// The hostname or attribute name the constraint looks at.
    pub fn field(&self) -> &str {
        match self {
            Constraint::Unique { field }
            | Constraint::Cluster { field, .. }
            | Constraint::GroupBy { field, .. }
            | Constraint::Like { field, .. }
            | Constraint::Unlike { field, .. }
            | Constraint::MaxPer { field, .. } => field,
        }
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        match self {
            Constraint::Unique { .. } => Operator::Unique,
            Constraint::Cluster { .. } => Operator::Cluster,
            Constraint::GroupBy { .. } => Operator::GroupBy,
            Constraint::Like { .. } => Operator::Like,
            Constraint::Unlike { .. } => Operator::Unlike,
            Constraint::MaxPer { .. } => Operator::MaxPer,
        }
    }

    /// Whether the constraint depends on where other instances are placed (LIKE, UNLIKE
    /// and CLUSTER with a value look only at the candidate).
    pub fn depends_on_placed(&self) -> bool {
        match self {
            Constraint::Like { .. } | Constraint::Unlike { .. } => false,
            Constraint::Cluster { value, .. } => value.is_none(),
            Constraint::Unique { .. } | Constraint::GroupBy { .. } | Constraint::MaxPer { .. } => true,
        }
    }
}

impl FromStr for Constraint {
    type Err = ConstraintError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Constraint::parse(s)
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.field(), self.operator())?;
        match self {
            Constraint::Unique { .. }
            | Constraint::Cluster { value: None, .. }
            | Constraint::GroupBy { groups: None, .. } => Ok(()),
            Constraint::Cluster { value: Some(value), .. } => write!(f, ":{value}"),
            Constraint::GroupBy { groups: Some(n), .. } => write!(f, ":{n}"),
            Constraint::Like { regex, .. } | Constraint::Unlike { regex, .. } => {
                write!(f, ":{regex}")
            }
            Constraint::MaxPer { max, .. } => write!(f, ":{max}"),
        }
    }
}

/// Why a string is not a placement constraint. Every message starts with the string and
/// says how to write it instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConstraintError {
    /// Not `FIELD:OPERATOR[:VALUE]` (no `:`, or an empty field or operator).
    #[error(
        "{constraint:?}: a placement constraint is FIELD:OPERATOR[:VALUE], \
         e.g. hostname:UNIQUE or rack:LIKE:rack-[12]"
    )]
    Malformed {
        /// The string as given.
        constraint: String,
    },
    /// The operator is none of the six.
    #[error(
        "{constraint:?}: unknown operator {operator:?}; \
         valid operators are UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE and MAX_PER"
    )]
    UnknownOperator {
        /// The string as given.
        constraint: String,
        /// The operator as written.
        operator: String,
    },
    /// A value after an operator that takes none (`UNIQUE`).
    #[error("{constraint:?}: {operator} takes no value; write {field}:{operator}")]
    UnexpectedValue {
        /// The string as given.
        constraint: String,
        /// The field.
        field: String,
        /// The operator.
        operator: Operator,
    },
    /// No value after an operator that needs one (`LIKE`, `UNLIKE`, `MAX_PER`).
    #[error("{constraint:?}: {operator} needs {expected}; write {field}:{operator}:{placeholder}")]
    MissingValue {
        /// The string as given.
        constraint: String,
        /// The field.
        field: String,
        /// The operator.
        operator: Operator,
        /// What the value means.
        expected: &'static str,
        /// How the value is shown in the fix, e.g. `N`.
        placeholder: &'static str,
    },
    /// A number that is not a positive integer (`GROUP_BY`, `MAX_PER`).
    #[error(
        "{constraint:?}: {operator} takes {expected}, a positive integer \
         (e.g. {field}:{operator}:{example}), not {value:?}"
    )]
    InvalidNumber {
        /// The string as given.
        constraint: String,
        /// The field.
        field: String,
        /// The operator.
        operator: Operator,
        /// The value as written.
        value: String,
        /// What the number means.
        expected: &'static str,
        /// A sensible number for the example.
        example: u32,
    },
    /// A `LIKE` or `UNLIKE` pattern that does not compile.
    #[error("{constraint:?}: {operator} takes a regular expression: {source}")]
    InvalidRegex {
        /// The string as given.
        constraint: String,
        /// The operator.
        operator: Operator,
        /// What the regex parser said.
        #[source]
        source: regex::Error,
    },
}

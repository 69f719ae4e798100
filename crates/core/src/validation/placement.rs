//! Placement constraints are Marathon-style `FIELD:OPERATOR[:VALUE]` strings:
//!
//! | operator   | value                                   | example             |
//! |------------|-----------------------------------------|---------------------|
//! | `UNIQUE`   | none                                    | `hostname:UNIQUE`   |
//! | `CLUSTER`  | optional: the value to stay on          | `rack:CLUSTER:r1`   |
//! | `GROUP_BY` | optional: number of groups, at least 1  | `rack:GROUP_BY:3`   |
//! | `LIKE`     | required: a regex matching whole values | `zone:LIKE:us-.*`   |
//! | `UNLIKE`   | required: a regex matching whole values | `rack:UNLIKE:r3`    |
//! | `MAX_PER`  | required: instances per value, ≥ 1      | `hostname:MAX_PER:2`|
//!
//! The verdict is the placement parser's ([`crate::placement::Constraint::parse`]), so the
//! two can never disagree; this rule only words it as a problem and a fix.

use super::{ValidationError, pod_path};
use crate::spec::ServiceSpec;

/// Checks every pod type's placement constraints.
pub(super) fn check(spec: &ServiceSpec) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    for pod in &spec.pods {
        for (i, constraint) in pod.placement.iter().enumerate() {
            if let Err((problem, fix)) = check_constraint(constraint) {
                errors.push(ValidationError::new(
                    format!("{}.placement[{i}]", pod_path(pod)),
                    format!("{constraint:?} {problem}"),
                    fix,
                ));
            }
        }
    }
    errors
}

/// What is wrong with one constraint, and the fix: the placement parser decides, this
/// rule words its verdict as a problem and a fix.
fn check_constraint(constraint: &str) -> Result<(), (String, String)> {
    use crate::placement::{Constraint, ConstraintError, Operator};
    let Err(error) = Constraint::parse(constraint) else { return Ok(()) };
    Err(match error {
        ConstraintError::Malformed { .. } => (
            "is not FIELD:OPERATOR[:VALUE]".to_owned(),
            "write the constraint as FIELD:OPERATOR[:VALUE], e.g. \"hostname:UNIQUE\" or \"rack:GROUP_BY:3\""
                .to_owned(),
        ),
        ConstraintError::UnknownOperator { operator, .. } => {
            let names: Vec<&str> = Operator::ALL.iter().map(|o| o.as_str()).collect();
            (format!("has the unknown operator {operator:?}"), format!("use one of {}", names.join(", ")))
        }
        ConstraintError::UnexpectedValue { field, operator, .. } => (
            format!("gives {operator} a value, which it does not take"),
            format!("write it as \"{field}:{operator}\""),
        ),
        ConstraintError::MissingValue { field, operator, expected, .. } => {
            let placeholder =
                if matches!(operator, Operator::Like | Operator::Unlike) { "REGEX" } else { "N" };
            let example = if placeholder == "REGEX" { "rack-[12]" } else { "2" };
            (
                format!("has no value, and {operator} needs {expected}"),
                format!(
                    "write it as \"{field}:{operator}:{placeholder}\", e.g. \"{field}:{operator}:{example}\""
                ),
            )
        }
        ConstraintError::InvalidNumber { field, operator, value, example, .. } => (
            format!("has the value {value:?}, and {operator} needs a whole number of at least 1"),
            format!("write it as \"{field}:{operator}:N\", e.g. \"{field}:{operator}:{example}\""),
        ),
        ConstraintError::InvalidRegex { source, .. } => {
            // The regex crate's messages span lines (the pattern, a caret, the error): keep the last.
            let shown = source.to_string();
            let last = shown.lines().rev().find(|line| !line.trim().is_empty()).unwrap_or(&shown).trim();
            (
                format!(
                    "has an invalid regular expression: {}",
                    last.strip_prefix("error: ").unwrap_or(last)
                ),
                "fix the regular expression (Rust regex syntax, matched against the whole value)".to_owned(),
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::test_support::{assert_one, base, pod};

    #[test]
    fn valid_constraints_pass() {
        let mut spec = base();
        assert_eq!(check(&spec), []);
        pod(&mut spec, "proxy").placement = [
            "hostname:UNIQUE",
            "hostname:unique",
            "rack:CLUSTER",
            "rack:CLUSTER:",
            "rack:CLUSTER:r1",
            "rack:GROUP_BY",
            "rack:GROUP_BY:3",
            "zone:LIKE:us-(east|west)-.*",
            "url:LIKE:https?://.*",
            "rack:UNLIKE:r3",
            "hostname:MAX_PER:2",
            " hostname : MAX_PER : 2 ",
        ]
        .map(str::to_owned)
        .to_vec();
        assert_eq!(check(&spec), []);
    }

    fn error_for(constraint: &str) -> ValidationError {
        let mut spec = base();
        pod(&mut spec, "proxy").placement = vec!["hostname:UNIQUE".to_owned(), constraint.to_owned()];
        assert_one(check(&spec), "pods[proxy].placement[1]", &[constraint])
    }

    #[test]
    fn malformed_constraints_are_named_with_the_fix() {
        for bad in ["hostname", "", ":UNIQUE", "hostname:", " :UNIQUE"] {
            assert!(error_for(bad).fix.contains("FIELD:OPERATOR[:VALUE]"), "{bad}");
        }
    }

    #[test]
    fn unknown_operators_are_named_with_the_fix() {
        let error = error_for("hostname:DISTINCT");
        assert!(error.problem.contains("\"DISTINCT\""), "{error}");
        assert!(error.fix.contains("use one of UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER"), "{error}");
    }

    #[test]
    fn values_are_required_or_forbidden_per_operator() {
        assert!(error_for("hostname:UNIQUE:1").fix.contains("\"hostname:UNIQUE\""));
        assert!(error_for("zone:LIKE").fix.contains("\"zone:LIKE:REGEX\""));
        assert!(error_for("zone:UNLIKE:").fix.contains("\"zone:UNLIKE:REGEX\""));
        assert!(error_for("hostname:MAX_PER").fix.contains("\"hostname:MAX_PER:N\""));
    }

    #[test]
    fn numbers_must_be_positive_whole_numbers() {
        for bad in ["rack:GROUP_BY:0", "rack:GROUP_BY:three", "hostname:MAX_PER:-1", "hostname:MAX_PER:1.5"] {
            assert!(error_for(bad).problem.contains("whole number of at least 1"), "{bad}");
        }
    }

    #[test]
    fn invalid_regexes_are_named_with_the_fix() {
        for bad in ["zone:LIKE:us-(east", "zone:UNLIKE:[a-", "zone:LIKE:a)|(b"] {
            let error = error_for(bad);
            assert!(error.problem.contains("invalid regular expression"), "{error}");
            assert!(error.fix.contains("fix the regular expression"), "{error}");
            assert!(!error.to_string().contains('\n'), "one line: {error}");
            assert!(!error.problem.contains("error: "), "no repeated prefix: {error}");
        }
    }
}

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
//! The syntax check here accepts what the placement module's parser accepts: the operator's
//! case is ignored, the field and operator are trimmed, the value is everything after the
//! second `:` (so a regex may contain `:`), and an empty value is no value. Regexes are
//! compiled alone and anchored, as placement matches them.

use super::{pod_path, ValidationError};
use crate::spec::ServiceSpec;

/// The operators, as written in specs.
const OPERATORS: [&str; 6] = ["UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "UNLIKE", "MAX_PER"];

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

/// What is wrong with one constraint, and the fix.
fn check_constraint(constraint: &str) -> Result<(), (String, String)> {
    let mut parts = constraint.splitn(3, ':');
    let field = parts.next().unwrap_or_default().trim();
    let operator = parts.next().map(str::trim).unwrap_or_default();
    let value = parts.next().filter(|v| !v.is_empty());
    if field.is_empty() || operator.is_empty() {
        return Err((
            "is not FIELD:OPERATOR[:VALUE]".to_owned(),
            "write the constraint as FIELD:OPERATOR[:VALUE], e.g. \"hostname:UNIQUE\" or \"rack:GROUP_BY:3\""
                .to_owned(),
        ));
    }
    let Some(operator) = OPERATORS.into_iter().find(|op| op.eq_ignore_ascii_case(operator)) else {
        return Err((
            format!("has the unknown operator {operator:?}"),
            format!("use one of {}", OPERATORS.join(", ")),
        ));
    };
    match (operator, value) {
        ("UNIQUE", Some(_)) => Err((
            "gives UNIQUE a value, which it does not take".to_owned(),
            format!("write it as \"{field}:UNIQUE\""),
        )),
        ("LIKE" | "UNLIKE", None) => Err((
            format!("has no value, and {operator} needs a regular expression"),
            format!("write it as \"{field}:{operator}:REGEX\", e.g. \"{field}:{operator}:rack-[12]\""),
        )),
        ("MAX_PER", None) => Err((
            "has no value, and MAX_PER needs the most instances per value".to_owned(),
            format!("write it as \"{field}:MAX_PER:N\", e.g. \"{field}:MAX_PER:2\""),
        )),
        ("GROUP_BY" | "MAX_PER", Some(value)) if !value.trim().parse::<u32>().is_ok_and(|n| n > 0) => Err((
            format!("has the value {value:?}, and {operator} needs a whole number of at least 1"),
            format!("write it as \"{field}:{operator}:N\", e.g. \"{field}:{operator}:3\""),
        )),
        ("LIKE" | "UNLIKE", Some(value)) => regex_problem(value).map_or(Ok(()), |problem| {
            Err((
                format!("has an invalid regular expression: {problem}"),
                "fix the regular expression (Rust regex syntax, matched against the whole value)".to_owned(),
            ))
        }),
        _ => Ok(()),
    }
}

/// What is wrong with a LIKE/UNLIKE regex, if anything: it must compile alone (so `a)|(b`
/// is not balanced by the anchors) and anchored.
fn regex_problem(pattern: &str) -> Option<String> {
    let error = regex::Regex::new(pattern).err().or_else(|| regex::Regex::new(&format!(r"\A(?:{pattern})\z")).err())?;
    // The regex crate's messages span lines (the pattern, a caret, the error): keep the last.
    let shown = error.to_string();
    Some(shown.lines().rev().find(|line| !line.trim().is_empty()).unwrap_or(&shown).trim().to_owned())
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
        }
    }
}

//! Job queues have DNS-label names, each once, a positive finite weight and limits above 0.

use super::{ValidationError, name_problem};
use crate::spec::ServiceSpec;

/// Checks every queue.
pub(super) fn check(spec: &ServiceSpec) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    for (i, queue) in spec.queues.iter().enumerate() {
        let field = |what: &str| format!("queues[{}].{what}", queue.name);
        if let Some(problem) = name_problem(&queue.name) {
            errors.push(ValidationError::new(
                format!("queues[{i}].name"),
                format!("{:?} {problem}", queue.name),
                "use lowercase letters, digits and -, starting with a letter",
            ));
        }
        if spec.queues[..i].iter().any(|q| q.name == queue.name) {
            errors.push(ValidationError::new(
                field("name"),
                "is declared twice",
                "give each queue its own name",
            ));
        }
        if !(queue.weight > 0.0 && queue.weight.is_finite()) {
            errors.push(ValidationError::new(
                field("weight"),
                format!("must be a number above 0 (got {})", queue.weight),
                "set weight to the queue's share relative to the others (e.g. 1, 2)",
            ));
        }
        if queue.max_running == Some(0) {
            errors.push(ValidationError::new(
                field("max_running"),
                "is 0: no job of the queue could ever run",
                "set it to at least 1, or remove it for no limit",
            ));
        }
        if let Some(cpus) = queue.max_cpus.filter(|c| !(*c > 0.0 && c.is_finite())) {
            errors.push(ValidationError::new(
                field("max_cpus"),
                format!("must be a number above 0 (got {cpus})"),
                "set it to the most CPUs the queue's running jobs may use, or remove it for no limit",
            ));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::QueueSpec;
    use crate::validation::test_support::{assert_one, base};

    fn queue(name: &str) -> QueueSpec {
        QueueSpec { name: name.to_owned(), weight: 1.0, max_running: None, max_cpus: None }
    }

    #[test]
    fn no_queues_or_good_ones_pass() {
        let mut spec = base();
        assert_eq!(check(&spec), []);
        spec.queues = vec![queue("etl"), QueueSpec { weight: 2.0, max_running: Some(3), ..queue("ml") }];
        assert_eq!(check(&spec), []);
    }

    #[test]
    fn bad_queues_are_named_with_the_fix() {
        let mut spec = base();
        spec.queues = vec![QueueSpec { weight: 0.0, ..queue("etl") }];
        assert_one(check(&spec), "queues[etl].weight", &["above 0"]);
        spec.queues = vec![queue("etl"), queue("etl")];
        assert_one(check(&spec), "queues[etl].name", &["twice"]);
        spec.queues = vec![QueueSpec { max_running: Some(0), ..queue("etl") }];
        assert_one(check(&spec), "queues[etl].max_running", &["at least 1"]);
        spec.queues = vec![QueueSpec { max_cpus: Some(-1.0), ..queue("etl") }];
        assert_one(check(&spec), "queues[etl].max_cpus", &["above 0"]);
        spec.queues = vec![queue("ETL")];
        assert_one(check(&spec), "queues[0].name", &["lowercase"]);
    }
}

//! Counters the driver keeps while it runs (Mesos events, calls, state writes), and the
//! Prometheus text rendering of them next to gauges read off the scheduler's state.

use herd_core::scheduler::Scheduler;
use herd_core::scheduler::plan::Status;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};

/// Counters, by metric name and label set.
#[derive(Debug, Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<(&'static str, String), f64>>,
}

impl Metrics {
    /// Adds `by` to counter `name{labels}` (`labels` in Prometheus form, `key="value",...`).
    pub fn add(&self, name: &'static str, labels: String, by: f64) {
        *self.counters.lock().unwrap_or_else(PoisonError::into_inner).entry((name, labels)).or_default() +=
            by;
    }

    /// Adds one to counter `name{labels}`.
    pub fn inc(&self, name: &'static str, labels: String) {
        self.add(name, labels, 1.0);
    }

    fn snapshot(&self) -> BTreeMap<(&'static str, String), f64> {
        self.counters.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// What each counter means (HELP lines); a counter not listed here is not rendered.
/// Unlabelled ones are shown as 0 before their first event.
const COUNTERS: [(&str, &str, bool); 7] = [
    ("herd_mesos_events_total", "Events received from the Mesos master, by type.", true),
    ("herd_offers_received_total", "Offers received.", false),
    ("herd_mesos_calls_total", "Calls sent to the Mesos master, by type.", true),
    ("herd_mesos_call_failures_total", "Calls the Mesos master did not accept, by type.", true),
    ("herd_task_updates_total", "Task status updates received, by state.", true),
    ("herd_state_writes_total", "Batches written to the state store.", false),
    ("herd_state_write_seconds_total", "Time spent writing to the state store.", false),
];

fn status_name(s: Status) -> &'static str {
    match s {
        Status::Pending => "PENDING",
        Status::InProgress => "IN_PROGRESS",
        Status::Complete => "COMPLETE",
        Status::Waiting => "WAITING",
        Status::Error => "ERROR",
    }
}

/// Renders every metric in the Prometheus text format.
pub fn render(scheduler: &Scheduler, metrics: &Metrics) -> String {
    let mut out = String::new();
    let state = scheduler.state();
    let mut gauge = |name: &str, help: &str, samples: Vec<(String, f64)>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (labels, value) in samples {
            if labels.is_empty() {
                let _ = writeln!(out, "{name} {value}");
            } else {
                let _ = writeln!(out, "{name}{{{labels}}} {value}");
            }
        }
    };
    gauge(
        "herd_instances",
        "Pod instances of the service.",
        vec![(String::new(), state.instances.len() as f64)],
    );
    gauge(
        "herd_instances_active",
        "Instances with a live task.",
        vec![(String::new(), state.instances.values().filter(|i| i.active()).count() as f64)],
    );
    let mut by_state: BTreeMap<String, f64> = BTreeMap::new();
    for task in state.instances.values().flat_map(|i| i.tasks.values()) {
        *by_state.entry(format!("{:?}", task.state)).or_default() += 1.0;
    }
    gauge(
        "herd_tasks",
        "Tasks by their last reported state.",
        by_state.into_iter().map(|(s, n)| (format!("state=\"{s}\""), n)).collect(),
    );
    let plans = scheduler.plans();
    gauge(
        "herd_plan_status",
        "1 for each plan's current status.",
        plans
            .iter()
            .map(|p| (format!("plan=\"{}\",status=\"{}\"", p.name, status_name(p.status)), 1.0))
            .collect(),
    );
    let mut steps: BTreeMap<(String, &str), f64> = BTreeMap::new();
    for plan in &plans {
        for step in plan.phases.iter().flat_map(|p| &p.steps) {
            *steps.entry((plan.name.clone(), status_name(step.status))).or_default() += 1.0;
        }
    }
    gauge(
        "herd_plan_steps",
        "Plan steps by status.",
        steps.into_iter().map(|((plan, s), n)| (format!("plan=\"{plan}\",status=\"{s}\""), n)).collect(),
    );
    gauge(
        "herd_deploy_steps_complete",
        "Deploy steps complete.",
        vec![(
            String::new(),
            plans.first().map_or(0, |d| {
                d.phases.iter().flat_map(|p| &p.steps).filter(|s| s.status == Status::Complete).count()
            }) as f64,
        )],
    );
    gauge(
        "herd_pending_releases",
        "Reservations of replaced or decommissioned instances still to release.",
        vec![(String::new(), scheduler.pending_releases().len() as f64)],
    );
    gauge(
        "herd_orphans_released",
        "Releases of reservations the state did not know (recent).",
        vec![(String::new(), scheduler.orphans().count() as f64)],
    );
    let declined = scheduler.outcomes().filter(|o| o.rejection.is_some()).count();
    gauge(
        "herd_offer_outcomes_recent",
        "Recent offer outcomes (the last 100), accepted or not.",
        vec![
            ("accepted=\"true\"".to_owned(), (scheduler.outcomes().count() - declined) as f64),
            ("accepted=\"false\"".to_owned(), declined as f64),
        ],
    );
    let counters = metrics.snapshot();
    for (name, help, labelled) in COUNTERS {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        let mut any = false;
        for ((_, labels), value) in counters.iter().filter(|((n, _), _)| *n == name) {
            any = true;
            if labels.is_empty() {
                let _ = writeln!(out, "{name} {value}");
            } else {
                let _ = writeln!(out, "{name}{{{labels}}} {value}");
            }
        }
        if !any && !labelled {
            let _ = writeln!(out, "{name} 0");
        }
    }
    out
}

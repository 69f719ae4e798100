#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Every scheduler call and event a real Mesos master exchanged (testdata/mesos-samples/, a copy of shared/mesos-samples)
//! parses into the typed messages without loss: serialising the parsed value gives back
//! the recorded JSON (numbers compared by value), and parsing that again gives the same
//! value.

use herd_mesos_api::executor::ExecutorEvent;
use herd_mesos_api::scheduler::{CallEnvelope, Event, EventEnvelope};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt::Debug;
use std::path::{Path, PathBuf};

fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/mesos-samples")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Proto-level equality: numbers as f64 (`128` equals `128.0`), and an empty repeated
/// field or a `null` equals an absent one, as they do for Mesos.
fn normalise(v: &Value) -> Value {
    match v {
        Value::Number(n) => serde_json::json!(n.as_f64()),
        Value::Array(a) => Value::Array(a.iter().map(normalise).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(_, v)| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
                .map(|(k, v)| (k.clone(), normalise(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Parses `json` as `T`, checks that serialising gives back the same JSON (`exact`) or at
/// least the same value once parsed again, and returns the parsed value.
fn round_trip<T: DeserializeOwned + Serialize + PartialEq + Debug>(
    what: &str,
    json: &Value,
    exact: bool,
) -> T {
    let parsed: T =
        serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("{what}: does not parse: {e}"));
    let back = serde_json::to_value(&parsed).unwrap();
    if exact {
        assert_eq!(normalise(&back), normalise(json), "{what}: serialising lost or changed fields");
    }
    let again: T = serde_json::from_value(back).unwrap_or_else(|e| panic!("{what}: re-parse failed: {e}"));
    assert_eq!(again, parsed, "{what}: parse → serialise → parse changed the value");
    parsed
}

fn check_event(what: &str, json: &Value, exact: bool) -> Event {
    round_trip::<EventEnvelope>(what, json, exact);
    let event: Event = round_trip(what, json, exact);
    let bytes = serde_json::to_vec(json).unwrap();
    assert_eq!(Event::from_json(&bytes).unwrap(), event, "{what}: from_json differs");
    event
}

fn check_call(what: &str, json: &Value, exact: bool) {
    let envelope: CallEnvelope = round_trip(what, json, exact);
    let (framework_id, call) = envelope.clone().into_call().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(call.into_envelope(framework_id), envelope, "{what}: typed call differs from its envelope");
}

fn sample_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for scenario in std::fs::read_dir(samples_dir()).expect("testdata/mesos-samples is missing") {
        let scenario = scenario.unwrap().path();
        if scenario.is_dir() {
            for f in std::fs::read_dir(&scenario).unwrap() {
                files.push(f.unwrap().path());
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_recorded_event_and_call_round_trips() {
    let (mut events, mut calls) = (0, 0);
    for path in sample_files() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".json") || path.parent().unwrap().ends_with("protobuf") {
            continue;
        }
        let what = format!("{}", path.strip_prefix(samples_dir()).unwrap().display());
        let json = read_json(&path);
        if name.contains("-event")
            || name.contains("-events")
            || name.contains("failover")
            || name.contains("resubscribed")
        {
            let list = match &json {
                Value::Array(a) => a.clone(),
                Value::Object(o) if o.contains_key("event") => vec![o["event"].clone()],
                other => vec![other.clone()],
            };
            for (i, e) in list.iter().enumerate() {
                check_event(&format!("{what}[{i}]"), e, true);
                events += 1;
            }
        } else if name.contains("-call-") {
            if let Some(request) = json.get("request") {
                if json["status"] == 400 {
                    // Mesos refused it as malformed: so must we, naming the same field.
                    let err = serde_json::from_value::<CallEnvelope>(request.clone()).unwrap_err();
                    let mesos_said = json["body"].as_str().unwrap();
                    assert!(mesos_said.contains("Missing required fields"), "{what}: {mesos_said}");
                    assert!(err.to_string().contains("missing field `name`"), "{what}: {err}");
                } else {
                    check_call(&what, request, true);
                }
                calls += 1;
            }
        } else if name.contains("executor-side-record") {
            for (i, e) in json["events"].as_array().unwrap().iter().enumerate() {
                round_trip::<ExecutorEvent>(&format!("{what} events[{i}]"), e, true);
                events += 1;
            }
        }
    }
    // The recorded set is fixed: a walk that silently skipped files would show here.
    assert_eq!((events, calls), (45, 15), "events and calls found in the samples");
}

#[test]
fn protobuf_run_decoded_forms_parse() {
    // Generic protobuf JSON mapping: 64-bit integers as strings. Compare by value.
    let dir = samples_dir().join("protobuf");
    for name in [
        "subscribe-call.json",
        "accept-call.json",
        "acknowledge-TASK_STARTING-call.json",
        "acknowledge-TASK_RUNNING-call.json",
        "acknowledge-TASK_FINISHED-call.json",
        "teardown-call.json",
    ] {
        check_call(name, &read_json(&dir.join(name)), false);
    }
    let stream = read_json(&dir.join("stream-decoded.json"));
    let kinds: Vec<_> = stream
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, e)| check_event(&format!("stream-decoded.json[{i}]"), e, false).kind())
        .collect();
    use herd_mesos_api::scheduler::EventType::*;
    assert_eq!(kinds, [Subscribed, Heartbeat, Offers, Update, Update, Update]);
}

#[test]
fn recorded_details_survive_parsing() {
    use herd_mesos_api::{ReservationType, TaskState};
    let dir = samples_dir().join("scenario-1");
    let Event::Offers(offers) =
        check_event("offers", &read_json(&dir.join("18-event-offers-reserved.json")), true)
    else {
        panic!("not an OFFERS event")
    };
    let offer = &offers.offers[0];
    let volume = offer.resources.iter().find(|r| r.is_persistent_volume()).expect("volume in offer");
    assert_eq!(volume.disk.as_ref().unwrap().persistence.as_ref().unwrap().id, "vol-0");
    let reservation = volume.current_reservation().unwrap();
    assert_eq!(reservation.kind, Some(ReservationType::Dynamic));
    assert_eq!(reservation.role.as_deref(), Some("herd-role"));
    assert_eq!(reservation.labels.unwrap().get("resource_id"), Some("inst-0"));

    let updates = read_json(&dir.join("16-events-updates-group.json"));
    let Event::Update(u) = check_event("update", &updates[0], true) else { panic!("not an UPDATE") };
    assert_eq!(u.status.state, TaskState::TaskStarting);
    assert_eq!(u.status.uuid.as_ref().map(Vec::len), Some(16), "uuid is 16 raw bytes");

    let stale = read_json(&dir.join("24-event-update-stale-offer.json"));
    let Event::Update(u) = check_event("stale", &stale, true) else { panic!("not an UPDATE") };
    assert_eq!(u.status.uuid, None, "master-generated updates carry no uuid");
}

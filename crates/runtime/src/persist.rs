//! How the scheduler's state maps onto store keys:
//!
//! | key | value | written |
//! |---|---|---|
//! | `framework_id` | the framework id (JSON) | on SUBSCRIBED, before acting on offers |
//! | `target` | the target config (id + spec, JSON) | when the config changes, before launching it |
//! | `instances/<pod>-<index>` | the instance: placement, tasks, counters, lost-since timer (JSON) | before every ACCEPT that changes it and before every acknowledgement |
//! | `cleanup` | reservations and volumes still to release (JSON) | before the UNRESERVE/DESTROY that releases them, and when an instance retires |
//! | `operator` | paused plans, resumed canaries, uninstalling (JSON) | when the operator acts |
//! | `jobs/<id>` | a job: its spec, state, task, history (JSON) | on submission, before its launch, before acknowledging its task's updates |

use crate::store::{Batch, StateStore, StoreError};
use herd_core::model::InstanceId;
use herd_core::model::Placement;
use herd_core::scheduler::jobs::Job;
use herd_core::scheduler::state::{Instance, OperatorState, ServiceState, TargetConfig};
use herd_mesos_api::FrameworkId;

/// Why state cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored value is not what this version of herd writes.
    #[error("state key {key} holds unreadable data ({source}); was it written by another herd version?")]
    Corrupt {
        /// The key.
        key: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
}

fn job_key(id: &str) -> String {
    format!("jobs/{id}")
}

fn instance_key(id: &InstanceId) -> String {
    format!("instances/{id}")
}

fn read<T: serde::de::DeserializeOwned>(
    store: &dyn StateStore,
    key: &str,
) -> Result<Option<T>, PersistError> {
    match store.get(key)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| PersistError::Corrupt { key: key.to_owned(), source }),
    }
}

fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Plain data always serialises.
    serde_json::to_vec(value).unwrap_or_default()
}

/// Loads the stored state: `None` for a service never run with this store.
pub fn load(store: &dyn StateStore) -> Result<Option<ServiceState>, PersistError> {
    let Some(target) = read::<TargetConfig>(store, "target")? else { return Ok(None) };
    let framework_id = read::<FrameworkId>(store, "framework_id")?;
    let mut state = ServiceState::new(target);
    state.framework_id = framework_id;
    state.cleanup = read::<Vec<Placement>>(store, "cleanup")?.unwrap_or_default();
    state.operator = read::<OperatorState>(store, "operator")?.unwrap_or_default();
    for key in store.list("jobs")? {
        if let Some(job) = read::<Job>(store, &key)? {
            state.jobs.insert(job.id.clone(), job);
        }
    }
    // The stored instances are the truth (a decommissioned one is absent).
    state.instances.clear();
    for key in store.list("instances")? {
        if let Some(instance) = read::<Instance>(store, &key)? {
            state.instances.insert(instance.id.clone(), instance);
        }
    }
    Ok(Some(state))
}

/// Writes the whole state (first run, or a new target config).
pub fn save_all(store: &dyn StateStore, state: &ServiceState) -> Result<(), PersistError> {
    let mut batch = Batch::new()
        .put("target", json(&state.target))
        .put("cleanup", json(&state.cleanup))
        .put("operator", json(&state.operator))
        .delete_prefix("instances")
        .delete_prefix("jobs");
    for job in state.jobs.values() {
        batch = batch.put(job_key(&job.id), json(job));
    }
    if let Some(id) = &state.framework_id {
        batch = batch.put("framework_id", json(id));
    }
    for instance in state.instances.values() {
        batch = batch.put(instance_key(&instance.id), json(instance));
    }
    store.apply(batch)?;
    Ok(())
}

/// Writes what a `Persist` action names.
pub fn save(
    store: &dyn StateStore,
    state: &ServiceState,
    instances: &[InstanceId],
    service: bool,
) -> Result<(), PersistError> {
    let mut batch = Batch::new();
    if service {
        if let Some(id) = &state.framework_id {
            batch = batch.put("framework_id", json(id));
        }
        batch = batch.put("cleanup", json(&state.cleanup)).put("operator", json(&state.operator));
    }
    for id in instances {
        match state.instances.get(id) {
            Some(instance) => batch = batch.put(instance_key(id), json(instance)),
            None => batch = batch.delete(instance_key(id)),
        }
    }
    store.apply(batch)?;
    Ok(())
}

/// Writes the jobs a `PersistJobs` action names (deleting those the state forgot).
pub fn save_jobs(store: &dyn StateStore, state: &ServiceState, jobs: &[String]) -> Result<(), PersistError> {
    let mut batch = Batch::new();
    for id in jobs {
        match state.jobs.get(id) {
            Some(job) => batch = batch.put(job_key(id), json(job)),
            None => batch = batch.delete(job_key(id)),
        }
    }
    store.apply(batch)?;
    Ok(())
}

/// Forgets the service (after an uninstall completed).
pub fn forget(store: &dyn StateStore) -> Result<(), PersistError> {
    store.apply(Batch::new().delete_prefix(""))?;
    Ok(())
}

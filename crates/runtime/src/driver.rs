//! The driver: runs a [`Scheduler`] against Mesos. Events from the subscription and a
//! one-second tick become scheduler inputs; the actions that come back are carried out in
//! order — `Persist` is written to the store before anything after it is sent, so an
//! acknowledgement or an ACCEPT never gets ahead of the state that explains it.

use crate::metrics::Metrics;
use crate::persist;
use crate::store::StateStore;
use herd_core::scheduler::{Action, Command, CommandError, Input, Scheduler};
use herd_mesos_api::Filters;
use herd_mesos_api::scheduler::{Accept, Call, Decline, Event, Kill, Reconcile, ReconcileTask, Roles};
use herd_mesos_client::{Client, Events, Incoming, SubscribeError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

/// Seconds since the epoch: the only clock reading, passed into the core as `now`.
pub(crate) fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Why the driver stopped.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The Mesos subscription ended for good.
    #[error("the Mesos subscription ended: {0}")]
    Subscription(#[source] SubscribeError),
    /// Writing state failed: stop rather than act on Mesos without a record.
    #[error("cannot persist state: {0}")]
    Persist(#[from] persist::PersistError),
    /// The service was uninstalled: nothing left to run.
    #[error("the service was uninstalled")]
    Uninstalled,
}

/// An operator command for the driver, with where to send the answer.
pub(crate) type CommandRequest = (Command, tokio::sync::oneshot::Sender<Result<(), CommandError>>);

/// The scheduler, shared between the driver and the operator API.
pub type SharedScheduler = Arc<Mutex<Scheduler>>;

pub(crate) fn lock(s: &SharedScheduler) -> std::sync::MutexGuard<'_, Scheduler> {
    s.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The name Mesos gives a value (`TASK_RUNNING`), for metric labels.
pub(crate) fn mesos_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// What the driver works with.
pub(crate) struct Driver {
    /// The scheduler.
    pub(crate) scheduler: SharedScheduler,
    /// Where state goes.
    pub(crate) store: Arc<dyn StateStore>,
    /// The Mesos client.
    pub(crate) client: Client,
    /// Its event stream.
    pub(crate) events: Events,
    /// Operator commands.
    pub(crate) commands: tokio::sync::mpsc::Receiver<CommandRequest>,
    /// Counters.
    pub(crate) metrics: Arc<Metrics>,
    /// The framework's readiness probes.
    pub(crate) probes: crate::probes::Probes,
}

/// Runs until `stop` or a fatal error. `stop` is only looked at between batches of
/// actions: a batch that started (persist, then the calls it explains) always completes.
pub(crate) async fn run(driver: Driver, stop: CancellationToken) -> Result<(), DriverError> {
    let Driver { scheduler, store, client, mut events, mut commands, metrics, probes } = driver;
    let (probe_tx, mut probe_results) = tokio::sync::mpsc::channel::<herd_mesos_api::TaskId>(64);
    let in_flight: Arc<Mutex<std::collections::BTreeSet<herd_mesos_api::TaskId>>> = Arc::default();
    let ctx = Ctx { client: &client, store: store.as_ref(), metrics: &metrics };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let input = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            Some((command, reply)) = commands.recv() => {
                let (result, state) = {
                    let mut s = lock(&scheduler);
                    let result = s.command(command, now());
                    (result, s.state().clone())
                };
                match result {
                    Ok(actions) => {
                        // Answered once done: a job accepted is a job persisted.
                        for action in actions {
                            execute(&ctx, Some(&state), action).await?;
                        }
                        let _ = reply.send(Ok(()));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
                continue;
            }
            _ = tick.tick() => {
                start_probes(&scheduler, &probes, &in_flight, &probe_tx);
                Input::Tick
            }
            Some(task_id) = probe_results.recv() => Input::ProbePassed(task_id),
            incoming = events.next() => match incoming {
                None => return Ok(()),
                Some(Incoming::Terminated(e)) => return Err(DriverError::Subscription(e)),
                Some(Incoming::Disconnected { error, .. }) => {
                    tracing::warn!(%error, "disconnected from Mesos");
                    Input::Disconnected
                }
                Some(Incoming::Event(event)) => {
                metrics.inc("herd_mesos_events_total", format!("type=\"{}\"", event.kind().name()));
                match event {
                    Event::Subscribed(s) => Input::Subscribed { framework_id: s.framework_id },
                    Event::Offers(o) => {
                        metrics.add("herd_offers_received_total", String::new(), o.offers.len() as f64);
                        Input::Offers(o.offers)
                    }
                    Event::Rescind(r) => Input::Rescind(r.offer_id),
                    Event::Update(u) => {
                        metrics.inc("herd_task_updates_total", format!("state=\"{}\"", mesos_name(&u.status.state)));
                        Input::Update(u.status)
                    }
                    Event::Failure(f) => {
                        tracing::warn!(agent = ?f.agent_id, executor = ?f.executor_id, status = ?f.status, "failure");
                        Input::Tick
                    }
                    _ => continue,
                }
                }
            },
        };
        let (actions, state) = {
            let mut s = lock(&scheduler);
            let actions = s.step(input, now());
            let needs_state =
                actions.iter().any(|a| matches!(a, Action::Persist { .. } | Action::PersistJobs(_)));
            (actions, needs_state.then(|| s.state().clone()))
        };
        for action in actions {
            execute(&ctx, state.as_ref(), action).await?;
        }
    }
}

/// Starts the probes that are due and not running already; a passed one reports its task.
fn start_probes(
    scheduler: &SharedScheduler,
    probes: &crate::probes::Probes,
    in_flight: &Arc<Mutex<std::collections::BTreeSet<herd_mesos_api::TaskId>>>,
    results: &tokio::sync::mpsc::Sender<herd_mesos_api::TaskId>,
) {
    if probes.is_empty() {
        return;
    }
    let due = lock(scheduler).probes_due();
    for request in due {
        let Some(probe) = probes.get(&request.probe) else { continue };
        if !in_flight.lock().unwrap_or_else(PoisonError::into_inner).insert(request.task_id.clone()) {
            continue;
        }
        let target = crate::probes::ProbeTarget {
            instance: request.instance.to_string(),
            index: request.instance.index,
            host: request.host,
            ports: request.ports,
            instances: request.instances,
        };
        let check = probe.check(target);
        let (results, in_flight, task_id, name) =
            (results.clone(), Arc::clone(in_flight), request.task_id, request.probe);
        tokio::spawn(async move {
            match tokio::time::timeout(crate::probes::PROBE_TIMEOUT, check).await {
                Ok(Ok(())) => {
                    let _ = results.send(task_id.clone()).await;
                }
                Ok(Err(why)) => tracing::debug!(probe = %name, task = %task_id, %why, "probe did not pass"),
                Err(_) => tracing::debug!(probe = %name, task = %task_id, "probe timed out"),
            }
            in_flight.lock().unwrap_or_else(PoisonError::into_inner).remove(&task_id);
        });
    }
}

/// Crash points for tests: `HERD_CRASH_AT=<point>:<n>` aborts the process (as a SIGKILL
/// would end it: no cleanup, no flush) the n-th time the driver reaches `<point>`, e.g.
/// `before-accept:2` or `after-persist:3`. Read once; costs one atomic add per action.
mod crash {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU32, Ordering};

    static AT: OnceLock<Option<(String, u32)>> = OnceLock::new();
    static SEEN: AtomicU32 = AtomicU32::new(0);

    pub(super) fn point(name: &str) {
        let at = AT.get_or_init(|| {
            let v = std::env::var("HERD_CRASH_AT").ok()?;
            let (p, n) = v.rsplit_once(':')?;
            Some((p.to_owned(), n.parse().ok()?))
        });
        if let Some((p, n)) = at
            && p == name
            && SEEN.fetch_add(1, Ordering::SeqCst) + 1 == *n
        {
            eprintln!("herd: crash point {name}:{n} reached, aborting (HERD_CRASH_AT)");
            std::process::abort();
        }
    }
}

fn action_name(action: &Action) -> &'static str {
    match action {
        Action::Persist { .. } | Action::PersistJobs(_) => "persist",
        Action::Accept { .. } => "accept",
        Action::Decline { .. } => "decline",
        Action::Kill { .. } => "kill",
        Action::Acknowledge(_) => "acknowledge",
        Action::Reconcile(_) => "reconcile",
        Action::Revive => "revive",
        Action::Suppress => "suppress",
        Action::Teardown => "teardown",
    }
}

/// What carrying out an action needs.
struct Ctx<'a> {
    client: &'a Client,
    store: &'a dyn StateStore,
    metrics: &'a Metrics,
}

async fn execute(
    ctx: &Ctx<'_>,
    state: Option<&herd_core::scheduler::state::ServiceState>,
    action: Action,
) -> Result<(), DriverError> {
    let name = action_name(&action);
    crash::point(&format!("before-{name}"));
    let result = execute_action(ctx, state, action).await;
    crash::point(&format!("after-{name}"));
    result
}

async fn execute_action(
    ctx: &Ctx<'_>,
    state: Option<&herd_core::scheduler::state::ServiceState>,
    action: Action,
) -> Result<(), DriverError> {
    let (client, store, metrics) = (ctx.client, ctx.store, ctx.metrics);
    let call = match action {
        Action::Persist { instances, service } => {
            if let Some(state) = state {
                let started = std::time::Instant::now();
                persist::save(store, state, &instances, service)?;
                metrics.inc("herd_state_writes_total", String::new());
                metrics.add("herd_state_write_seconds_total", String::new(), started.elapsed().as_secs_f64());
            }
            return Ok(());
        }
        Action::PersistJobs(jobs) => {
            if let Some(state) = state {
                let started = std::time::Instant::now();
                persist::save_jobs(store, state, &jobs)?;
                metrics.inc("herd_state_writes_total", String::new());
                metrics.add("herd_state_write_seconds_total", String::new(), started.elapsed().as_secs_f64());
            }
            return Ok(());
        }
        Action::Teardown => {
            if let Err(e) = client.call(Call::Teardown).await {
                tracing::warn!(error = %e, "TEARDOWN failed");
            }
            persist::forget(store)?;
            tracing::info!("uninstall complete: framework torn down, state forgotten");
            return Err(DriverError::Uninstalled);
        }
        Action::Accept { offer_ids, operations } => {
            Call::Accept(Accept { offer_ids, operations, filters: Some(Filters::refuse(1.0)) })
        }
        Action::Decline { offer_ids, refuse_secs } => {
            Call::Decline(Decline { offer_ids, filters: Some(Filters::refuse(refuse_secs)) })
        }
        Action::Kill { task_id, agent_id } => Call::Kill(Kill { task_id, agent_id, kill_policy: None }),
        Action::Acknowledge(status) => {
            metrics.inc("herd_mesos_calls_total", "call=\"ACKNOWLEDGE\"".to_owned());
            if let Err(e) = client.acknowledge(&status).await {
                metrics.inc("herd_mesos_call_failures_total", "call=\"ACKNOWLEDGE\"".to_owned());
                tracing::warn!(task = %status.task_id, error = %e, "acknowledge failed; Mesos will resend the update");
            }
            return Ok(());
        }
        Action::Reconcile(tasks) => Call::Reconcile(Reconcile {
            tasks: tasks.into_iter().map(|(task_id, agent_id)| ReconcileTask { task_id, agent_id }).collect(),
        }),
        Action::Revive => Call::Revive(Roles::default()),
        Action::Suppress => Call::Suppress(Roles::default()),
    };
    let name = call.kind().name();
    metrics.inc("herd_mesos_calls_total", format!("call=\"{name}\""));
    if let Err(e) = client.call(call).await {
        metrics.inc("herd_mesos_call_failures_total", format!("call=\"{name}\""));
        // Reconciliation on the next subscription repairs whatever this left undone.
        tracing::warn!(call = name, error = %e, "call failed");
    }
    Ok(())
}

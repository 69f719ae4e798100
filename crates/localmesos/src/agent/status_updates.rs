//! Reliable status updates: one ordered stream per task, only the head in flight, resent
//! (doubling from the configured first retry up to 10 minutes) until acknowledged.

use herd_mesos_api::{FrameworkId, TaskId, TaskStatus};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;
use tokio::time::Instant;

const MAX_RETRY: Duration = Duration::from_secs(600);

#[derive(Debug)]
struct Stream {
    pending: VecDeque<TaskStatus>,
    next_retry: Instant,
    backoff: Duration,
}

/// The agent's unacknowledged updates.
#[derive(Debug, Default)]
pub(crate) struct StatusUpdates {
    streams: BTreeMap<(FrameworkId, TaskId), Stream>,
    first_retry: Duration,
}

impl StatusUpdates {
    pub(crate) fn new(first_retry: Duration) -> Self {
        Self { streams: BTreeMap::new(), first_retry }
    }

    /// Queues an update; returns it if it must be sent now (it is the head).
    pub(crate) fn enqueue(&mut self, framework_id: &FrameworkId, status: TaskStatus) -> Option<TaskStatus> {
        let key = (framework_id.clone(), status.task_id.clone());
        let first_retry = self.first_retry;
        let stream = self.streams.entry(key).or_insert_with(|| Stream {
            pending: VecDeque::new(),
            next_retry: Instant::now() + first_retry,
            backoff: first_retry,
        });
        stream.pending.push_back(status);
        if stream.pending.len() == 1 {
            stream.next_retry = Instant::now() + first_retry;
            stream.backoff = first_retry;
            stream.pending.front().cloned()
        } else {
            None
        }
    }

    /// An acknowledgement: pops the head if `uuid` is its uuid (duplicates are ignored)
    /// and returns the next update to send, if any.
    pub(crate) fn acknowledge(
        &mut self,
        framework_id: &FrameworkId,
        task_id: &TaskId,
        uuid: &[u8],
    ) -> AckOutcome {
        let key = (framework_id.clone(), task_id.clone());
        let Some(stream) = self.streams.get_mut(&key) else { return AckOutcome::Unknown };
        if stream.pending.front().and_then(|s| s.uuid.as_deref()) != Some(uuid) {
            return AckOutcome::Unknown;
        }
        let acked = stream.pending.pop_front();
        let terminal = acked.is_some_and(|s| s.state.is_terminal());
        match stream.pending.front().cloned() {
            Some(next) => {
                stream.next_retry = Instant::now() + self.first_retry;
                stream.backoff = self.first_retry;
                AckOutcome::Next(Box::new(next))
            }
            None => {
                self.streams.remove(&key);
                AckOutcome::Drained { terminal }
            }
        }
    }

    /// Heads whose retry time has come (their next retry is pushed back).
    pub(crate) fn due(&mut self, now: Instant) -> Vec<(FrameworkId, TaskStatus)> {
        let mut out = Vec::new();
        for ((framework_id, _), stream) in &mut self.streams {
            if stream.next_retry <= now
                && let Some(head) = stream.pending.front()
            {
                out.push((framework_id.clone(), head.clone()));
                stream.backoff = (stream.backoff * 2).min(MAX_RETRY);
                stream.next_retry = now + stream.backoff;
            }
        }
        out
    }

    /// Every head of `framework_id` (sent again at once after it re-subscribes).
    pub(crate) fn heads(&self, framework_id: &FrameworkId) -> Vec<TaskStatus> {
        self.streams
            .iter()
            .filter(|((f, _), _)| f == framework_id)
            .filter_map(|(_, s)| s.pending.front().cloned())
            .collect()
    }

    /// Whether `task_id` still has updates waiting for acknowledgement.
    pub(crate) fn has_pending(&self, framework_id: &FrameworkId, task_id: &TaskId) -> bool {
        self.streams.contains_key(&(framework_id.clone(), task_id.clone()))
    }

    /// Forgets everything of a framework (removed) or everything (host died).
    pub(crate) fn forget(&mut self, framework_id: Option<&FrameworkId>) {
        match framework_id {
            Some(f) => self.streams.retain(|(fid, _), _| fid != f),
            None => self.streams.clear(),
        }
    }
}

/// What an acknowledgement did.
#[derive(Debug)]
pub(crate) enum AckOutcome {
    /// Not the head (duplicate or unknown): ignored.
    Unknown,
    /// The head was acknowledged and `next` must be sent now.
    Next(Box<TaskStatus>),
    /// The head was acknowledged and nothing else waits.
    Drained { terminal: bool },
}

#[cfg(test)]
mod tests {
    use super::*;
    use herd_mesos_api::TaskState;

    fn status(task: &str, state: TaskState, uuid: u8) -> TaskStatus {
        let mut s = TaskStatus::new(TaskId::new(task), state);
        s.uuid = Some(vec![uuid; 16]);
        s
    }

    #[test]
    fn only_the_head_is_in_flight_and_acks_advance_in_order() {
        let f = FrameworkId::new("f");
        let mut u = StatusUpdates::new(Duration::from_secs(10));
        assert!(u.enqueue(&f, status("t", TaskState::TaskStarting, 1)).is_some());
        assert!(u.enqueue(&f, status("t", TaskState::TaskRunning, 2)).is_none());
        assert!(u.enqueue(&f, status("t", TaskState::TaskFinished, 3)).is_none());
        assert!(
            matches!(u.acknowledge(&f, &TaskId::new("t"), &[2; 16]), AckOutcome::Unknown),
            "not the head"
        );
        let AckOutcome::Next(next) = u.acknowledge(&f, &TaskId::new("t"), &[1; 16]) else {
            panic!("expected the next update")
        };
        assert_eq!(next.state, TaskState::TaskRunning);
        assert!(
            matches!(u.acknowledge(&f, &TaskId::new("t"), &[1; 16]), AckOutcome::Unknown),
            "duplicate ack"
        );
        u.acknowledge(&f, &TaskId::new("t"), &[2; 16]);
        assert!(matches!(
            u.acknowledge(&f, &TaskId::new("t"), &[3; 16]),
            AckOutcome::Drained { terminal: true }
        ));
        assert!(!u.has_pending(&f, &TaskId::new("t")));
    }

    #[test]
    fn unacknowledged_heads_are_retried_with_backoff() {
        let f = FrameworkId::new("f");
        let mut u = StatusUpdates::new(Duration::from_secs(10));
        u.enqueue(&f, status("t", TaskState::TaskRunning, 1));
        let now = Instant::now();
        assert!(u.due(now).is_empty());
        assert_eq!(u.due(now + Duration::from_secs(11)).len(), 1);
        assert!(u.due(now + Duration::from_secs(20)).is_empty(), "backed off to 20 s");
        assert_eq!(u.due(now + Duration::from_secs(32)).len(), 1);
        assert_eq!(u.heads(&f).len(), 1);
    }
}

//! Operator commands from outside the driver (the operator API, a framework's routes):
//! each goes to the driver, which carries it out between event batches, and answers once
//! what the command changed is persisted and its calls are made.

use crate::driver::CommandRequest;
use herd_core::scheduler::{Command, CommandError};

/// Why a command was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum CommandFailed {
    /// The scheduler refused it (unknown plan, conflict, bad parameters...).
    #[error(transparent)]
    Refused(#[from] CommandError),
    /// The scheduler is stopping: nothing was done.
    #[error("the scheduler is stopping")]
    Stopping,
}

/// A handle that sends commands to a service's driver (cheap to clone).
#[derive(Debug, Clone)]
pub struct Commands(tokio::sync::mpsc::Sender<CommandRequest>);

impl Commands {
    pub(crate) fn new(sender: tokio::sync::mpsc::Sender<CommandRequest>) -> Self {
        Self(sender)
    }

    /// Carries out `command`; returns once its effect is persisted.
    pub async fn send(&self, command: Command) -> Result<(), CommandFailed> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.0.send((command, tx)).await.map_err(|_| CommandFailed::Stopping)?;
        rx.await.map_err(|_| CommandFailed::Stopping)?.map_err(CommandFailed::Refused)
    }
}

//! The agent's process runner: starts a command task's process in its sandbox, reports how it
//! ended the way the Mesos command executor does, and kills it (SIGTERM, then SIGKILL after a
//! grace period).
//!
//! # Behaviour
//!
//! - **Command.** `shell: true` runs `/bin/sh -c <value>` (argv[0] `sh`, as Mesos does);
//!   `shell: false` executes `value` (looked up in `PATH` when it has no `/`, like `execvp`)
//!   with `arguments` as the complete argv, so `arguments[0]` is argv[0]; with no arguments
//!   argv is just `[value]`.
//! - **Environment.** The agent's own environment is inherited and the spec's variables are
//!   laid over it (later entries win). This is what the Mesos posix launcher effectively does.
//!   If neither provides `PATH`, the usual default
//!   `/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin` is set.
//! - **I/O.** stdin is `/dev/null`; stdout and stderr are appended to the given files (created
//!   if missing). The files are opened by the agent, so they are writable whatever the task's
//!   user.
//! - **Process group.** Every task is the leader of its own process group
//!   (`setpgid(0, 0)` in the child), so signals reach the whole group, including children.
//!   A process that leaves the group (`setsid`, `setpgid`) escapes; Mesos uses cgroups for that,
//!   which this test cluster does not.
//! - **User.** With a `user`, the process runs as that user's uid and primary gid when the
//!   agent is root (supplementary groups are cleared rather than set with `initgroups`: that
//!   needs code in the forked child, which this crate's `forbid(unsafe_code)` rules out).
//!   Running as the agent's own user needs no switch; any other user when the agent is not
//!   root is an error, as in Mesos. The caller is responsible for making the sandbox usable by
//!   that user (Mesos `chown`s it before fetching); the working directory is entered after the
//!   switch, so an inaccessible sandbox makes [`spawn`] fail.
//! - **Exit.** Reported like the command executor: exit 0 → finished (even after a kill);
//!   otherwise killed when a kill was requested, else failed; message
//!   `Command exited with status N` / `Command terminated with signal <strsignal text>`.
//! - **Kill.** [`ProcessHandle::terminate`] sends SIGTERM (and SIGCONT, so stopped processes
//!   see it) to the group and SIGKILL to the group after the grace period if the leader is
//!   still alive. Like the command executor, a repeated kill can only shorten the grace period
//!   (measured from the first kill); a longer or equal one is a no-op.
//! - **No leaks.** As soon as the leader has exited, the remaining members of its group are
//!   SIGKILLed (the Mesos posix launcher leaves them, but leaked processes are a problem for a
//!   test cluster). If the runtime shuts down while a task runs, its group is SIGKILLed too.
//!   (The group is signalled right after the leader is reaped; its id could in theory be reused
//!   in between only if every member had exited and the kernel handed out the same pid within
//!   those microseconds.)

use herd_mesos_api::{CommandInfo, Variable, VariableType};
use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::{Gid, Pid, Uid, User, geteuid};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, warn};

/// `PATH` given to a task when neither the agent's environment nor the task provides one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What to run, where, and as whom.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcessSpec {
    /// `true`: run `value` with `/bin/sh -c`; `false`: execute `value` with `arguments`.
    pub shell: bool,
    /// The shell command, or the program to execute (searched in `PATH` if it has no `/`).
    pub value: String,
    /// The complete argv when `shell` is false (`arguments[0]` is argv[0]); ignored otherwise.
    pub arguments: Vec<String>,
    /// Variables laid over the agent's environment, in order (a later entry wins).
    pub env: Vec<(String, String)>,
    /// The working directory (the sandbox).
    pub cwd: PathBuf,
    /// File the process's stdout is appended to.
    pub stdout: PathBuf,
    /// File the process's stderr is appended to.
    pub stderr: PathBuf,
    /// Unix user to run as; `None` runs as the agent's user.
    pub user: Option<String>,
}

impl ProcessSpec {
    /// The spec for a `CommandInfo` run in `sandbox`: output to `sandbox/stdout` and
    /// `sandbox/stderr`, `shell` defaulting to true, the user from `cmd.user`.
    ///
    /// Environment: VALUE variables (and those without a type) are used as they are. SECRET
    /// variables get the secret's inline value when it has one that is UTF-8, as the Mesos
    /// default secret resolver does; referenced secrets (no secret store here) and UNKNOWN
    /// variables are skipped with a warning.
    pub fn from_command(cmd: &CommandInfo, sandbox: &Path) -> Self {
        let env = cmd
            .environment
            .iter()
            .flat_map(|environment| &environment.variables)
            .filter_map(env_value)
            .collect();
        Self {
            shell: cmd.shell.unwrap_or(true),
            value: cmd.value.clone().unwrap_or_default(),
            arguments: cmd.arguments.clone(),
            env,
            cwd: sandbox.to_path_buf(),
            stdout: sandbox.join("stdout"),
            stderr: sandbox.join("stderr"),
            user: cmd.user.clone(),
        }
    }

    /// What is executed, for messages: the shell command or the program.
    fn program(&self) -> &str {
        if self.shell { "/bin/sh" } else { &self.value }
    }
}

/// One environment variable of a `CommandInfo`, or `None` (with a warning) if it is skipped.
fn env_value(variable: &Variable) -> Option<(String, String)> {
    match variable.kind {
        None | Some(VariableType::Value) => {
            Some((variable.name.clone(), variable.value.clone().unwrap_or_default()))
        }
        Some(VariableType::Secret) => {
            let inline = variable.secret.as_ref().and_then(|secret| secret.value.as_ref());
            match inline.map(|value| String::from_utf8(value.data.clone())) {
                Some(Ok(value)) => Some((variable.name.clone(), value)),
                Some(Err(_)) => {
                    warn!(variable = %variable.name, "skipping a SECRET environment variable whose value is not UTF-8");
                    None
                }
                None => {
                    warn!(variable = %variable.name, "skipping a SECRET environment variable: only inline secret values are supported");
                    None
                }
            }
        }
        Some(VariableType::Unknown) => {
            warn!(variable = %variable.name, "skipping an environment variable of type UNKNOWN");
            None
        }
    }
}

/// Why a process could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The requested user is unknown or cannot be switched to.
    #[error("Failed to launch as user '{user}': {reason}")]
    User {
        /// The requested user name.
        user: String,
        /// What is wrong, e.g. `no such user`.
        reason: String,
    },
    /// The stdout or stderr file could not be opened.
    #[error("Failed to open '{}': {error}", path.display())]
    Output {
        /// The file.
        path: PathBuf,
        /// The error.
        error: io::Error,
    },
    /// The process could not be started (fork, changing into `cwd`, or exec failed).
    #[error("Failed to launch '{program}' in '{}': {error}", cwd.display())]
    Exec {
        /// The program (`/bin/sh` for shell commands).
        program: String,
        /// The working directory.
        cwd: PathBuf,
        /// The error.
        error: io::Error,
    },
    /// [`spawn`] was called outside a tokio runtime.
    #[error("Failed to launch a process: not called within a tokio runtime")]
    NoRuntime,
}

/// How the process ended, as `waitpid` tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Termination {
    /// It exited with this status.
    Exited(i32),
    /// It was terminated by this signal number.
    Signaled(i32),
}

impl fmt::Display for Termination {
    /// Like stout's `WSTRINGIFY`: `exited with status N` / `terminated with signal Killed`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Exited(code) => write!(f, "exited with status {code}"),
            Self::Signaled(signal) => {
                write!(f, "terminated with signal {}", signal_description(signal))
            }
        }
    }
}

/// The task state an [`Exit`] maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Exit status 0 → TASK_FINISHED (also when a kill had been requested).
    Finished,
    /// Any other end without a kill request → TASK_FAILED.
    Failed,
    /// Any other end after [`ProcessHandle::terminate`] or [`ProcessHandle::kill_now`] →
    /// TASK_KILLED.
    Killed,
}

/// How a task's process ended, and whether a kill had been requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Exit {
    /// How the process (the group leader) ended.
    pub termination: Termination,
    /// Whether [`ProcessHandle::terminate`] or [`ProcessHandle::kill_now`] was called before
    /// the process ended.
    pub kill_requested: bool,
}

impl Exit {
    /// Whether the process exited with status 0.
    pub fn success(&self) -> bool {
        self.termination == Termination::Exited(0)
    }

    /// The task state to report, with the command executor's rules: exit 0 is finished; else
    /// killed if a kill was requested, failed otherwise.
    pub fn outcome(&self) -> Outcome {
        if self.success() {
            Outcome::Finished
        } else if self.kill_requested {
            Outcome::Killed
        } else {
            Outcome::Failed
        }
    }

    /// The status message: `Command exited with status 1`,
    /// `Command terminated with signal Killed`.
    pub fn message(&self) -> String {
        format!("Command {}", self.termination)
    }

    /// The status as `waitpid` encodes it (`code << 8`, or the signal number), e.g. for the
    /// `status` of a FAILURE event.
    pub fn raw_wait_status(&self) -> i32 {
        match self.termination {
            Termination::Exited(code) => (code & 0xff) << 8,
            Termination::Signaled(signal) => signal & 0x7f,
        }
    }

    /// The exit status, if the process exited.
    pub fn code(&self) -> Option<i32> {
        match self.termination {
            Termination::Exited(code) => Some(code),
            Termination::Signaled(_) => None,
        }
    }

    /// The signal number, if the process was terminated by a signal.
    pub fn signal(&self) -> Option<i32> {
        match self.termination {
            Termination::Exited(_) => None,
            Termination::Signaled(signal) => Some(signal),
        }
    }

    fn from_status(status: ExitStatus, kill_requested: bool) -> Self {
        let termination = match (status.code(), status.signal()) {
            (Some(code), _) => Termination::Exited(code),
            (None, Some(signal)) => Termination::Signaled(signal),
            // `wait` only reports exited or signalled processes.
            (None, None) => Termination::Exited(status.into_raw()),
        };
        Self { termination, kill_requested }
    }
}

impl fmt::Display for Exit {
    /// Same as [`Exit::message`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Command {}", self.termination)
    }
}

/// The text glibc's `strsignal` gives for a signal number (`Killed`, `Terminated`, ...), which
/// is what Mesos puts in its messages.
pub fn signal_description(signal: i32) -> String {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let linux_only = match Signal::try_from(signal) {
        Ok(Signal::SIGSTKFLT) => Some("Stack fault"),
        Ok(Signal::SIGPWR) => Some("Power failure"),
        _ => None,
    };
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let linux_only: Option<&str> = None;

    let text = match Signal::try_from(signal) {
        _ if linux_only.is_some() => linux_only,
        Ok(Signal::SIGHUP) => Some("Hangup"),
        Ok(Signal::SIGINT) => Some("Interrupt"),
        Ok(Signal::SIGQUIT) => Some("Quit"),
        Ok(Signal::SIGILL) => Some("Illegal instruction"),
        Ok(Signal::SIGTRAP) => Some("Trace/breakpoint trap"),
        Ok(Signal::SIGABRT) => Some("Aborted"),
        Ok(Signal::SIGBUS) => Some("Bus error"),
        Ok(Signal::SIGFPE) => Some("Floating point exception"),
        Ok(Signal::SIGKILL) => Some("Killed"),
        Ok(Signal::SIGUSR1) => Some("User defined signal 1"),
        Ok(Signal::SIGSEGV) => Some("Segmentation fault"),
        Ok(Signal::SIGUSR2) => Some("User defined signal 2"),
        Ok(Signal::SIGPIPE) => Some("Broken pipe"),
        Ok(Signal::SIGALRM) => Some("Alarm clock"),
        Ok(Signal::SIGTERM) => Some("Terminated"),
        Ok(Signal::SIGCHLD) => Some("Child exited"),
        Ok(Signal::SIGCONT) => Some("Continued"),
        Ok(Signal::SIGSTOP) => Some("Stopped (signal)"),
        Ok(Signal::SIGTSTP) => Some("Stopped"),
        Ok(Signal::SIGTTIN) => Some("Stopped (tty input)"),
        Ok(Signal::SIGTTOU) => Some("Stopped (tty output)"),
        Ok(Signal::SIGURG) => Some("Urgent I/O condition"),
        Ok(Signal::SIGXCPU) => Some("CPU time limit exceeded"),
        Ok(Signal::SIGXFSZ) => Some("File size limit exceeded"),
        Ok(Signal::SIGVTALRM) => Some("Virtual timer expired"),
        Ok(Signal::SIGPROF) => Some("Profiling timer expired"),
        Ok(Signal::SIGWINCH) => Some("Window changed"),
        Ok(Signal::SIGIO) => Some("I/O possible"),
        Ok(Signal::SIGSYS) => Some("Bad system call"),
        _ => None,
    };
    match text {
        Some(text) => text.to_owned(),
        None => realtime_description(signal).unwrap_or_else(|| format!("Unknown signal {signal}")),
    }
}

/// glibc's text for a real-time signal: `Real-time signal N`, N counted from SIGRTMIN.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn realtime_description(signal: i32) -> Option<String> {
    let (min, max) = (nix::libc::SIGRTMIN(), nix::libc::SIGRTMAX());
    (min..=max).contains(&signal).then(|| format!("Real-time signal {}", signal - min))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn realtime_description(_signal: i32) -> Option<String> {
    None
}

/// A running (or finished) task process. Cheap to clone; all clones refer to the same process.
#[derive(Debug, Clone)]
pub struct ProcessHandle {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pid: u32,
    /// The process group: the leader's pid.
    pgid: Pid,
    state: Mutex<State>,
    /// `Some` once the leader has been reaped and the rest of its group killed.
    exit: watch::Receiver<Option<Exit>>,
    runtime: tokio::runtime::Handle,
}

#[derive(Debug, Default)]
struct State {
    /// The leader has been reaped: the group must not be signalled any more.
    exited: bool,
    /// When the first kill was requested.
    kill_started: Option<Instant>,
    /// When SIGKILL is (or was) due.
    kill_deadline: Option<Instant>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Sends `signal` to the process group `pgid`; a group that no longer exists is fine.
fn signal_group(pgid: Pid, signal: Signal) -> bool {
    match killpg(pgid, signal) {
        Ok(()) => true,
        Err(Errno::ESRCH) => false,
        Err(error) => {
            warn!(pgid = pgid.as_raw(), %signal, %error, "failed to signal a task's process group");
            false
        }
    }
}

impl ProcessHandle {
    /// The process id (also the process group id).
    pub fn pid(&self) -> u32 {
        self.inner.pid
    }

    /// Waits until the process has exited and the rest of its process group has been killed.
    /// Any number of callers may wait, concurrently or after the fact.
    pub async fn wait(&self) -> Exit {
        let mut exit = self.inner.exit.clone();
        let result = exit.wait_for(Option::is_some).await.ok().and_then(|exit| *exit);
        // No result only if the runtime dropped the reaper task while shutting down, after it
        // SIGKILLed the group.
        result.unwrap_or(Exit {
            termination: Termination::Signaled(Signal::SIGKILL as i32),
            kill_requested: true,
        })
    }

    /// How the process ended, if it has.
    pub fn try_exit(&self) -> Option<Exit> {
        *self.inner.exit.borrow()
    }

    /// Whether a kill has been requested (and the process had not ended by then).
    pub fn kill_requested(&self) -> bool {
        self.inner.lock().kill_started.is_some()
    }

    /// Starts killing the task and returns at once: SIGTERM to the process group now, SIGKILL
    /// to the group once `grace` has passed if the process is still alive (immediately for a
    /// zero grace period). A repeated call can only shorten the grace period, counted from the
    /// first call; a longer or equal one changes nothing. No effect once the process has ended.
    pub fn terminate(&self, grace: Duration) {
        let inner = &self.inner;
        let now = Instant::now();
        let mut state = inner.lock();
        if state.exited {
            return;
        }
        let first = state.kill_started.is_none();
        let start = *state.kill_started.get_or_insert(now);
        // `None`: a grace period too long to represent, i.e. never escalate.
        let deadline = start.checked_add(grace);
        let sooner = match (state.kill_deadline, deadline) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(current), Some(new)) => new < current,
        };
        if first {
            debug!(pid = inner.pid, ?grace, "sending SIGTERM to the task's process group");
            signal_group(inner.pgid, Signal::SIGTERM);
            signal_group(inner.pgid, Signal::SIGCONT);
        }
        let Some(deadline) = deadline.filter(|_| sooner) else {
            return;
        };
        state.kill_deadline = Some(deadline);
        if deadline <= now {
            debug!(pid = inner.pid, "sending SIGKILL to the task's process group");
            signal_group(inner.pgid, Signal::SIGKILL);
            return;
        }
        drop(state);
        inner.runtime.spawn(escalate(Arc::clone(inner), deadline));
    }

    /// SIGKILLs the process group now. No effect once the process has ended.
    pub fn kill_now(&self) {
        let now = Instant::now();
        let mut state = self.inner.lock();
        if state.exited {
            return;
        }
        state.kill_started.get_or_insert(now);
        state.kill_deadline = Some(now);
        debug!(pid = self.inner.pid, "sending SIGKILL to the task's process group");
        signal_group(self.inner.pgid, Signal::SIGKILL);
    }
}

/// SIGKILLs the group at `deadline` unless the process has ended by then.
async fn escalate(inner: Arc<Inner>, deadline: Instant) {
    let mut exit = inner.exit.clone();
    let ended = tokio::time::timeout_at(deadline, exit.wait_for(Option::is_some)).await.is_ok();
    if ended {
        return;
    }
    let state = inner.lock();
    if !state.exited && state.kill_deadline.is_some_and(|due| due <= Instant::now()) {
        debug!(pid = inner.pid, "grace period over: sending SIGKILL to the task's process group");
        signal_group(inner.pgid, Signal::SIGKILL);
    }
}

/// Owns the child; reaps it, kills what is left of its group, publishes the exit. If dropped
/// before that (runtime shutdown), SIGKILLs the group so nothing is leaked.
struct Reaper {
    child: tokio::process::Child,
    inner: Arc<Inner>,
    exit: watch::Sender<Option<Exit>>,
    done: bool,
}

impl Reaper {
    async fn run(mut self) {
        let status = self.child.wait().await;
        let exit = {
            let mut state = self.inner.lock();
            state.exited = true;
            self.done = true;
            if signal_group(self.inner.pgid, Signal::SIGKILL) {
                debug!(pid = self.inner.pid, "killed processes left in the task's process group");
            }
            let kill_requested = state.kill_started.is_some();
            match status {
                Ok(status) => Exit::from_status(status, kill_requested),
                Err(error) => {
                    // Only if something else in the agent reaped our child; the group is dead
                    // now in any case.
                    warn!(pid = self.inner.pid, %error, "failed to wait for a task's process");
                    Exit { termination: Termination::Signaled(Signal::SIGKILL as i32), kill_requested }
                }
            }
        };
        debug!(pid = self.inner.pid, %exit, "task process ended");
        self.exit.send_replace(Some(exit));
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if !self.done {
            signal_group(self.inner.pgid, Signal::SIGKILL);
        }
    }
}

/// Decides the uid/gid to switch to for `user` (`None`: run as the agent's user).
fn user_switch(user: &str, euid: Uid) -> Result<Option<(Uid, Gid)>, SpawnError> {
    let error = |reason: String| SpawnError::User { user: user.to_owned(), reason };
    let entry = User::from_name(user)
        .map_err(|errno| error(format!("failed to look up the user: {errno}")))?
        .ok_or_else(|| error("no such user".to_owned()))?;
    switch_decision(user, entry.uid, entry.gid, euid)
}

fn switch_decision(user: &str, uid: Uid, gid: Gid, euid: Uid) -> Result<Option<(Uid, Gid)>, SpawnError> {
    if uid == euid {
        Ok(None)
    } else if euid.is_root() {
        Ok(Some((uid, gid)))
    } else {
        Err(SpawnError::User {
            user: user.to_owned(),
            reason: format!("the agent runs as uid {euid}, not as root, so it cannot switch to uid {uid}"),
        })
    }
}

fn open_output(path: &Path) -> Result<File, SpawnError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|error| SpawnError::Output { path: path.to_path_buf(), error })
}

/// Starts the process described by `spec` (see the module documentation). Must be called
/// within a tokio runtime, which then watches the process.
pub fn spawn(spec: &ProcessSpec) -> Result<ProcessHandle, SpawnError> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| SpawnError::NoRuntime)?;
    let switch = match &spec.user {
        Some(user) => user_switch(user, geteuid())?,
        None => None,
    };
    let stdout = open_output(&spec.stdout)?;
    let stderr = open_output(&spec.stderr)?;

    let mut command = if spec.shell {
        let mut command = std::process::Command::new("/bin/sh");
        command.arg0("sh").arg("-c").arg(&spec.value);
        command
    } else {
        let mut command = std::process::Command::new(&spec.value);
        if let Some((argv0, rest)) = spec.arguments.split_first() {
            command.arg0(argv0).args(rest);
        }
        command
    };
    command.current_dir(&spec.cwd).stdin(Stdio::null()).stdout(stdout).stderr(stderr).process_group(0);
    if std::env::var_os("PATH").is_none() && !spec.env.iter().any(|(name, _)| name == "PATH") {
        command.env("PATH", DEFAULT_PATH);
    }
    command.envs(spec.env.iter().map(|(name, value)| (name, value)));
    if let Some((uid, gid)) = switch {
        command.uid(uid.as_raw()).gid(gid.as_raw());
    }
    let mut command = tokio::process::Command::from(command);
    command.kill_on_drop(true);

    let exec_error =
        |error| SpawnError::Exec { program: spec.program().to_owned(), cwd: spec.cwd.clone(), error };
    let child = command.spawn().map_err(exec_error)?;
    let pid = child.id().ok_or_else(|| exec_error(io::Error::other("the process has no pid")))?;
    let pgid = i32::try_from(pid)
        .map(Pid::from_raw)
        .map_err(|_| exec_error(io::Error::other(format!("pid {pid} out of range"))))?;
    debug!(pid, command = %spec.value, "task process started");

    let (sender, receiver) = watch::channel(None);
    let inner = Arc::new(Inner {
        pid,
        pgid,
        state: Mutex::new(State::default()),
        exit: receiver,
        runtime: runtime.clone(),
    });
    let reaper = Reaper { child, inner: Arc::clone(&inner), exit: sender, done: false };
    runtime.spawn(reaper.run());
    Ok(ProcessHandle { inner })
}

#[cfg(test)]
mod tests {
    use super::*;
    use herd_mesos_api::{Environment, Secret, SecretValue};
    use nix::sys::signal::kill;
    use nix::unistd::getpgid;
    use std::os::unix::fs::PermissionsExt as _;
    use std::time::Instant as StdInstant;
    use tempfile::TempDir;

    const LONG: Duration = Duration::from_secs(20);

    fn sandbox() -> TempDir {
        tempfile::tempdir().expect("tempdir")
    }

    fn shell(dir: &Path, command: &str) -> ProcessSpec {
        ProcessSpec::from_command(&CommandInfo::shell(command), dir)
    }

    async fn run(spec: &ProcessSpec) -> Exit {
        let handle = spawn(spec).expect("spawn");
        finish(&handle).await
    }

    async fn finish(handle: &ProcessHandle) -> Exit {
        tokio::time::timeout(LONG, handle.wait()).await.expect("the process did not end in time")
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// Polls `path` until its content satisfies `ready`.
    async fn wait_for_file(path: &Path, ready: impl Fn(&str) -> bool) -> String {
        let start = StdInstant::now();
        loop {
            let content = read(path);
            if ready(&content) {
                return content;
            }
            assert!(start.elapsed() < LONG, "{} never got ready: {content:?}", path.display());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Alive and not a zombie (orphans may wait a moment for init to reap them).
    fn alive(pid: i32) -> bool {
        if kill(Pid::from_raw(pid), None).is_err() {
            return false;
        }
        let stat = read(Path::new(&format!("/proc/{pid}/stat")));
        // Format: `pid (comm) S ...`; the state follows the last ')'.
        let state = stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next());
        !matches!(state, Some("Z" | "X") | None)
    }

    async fn assert_dead(pids: &[i32]) {
        let start = StdInstant::now();
        while pids.iter().any(|&pid| alive(pid)) {
            assert!(start.elapsed() < Duration::from_secs(5), "still alive: {pids:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Kills the given pids on drop if they are still in process group `pgid`, so that a
    /// failing test leaks nothing.
    struct Reap {
        pgid: Pid,
        pids: Vec<i32>,
    }

    impl Drop for Reap {
        fn drop(&mut self) {
            for &pid in &self.pids {
                if getpgid(Some(Pid::from_raw(pid))) == Ok(self.pgid) {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
        }
    }

    fn pids_in(content: &str) -> Vec<i32> {
        content.split_whitespace().map(|pid| pid.parse().expect("a pid")).collect()
    }

    #[tokio::test]
    async fn exit_zero_is_finished() {
        let dir = sandbox();
        let exit = run(&shell(dir.path(), "exit 0")).await;
        assert_eq!(exit.termination, Termination::Exited(0));
        assert!(exit.success());
        assert_eq!(exit.outcome(), Outcome::Finished);
        assert_eq!(exit.message(), "Command exited with status 0");
        assert_eq!(exit.raw_wait_status(), 0);
    }

    #[tokio::test]
    async fn nonzero_exit_is_failed() {
        let dir = sandbox();
        let exit = run(&shell(dir.path(), "exit 3")).await;
        assert_eq!(exit.termination, Termination::Exited(3));
        assert!(!exit.success());
        assert_eq!(exit.outcome(), Outcome::Failed);
        assert_eq!(exit.message(), "Command exited with status 3");
        assert_eq!(exit.to_string(), "Command exited with status 3");
        assert_eq!(exit.raw_wait_status(), 3 << 8);
        assert_eq!((exit.code(), exit.signal()), (Some(3), None));
    }

    #[tokio::test]
    async fn self_inflicted_signal_is_failed_with_the_signal_text() {
        let dir = sandbox();
        let exit = run(&shell(dir.path(), "kill -KILL $$")).await;
        assert_eq!(exit.termination, Termination::Signaled(9));
        assert_eq!(exit.outcome(), Outcome::Failed);
        assert_eq!(exit.message(), "Command terminated with signal Killed");
        assert_eq!(exit.raw_wait_status(), 9);

        let exit = run(&shell(dir.path(), "kill -SEGV $$")).await;
        assert_eq!(exit.message(), "Command terminated with signal Segmentation fault");
    }

    #[test]
    fn signal_texts_match_strsignal() {
        assert_eq!(signal_description(9), "Killed");
        assert_eq!(signal_description(15), "Terminated");
        assert_eq!(signal_description(1), "Hangup");
        assert_eq!(signal_description(6), "Aborted");
        assert_eq!(signal_description(0), "Unknown signal 0");
        #[cfg(target_os = "linux")]
        {
            assert_eq!(signal_description(16), "Stack fault");
            assert_eq!(signal_description(nix::libc::SIGRTMIN() + 2), "Real-time signal 2");
        }
    }

    #[tokio::test]
    async fn argv_mode_executes_value_with_arguments_as_argv() {
        let dir = sandbox();
        let spec = ProcessSpec {
            shell: false,
            value: "printf".into(),
            arguments: vec!["printf".into(), "%s-%s".into(), "a b".into(), "$HOME".into()],
            ..shell(dir.path(), "")
        };
        assert!(run(&spec).await.success());
        assert_eq!(read(&spec.stdout), "a b-$HOME");

        // arguments[0] is argv[0].
        let spec = ProcessSpec {
            shell: false,
            value: "/bin/sh".into(),
            arguments: vec![
                "herd-argv0".into(),
                "-c".into(),
                "tr '\\0' '\\n' < /proc/$$/cmdline | head -n 1 >> argv0".into(),
            ],
            ..shell(dir.path(), "")
        };
        assert!(run(&spec).await.success());
        assert_eq!(read(&dir.path().join("argv0")), "herd-argv0\n");

        // No arguments: argv is just the value.
        let spec = ProcessSpec { shell: false, value: "true".into(), ..shell(dir.path(), "") };
        assert!(run(&spec).await.success());
    }

    #[tokio::test]
    async fn from_command_defaults() {
        let dir = sandbox();
        let command = CommandInfo {
            shell: Some(false),
            value: Some("/bin/echo".into()),
            arguments: vec!["echo".into(), "hi".into()],
            user: Some("nobody".into()),
            environment: Some(Environment {
                variables: vec![
                    Variable { name: "A".into(), value: Some("1".into()), ..Variable::default() },
                    Variable {
                        name: "B".into(),
                        kind: Some(VariableType::Value),
                        value: Some("2".into()),
                        ..Variable::default()
                    },
                    Variable {
                        name: "S".into(),
                        kind: Some(VariableType::Secret),
                        secret: Some(Secret {
                            value: Some(SecretValue { data: b"s3cret".to_vec() }),
                            ..Secret::default()
                        }),
                        ..Variable::default()
                    },
                    Variable {
                        name: "R".into(),
                        kind: Some(VariableType::Secret),
                        secret: Some(Secret::default()),
                        ..Variable::default()
                    },
                ],
            }),
            ..CommandInfo::default()
        };
        let spec = ProcessSpec::from_command(&command, dir.path());
        assert_eq!(
            spec,
            ProcessSpec {
                shell: false,
                value: "/bin/echo".into(),
                arguments: vec!["echo".into(), "hi".into()],
                env: vec![("A".into(), "1".into()), ("B".into(), "2".into()), ("S".into(), "s3cret".into())],
                cwd: dir.path().to_path_buf(),
                stdout: dir.path().join("stdout"),
                stderr: dir.path().join("stderr"),
                user: Some("nobody".into()),
            }
        );
        assert!(ProcessSpec::from_command(&CommandInfo::shell("x"), dir.path()).shell);
    }

    #[tokio::test]
    async fn environment_overlays_the_agents() {
        let dir = sandbox();
        let mut spec = shell(dir.path(), "printf '%s|%s|%s' \"$HERD_TEST_VAR\" \"$HOME\" \"$PATH\"");
        spec.env = vec![
            ("HERD_TEST_VAR".into(), "first".into()),
            ("HOME".into(), "/herd-home".into()),
            ("HERD_TEST_VAR".into(), "hello world".into()),
        ];
        assert!(run(&spec).await.success());
        let path = std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.to_owned());
        assert_eq!(read(&spec.stdout), format!("hello world|/herd-home|{path}"));
    }

    #[tokio::test]
    async fn runs_in_the_sandbox_with_output_appended_to_files() {
        let dir = sandbox();
        let spec = shell(dir.path(), "pwd -P; echo out; echo err >&2; read line || echo eof");
        std::fs::write(&spec.stdout, "earlier\n").expect("write");
        assert!(run(&spec).await.success());
        let cwd = dir.path().canonicalize().expect("canonicalize");
        assert_eq!(read(&spec.stdout), format!("earlier\n{}\nout\neof\n", cwd.display()));
        assert_eq!(read(&spec.stderr), "err\n");
    }

    #[tokio::test]
    async fn the_task_leads_its_own_process_group() {
        let dir = sandbox();
        let handle = spawn(&shell(dir.path(), "sleep 100")).expect("spawn");
        let pid = Pid::from_raw(i32::try_from(handle.pid()).expect("pid"));
        assert_eq!(getpgid(Some(pid)), Ok(pid));
        assert_ne!(getpgid(None), Ok(pid));
        handle.kill_now();
        let exit = finish(&handle).await;
        assert_eq!(exit.termination, Termination::Signaled(9));
        assert_eq!(exit.outcome(), Outcome::Killed);
        assert_eq!(exit.message(), "Command terminated with signal Killed");
    }

    #[tokio::test]
    async fn sigterm_kills_a_well_behaved_task_promptly() {
        let dir = sandbox();
        let handle = spawn(&shell(dir.path(), "sleep 100")).expect("spawn");
        let start = StdInstant::now();
        handle.terminate(Duration::from_secs(10));
        assert!(handle.kill_requested());
        let exit = finish(&handle).await;
        assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
        assert_eq!(exit.termination, Termination::Signaled(15));
        assert_eq!(exit.outcome(), Outcome::Killed);
        assert_eq!(exit.message(), "Command terminated with signal Terminated");
        // Killing an ended process does nothing.
        handle.terminate(Duration::ZERO);
        handle.kill_now();
        assert_eq!(handle.try_exit(), Some(exit));
    }

    #[tokio::test]
    async fn a_task_ignoring_sigterm_is_killed_after_the_grace_period() {
        let dir = sandbox();
        let spec = shell(dir.path(), "trap '' TERM; echo ready; sleep 100");
        let handle = spawn(&spec).expect("spawn");
        wait_for_file(&spec.stdout, |out| out == "ready\n").await;
        let grace = Duration::from_millis(1500);
        let start = StdInstant::now();
        handle.terminate(grace);
        let exit = finish(&handle).await;
        let took = start.elapsed();
        assert!(took >= grace && took < grace + Duration::from_secs(2), "took {took:?}");
        assert_eq!(exit.termination, Termination::Signaled(9));
        assert_eq!(exit.outcome(), Outcome::Killed);
        assert_eq!(exit.message(), "Command terminated with signal Killed");
    }

    #[tokio::test]
    async fn a_second_kill_can_only_shorten_the_grace_period() {
        let dir = sandbox();
        let spec = shell(dir.path(), "trap '' TERM; echo ready; sleep 100");
        let handle = spawn(&spec).expect("spawn");
        wait_for_file(&spec.stdout, |out| out == "ready\n").await;
        let start = StdInstant::now();
        handle.terminate(Duration::from_secs(60));
        handle.terminate(Duration::from_millis(500));
        handle.terminate(Duration::from_secs(30)); // longer: no effect
        let exit = finish(&handle).await;
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(500) && took < Duration::from_secs(3), "{took:?}");
        assert_eq!(exit.outcome(), Outcome::Killed);
    }

    #[tokio::test]
    async fn exit_zero_after_a_kill_is_finished_and_other_exits_are_killed() {
        let dir = sandbox();
        for (status, outcome) in [(0, Outcome::Finished), (3, Outcome::Killed)] {
            let script = format!("trap 'exit {status}' TERM; echo ready; sleep 100 & wait");
            let spec = shell(dir.path(), &script);
            std::fs::remove_file(&spec.stdout).ok();
            let handle = spawn(&spec).expect("spawn");
            wait_for_file(&spec.stdout, |out| out == "ready\n").await;
            handle.terminate(Duration::from_secs(10));
            let exit = finish(&handle).await;
            assert_eq!(exit.termination, Termination::Exited(status));
            assert_eq!(exit.outcome(), outcome);
            assert_eq!(exit.message(), format!("Command exited with status {status}"));
        }
    }

    #[tokio::test]
    async fn kill_reaches_the_tasks_children() {
        let dir = sandbox();
        let spec = shell(
            dir.path(),
            "sleep 100 & echo $! >> pids; sleep 100 & echo $! >> pids; echo done >> pids; wait",
        );
        let handle = spawn(&spec).expect("spawn");
        let pgid = Pid::from_raw(i32::try_from(handle.pid()).expect("pid"));
        let content = wait_for_file(&dir.path().join("pids"), |c| c.ends_with("done\n")).await;
        let pids: Vec<i32> = pids_in(content.trim_end_matches("done\n"));
        let _reap = Reap { pgid, pids: pids.clone() };
        assert_eq!(pids.len(), 2);
        assert!(pids.iter().all(|&pid| alive(pid)));

        // Several waiters at once, killed from elsewhere.
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let handle = handle.clone();
                tokio::spawn(async move { handle.wait().await })
            })
            .collect();
        handle.terminate(Duration::from_secs(10));
        for waiter in waiters {
            let exit = tokio::time::timeout(LONG, waiter).await.expect("in time").expect("join");
            assert_eq!(exit.outcome(), Outcome::Killed);
        }
        assert_dead(&pids).await;
    }

    #[tokio::test]
    async fn children_left_behind_by_the_task_are_killed() {
        let dir = sandbox();
        let spec = shell(dir.path(), "sleep 100 & echo $! > pids; sleep 100 & echo $! >> pids");
        let handle = spawn(&spec).expect("spawn");
        let pgid = Pid::from_raw(i32::try_from(handle.pid()).expect("pid"));
        let exit = finish(&handle).await;
        assert_eq!(exit.outcome(), Outcome::Finished);
        let pids = pids_in(&read(&dir.path().join("pids")));
        let _reap = Reap { pgid, pids: pids.clone() };
        assert_eq!(pids.len(), 2);
        assert_dead(&pids).await;
    }

    #[test]
    fn dropping_the_runtime_kills_running_tasks() {
        let dir = sandbox();
        let spec = shell(dir.path(), "sleep 100 & echo $! > pids; echo done >> pids; sleep 100");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let (leader, pids) = runtime.block_on(async {
            let handle = spawn(&spec).expect("spawn");
            let content = wait_for_file(&dir.path().join("pids"), |c| c.ends_with("done\n")).await;
            let leader = i32::try_from(handle.pid()).expect("pid");
            (leader, pids_in(content.trim_end_matches("done\n")))
        });
        let mut all = pids.clone();
        all.push(leader);
        let _reap = Reap { pgid: Pid::from_raw(leader), pids: all.clone() };
        drop(runtime);
        let start = StdInstant::now();
        // The leader is our (unreaped) child: it stays a zombie, which `alive` counts as dead.
        while all.iter().any(|&pid| alive(pid)) {
            assert!(start.elapsed() < Duration::from_secs(5), "still alive: {all:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[tokio::test]
    async fn runs_as_another_user_when_root() {
        if !geteuid().is_root() {
            eprintln!("skipped: not running as root");
            return;
        }
        let nobody = User::from_name("nobody").expect("lookup").expect("a nobody user");
        let dir = sandbox();
        // Mesos chowns the sandbox; here it is enough that nobody may enter it.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let mut spec = shell(dir.path(), "id -u; id -g; id -G");
        spec.user = Some("nobody".into());
        let exit = run(&spec).await;
        assert!(exit.success(), "{exit}: {}", read(&spec.stderr));
        let gid = nobody.gid;
        assert_eq!(read(&spec.stdout), format!("{}\n{gid}\n{gid}\n", nobody.uid));

        // Root itself: no switch.
        spec.user = Some("root".into());
        std::fs::remove_file(&spec.stdout).expect("rm");
        assert!(run(&spec).await.success());
        assert!(read(&spec.stdout).starts_with("0\n0\n"));
    }

    #[tokio::test]
    async fn unknown_user_is_a_clear_error() {
        let dir = sandbox();
        let mut spec = shell(dir.path(), "true");
        spec.user = Some("herd-no-such-user".into());
        let error = spawn(&spec).expect_err("unknown user");
        assert_eq!(error.to_string(), "Failed to launch as user 'herd-no-such-user': no such user");
    }

    #[test]
    fn only_root_can_switch_users() {
        let (root, other) = (Uid::from_raw(0), Uid::from_raw(1000));
        let gid = Gid::from_raw(1000);
        assert_eq!(switch_decision("u", other, gid, root).ok(), Some(Some((other, gid))));
        assert_eq!(switch_decision("u", other, gid, other).ok(), Some(None));
        assert_eq!(switch_decision("root", root, gid, root).ok(), Some(None));
        let error = switch_decision("root", root, gid, other).expect_err("not root");
        assert_eq!(
            error.to_string(),
            "Failed to launch as user 'root': the agent runs as uid 1000, not as root, so it \
             cannot switch to uid 0"
        );
    }

    #[tokio::test]
    async fn launch_failures_are_errors() {
        let dir = sandbox();
        let spec =
            ProcessSpec { shell: false, value: "/nonexistent/herd-program".into(), ..shell(dir.path(), "") };
        let error = spawn(&spec).expect_err("no such program");
        assert!(matches!(error, SpawnError::Exec { .. }), "{error:?}");
        assert!(error.to_string().starts_with("Failed to launch '/nonexistent/herd-program' in '"));

        let mut spec = shell(dir.path(), "true");
        spec.stdout = dir.path().join("missing/stdout");
        let error = spawn(&spec).expect_err("no such directory");
        assert!(matches!(error, SpawnError::Output { .. }), "{error:?}");

        let spec = shell(&dir.path().join("missing"), "true");
        let error =
            spawn(&ProcessSpec { stdout: dir.path().join("o"), stderr: dir.path().join("e"), ..spec })
                .expect_err("no such cwd");
        assert!(matches!(error, SpawnError::Exec { .. }), "{error:?}");
    }

    #[test]
    fn spawning_outside_a_runtime_is_an_error() {
        let dir = sandbox();
        let error = spawn(&shell(dir.path(), "true")).expect_err("no runtime");
        assert!(matches!(error, SpawnError::NoRuntime));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_concurrent_tasks_all_finish() {
        let dirs: Vec<TempDir> = (0..200).map(|_| sandbox()).collect();
        let start = StdInstant::now();
        let handles: Vec<ProcessHandle> =
            dirs.iter().map(|dir| spawn(&shell(dir.path(), "true")).expect("spawn")).collect();
        let spawned = start.elapsed();
        for handle in &handles {
            assert_eq!(finish(handle).await.outcome(), Outcome::Finished);
        }
        eprintln!("200 spawns took {spawned:?}; all done after {:?}", start.elapsed());
    }
}

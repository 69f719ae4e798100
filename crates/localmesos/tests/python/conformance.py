"""Shared, library-independent bits of the conformance schedulers in this folder.

JSON-lines output on stdout, argument parsing, offer arithmetic and the verdict (which events a
run must see, in which order). Nothing here speaks the Mesos protocol: that is left entirely to
the library under test (pymesos / avmesos), used through its public API only.
"""
import json
import os
import pwd
import sys
import threading

# States that end the scenario as a failure (TASK_UNREACHABLE is not terminal in Mesos, but on a
# loopback cluster it means something is broken).
BAD_STATES = {
    "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR", "TASK_DROPPED", "TASK_GONE",
    "TASK_GONE_BY_OPERATOR", "TASK_UNKNOWN", "TASK_UNREACHABLE",
}

_out_lock = threading.Lock()


def emit(event, **fields):
    """Print one JSON line describing an observed callback (stdout, flushed at once)."""
    line = json.dumps(dict(event=event, **fields), default=str)
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def parse_args(usage, extra=0):
    """argv = <master host:port> <timeout_secs> [extra args...]; exits 2 on misuse."""
    args = sys.argv[1:]
    if len(args) < 2 or len(args) > 2 + extra or ":" not in args[0]:
        sys.stderr.write("usage: %s\n" % usage)
        sys.exit(2)
    try:
        timeout = float(args[1])
    except ValueError:
        sys.stderr.write("timeout must be a number of seconds: %r\nusage: %s\n" % (args[1], usage))
        sys.exit(2)
    return args[0], timeout, args[2:]


def user_name():
    """The Unix user the tasks should run as: the one running this script."""
    return pwd.getpwuid(os.getuid()).pw_name


def scalar(resources, name):
    """Sum of the scalar resource `name` in an offer's resource list (plain dicts or addict)."""
    return sum(r["scalar"]["value"] for r in resources
               if r.get("name") == name and r.get("type") == "SCALAR" and "scalar" in r)


def resources(cpus, mem):
    """A Resource list for unreserved cpus + mem (legacy role "*" is the default)."""
    return [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}},
    ]


class Scenario(object):
    """What a scheduler run has observed, and whether it passed.

    Pass = registered, at least one offer, a task launched, TASK_RUNNING and then TASK_FINISHED,
    plus every name in `extra_required` noted (e.g. "message"); extras may arrive up to
    `extra_grace` seconds after TASK_FINISHED. Any BAD_STATES update or an ERROR event fails the
    run at once.
    """

    def __init__(self, extra_required=(), extra_grace=5.0):
        self._lock = threading.Lock()
        self.done = threading.Event()
        self.seen = set()
        self.states = []
        self.failure = None
        self._extra = set(extra_required)
        self._grace = extra_grace

    def note(self, what):
        with self._lock:
            self.seen.add(what)
            finished = "finished" in self.seen
        if finished:
            self._check_complete()

    def fail(self, reason):
        """Record a failure (the first one wins, even after success) and end the wait."""
        with self._lock:
            if self.failure is None:
                self.failure = reason
        self.done.set()

    def status(self, state):
        with self._lock:
            self.states.append(state)
        if state in BAD_STATES:
            self.fail("task reached %s (states so far: %s)" % (state, self.states))
        elif state == "TASK_FINISHED":
            if "TASK_RUNNING" not in self.states:
                self.fail("TASK_FINISHED without a TASK_RUNNING before it (states: %s)"
                          % self.states)
                return
            self.note("finished")
            with self._lock:
                missing = self._extra - self.seen
            if missing:
                timer = threading.Timer(self._grace, self._grace_expired)
                timer.daemon = True
                timer.start()

    def _grace_expired(self):
        with self._lock:
            missing = sorted(self._extra - self.seen)
        if missing:
            self.fail("TASK_FINISHED, but no %s within %g s after it"
                      % (", ".join(missing), self._grace))

    def _check_complete(self):
        with self._lock:
            complete = {"registered", "offers", "launched", "finished"} | self._extra <= self.seen
        if complete:
            self.done.set()

    def verdict(self, timeout):
        """(ok, reason) after done was set or the timeout elapsed."""
        with self._lock:
            if self.failure:
                return False, self.failure
            if self.done.is_set():
                return True, "ok"
            wanted = ["registered", "offers", "launched", "finished"] + sorted(self._extra)
            missing = [w for w in wanted if w not in self.seen]
            return False, ("timeout after %.0f s; still missing: %s; task states seen: %s"
                           % (timeout, ", ".join(missing), self.states or "none"))

    def finish(self, timeout, **extra):
        """Print the result line (and a message on stderr if failed); return the exit code."""
        ok, reason = self.verdict(timeout)
        emit("result", ok=ok, reason=reason, states=self.states, **extra)
        if not ok:
            sys.stderr.write("CONFORMANCE FAILURE: %s\n" % reason)
        return 0 if ok else 1

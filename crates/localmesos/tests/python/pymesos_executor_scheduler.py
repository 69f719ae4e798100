#!/usr/bin/env python3
"""Conformance: pymesos scheduler + pymesos custom executor (pymesos_executor.py).

usage: python pymesos_executor_scheduler.py <master host:port> <timeout_secs>
                                            <abs path of pymesos_executor.py> [<executor python>]

Like pymesos_scheduler.py, but the task runs under a CUSTOM executor: ExecutorInfo
"pymesos-conformance-executor" (cpus 0.1, mem 32) whose command is
`<executor python> pymesos_executor.py <timeout>`, with pymesos_executor.py fetched into the
sandbox from the URI file://<abs path>. <executor python> defaults to this interpreter (the
venv's, which has pymesos). The task carries data "ping"; the executor answers with a framework
message "hello-from-pymesos-executor:ping" and sends TASK_RUNNING then TASK_FINISHED.
Exit 0 only after registered, an offer, TASK_RUNNING then TASK_FINISHED, that framework message
(it may trail TASK_FINISHED by up to 5 s: the two travel separately) and a 2xx TEARDOWN;
1 otherwise; 2 on misuse.
"""
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree (local imports)

import os
import shlex

from addict import Dict
from pymesos import MesosSchedulerDriver, decode_data, encode_data

from conformance import Scenario, emit, parse_args, resources, user_name
from pymesos_scheduler import ConformanceScheduler, run

TASK_ID = "pymesos-executor-task"
EXECUTOR_ID = "pymesos-conformance-executor"
CPUS, MEM = 0.1, 32  # for the task, and again for the executor
EXPECTED_MESSAGE = b"hello-from-pymesos-executor:ping"


class ExecutorScheduler(ConformanceScheduler):
    """ConformanceScheduler with a task for the custom executor and a framework-message check."""

    NEEDS = (2 * CPUS, 2 * MEM)  # task + executor

    def __init__(self, scenario, executor):
        super(ExecutorScheduler, self).__init__(scenario)
        self.executor = executor

    def task_for(self, offer):
        task = Dict()
        task.task_id.value = TASK_ID
        task.agent_id.value = offer.agent_id.value
        task.name = "task for the pymesos executor"
        task.executor = self.executor  # instead of `command`
        task.data = encode_data(b"ping")
        task.resources = resources(CPUS, MEM)
        return task

    def frameworkMessage(self, driver, executor_id, agent_id, message):
        # pymesos passes the event's base64 `data` string through undecoded.
        data = decode_data(message)
        emit("message", executor_id=executor_id.get("value"), agent_id=agent_id.get("value"),
             data=data.decode("utf-8", "replace"))
        if data == EXPECTED_MESSAGE and executor_id.get("value") == EXECUTOR_ID:
            self.scenario.note("message")
        else:
            self.scenario.fail("unexpected framework message %r from executor %r"
                               % (data, executor_id.get("value")))


def main():
    master, timeout, extra = parse_args(
        "python pymesos_executor_scheduler.py <master host:port> <timeout_secs>"
        " <abs path of pymesos_executor.py> [<executor python>]", extra=2)
    if not extra:
        sys.stderr.write("missing the absolute path of pymesos_executor.py\n")
        return 2
    script = extra[0]
    python = extra[1] if len(extra) > 1 else sys.executable
    if not os.path.isabs(script) or not os.path.isfile(script):
        sys.stderr.write("executor script must be an existing absolute path: %r\n" % script)
        return 2

    executor = Dict()
    executor.executor_id.value = EXECUTOR_ID
    executor.name = "pymesos conformance executor"
    # Runs in the sandbox (the agent's cwd for the executor), where the URI is fetched.
    executor.command.value = "%s %s %d" % (shlex.quote(python), os.path.basename(script),
                                           int(timeout) + 30)
    executor.command.uris = [{"value": "file://" + script, "extract": False}]
    executor.resources = resources(CPUS, MEM)

    scenario = Scenario(extra_required=("message",), extra_grace=5.0)
    framework = {"user": user_name(), "name": "pymesos-executor-conformance"}
    driver = MesosSchedulerDriver(ExecutorScheduler(scenario, executor), framework, master,
                                  use_addict=True)
    return run(driver, scenario, timeout)  # TEARDOWN → the agent SHUTs DOWN the executor


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Conformance: a custom executor on pymesos 0.3.15's MesosExecutorDriver (v1 executor API).

Started by the agent (command from pymesos_executor_scheduler.py's ExecutorInfo), in the task
sandbox where this file was fetched, as:  <venv python> pymesos_executor.py [<timeout_secs>]
MesosExecutorDriver reads MESOS_AGENT_ENDPOINT, MESOS_FRAMEWORK_ID, MESOS_EXECUTOR_ID (required),
MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD, MESOS_CHECKPOINT, MESOS_LOCAL from the environment and
SUBSCRIBEs to POST /api/v1/executor on the agent.

On LAUNCH: UPDATE TASK_RUNNING, MESSAGE "hello-from-pymesos-executor:<task data>", UPDATE
TASK_FINISHED. Then it waits for the agent's SHUTDOWN (sent when the scheduler tears the
framework down) or the end of the subscription, or gives up after <timeout_secs> (default 120).
Stdout/stderr end up in the sandbox; JSON lines on stdout say what happened. Exit 0 iff the
task was reported finished.
"""
import json
import sys
import threading
import time

from pymesos import Executor, MesosExecutorDriver, decode_data, encode_data

finished = threading.Event()
ended = threading.Event()


def emit(event, **fields):
    print(json.dumps(dict(event=event, **fields), default=str), flush=True)


class ConformanceExecutor(Executor):
    """Callback signatures are those of pymesos/interface.py."""

    def registered(self, driver, executor_info, framework_info, agent_info):
        emit("registered", executor_id=executor_info["executor_id"]["value"],
             framework_id=framework_info["id"]["value"], agent_id=agent_info.get("id"))

    def launchTask(self, driver, task):
        # Runs on the driver's IO thread; each send is a synchronous POST to the agent.
        task_id = task.task_id.value
        emit("launch", task_id=task_id)
        driver.sendStatusUpdate({"task_id": {"value": task_id}, "state": "TASK_RUNNING"})
        data = decode_data(task.data) if task.get("data") else b""
        driver.sendFrameworkMessage(encode_data(b"hello-from-pymesos-executor:" + data))
        # pymesos fills in timestamp, a fresh uuid and source=SOURCE_EXECUTOR; no agent_id /
        # executor_id: the agent adds them.
        driver.sendStatusUpdate({"task_id": {"value": task_id}, "state": "TASK_FINISHED",
                                 "message": "pymesos executor done"})
        emit("finished", task_id=task_id)
        finished.set()

    def killTask(self, driver, task_id):
        emit("kill", task_id=task_id.get("value"))
        driver.sendStatusUpdate({"task_id": task_id, "state": "TASK_KILLED"})

    def frameworkMessage(self, driver, message):
        emit("message", data=message)

    def shutdown(self, driver):
        # After this pymesos stops the driver and, unless MESOS_LOCAL is set, SIGKILLs this
        # process group once MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD (default 0) has passed.
        emit("shutdown")
        ended.set()

    def disconnected(self, driver):
        emit("disconnected")

    def error(self, driver, message):
        emit("error", message=message)


def main():
    timeout = float(sys.argv[1]) if len(sys.argv) > 1 else 120.0
    driver = MesosExecutorDriver(ConformanceExecutor(), use_addict=True)
    try:
        driver.start()
        deadline = time.monotonic() + timeout  # short waits: see pymesos_scheduler.run()
        while not ended.wait(0.2) and time.monotonic() < deadline:
            pass
    except BaseException as e:  # pymesos re-raises IO-thread crashes in the main thread
        emit("driver_crashed", error=repr(e))
    emit("exit", finished=finished.is_set(), shutdown_received=ended.is_set())
    driver.stop()
    return 0 if finished.is_set() else 1


if __name__ == "__main__":
    raise SystemExit(main())

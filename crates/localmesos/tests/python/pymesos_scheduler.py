#!/usr/bin/env python3
"""Conformance: pymesos 0.3.15's MesosSchedulerDriver, unmodified, runs one command task.

usage: python pymesos_scheduler.py <master host:port> <timeout_secs>

Subscribes as framework "pymesos-conformance" (user = current user, no role: legacy "*"),
launches `echo hello-from-pymesos` (cpus 0.1, mem 32) on the first usable offer, declines every
other offer, lets pymesos acknowledge updates implicitly, and on TASK_FINISHED stops the driver,
which sends TEARDOWN. Prints one JSON line per callback on stdout (pymesos logs on stderr).
Exit 0 only after registered, an offer, TASK_RUNNING then TASK_FINISHED, and a TEARDOWN the
master answered with 2xx; 1 on timeout, a bad task state or an ERROR event; 2 on misuse.
"""
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree (local imports)

import threading
import time

from addict import Dict
from pymesos import MesosSchedulerDriver, Scheduler

from conformance import Scenario, emit, parse_args, resources, scalar, user_name

TASK_ID = "pymesos-hello"
CPUS, MEM = 0.1, 32


class ConformanceScheduler(Scheduler):
    """Callback signatures are those of pymesos/interface.py (driver first, addict values)."""

    def __init__(self, scenario):
        self.scenario = scenario
        self.launched = False

    def registered(self, driver, framework_id, master_info):
        # pymesos builds master_info itself from the master address (+ GET /version's version).
        emit("registered", framework_id=framework_id["value"], master_info=master_info)
        self.scenario.note("registered")

    def reregistered(self, driver, master_info):
        emit("reregistered", master_info=master_info)

    def disconnected(self, driver):
        # Also called on every failed connection attempt and when the driver stops.
        emit("disconnected")

    def processHeartBeat(self, driver):
        emit("heartbeat")

    def resourceOffers(self, driver, offers):
        emit("offers", count=len(offers), offers=[
            {"id": o.id.value, "agent_id": o.agent_id.value,
             "cpus": scalar(o.resources, "cpus"), "mem": scalar(o.resources, "mem")}
            for o in offers])
        self.scenario.note("offers")
        need_cpus, need_mem = self.NEEDS
        for offer in offers:
            fits = (scalar(offer.resources, "cpus") >= need_cpus
                    and scalar(offer.resources, "mem") >= need_mem)
            if self.launched or not fits:
                driver.declineOffer(offer.id)  # synchronous POST; raises on a non-2xx answer
                emit("declined", offer_id=offer.id.value)
                continue
            task = self.task_for(offer)
            driver.launchTasks(offer.id, [task])  # one ACCEPT with a LAUNCH operation
            self.launched = True
            emit("launched", offer_id=offer.id.value, task_id=task.task_id.value)
            self.scenario.note("launched")

    NEEDS = (CPUS, MEM)  # what an offer must hold for task_for()

    def task_for(self, offer):
        """TaskInfo (as an addict Dict) for one command task on the offer's agent."""
        task = Dict()
        task.task_id.value = TASK_ID
        task.agent_id.value = offer.agent_id.value
        task.name = "hello from pymesos"
        task.command.value = "echo hello-from-pymesos"
        task.resources = resources(CPUS, MEM)
        return task

    def offerRescinded(self, driver, offer_id):
        emit("rescinded", offer_id=offer_id.get("value"))

    def statusUpdate(self, driver, status):
        # pymesos acknowledges after this returns (implicit_acknowledgements=True), iff `uuid`.
        emit("status", task_id=status.task_id.value, state=status.state,
             source=status.get("source"), reason=status.get("reason"),
             message=status.get("message"), has_uuid="uuid" in status)
        self.scenario.status(status.state)

    def frameworkMessage(self, driver, executor_id, agent_id, message):
        emit("message", executor_id=executor_id.get("value"), data=message)

    def slaveLost(self, driver, agent_id):
        emit("agent_lost", agent_id=agent_id.get("value"))

    def executorLost(self, driver, executor_id, agent_id, status):
        emit("executor_lost", executor_id=executor_id.get("value"), status=status)

    def error(self, driver, message):
        emit("error", message=message)
        self.scenario.fail("ERROR event: %s" % message)


def run(driver, scenario, timeout):
    """Run the driver until the scenario is decided or times out, stop it (TEARDOWN), and
    return the exit code. Shared with pymesos_executor_scheduler.py."""
    try:
        driver.start()  # GET /version, then the IO thread connects and SUBSCRIBEs
        # Wait in short slices: pymesos reports an IO-thread crash with _thread.interrupt_main(),
        # which only runs (re-raises) in the main thread between bytecodes, not inside a long wait.
        deadline = time.monotonic() + timeout
        while not scenario.done.wait(0.2) and time.monotonic() < deadline:
            pass
        subscribed, connected = driver.framework_id is not None, driver.connected
        # stop() (no failover) makes the IO thread send TEARDOWN before it exits, if still
        # connected; pymesos clears framework_id only when the master answered it with 2xx.
        driver.stop()
        joiner = threading.Thread(target=driver.join, daemon=True)
        joiner.start()
        joiner.join(15)
        torn_down = subscribed and driver.framework_id is None
        emit("teardown", sent=subscribed and connected, accepted=torn_down,
             driver_exited=not joiner.is_alive())
        if subscribed and not torn_down and scenario.verdict(timeout)[0]:
            scenario.fail("TEARDOWN not sent (stream already lost)" if not connected else
                          "TEARDOWN was not answered with 2xx (see the pymesos log on stderr)")
    except BaseException as e:  # pymesos re-raises IO-thread crashes in the main thread
        emit("driver_crashed", error=repr(e))
        scenario.fail("pymesos driver thread died: %r" % (e,))
    return scenario.finish(timeout)


def main():
    master, timeout, _ = parse_args("python pymesos_scheduler.py <master host:port> <timeout_secs>")
    scenario = Scenario()
    framework = {"user": user_name(), "name": "pymesos-conformance"}
    # pymesos adds failover_timeout=100 and, if GET /version says >= 1.0.0, GPU_RESOURCES.
    driver = MesosSchedulerDriver(ConformanceScheduler(scenario), framework, master,
                                  use_addict=True)
    return run(driver, scenario, timeout)


if __name__ == "__main__":
    raise SystemExit(main())

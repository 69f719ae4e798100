#!/usr/bin/env python3
"""Conformance: avmesos 0.4.2's MesosClient, unmodified, runs one command task.

usage: python avmesos_scheduler.py <master host:port> <timeout_secs>

Same scenario as pymesos_scheduler.py: framework "avmesos-conformance" (user = current user,
no role: legacy "*"), `echo hello-from-avmesos` (cpus 0.1, mem 32) on the first usable offer
via offer.accept([task_info]), offer.decline() for the others, updates acknowledged by avmesos
itself (before our UPDATE callback runs), TEARDOWN at the end. One JSON line per callback on
stdout (avmesos logs on stderr). Exit 0 only after SUBSCRIBED, an offer, TASK_RUNNING then
TASK_FINISHED; 1 on timeout, a bad task state, an ERROR event or register() giving up; 2 on
misuse.

avmesos handles each event only once the NEXT event's length line has arrived (README.md), so
against a faithful master (15 s heartbeats) a run takes ~30-60 s: give it a timeout >= 90.
"""
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree (local imports)

import logging
import threading
import time

from avmesos.client import MesosClient

from conformance import Scenario, emit, parse_args, resources, scalar, user_name

TASK_ID = "avmesos-hello"
CPUS, MEM = 0.1, 32


def main():
    master, timeout, _ = parse_args("python avmesos_scheduler.py <master host:port> <timeout_secs>")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    scenario = Scenario()
    client = MesosClient(mesos_urls=["http://%s" % master], frameworkName="avmesos-conformance",
                         frameworkUser=user_name())
    state = {"launched": False}

    def subscribed(driver):  # driver: MesosClient.SchedulerDriver
        emit("registered", framework_id=client.frameworkId, master_info=client.get_master_info())
        scenario.note("registered")

    def offers(offer_list):  # list of avmesos.offers.Offer
        emit("offers", count=len(offer_list), offers=[
            {"id": o.get_offer()["id"]["value"], "agent_id": o.get_offer()["agent_id"]["value"],
             "cpus": scalar(o.get_offer()["resources"], "cpus"),
             "mem": scalar(o.get_offer()["resources"], "mem")}
            for o in offer_list])
        scenario.note("offers")
        for offer in offer_list:
            o = offer.get_offer()
            fits = scalar(o["resources"], "cpus") >= CPUS and scalar(o["resources"], "mem") >= MEM
            if state["launched"] or not fits:
                offer.decline()
                emit("declined", offer_id=o["id"]["value"])
                continue
            task = {
                "task_id": {"value": TASK_ID},
                # avmesos only adds the v0 name `slave_id`; v1 requires agent_id, so set it here.
                "agent_id": {"value": o["agent_id"]["value"]},
                "name": "hello from avmesos",
                "command": {"value": "echo hello-from-avmesos"},
                "resources": resources(CPUS, MEM),
            }
            offer.accept([task])  # one ACCEPT with a LAUNCH operation; HTTP status not checked
            state["launched"] = True
            emit("launched", offer_id=o["id"]["value"], task_id=TASK_ID)
            scenario.note("launched")

    def update(upd):  # the event's "update" object: {"status": TaskStatus}
        status = upd["status"]
        emit("status", task_id=status["task_id"]["value"], state=status["state"],
             source=status.get("source"), reason=status.get("reason"),
             message=status.get("message"), has_uuid="uuid" in status)
        scenario.status(status["state"])

    def error(message):
        emit("error", message=message)
        scenario.fail("ERROR event: %s" % message)

    client.on(MesosClient.SUBSCRIBED, subscribed)
    client.on(MesosClient.OFFERS, offers)
    client.on(MesosClient.UPDATE, update)
    client.on(MesosClient.ERROR, error)
    client.on(MesosClient.HEARTBEAT, lambda _: emit("heartbeat"))
    client.on(MesosClient.RESCIND, lambda r: emit("rescinded", offer_id=r["offer_id"]["value"]))
    client.on(MesosClient.FAILURE, lambda f: emit("failure", failure=f))
    client.on(MesosClient.DISCONNECTED, lambda m: emit("disconnected", message=m))
    client.on(MesosClient.RECONNECTED, lambda m: emit("reconnected", message=m))

    # register() blocks: it subscribes (3 tries, 10 s apart) and runs the event loop.
    result = {}
    registrar = threading.Thread(target=lambda: result.setdefault("ret", client.register()),
                                 name="avmesos", daemon=True)
    deadline = time.monotonic() + timeout
    registrar.start()
    while not scenario.done.wait(0.5):
        if not registrar.is_alive():
            scenario.fail("avmesos register() returned %r before the task finished"
                          " (see the avmesos log on stderr)" % (result.get("ret"),))
        elif time.monotonic() >= deadline:
            break

    # Tear down. MesosClient.tearDown() only sets a flag that the event loop checks at its next
    # line (it then POSTs TEARDOWN itself); set it first so that register() returns as soon as
    # the stream ends, then POST TEARDOWN now with SchedulerDriver.tearDown() (a faithful master
    # closes the stream). avmesos may thus send TEARDOWN twice; it ignores the answers.
    subscribed_ok = client.frameworkId is not None and client.streamId is not None
    client.tearDown()
    if subscribed_ok:
        client.get_driver().tearDown()
    registrar.join(20)
    emit("teardown", sent=subscribed_ok, event_loop_exited=not registrar.is_alive())
    return scenario.finish(timeout)


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""A custom executor on the v1 executor API, Python 3 stdlib only, like the probe that recorded
testdata/mesos-samples/scenario-4.

SUBSCRIBEs to http://$MESOS_AGENT_ENDPOINT/api/v1/executor, reads the RecordIO event stream; on
LAUNCH it sends UPDATE TASK_RUNNING (its own uuid), after that update's ACKNOWLEDGED an UPDATE
TASK_FINISHED, and after the ACKNOWLEDGED of the terminal update a MESSAGE to the scheduler
carrying a JSON record: the MESOS_* / LIBPROCESS_* variable names it got, the SUBSCRIBE answer's
status line and headers, the events it saw in order and the answers to its calls. Then it exits.
Any failure is written to stderr and ends it with status 1; every socket operation times out.
"""
import base64
import http.client
import json
import os
import sys
import uuid

TIMEOUT = 30.0
HEADERS_OF_INTEREST = ("content-type", "transfer-encoding", "mesos-stream-id")


def fail(message):
    sys.stderr.write("probe executor: %s\n" % message)
    sys.stderr.flush()
    sys.exit(1)


def canonical_header(name):
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


class Executor:
    def __init__(self):
        endpoint = os.environ.get("MESOS_AGENT_ENDPOINT") or fail("MESOS_AGENT_ENDPOINT is not set")
        self.host, _, port = endpoint.rpartition(":")
        self.port = int(port)
        self.framework_id = {"value": os.environ.get("MESOS_FRAMEWORK_ID") or fail("no MESOS_FRAMEWORK_ID")}
        self.executor_id = {"value": os.environ.get("MESOS_EXECUTOR_ID") or fail("no MESOS_EXECUTOR_ID")}
        self.record = {
            "env": sorted(k for k in os.environ if k.startswith("MESOS_") or k.startswith("LIBPROCESS_")),
            "events": [],
            "calls": [],
        }

    def call(self, kind, payload, record=True):
        body = dict(type=kind, framework_id=self.framework_id, executor_id=self.executor_id, **payload)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
        try:
            conn.request("POST", "/api/v1/executor", body=json.dumps(body),
                         headers={"Content-Type": "application/json", "Accept": "application/json"})
            resp = conn.getresponse()
            text = resp.read().decode("utf-8", "replace")
        finally:
            conn.close()
        if record:
            self.record["calls"].append({"type": kind, "status": resp.status, "body": text})
        if resp.status != 202:
            fail("%s answered %d: %s" % (kind, resp.status, text))

    def update(self, task_id, state):
        status_uuid = base64.b64encode(uuid.uuid4().bytes).decode("ascii")
        status = {"task_id": task_id, "state": state, "source": "SOURCE_EXECUTOR", "uuid": status_uuid}
        self.call("UPDATE", {"update": {"status": status}})
        return status_uuid

    def events(self, resp):
        """Yields the stream's events (RecordIO: '<length>\\n<json>')."""
        while True:
            prefix = b""
            while not prefix.endswith(b"\n"):
                byte = resp.read(1)
                if not byte:
                    return
                prefix += byte
                if len(prefix) > 20:
                    fail("bad RecordIO length prefix %r" % prefix)
            length = int(prefix.strip())
            data = resp.read(length)
            if len(data) != length:
                fail("stream ended inside a record")
            yield json.loads(data.decode("utf-8"))

    def run(self):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
        subscribe = dict(type="SUBSCRIBE", framework_id=self.framework_id, executor_id=self.executor_id,
                         subscribe={"unacknowledged_tasks": [], "unacknowledged_updates": []})
        conn.request("POST", "/api/v1/executor", body=json.dumps(subscribe),
                     headers={"Content-Type": "application/json", "Accept": "application/json"})
        resp = conn.getresponse()
        version = {10: "HTTP/1.0", 11: "HTTP/1.1"}.get(resp.version, str(resp.version))
        self.record["subscribe_status"] = "%s %d %s" % (version, resp.status, resp.reason)
        self.record["subscribe_headers"] = sorted(
            canonical_header(k) for k, _ in resp.getheaders() if k.lower() in HEADERS_OF_INTEREST)
        if resp.status != 200:
            fail("SUBSCRIBE answered %d: %s" % (resp.status, resp.read()[:500]))
        task_id = None
        running_uuid = finished_uuid = None
        for event in self.events(resp):
            self.record["events"].append(event)
            kind = event.get("type")
            if kind == "LAUNCH":
                task_id = event["launch"]["task"]["task_id"]
                running_uuid = self.update(task_id, "TASK_RUNNING")
            elif kind == "ACKNOWLEDGED":
                acked = event["acknowledged"]["uuid"]
                if acked == running_uuid and finished_uuid is None:
                    finished_uuid = self.update(task_id, "TASK_FINISHED")
                elif acked == finished_uuid:
                    data = base64.b64encode(json.dumps(self.record).encode("utf-8")).decode("ascii")
                    self.call("MESSAGE", {"message": {"data": data}}, record=False)
                    return
            elif kind == "SHUTDOWN":
                fail("SHUTDOWN before the task finished")
        fail("the event stream ended early; events: %s" % [e.get("type") for e in self.record["events"]])


if __name__ == "__main__":
    try:
        Executor().run()
    except Exception as e:  # noqa: BLE001 - report anything, exit non-zero
        fail("%s: %s" % (type(e).__name__, e))

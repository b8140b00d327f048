#!/usr/bin/env python3
"""A Lambda function on the Runtime API that does what the request asks, to test how the gateway copes.

The behaviour comes from the query parameter `act` of the API Gateway event:
  echo (default)   answer 200 with the event itself as the JSON body
  crash            exit(3) in the middle of the invocation
  sleep            sleep `seconds` (default 5) and then answer
  error            report a function error on /error
  raw              answer with the `output` parameter verbatim as the proxy output
  big              answer 200 with a body of `bytes` bytes
  xray             send the `datagram` parameter as one UDP datagram to AWS_XRAY_DAEMON_ADDRESS (HOST:PORT), with
                   {trace_id} and {parent_id} replaced by the Root and Parent of Lambda-Runtime-Trace-Id, and answer
                   200 with {"daemon": the variable, "otlp_endpoint": OTEL_EXPORTER_OTLP_ENDPOINT, "runtime": the
                   Lambda-Runtime-* headers}
Set SCRIPTED_INIT=fail to report an init error and exit before asking for any event.

Shutdown, as Lambda runs it (SCRIPTED_SHUTDOWN_FILE names a file that lines are appended to):
  SIGTERM is recorded as `SIGTERM`, after which the process exits 0 (SCRIPTED_SIGTERM=ignore: it carries on);
  SIGINT is recorded as `SIGINT`, after which the process exits 130 at once, as a process that does not handle it;
  SCRIPTED_EXTENSION=1 registers an internal extension for SHUTDOWN before the first event, the condition on which
  Lambda sends SIGTERM at all, and records the event it gets as `SHUTDOWN {json}`.
"""
import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.request

RUNTIME_API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"]
API = RUNTIME_API + "/2018-06-01/runtime"
SHUTDOWN_FILE = os.environ.get("SCRIPTED_SHUTDOWN_FILE")


def post(path, body, headers=None):
    request = urllib.request.Request(API + path, data=body, method="POST", headers=headers or {})
    with urllib.request.urlopen(request) as response:
        response.read()


def record(line):
    with open(SHUTDOWN_FILE, "a") as file:
        file.write(line + "\n")


def register_extension():
    """Registers for SHUTDOWN and waits for it on a thread of its own; returns that thread."""
    request = urllib.request.Request(RUNTIME_API + "/2020-01-01/extension/register", method="POST",
                                     data=json.dumps({"events": ["SHUTDOWN"]}).encode(),
                                     headers={"Lambda-Extension-Name": "scripted"})
    with urllib.request.urlopen(request) as response:
        identifier = response.headers["Lambda-Extension-Identifier"]
        response.read()

    def wait_for_shutdown():
        request = urllib.request.Request(RUNTIME_API + "/2020-01-01/extension/event/next",
                                         headers={"Lambda-Extension-Identifier": identifier})
        with urllib.request.urlopen(request, timeout=None) as response:
            record("SHUTDOWN " + response.read().decode())

    thread = threading.Thread(target=wait_for_shutdown, daemon=True)
    thread.start()
    return thread


if SHUTDOWN_FILE:
    extension = register_extension() if os.environ.get("SCRIPTED_EXTENSION") == "1" else None

    def on_sigterm(signum, frame):
        if extension:
            # SIGTERM may overtake the event on its way in: give it the time a real extension's flush would take.
            extension.join(timeout=0.3)
        record("SIGTERM")
        if os.environ.get("SCRIPTED_SIGTERM") != "ignore":
            os._exit(0)

    def on_sigint(signum, frame):
        record("SIGINT")
        os._exit(130)

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGINT, on_sigint)

if os.environ.get("SCRIPTED_INIT") == "fail":
    post("/init/error", json.dumps({"errorMessage": "cannot start", "errorType": "Scripted.InitError"}).encode())
    sys.exit(1)

while True:
    with urllib.request.urlopen(API + "/invocation/next") as response:
        request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
        runtime_headers = {name.lower(): value for name, value in response.headers.items()
                           if name.lower().startswith("lambda-runtime-")}
        event = json.loads(response.read())
    query = event.get("queryStringParameters") or {}
    act = query.get("act", "echo")
    if act == "crash":
        os._exit(3)
    if act == "sleep":
        time.sleep(float(query.get("seconds", "5")))
    if act == "error":
        post(f"/invocation/{request_id}/error",
             json.dumps({"errorMessage": "scripted failure", "errorType": "Scripted.Error"}).encode(),
             {"Lambda-Runtime-Function-Error-Type": "Scripted.Error"})
        continue
    if act == "xray":
        daemon = os.environ.get("AWS_XRAY_DAEMON_ADDRESS")
        if daemon:
            trace = dict(part.split("=", 1) for part in runtime_headers["lambda-runtime-trace-id"].split(";"))
            datagram = query.get("datagram", "").replace("{trace_id}", trace.get("Root", ""))
            host, _, port = daemon.rpartition(":")
            family = socket.AF_INET6 if host.startswith("[") else socket.AF_INET
            with socket.socket(family, socket.SOCK_DGRAM) as udp:
                udp.sendto(datagram.replace("{parent_id}", trace.get("Parent", "")).encode(), (host.strip("[]"), int(port)))
        otlp_endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        body = json.dumps({"daemon": daemon, "otlp_endpoint": otlp_endpoint, "runtime": runtime_headers})
        output = json.dumps({"statusCode": 200, "body": body}).encode()
    elif act == "raw":
        output = query.get("output", "").encode()
    elif act == "big":
        output = json.dumps({"statusCode": 200, "body": "x" * int(query["bytes"])}).encode()
    else:
        body = json.dumps({"event": event, "runtime": runtime_headers, "pid": os.getpid()})
        output = json.dumps({"statusCode": 200, "body": body}).encode()
    post(f"/invocation/{request_id}/response", output)

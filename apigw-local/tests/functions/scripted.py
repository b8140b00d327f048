#!/usr/bin/env python3
"""A Lambda function on the Runtime API that does what the request asks, to test how the gateway copes.

The behaviour comes from the query parameter `act` of the API Gateway event:
  echo (default)   answer 200 with the event itself as the JSON body
  crash            exit(3) in the middle of the invocation
  sleep            sleep `seconds` (default 5) and then answer
  error            report a function error on /error
  raw              answer with the `output` parameter verbatim as the proxy output
  big              answer 200 with a body of `bytes` bytes
Set SCRIPTED_INIT=fail to report an init error and exit before asking for any event.
"""
import json
import os
import sys
import time
import urllib.request

API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"


def post(path, body, headers=None):
    request = urllib.request.Request(API + path, data=body, method="POST", headers=headers or {})
    with urllib.request.urlopen(request) as response:
        response.read()


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
    if act == "raw":
        output = query.get("output", "").encode()
    elif act == "big":
        output = json.dumps({"statusCode": 200, "body": "x" * int(query["bytes"])}).encode()
    else:
        body = json.dumps({"event": event, "runtime": runtime_headers, "pid": os.getpid()})
        output = json.dumps({"statusCode": 200, "body": body}).encode()
    post(f"/invocation/{request_id}/response", output)

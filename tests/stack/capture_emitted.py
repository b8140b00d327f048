#!/usr/bin/env python3
"""Captures the OTLP metrics that `bootstrap` and `apigw-local` really emit, into the emitted-metrics file that
`stackcheck.py dashboards --emitted FILE` reads.

A real run: apigw-local hosts the Lambda Runtime API for the given bootstrap and exports to oteltap (PyPI), an OTLP
HTTP/protobuf receiver that decodes the real protobuf messages; the tutorial's requests (a 200, a 400, another
method) go through it, then apigw-local is stopped (SIGTERM, so both flush). Then the function's error path: the
bootstrap alone, against a minimal Runtime API here that hands it one event that is not an API Gateway request (the
only function error apigw-local cannot provoke), so that faas.errors is emitted too. Every metric stream received is written
once as {"name", "unit", "kind", "monotonic", "attributes"} (the data points' attribute keys); the same name with two different units or kinds is an error (the
telemetry contract: exactly one stream per metric).

Usage: capture_emitted.py --apigw-local PATH --bootstrap PATH --out FILE [--timeout SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import http.server
import json
import threading
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from oteltap import OtelTapHttpProtobufReceiver, OtelTapHttpProtobufReceiverSettings

KINDS = {"histogram": "histogram", "exponential_histogram": "exponential_histogram", "sum": "sum", "gauge": "gauge",
         "summary": "summary"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def send(address: str, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(address + path, method=method, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def drive(apigw_local: Path, bootstrap: Path, port: int, timeout: float) -> list[str]:
    """Runs apigw-local with bootstrap, sends the requests, stops it; returns what happened, for the log."""
    env = dict(os.environ)
    for key in list(env):
        if key.startswith("OTEL_"):
            del env[key]
    env.update(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}", OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
               OTEL_METRIC_EXPORT_INTERVAL="500", OTEL_BSP_SCHEDULE_DELAY="200")
    proc = subprocess.Popen([str(apigw_local), "--listen", "127.0.0.1:0", "--function", str(bootstrap), "--concurrency", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    log = []
    try:
        deadline = time.monotonic() + timeout
        address = None
        while address is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                raise RuntimeError(f"apigw-local exited with {proc.returncode} before listening")
            m = re.search(r"apigw-local: listening on (http://\S+)", line)
            if m:
                address = m.group(1)
        if address is None:
            raise RuntimeError("apigw-local did not report its address")
        requests = [
            ("POST", "/test/helloworld?name=John&city=Seattle", b'{ "time": "evening" }',
             {"content-type": "application/json", "day": "Thursday"}),
            ("GET", "/test/helloworld?name=John&city=Seattle", None, {}),
            ("POST", "/test/helloworld", b"{not json", {"content-type": "application/json"}),
            ("PUT", "/test/helloworld?name=Ann", b"", {}),
        ]
        for method, path, body, headers in requests:
            status, text = send(address, method, path, body, headers)
            log.append(f"{method} {path} -> {status} {text[:80]}")
        time.sleep(1.0)  # a periodic reader's interval passes at least once
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return log


class RuntimeApi(http.server.ThreadingHTTPServer):
    """The Lambda Runtime API for one invocation with a given event; later `next` calls wait until shutdown."""

    daemon_threads = True

    def __init__(self, event: bytes) -> None:
        super().__init__(("127.0.0.1", 0), RuntimeApiHandler)
        self.event = event
        self.served = threading.Event()
        self.answered = threading.Event()
        self.stopping = threading.Event()
        self.answer = ""


class RuntimeApiHandler(http.server.BaseHTTPRequestHandler):
    server: RuntimeApi
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        if not self.path.endswith("/runtime/invocation/next"):
            self.send_error(404)
            return
        if self.server.served.is_set():
            self.server.stopping.wait()
            return
        self.server.served.set()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", "6f1ea5d2-0000-4000-8000-000000000001")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                         "arn:aws:lambda:us-east-1:123456789012:function:GetStartedLambdaProxyIntegration")
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.server.event)))
        self.end_headers()
        self.wfile.write(self.server.event)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        if "/runtime/invocation/" in self.path:
            self.server.answer = f"{self.path.rsplit('/', 1)[-1]} {body[:100].decode(errors='replace')}"
            self.server.answered.set()


def drive_invalid_event(bootstrap: Path, port: int, timeout: float) -> list[str]:
    """Runs bootstrap against RuntimeApi with an event that is not an API Gateway request."""
    api = RuntimeApi(b'{"detail-type": "Scheduled Event", "source": "aws.events"}')
    thread = threading.Thread(target=api.serve_forever, daemon=True)
    thread.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{api.server_address[1]}", AWS_LAMBDA_FUNCTION_NAME="GetStartedLambdaProxyIntegration",
               AWS_LAMBDA_FUNCTION_VERSION="$LATEST", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128", AWS_REGION="us-east-1",
               AWS_LAMBDA_LOG_STREAM_NAME="capture", _HANDLER="bootstrap",
               OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}", OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf")
    proc = subprocess.Popen([str(bootstrap)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        answered = api.answered.wait(timeout)
        time.sleep(1.0)  # the flush after the answer, before the next `next`
        return [f"a non-API Gateway event straight to bootstrap -> {api.answer if answered else 'no answer'}"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        api.stopping.set()
        api.shutdown()
        api.server_close()


async def capture(apigw_local: Path, bootstrap: Path, timeout: float, quiet: float) -> tuple[dict, list[str]]:
    port = free_port()
    streams: dict[tuple, set[str]] = {}
    last_new = [time.monotonic()]
    settings = OtelTapHttpProtobufReceiverSettings(http_port=port)
    async with OtelTapHttpProtobufReceiver(settings) as receiver:
        async def collect() -> None:
            async for metric in receiver.stream_metrics():
                kind = metric.WhichOneof("data")
                monotonic = metric.sum.is_monotonic if kind == "sum" else None
                key = (metric.name, metric.unit, KINDS.get(kind, kind), monotonic)
                if key not in streams:
                    streams[key] = set()
                    last_new[0] = time.monotonic()
                for point in getattr(metric, kind).data_points:
                    streams[key].update(attribute.key for attribute in point.attributes)

        collector = asyncio.ensure_future(collect())
        log = await asyncio.to_thread(drive, apigw_local, bootstrap, port, timeout)
        log += await asyncio.to_thread(drive_invalid_event, bootstrap, port, timeout)
        stopped = time.monotonic()
        # Metrics flushed at shutdown arrive after the process is gone: wait until nothing new came for `quiet` s.
        while time.monotonic() - max(last_new[0], stopped) < quiet and time.monotonic() - stopped < timeout:
            await asyncio.sleep(0.1)
        collector.cancel()
    return streams, log


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apigw-local", type=Path, required=True)
    parser.add_argument("--bootstrap", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("--quiet", type=float, default=2.0, help="seconds without a new metric that end the capture")
    args = parser.parse_args()

    streams, log = asyncio.run(capture(args.apigw_local, args.bootstrap, args.timeout, args.quiet))
    for line in log:
        print(f"  {line}")
    metrics = [{"name": n, "unit": u, "kind": k, "monotonic": m, "attributes": sorted(streams[(n, u, k, m)])}
               for (n, u, k, m) in sorted(streams, key=str)]
    by_name: dict[str, list] = {}
    for metric in metrics:
        by_name.setdefault(metric["name"], []).append(metric)
    conflicts = {name: found for name, found in by_name.items() if len(found) > 1}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"source": "tests/stack/capture_emitted.py: apigw-local + bootstrap -> oteltap",
                                    "metrics": metrics}, indent=2) + "\n")
    for metric in metrics:
        print(f"  captured {metric['name']} ({metric['unit'] or 'no unit'}, {metric['kind']}"
              + (", monotonic" if metric["monotonic"] else "") + f"; attributes {', '.join(metric['attributes']) or '-'})")
    if conflicts:
        for name, found in conflicts.items():
            print(f"  FAIL {name} arrived as {len(found)} different streams: {found}")
        return 1
    if not metrics:
        print("  FAIL no metric arrived: the binaries export no OTLP metrics")
        return 1
    print(f"  wrote {len(metrics)} metrics to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Init time of each function binary, and the cost of its first request, against a fake Lambda API.

Init time is process start to the first GET .../runtime/invocation/next: what Lambda reports as Init
Duration, everything `main` does before it asks for an event (configuration, SDK clients, the tokio
runtime). A fake Lambda Runtime API on 127.0.0.1 records that moment.

With an event for a binary (NAME=PATH=EVENT.json), the fake API then hands it the event twice and
records how long each takes to answer: the first request pays what was left lazy (the HTTPS
connector, loading the CA bundle, seeding the RNG, the first TLS handshake), the second is warm.
AWS_ENDPOINT_URL points the SDK at a fake DynamoDB on https://127.0.0.1 that answers every call with
`{}` (a GetItem that finds nothing), with a fresh self-signed certificate that SSL_CERT_FILE names.
The functions trust the Amazon Trust Services roots compiled into them, and the system's CA roots
only when SSL_CERT_FILE or SSL_CERT_DIR is set (crates/aws/src/config.rs); on Lambda neither is, so
by default SSL_CERT_FILE holds just the fake endpoint's certificate: one PEM certificate more than in
production. --system-roots appends it to the system's whole bundle instead, to show what parsing
that at start-up costs. Loopback hides the network
round trips that AWS adds; what is left is the CPU work on this machine.

Binaries run RUNS times, interleaved (a, b, c, a, b, c, …), so that load from other work on the
machine falls on all of them alike; the report gives median and p90 in milliseconds, and each
function's median init as a multiple of the first binary's (the baseline).

    measure.py [--runs N] NAME=PATH[=EVENT] [NAME=PATH[=EVENT] …]
"""

import argparse
import http.server
import socket
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

PREFIX = "/2018-06-01/runtime/invocation/"
NEXT = PREFIX + "next"


class Runtime(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), RuntimeHandler)
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.release = threading.Event()
        self.reset(None, 0)

    def reset(self, event, invocations):
        with self.lock:
            self.event = event  # bytes, or None: stop at the first /next
            self.invocations = invocations
            self.pid = None
            self.nexts = []  # perf_counter_ns of every /next
            self.cpu = []  # CPU ns the process had used at every /next and every answer, in order
            self.answers = []  # (perf_counter_ns, path, body) of every /response or /error
            self.done.clear()
            self.release.clear()


class NoDelay(http.server.BaseHTTPRequestHandler):
    """Headers and body go out as separate writes: without TCP_NODELAY, Nagle's algorithm holds the
    body until the peer's delayed ACK (40 ms on Linux), which would swamp what is measured."""

    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class RuntimeHandler(NoDelay):
    def log_message(self, *args):
        pass

    def do_GET(self):
        now = time.perf_counter_ns()
        s = self.server
        if self.path != NEXT:
            self.send_error(404)
            return
        # A fast binary can ask for /next before Popen has returned its pid. It is blocked on this
        # request meanwhile, so its CPU time is the same when read a moment later.
        deadline = time.monotonic() + 1
        while s.pid is None and time.monotonic() < deadline:
            time.sleep(0.0002)
        with s.lock:
            s.nexts.append(now)
            s.cpu.append(cpu_ns(s.pid))
            n = len(s.nexts)
            give = s.event is not None and n <= s.invocations
        if not give:
            s.done.set()
            # Hold the long poll, as Lambda does while no event is waiting; the process is killed.
            s.release.wait(10)
            return
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(s.event)))
        self.send_header("lambda-runtime-aws-request-id", f"req-{n}")
        self.send_header("lambda-runtime-deadline-ms", str(int(time.time() * 1000) + 10_000))
        self.send_header(
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:bench",
        )
        self.send_header("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000")
        self.end_headers()
        self.wfile.write(s.event)

    def do_POST(self):
        now = time.perf_counter_ns()
        length = int(self.headers.get("content-length", 0))
        body = self.rfile.read(length)
        with self.server.lock:
            self.server.answers.append((now, self.path, body))
            self.server.cpu.append(cpu_ns(self.server.pid))
        if self.path.endswith("/init/error"):
            sys.stderr.write(f"init error: {body[:500]!r}\n")
            self.server.done.set()
        self.send_response(202)
        self.send_header("content-length", "0")
        self.end_headers()


class FakeDynamo(NoDelay):
    """Every call answered with an empty JSON object: GetItem finds nothing."""

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = b"{}"
        self.send_response(200)
        self.send_header("content-type", "application/x-amz-json-1.0")
        self.send_header("x-amzn-requestid", "bench")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def fake_dynamodb(workdir, system_roots=False):
    """An HTTPS server on 127.0.0.1 with a fresh certificate, and a CA bundle that trusts it."""
    cert, key = os.path.join(workdir, "cert.pem"), os.path.join(workdir, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-addext", "basicConstraints=critical,CA:FALSE", "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )
    bundle = os.path.join(workdir, "bundle.pem")
    system = "/etc/ssl/certs/ca-certificates.crt"
    with open(bundle, "wb") as out:
        if system_roots and os.path.exists(system):
            out.write(open(system, "rb").read())
        out.write(open(cert, "rb").read())
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeDynamo)
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, bundle


def cpu_ns(pid):
    """CPU time the process has used so far, all threads (/proc/<pid>/task/*/schedstat, field 1):
    unlike wall time, hardly moved by other work on the machine."""
    if pid is None:
        return None
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return total


def lambda_env(port, name, endpoint, bundle):
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]0123456789abcdef",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLEEXAMPLE00",
        "AWS_SECRET_ACCESS_KEY": "dummy-secret-for-init-time-measurement",
        "AWS_SESSION_TOKEN": "dummy-session-token",
        "AWS_EXECUTION_ENV": "AWS_Lambda_provided.al2023",
        "AWS_ENDPOINT_URL": endpoint,
        "SSL_CERT_FILE": bundle,
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "TZ": ":UTC",
        "RETENTION_TABLE": "retention-bench",
        "RUST_LOG": "info",
    }


def one_run(server, path, env, event):
    server.reset(event, 2 if event else 0)
    start = time.perf_counter_ns()
    proc = subprocess.Popen([path], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with server.lock:
        server.pid = proc.pid
    ok = server.done.wait(15)
    proc.kill()
    server.release.set()
    _, err = proc.communicate()
    with server.lock:
        nexts, answers, cpu = list(server.nexts), list(server.answers), list(server.cpu)
    want = 3 if event else 1
    if not ok or len(nexts) < want or (event and len(answers) < 2):
        raise SystemExit(f"{path}: {len(nexts)} /next, {len(answers)} answers; stderr: "
                         f"{err.decode(errors='replace')[-2000:]}")
    init = (nexts[0] - start) / 1e6
    init_cpu = cpu[0] / 1e6 if cpu and cpu[0] is not None else float("nan")
    if not event:
        return init, init_cpu, None, None, None, None
    first = (answers[0][0] - nexts[0]) / 1e6
    warm = (answers[1][0] - nexts[1]) / 1e6
    # cpu: [next1, answer1, next2, answer2, next3]
    first_cpu = (cpu[1] - cpu[0]) / 1e6 if None not in cpu[:2] else float("nan")
    return init, init_cpu, first, first_cpu, warm, answers[0][2]


def pct(values, p):
    s = sorted(values)
    k = (len(s) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=5, help="runs per binary not counted (page cache)")
    ap.add_argument("--system-roots", action="store_true",
                    help="SSL_CERT_FILE: the system's CA bundle plus the fake DynamoDB's certificate "
                         "(shows what parsing the whole bundle at start-up costs)")
    ap.add_argument("binaries", nargs="+", metavar="NAME=PATH[=EVENT]")
    a = ap.parse_args()
    binaries = []
    for spec in a.binaries:
        name, path, *event = spec.split("=", 2)
        if not os.access(path, os.X_OK):
            raise SystemExit(f"{name}: {path} is not an executable")
        binaries.append((name, path, open(event[0], "rb").read() if event else None))

    workdir = tempfile.mkdtemp(prefix="init-time-")
    dynamo, bundle = fake_dynamodb(workdir, a.system_roots)
    endpoint = f"https://127.0.0.1:{dynamo.server_address[1]}"
    server = Runtime()
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    results = {name: ([], [], [], [], []) for name, _, _ in binaries}
    for i in range(a.warmup + a.runs):
        for name, path, event in binaries:
            init, init_cpu, first, first_cpu, warm, answer = one_run(
                server, path, lambda_env(port, name, endpoint, bundle), event
            )
            if i == 0 and answer is not None:
                print(f"{name} answered its first event with: {answer[:200].decode(errors='replace')}")
            if i >= a.warmup:
                for series, value in zip(results[name], (init, init_cpu, first, first_cpu, warm)):
                    if value is not None:
                        series.append(value)
    server.shutdown()
    dynamo.shutdown()

    base = statistics.median(results[binaries[0][0]][0])
    base_cpu = statistics.median(results[binaries[0][0]][1])
    print(f"\n{a.runs} runs each (interleaved), milliseconds. init: process start to first /next (wall),"
          f" and the CPU the process used by then; 1st req: first event handed over to its answer;"
          f" warm: the second event")
    print(f"{'function':<14} {'bytes':>9} {'init med':>8} {'p90':>6} {'×base':>6} {'cpu med':>8} {'×base':>6}"
          f" {'1st req':>8} {'p90':>6} {'cpu med':>8} {'warm':>6} {'p90':>6}")
    for name, path, _ in binaries:
        init, init_cpu, first, first_cpu, warm = results[name]
        med, cmed = statistics.median(init), statistics.median(init_cpu)
        row = (f"{name:<14} {os.path.getsize(path):>9} {med:>8.2f} {pct(init, 0.9):>6.2f} {med / base:>6.2f}"
               f" {cmed:>8.2f} {cmed / base_cpu:>6.2f}")
        if first:
            row += (f" {statistics.median(first):>8.2f} {pct(first, 0.9):>6.2f} {statistics.median(first_cpu):>8.2f}"
                    f" {statistics.median(warm):>6.2f} {pct(warm, 0.9):>6.2f}")
        print(row)


if __name__ == "__main__":
    main()

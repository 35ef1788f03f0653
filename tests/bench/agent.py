#!/usr/bin/env python3
"""tests/bench/agent.py — `teehost start` as a user meets it: how soon the agent answers, how
much memory it holds after a conversation, and how many messages per second its REST API takes
with the built-in offline model. `lua5.4 -e ''` start-up is printed alongside as the floor.

    python3 tests/bench/agent.py [path/to/teehost] [--runs N] [--messages M] [--seconds S]

1. Start-up: exec `teehost start --port 0` → the first `GET /health` that answers 200 (polled
   every 2 ms), median of N runs (default 10); `lua5.4 -e ''` exec → exit, median of N runs.
2. RSS: VmRSS of the agent process (/proc/<pid>/status) after start and after M messages
   (default 100) through `POST /api/agents/{id}/message`.
3. Throughput: messages per second for S seconds (default 5), one client, keep-alive off; and
   attestation messages ("remote attestation", each makes and verifies a quote) per second.
Every run uses a fresh temporary TEEHOST_HOME (0700) and the built-in simulator; the agent is
stopped with SIGINT. Benchmarks print figures; they never fail a build or assert timing.
"""
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request


def arg(flag, default):
    if flag in sys.argv:
        return int(sys.argv[sys.argv.index(flag) + 1])
    return default


def vm_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, r.read()


class Agent:
    """One `teehost start --port 0` process with its own TEEHOST_HOME."""

    def __init__(self, teehost):
        self.home = tempfile.mkdtemp(prefix="teehost-bench-agent-")
        os.chmod(self.home, 0o700)
        env = {k: v for k, v in os.environ.items()
               if k not in ("TEE_MODE", "OPENAI_BASE_URL", "OPENAI_API_KEY", "DSTACK_SIMULATOR_ENDPOINT",
                            "TAPPD_SIMULATOR_ENDPOINT", "TEE_ATTESTATION_UPLOAD_URL", "WALLET_SECRET_SALT")}
        env["TEEHOST_HOME"] = self.home
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen([teehost, "start", "--port", "0"], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if "listening on " not in line:
            self.stop()
            raise RuntimeError(f"teehost start did not start: {line!r}")
        self.base = line.split("listening on ")[1].split()[0]

    def first_health(self):
        while True:
            try:
                if get(self.base + "/health", timeout=1)[0] == 200:
                    return time.perf_counter() - self.t0
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.002)

    def agent_id(self):
        return json.loads(get(self.base + "/api/agents")[1])[0]["id"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.home, ignore_errors=True)


def rate(url, body, seconds):
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        post(url, body)
        n += 1
    return n / (time.perf_counter() - t0)


def main():
    teehost = next((a for a in sys.argv[1:] if not a.startswith("--") and os.path.sep in a), None)
    teehost = os.path.abspath(teehost or os.path.join("build", "teehost"))
    runs, messages, seconds = arg("--runs", 10), arg("--messages", 100), arg("--seconds", 5)

    starts = []
    for _ in range(runs):
        a = Agent(teehost)
        try:
            starts.append(a.first_health())
        finally:
            a.stop()
    lua = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(["lua5.4", "-e", ""], check=True)
        lua.append(time.perf_counter() - t0)
    print(f"start-up to first /health (median of {runs}): teehost start {statistics.median(starts) * 1000:.1f} ms"
          f" | lua5.4 -e '' exec {statistics.median(lua) * 1000:.1f} ms")

    a = Agent(teehost)
    try:
        a.first_health()
        url = f"{a.base}/api/agents/{a.agent_id()}/message"
        rss0 = vm_rss_mb(a.proc.pid)
        for i in range(messages):
            post(url, {"text": f"what is a TEE? ({i})", "user": "bench", "room": "bench"})
        rss1 = vm_rss_mb(a.proc.pid)
        print(f"VmRSS: {rss0:.1f} MB after start, {rss1:.1f} MB after {messages} messages")
        plain = rate(url, {"text": "how does remote attestation work?", "room": "rate"}, seconds)
        print(f"messages/s (offline model, one client, {seconds} s): {plain:.0f}")
        att = rate(url, {"text": "remote attestation please", "room": "rate"}, seconds)
        print(f"attestation messages/s (quote + local verification, {seconds} s): {att:.1f}")
        print(f"VmRSS after the throughput runs: {vm_rss_mb(a.proc.pid):.1f} MB")
    finally:
        a.stop()


if __name__ == "__main__":
    main()

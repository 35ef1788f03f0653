#!/usr/bin/env python3
"""tests/bench/dstack.py — the dstack guest-agent path under load: teehost's client (the Lua `tee`
module) side by side with the reference client, npm @phala/dstack-sdk 0.5.8's DstackClient
(pinned in tests/bench/package.json), both talking to one teehost simulator.

    python3 tests/bench/dstack.py [path/to/teehost] [--seconds S] [--runs N]

Needs node and npm; runs `npm install --no-audit --no-fund` in tests/bench when node_modules is
missing. The simulator state lives in a temporary TEEHOST_HOME (0700), removed afterwards.

1. One simulator, started in the background (`teehost simulator start --socket …`).
2. GetKey and GetQuote calls per second through its Unix socket, with 1 and with 64 calls in
   flight, S seconds per case:
     teehost     tests/bench/dstack_client.lua: tee.use(socket), then N tasks each looping
                 tee.get_key("bench/"..i, "p") / tee.get_quote("x");
     dstack-sdk  tests/bench/dstack_sdk_bench.js: N async loops on one DstackClient(socket);
   with the ratio teehost/dstack-sdk. Both clients are separate processes; the simulator is the
   same process throughout, so the figures include its work (quotes are signed per call).
3. The simulator's peak RSS (VmHWM of /proc/<pid>/status) before and after the load.
4. Cold start of one getKey: wall time of a whole process, `teehost -e` one tee.get_key against
   `node` one DstackClient.getKey, median of N runs, interleaved.
Benchmarks print figures; they never fail a build or assert timing.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
COLD_LUA = 'tee.use(arg[1]); assert(tee.get_key("cold", "p"))'


def vm_hwm_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def start_simulator(teehost, env, sock):
    out = subprocess.run([teehost, "simulator", "start", "--socket", sock], env=env,
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"simulator start failed ({out.returncode}): {out.stderr.strip() or out.stdout.strip()}")
    pid_file = os.path.join(env["TEEHOST_HOME"], "simulator", "simulator.pid")
    with open(pid_file) as f:
        pid = int(f.readline().strip())
    return pid, out.stdout.strip().splitlines()[0]


def stop_simulator(teehost, env, pid):
    if pid is None and not os.path.exists(os.path.join(env["TEEHOST_HOME"], "simulator", "simulator.pid")):
        return
    try:
        subprocess.run([teehost, "simulator", "stop"], env=env, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        pass
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except OSError:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, 9)
    except OSError:
        pass


def json_line(argv, env, timeout):
    out = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=HERE, timeout=timeout)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        why = (out.stderr.strip() or out.stdout.strip()).splitlines()
        raise RuntimeError(f"exit {out.returncode}: {why[-1] if why else 'no output'}")
    return json.loads(lines[-1])


def fmt_rate(r):
    if isinstance(r, str):
        return f"{'n/a':>10s}"
    return f"{r['calls_per_s']:10.0f}"


def note(r):
    if isinstance(r, str):
        return r
    if r.get("errors"):
        return f"{r['errors']} errors, first: {r.get('first_error')}"
    return ""


def load(teehost, env, sock, seconds, pid):
    print(f"calls per second through the simulator's Unix socket, {seconds:g} s per case:")
    print(f"  {'call':9s} {'in flight':>9s} {'teehost':>10s} {'dstack-sdk':>10s} {'ratio':>7s}")
    for op, name in (("getkey", "GetKey"), ("getquote", "GetQuote")):
        for inflight in (1, 64):
            results = {}
            for client, argv in (
                    ("teehost", [teehost, os.path.join(HERE, "dstack_client.lua"), sock, op, str(inflight),
                                 str(seconds)]),
                    ("sdk", ["node", os.path.join(HERE, "dstack_sdk_bench.js"), sock, op, str(inflight),
                             str(seconds)])):
                try:
                    results[client] = json_line(argv, env, timeout=seconds * 4 + 60)
                except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
                    results[client] = f"{client}: {e}"
            ours, ref = results["teehost"], results["sdk"]
            ratio = f"{ours['calls_per_s'] / ref['calls_per_s']:6.2f}x" \
                if not isinstance(ours, str) and not isinstance(ref, str) and ref["calls_per_s"] > 0 else "    n/a"
            notes = "; ".join(n for n in (note(ours), note(ref)) if n)
            print(f"  {name:9s} {inflight:9d} {fmt_rate(ours)} {fmt_rate(ref)} {ratio}"
                  f"{'   (' + notes + ')' if notes else ''}")
    hwm = vm_hwm_mb(pid)
    print(f"  (ratio = teehost/dstack-sdk; simulator peak RSS after the load: "
          f"{'n/a' if hwm is None else f'{hwm:.1f} MB'} VmHWM)")


def wall(argv, env):
    t0 = time.perf_counter()
    rc = subprocess.run(argv, cwd=HERE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                        timeout=60).returncode
    return (time.perf_counter() - t0) * 1000, rc


def cold(teehost, env, sock, runs):
    cmds = {"teehost": [teehost, "-e", COLD_LUA, sock],
            "dstack-sdk": ["node", os.path.join(HERE, "dstack_sdk_bench.js"), sock, "cold"]}
    samples = {k: [] for k in cmds}
    failures = {k: 0 for k in cmds}
    for _ in range(runs):
        for name, argv in cmds.items():
            ms, rc = wall(argv, env)
            samples[name].append(ms)
            failures[name] += rc != 0
    print(f"cold start of one getKey, whole-process wall time, median of {runs} runs:")
    base = statistics.median(samples["teehost"])
    for name, ts in samples.items():
        m = statistics.median(ts)
        bad = f"   ({failures[name]} runs failed)" if failures[name] else ""
        print(f"  {name:10s} {m:8.1f} ms   ({m / base:5.1f}x teehost's time){bad}")


def main():
    args = sys.argv[1:]
    teehost = os.path.abspath(args[0]) if args and not args[0].startswith("--") else \
        os.path.join(HERE, "..", "..", "build", "teehost")
    seconds = float(args[args.index("--seconds") + 1]) if "--seconds" in args else 2
    runs = int(args[args.index("--runs") + 1]) if "--runs" in args else 5
    if not os.path.isdir(os.path.join(HERE, "node_modules", "@phala", "dstack-sdk")):
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=HERE, check=True,
                       stdout=subprocess.DEVNULL)
    home = tempfile.mkdtemp(prefix="teehost-bench-")  # mode 0700
    env = {k: v for k, v in os.environ.items()
           if k not in ("DSTACK_SIMULATOR_ENDPOINT", "TAPPD_SIMULATOR_ENDPOINT", "TEE_MODE")}
    env["TEEHOST_HOME"] = home
    sock = os.path.join(home, "bench.sock")
    pid = None
    try:
        pid, started = start_simulator(teehost, env, sock)
        # Both clients are pointed at it by the environment too, so teehost's start-up endpoint
        # selection does not open its built-in simulator before tee.use switches.
        env["DSTACK_SIMULATOR_ENDPOINT"] = sock
        print(f"{started}; {os.cpu_count()} CPUs; simulator peak RSS before the load: "
              f"{vm_hwm_mb(pid) or 0:.1f} MB VmHWM")
        load(teehost, env, sock, seconds, pid)
        cold(teehost, env, sock, runs)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        print(f"dstack benchmark stopped: {e}")
    finally:
        stop_simulator(teehost, env, pid)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()

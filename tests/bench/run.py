#!/usr/bin/env python3
"""tests/bench/run.py — teehost's foundation benchmarks, side by side with the references.

    python3 tests/bench/run.py [path/to/teehost] [--runs N] [--seconds S]

1. Start-up: wall time and peak RSS of `teehost -e ''`, `lua5.4 -e ''` and `node -e ''`,
   median of N runs each, interleaved so that machine noise hits all three alike. Time is taken
   around posix_spawn+wait; peak RSS through GNU time, because a child's peak RSS counts the
   memory of the process it was forked from, and GNU time is small while Python is not.
2. HTTP round trips per second, client and server in one teehost process, over a Unix socket and
   over TCP with 1 and 100 requests in flight (tests/bench/http_roundtrip.lua).
3. Sanity ratio: the same kind of teehost server driven by `curl` in a loop (one process per
   request, so it measures curl's start-up more than the server).
Benchmarks print figures; they never fail a build.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def spawn_time(argv):
    t0 = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, os.environ)
    os.waitpid(pid, 0)
    return time.perf_counter() - t0


def peak_rss_mb(argv):
    out = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], capture_output=True, text=True)
    return int(out.stderr.strip().splitlines()[-1]) / 1024.0


def startup(teehost, runs):
    cmds = {"teehost": [teehost, "-e", ""], "lua5.4": ["lua5.4", "-e", ""], "node": ["node", "-e", ""]}
    cmds = {k: v for k, v in cmds.items() if shutil.which(v[0])}
    samples = {k: ([], []) for k in cmds}
    for _ in range(runs):
        for name, argv in cmds.items():
            samples[name][0].append(spawn_time(argv) * 1000)
            samples[name][1].append(peak_rss_mb(argv))
    print(f"start-up, median of {runs} runs:")
    base = statistics.median(samples["teehost"][0])
    for name, (ts, rss) in samples.items():
        mt = statistics.median(ts)
        print(f"  {name:8s} {mt:7.2f} ms  {statistics.median(rss):6.1f} MB peak RSS"
              f"   ({mt / base:5.2f}x teehost's time)")


def http_inprocess(teehost, seconds):
    print(f"HTTP round trips, client and server in one teehost process ({seconds} s per case):")
    out = subprocess.run([teehost, os.path.join(HERE, "http_roundtrip.lua"), str(seconds)],
                         check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        print("  " + line)
    return out


def curl_loop(teehost, seconds):
    if not shutil.which("curl"):
        print("curl not installed: skipping the curl sanity ratio")
        return
    with tempfile.TemporaryDirectory() as tmp:
        portfile, sock = os.path.join(tmp, "port"), os.path.join(tmp, "s.sock")
        srv = subprocess.Popen([teehost, os.path.join(HERE, "serve.lua"), portfile, sock])
        try:
            for _ in range(100):
                if os.path.exists(portfile) and open(portfile).read().strip():
                    break
                time.sleep(0.05)
            port = open(portfile).read().strip()
            print("the same kind of server driven by `curl` in a loop (one process per request):")
            for name, extra, url in (("unix", ["--unix-socket", sock], "http://x/"),
                                     ("tcp", [], f"http://127.0.0.1:{port}/")):
                n, t0 = 0, time.perf_counter()
                while time.perf_counter() - t0 < seconds:
                    subprocess.run(["curl", "-s", "-o", "/dev/null", *extra, url], check=True)
                    n += 1
                el = time.perf_counter() - t0
                print(f"  curl {name:4s} {n:6d} req in {el:.2f} s = {n / el:8.0f} req/s")
        finally:
            srv.terminate()
            srv.wait()


def main():
    args = sys.argv[1:]
    teehost = os.path.abspath(args[0]) if args and not args[0].startswith("--") else \
        os.path.join(HERE, "..", "..", "build", "teehost")
    runs = int(args[args.index("--runs") + 1]) if "--runs" in args else 20
    seconds = float(args[args.index("--seconds") + 1]) if "--seconds" in args else 2
    startup(teehost, runs)
    http_inprocess(teehost, seconds)
    curl_loop(teehost, seconds)


if __name__ == "__main__":
    main()

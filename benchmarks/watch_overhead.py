"""`nodediag watch` overhead against `docker stats --no-stream` at the same interval, same containers,
same run.

    python benchmarks/watch_overhead.py [--seconds 180] [--interval 10]

Three containers (the failure lab's healthy deployment: node, broker, agent) run on the project's
private engine (started and stopped here unless DOCKER_HOST is set). Two phases of --seconds each:
  baseline: `docker stats --no-stream` for the three containers every --interval seconds (what the
            guide's monitor.sh runs), CPU and peak RSS of those processes from getrusage(CHILDREN);
  nodediag: `nodediag watch --project P --interval <interval>s`, CPU from /proc/<pid>/stat at the
            end, RSS from /proc/<pid>/status every second (peak and last).
Both also print the engine's (dockerd's) CPU over the phase: the cost each imposes on the daemon.
Budget (issue 16): the watcher under 1 % of one core and under 100 MB RSS.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENGINE = REPO / "tests" / "engine"
SCENARIO = REPO / "tests" / "lab" / "scenarios" / "healthy"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def dockerd_pid(env: dict[str, str]) -> int | None:
    state = env.get("NODEDIAG_ENGINE_DIR") or "/tmp/nodediag-engine"
    try:
        return int(Path(state, "dockerd.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def compose_binary() -> str:
    spec = importlib.util.find_spec("compose")
    return str(Path(list(spec.submodule_search_locations or [])[0]) / "docker-compose") if spec else "docker-compose"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--interval", type=float, default=10.0)
    opts = parser.parse_args()
    env = dict(os.environ)
    started_engine = False
    if "DOCKER_HOST" not in env:
        env.setdefault("NODEDIAG_ENGINE_DIR", "/tmp/nodediag-engine-bench")
        out = subprocess.run(["bash", str(ENGINE / "dockerd.sh"), "start"], env=env, capture_output=True,
                             text=True, check=True).stdout
        env["DOCKER_HOST"] = out.strip().splitlines()[-1].split("=", 1)[1]
        started_engine = True
    env["PYTHONPATH"] = str(REPO)
    subprocess.run(["bash", str(ENGINE / "build-image.sh")], env=env, check=True, capture_output=True)
    project = f"bench{uuid.uuid4().hex[:6]}"
    compose = [compose_binary(), "--project-directory", str(SCENARIO), "--project-name", project]
    subprocess.run([*compose, "up", "-d", "--no-build", "--pull", "never"], env=env, check=True, capture_output=True)
    names = [f"{project}-prover-{role}-1" for role in ("node", "broker", "agent")]
    daemon = dockerd_pid(env)
    print(f"3 containers, interval {opts.interval:g}s, {opts.seconds:g}s per phase")
    print(f"{'what':<34} {'CPU % of a core':>16} {'dockerd CPU %':>14} {'peak RSS':>10} {'last RSS':>10}")
    try:
        # baseline: docker stats --no-stream at the same interval
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        d0 = cpu_seconds(daemon) if daemon else 0.0
        start = time.monotonic()
        while time.monotonic() - start < opts.seconds:
            tick = time.monotonic()
            subprocess.run(["docker", "stats", "--no-stream", *names], env=env, capture_output=True, check=False)
            time.sleep(max(0.0, opts.interval - (time.monotonic() - tick)))
        wall = time.monotonic() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        d_cpu = (cpu_seconds(daemon) - d0) if daemon else float("nan")
        print(f"{'baseline docker stats --no-stream':<34} {cpu / wall * 100:>15.2f}% {d_cpu / wall * 100:>13.2f}% "
              f"{after.ru_maxrss / 1024:>7.0f} MB {'':>10}")

        # nodediag watch
        with tempfile.TemporaryDirectory(prefix="nodediag-watch-bench-") as tmp:
            proc = subprocess.Popen([sys.executable, "-m", "nodediag", "watch", "--project", project, "--interval",
                                     f"{opts.interval:g}s", "--out", tmp], env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True)
            time.sleep(3)  # start-up (imports, first discovery) is not the steady state
            c0 = cpu_seconds(proc.pid)
            d0 = cpu_seconds(daemon) if daemon else 0.0
            start = time.monotonic()
            peak = 0
            while time.monotonic() - start < opts.seconds and proc.poll() is None:
                peak = max(peak, rss_bytes(proc.pid))
                time.sleep(1.0)
            wall = time.monotonic() - start
            if proc.poll() is not None:
                print("nodediag watch exited early:", proc.stderr.read() if proc.stderr else "")
                return 1
            cpu = cpu_seconds(proc.pid) - c0
            d_cpu = (cpu_seconds(daemon) - d0) if daemon else float("nan")
            last = rss_bytes(proc.pid)
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=10)
            print(f"{'nodediag watch':<34} {cpu / wall * 100:>15.2f}% {d_cpu / wall * 100:>13.2f}% "
                  f"{peak / 2**20:>7.0f} MB {last / 2**20:>7.0f} MB   exit {code}")
            print(f"budget: CPU < 1% of a core, RSS < 100 MB -> "
                  f"{'met' if cpu / wall < 0.01 and peak < 100 * 2**20 else 'NOT met'}")
    finally:
        subprocess.run([*compose, "down", "-v", "-t", "1"], env=env, capture_output=True)
        if started_engine:
            subprocess.run(["bash", str(ENGINE / "dockerd.sh"), "stop"], env=env, capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

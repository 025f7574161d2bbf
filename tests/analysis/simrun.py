"""What the `scentrack sim --run` process tests share: one global deadline for every wait, the pids of
the processes a run left (collars, gateway, core, scentrack: their command lines name the run's directory)
and killing them."""
import os
import signal
import time

DEADLINE = time.monotonic() + float(os.environ.get("SIM_TEST_DEADLINE_S", "280"))


def left():
    """Seconds until the test's deadline (asserts it has not passed)."""
    t = DEADLINE - time.monotonic()
    assert t > 0, "global deadline passed"
    return t


def run_pids(data):
    """pids of processes whose command line names the run's directory (collars, gateway, core, scentrack)."""
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == os.getpid():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                if data.encode() in f.read():
                    out.append(int(p))
        except OSError:
            pass
    return out


def reap(data):
    """Kill (SIGKILL) what the run left behind; the pids killed (a test that leaves any must fail)."""
    stray = run_pids(data)
    for pid in stray:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return stray

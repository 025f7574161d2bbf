#!/usr/bin/python3
"""Process test: a confirmation search's patches reach the hazard engine through the real programs, and the
in-process evaluation sees the same day.

    sim_confirm_test.py SCENTRACK SCENARIO [SEED]

1. `scentrack sim SCENARIO --seed SEED --run --fast --data DIR` (collars, radio, gateway, core): the day.
2. The world's own files of the seed (`--out`, no streams): every confirm pass of passes.csv is the store's
   session of the same index (sessions are stored in pass order) and carries exactly its patches.csv rows,
   in order (schema step 10); no other session has patches.
3. The core's hazard_evidence has clean_pass rows of confirmation sessions: the engine counted a confirming
   animal's sweep of its patches (before schema step 10 a confirmation pass with consumer or SBAS fixes gave
   none: the box frame cannot read a patch as lanes).
4. `--evaluate --data DIR` (the real programs' day) and `--evaluate --in-process` (the world's events straight
   into the engine, inproc_points) give the same points, detections and false points for every policy and
   excavation threshold: the in-process feed gives the engine what the core does (patches, ends).
Every wait has a deadline; the run's processes are gone when it returns (checked, killed by pid otherwise).
"""
import csv
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

SCENTRACK, SCENARIO = sys.argv[1], sys.argv[2]
SEED = sys.argv[3] if len(sys.argv) > 3 else "1"
DEADLINE = time.monotonic() + float(os.environ.get("SIM_TEST_DEADLINE_S", "280"))


def left():
    t = DEADLINE - time.monotonic()
    assert t > 0, "global deadline passed"
    return t


def run_pids(data):
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


def counts(table):
    """The policy rows (points, detected, false) and the threshold lines (detected, false) of an evaluation."""
    rows = re.findall(r"^(every indication|>= 2 animals agree|fused P>=0.5|all points, by P)\s+(\d+)\s+(\d+/\d+)\s+"
                      r"[\d.]+%\s+(\d+)", table, re.M)
    thr = re.findall(r"^  P >= ([\d.]+)\s+(\d+/\d+) .* (\d+) false points", table, re.M)
    assert len(rows) == 4 and len(thr) >= 5, table
    return rows, thr


def main():
    tmp = tempfile.mkdtemp(prefix="scentrack-confirm-")
    data, world = f"{tmp}/day", f"{tmp}/world"
    try:
        r = subprocess.run([SCENTRACK, "sim", SCENARIO, "--seed", SEED, "--run", "--fast", "--data", data],
                           capture_output=True, text=True, timeout=left())
        assert r.returncode == 0, f"run: exit {r.returncode}\n{r.stderr}"
        assert not run_pids(data), f"processes left after the day: {run_pids(data)}"
        r = subprocess.run([SCENTRACK, "sim", SCENARIO, "--seed", SEED, "--out", world, "--accel", "none",
                            "--no-nmea", "--no-tracks"], capture_output=True, text=True, timeout=left())
        assert r.returncode == 0, f"world files: exit {r.returncode}\n{r.stderr}"
        with open(f"{world}/passes.csv") as f:
            passes = list(csv.DictReader(f))
        with open(f"{world}/patches.csv") as f:
            patches = list(csv.DictReader(f))
        want = {}
        for p in patches:
            want.setdefault(int(p["pass"]) + 1, []).append(
                (int(p["lane0"]), int(p["lanes"]), int(p["along0_mm"]), int(p["along1_mm"])))
        confirm = {int(p["pass"]) + 1 for p in passes if p["kind"] == "confirm"}
        assert confirm, "the day has no confirmation pass: nothing to check"
        assert set(want) == confirm, f"patches of passes {sorted(want)}, confirm passes {sorted(confirm)}"

        db = sqlite3.connect(f"file:{data}/core.sqlite?mode=ro", uri=True)
        try:
            got = {}
            for sid, a, b, c, d in db.execute("SELECT session_id, lane_first, lane_count, along_lo_mm, along_hi_mm "
                                              "FROM session_patches ORDER BY session_id, seq"):
                got.setdefault(sid, []).append((a, b, c, d))
            n_sessions = db.execute("SELECT count(*) FROM sessions").fetchone()[0]
            clean = db.execute("SELECT count(*), count(DISTINCT session_id) FROM hazard_evidence WHERE kind = "
                               "'clean_pass' AND session_id IN (SELECT session_id FROM session_patches)").fetchone()
        finally:
            db.close()
        assert n_sessions == len(passes), f"{n_sessions} sessions stored for {len(passes)} passes"
        assert got == want, f"stored patches differ from the world's:\n{got}\nvs\n{want}"
        print(f"{len(confirm)} confirmation sessions stored with their {len(patches)} patches")
        assert clean[0] > 0, "no clean_pass evidence of a confirmation session: its patches counted nothing"
        print(f"the core's evidence: {clean[0]} clean sweeps by {clean[1]} confirmation sessions")

        ev = []
        for mode in (["--data", data], ["--in-process"]):
            r = subprocess.run([SCENTRACK, "sim", SCENARIO, "--seed", SEED, "--evaluate", *mode],
                               capture_output=True, text=True, timeout=left())
            assert r.returncode == 0, f"evaluate {mode}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
            ev.append(counts(r.stdout))
        assert ev[0] == ev[1], f"the real programs' day and the in-process feed differ:\n{ev[0]}\nvs\n{ev[1]}"
        print(f"evaluate --data == --in-process: {ev[0][0]}")
        print("sim_confirm_test: ok")
    finally:
        stray = run_pids(data)
        for pid in stray:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(tmp, ignore_errors=True)
        if stray:
            print(f"killed stray processes {stray}", file=sys.stderr)
            sys.exit(1)


main()

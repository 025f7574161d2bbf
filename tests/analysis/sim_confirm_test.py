#!/usr/bin/python3
"""Process test: a confirmation search's patches reach the hazard engine through the real programs, and the
in-process evaluation sees the same day.

    sim_confirm_test.py SCENTRACK SCENARIO [SEED]

1. `scentrack sim SCENARIO --seed SEED --run --fast --data DIR` (collars, radio, gateway, core): the day.
2. The world's own files of the seed (`--out`, no streams): every confirm pass of passes.csv is the store's
   session of the same index (sessions are stored in pass order) and carries exactly its patches.csv rows,
   in order (schema step 10); no other session has patches.
3. Every live hazard point whose centroid lies inside a patch of an ended session (5 cm clear of its edges)
   has an evidence line of that session in the core's hazard_evidence (clean, or its indication), and some are
   clean sweeps by animals on consumer or SBAS receivers (without the patches those give none: their fixes are
   not usable coverage and the box frame cannot read a patch as lanes).
4. `--evaluate --data DIR` (the real programs' day) and `--evaluate --in-process` (the world's events straight
   into the engine, inproc_points) give the same points, detections and false points for every policy and
   excavation threshold: the in-process feed gives the engine what the core does (patches, ends).
Every wait has a deadline; the run's processes are gone when it returns (checked, killed by pid otherwise).
"""
import csv
import math
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile

from simrun import left, reap, run_pids  # beside this script

SCENTRACK, SCENARIO = sys.argv[1], sys.argv[2]
SEED = sys.argv[3] if len(sys.argv) > 3 else "1"


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

        with open(f"{world}/animals.csv") as f:
            coarse = [a["animal"] for a in csv.DictReader(f) if a["rx"] in ("consumer", "sbas")]
        assert coarse, "no animal on a consumer or SBAS receiver"
        db = sqlite3.connect(f"file:{data}/core.sqlite?mode=ro", uri=True)
        try:
            got = {}
            for sid, a, b, c, d in db.execute("SELECT session_id, lane_first, lane_count, along_lo_mm, along_hi_mm "
                                              "FROM session_patches ORDER BY session_id, seq"):
                got.setdefault(sid, []).append((a, b, c, d))
            n_sessions = db.execute("SELECT count(*) FROM sessions").fetchone()[0]
            # every live point whose centroid lies inside an (ended) confirmation session's patch, 5 cm clear of
            # its edges (the rows' mm rounding), has that session's line: clean, or its indication
            frame = {}
            for bid, x0, y0, xa, ya, xc, yc, w in db.execute("SELECT id, p0_x_mm, p0_y_mm, along_x_mm, along_y_mm, "
                                                             "across_x_mm, across_y_mm, lane_width_mm FROM boxes"):
                la = math.hypot(xa - x0, ya - y0)
                ua = ((xa - x0) / la, (ya - y0) / la)
                uc = (-ua[1], ua[0])
                if (xc - x0) * uc[0] + (yc - y0) * uc[1] < 0:
                    uc = (ua[1], -ua[0])
                frame[bid] = (x0, y0, ua, uc, w)
            lines = {}
            for hid, kind, sid in db.execute("SELECT hazard_id, kind, session_id FROM hazard_evidence"):
                lines.setdefault((hid, sid), set()).add(kind)
            pts = db.execute("SELECT id, x_mm, y_mm FROM hazard_points WHERE status <> 'superseded'").fetchall()
            held, coarse_clean = [], 0
            for sid, bid, animal in db.execute("SELECT s.id, s.box_id, a.name FROM sessions s JOIN animals a ON "
                                               "a.id = s.animal_id WHERE s.end_ms IS NOT NULL"):
                x0, y0, ua, uc, w = frame[bid]
                for hid, x, y in pts:
                    along = (x - x0) * ua[0] + (y - y0) * ua[1]
                    across = (x - x0) * uc[0] + (y - y0) * uc[1]
                    if any(a0 + 50 < along < a1 - 50 and l0 * w + 50 < across < (l0 + n) * w - 50
                           for l0, n, a0, a1 in got.get(sid, [])):
                        held.append((hid, sid))
                        assert (hid, sid) in lines, f"point {hid} lies in a patch of session {sid}: no line of it"
                        coarse_clean += animal in coarse and "clean_pass" in lines[(hid, sid)]
        finally:
            db.close()
        assert n_sessions == len(passes), f"{n_sessions} sessions stored for {len(passes)} passes"
        assert got == want, f"stored patches differ from the world's:\n{got}\nvs\n{want}"
        print(f"{len(confirm)} confirmation sessions stored with their {len(patches)} patches")
        assert held and coarse_clean > 0, f"{len(held)} points in patches, {coarse_clean} clean sweeps of them " \
                                          "by consumer/SBAS confirming animals"
        print(f"the core's evidence: {len(held)} points lie in a confirmation patch, each with that session's line "
              f"({coarse_clean} clean sweeps by consumer/SBAS confirming animals, whose fixes alone give none)")

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
        stray = reap(data)
        shutil.rmtree(tmp, ignore_errors=True)
        if stray:
            print(f"killed stray processes {stray}", file=sys.stderr)
            sys.exit(1)


main()

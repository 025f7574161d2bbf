#!/usr/bin/python3
"""Process tests of scentrack-core: the real daemon, a real gateway upstream (an_core_testgw: FIX + IND
records, CURVE keys made by `scentrack-core keygen`) and Clone subscribers (an_core_sub), all on tcp loopback
with ephemeral ports.

    core_proc_test.py CORE TESTGW SUB SCENARIO [SETUP]
    SCENARIO: e2e | kill | config | session | order | clearance | calibration | boxpos | review (the last six
              need SETUP = an_core_setup) | bench

Never sleeps to wait: every wait reads the line a process prints when the event happened (or a DUMP reply),
with a deadline that fails the test. Every process started is killed in `finally`.
"""
import json
import os
import queue
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

CORE, TESTGW, SUB, SCENARIO = sys.argv[1:5]
SETUP = sys.argv[5] if len(sys.argv) > 5 else None
PER = 64
COLLARS = 8       # core_testgw.c
IND_EVERY = 16
SITES = 5
GW_ID = 7
WAIT_S = 60

procs = []


class Proc:
    """A child whose stdout lines are read by a thread; `U` lines of a subscriber are kept apart."""

    def __init__(self, name, args, errlog, stdin=False):
        self.name = name
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=errlog, text=True, bufsize=1,
                                  stdin=subprocess.PIPE if stdin else subprocess.DEVNULL)
        self.q = queue.Queue()
        self.lines = []
        self.updates = []  # (kind, collar, rec_seq, t_ns) from "U" lines
        self.hazard_lines = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._reader, daemon=True).start()
        procs.append(self)

    def _reader(self):
        for line in self.p.stdout:
            line = line.rstrip("\n")
            if line.startswith("U "):
                _, k, c, s, t = line.split()
                with self.lock:
                    self.updates.append((k, int(c), int(s), int(t)))
                self.q.put("")  # wake waiters counting updates
                continue
            self.q.put(line)
        self.q.put(None)

    def wait(self, pattern, timeout=WAIT_S):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.name}: no line matching {pattern!r} within {timeout} s; "
                                     f"last lines: {self.lines[-5:]}")
            try:
                line = self.q.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"{self.name}: exited (rc {self.p.wait()}) before {pattern!r}; "
                                     f"last lines: {self.lines[-5:]}")
            if line == "":
                continue
            self.lines.append(line)
            m = rx.search(line)
            if m:
                return m

    def wait_updates(self, n, timeout=WAIT_S):
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                have = len(self.updates)
            if have >= n:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.name}: {have} updates, expected {n} within {timeout} s")
            try:
                line = self.q.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"{self.name}: exited")
            if line:
                self.lines.append(line)

    def dump(self):
        self.p.stdin.write("DUMP\n")
        self.p.stdin.flush()
        start = len(self.lines)
        self.wait(r"^END$")
        st = {"fix": {}, "ind": set(), "hazard": {}, "status": set(), "C": {}}
        for line in self.lines[start:]:
            f = line.split()
            if f[0] == "K" and f[1] == "fix":
                st["fix"][int(f[2])] = int(f[3])
            elif f[0] == "K" and f[1] == "ind":
                st["ind"].add((int(f[2]), int(f[3])))
            elif f[0] == "K" and f[1] == "hazard":
                st["hazard"][int(f[2])] = tuple(int(x) for x in f[3:7])
            elif f[0] == "K" and f[1] == "status":
                st["status"].add(int(f[2]))
            elif f[0] == "C":
                st["C"][f[1]] = dict(zip(("applied", "holes", "epoch_changes", "snapshots", "hugz_ahead",
                                          "stale"), (int(x) for x in f[2:8])))
        return st

    def kill(self, sig=signal.SIGKILL):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        return self.p.wait(timeout=30)


def stats(s):
    return {k: int(v) for k, v in (kv.split("=") for kv in s.split())}


class Rig:
    def __init__(self, tmp):
        self.tmp = tmp
        self.errpath = os.path.join(tmp, "stderr.log")
        self.err = open(self.errpath, "a")
        for who in ("core", "gw"):
            r = subprocess.run([CORE, "keygen", f"{tmp}/{who}.pub", f"{tmp}/{who}.key"], capture_output=True,
                               text=True, timeout=30)
            assert r.returncode == 0, r.stderr
            assert r.stdout.strip() == self.key(who), "keygen must print the public key it wrote"
        with open(f"{tmp}/allow.txt", "w") as f:
            f.write(f"# gateways allowed to deliver\n{GW_ID} {self.key('gw')}\n")
        self.db = f"{tmp}/core.db"
        self.status = f"{tmp}/status.json"
        self.state = f"{tmp}/gw.state"
        self.eps = {"ingest": "tcp://127.0.0.1:*", "pub": "tcp://127.0.0.1:*", "snapshot": "tcp://127.0.0.1:*"}
        self.n_core = 0

    def key(self, who):
        with open(f"{self.tmp}/{who}.pub") as f:
            return f.read().strip()

    def write_ini(self, extra=""):
        path = f"{self.tmp}/core.ini"
        with open(path, "w") as f:
            f.write(f"""# process test
[core]
db = {self.db}
status_file = {self.status}
log_level = info
[ingest]
endpoint = {self.eps['ingest']}
secret_key = {self.tmp}/core.key
allow = {self.tmp}/allow.txt
credit = 8
[pub]
endpoint = {self.eps['pub']}
[snapshot]
endpoint = {self.eps['snapshot']}
{extra}""")
        return path

    def core(self, extra=""):
        self.n_core += 1
        c = Proc(f"core#{self.n_core}", [CORE, "-N", "-f", self.write_ini(extra)], self.err)
        m = c.wait(r"^READY ingest=(\S+) pub=(\S+) snapshot=(\S+) epoch=([0-9a-f]{16})$")
        self.eps = {"ingest": m.group(1), "pub": m.group(2), "snapshot": m.group(3)}  # restarts: same ports
        c.epoch = m.group(4)
        return c

    def gw(self, batches, *extra):
        g = Proc("gw", [TESTGW, "run", "--endpoint", self.eps["ingest"], "--gw-id", str(GW_ID), "--server-key",
                        f"{self.tmp}/core.pub", "--secret", f"{self.tmp}/gw.key", "--batches", str(batches),
                        "--per", str(PER), "--state", self.state, *extra], self.err)
        g.wait(r"^READY")
        return g

    def sub(self):
        s = Proc("sub", [SUB, self.eps["pub"], self.eps["snapshot"]], self.err, stdin=True)
        s.wait(r"^READY$")
        return s


def store(db):
    con = sqlite3.connect(db)
    try:
        recs = con.execute("SELECT collar_id, rec_seq, type FROM records").fetchall()
        fixes = {(c, s) for c, s, t in recs if t == 2}
        inds = {(c, s) for c, s, t in recs if t == 4}
        last = dict(con.execute("SELECT f.collar_id, f.rec_seq FROM fixes f WHERE f.record_id IN "
                                "(SELECT MAX(record_id) FROM fixes GROUP BY collar_id)").fetchall())
        gw_last = con.execute("SELECT last_gw_seq FROM gateways WHERE gw_id = ?", (GW_ID,)).fetchone()
        return recs, fixes, inds, last, gw_last[0] if gw_last else None
    finally:
        con.close()


def expected(batches):
    n = batches * PER
    fixes, inds, site_n = set(), set(), {}
    for g in range(n):
        c, s = 1 + g % COLLARS, g // COLLARS
        if s % IND_EVERY == IND_EVERY - 1:
            inds.add((c, s))
            site = (s // IND_EVERY) % SITES
            site_n[site] = site_n.get(site, 0) + 1
        else:
            fixes.add((c, s))
    return fixes, inds, site_n


def check_store(rig, batches):
    recs, fixes, inds, last, gw_last = store(rig.db)
    want_f, want_i, _ = expected(batches)
    assert len(recs) == batches * PER, f"{len(recs)} records stored, expected {batches * PER}"
    assert fixes == want_f and inds == want_i, \
        f"fixes missing {len(want_f - fixes)} invented {len(fixes - want_f)}; " \
        f"inds missing {len(want_i - inds)} invented {len(inds - want_i)}"
    assert gw_last == batches, f"last_gw_seq {gw_last}"
    return fixes, inds, last


def check_hazards(st, batches, task=0):
    _, _, site_n = expected(batches)
    hz = st["hazard"]
    assert len(hz) == len(site_n), f"{len(hz)} hazard points, expected one per site: {len(site_n)} ({hz})"
    assert sorted(v[1] for v in hz.values()) == sorted(site_n.values()), (hz, site_n)
    for hid, (status, n_ind, n_animals, t) in hz.items():
        assert t == task, f"hazard {hid}: task {t}, expected {task}"
        assert n_animals == COLLARS, f"hazard {hid}: {n_animals} animals, expected {COLLARS}"
        assert status == 3, f"hazard {hid}: status {status}, expected 3 (awaiting excavation: 8 animals agree)"


def converge(sub, inds, last, timeout=WAIT_S):
    """DUMP until the subscriber's state is the store's (each DUMP is answered at once; between DUMPs we wait
    for the subscriber's next line, at most 0.2 s)."""
    deadline = time.monotonic() + timeout
    while True:
        st = sub.dump()
        if st["ind"] == inds and st["fix"] == last:
            return st
        if time.monotonic() > deadline:
            raise AssertionError(f"subscriber never converged: inds {len(st['ind'])}/{len(inds)}, "
                                 f"fix {st['fix']} vs {last}, counters {st['C']}")
        try:
            line = sub.q.get(timeout=0.2)
            if line:
                sub.lines.append(line)
        except queue.Empty:
            pass


def no_dup_updates(sub):
    keys = [(k, c, s) for k, c, s, _ in sub.updates]
    dup = len(keys) - len(set(keys))
    assert dup == 0, f"{dup} records published twice"
    return set(keys)


# ---- scenarios ---------------------------------------------------------------------------------------


def e2e(rig):
    n = 300
    core = rig.core()
    sub = rig.sub()
    gw = rig.gw(n, "--exit-when-done")
    gw.wait(r"^DONE ")
    fixes, inds, last = check_store(rig, n)
    sub.wait_updates(len(fixes) + len(inds))
    st = converge(sub, inds, last)
    seen = no_dup_updates(sub)
    assert {(c, s) for k, c, s in seen if k == "i"} == inds, "an indication update missing"
    assert {(c, s) for k, c, s in seen if k == "f"} == fixes, "a fix update missing"
    check_hazards(st, n)
    assert st["status"] == {GW_ID}
    assert all(v["holes"] == 0 and v["epoch_changes"] == 0 for v in st["C"].values()), st["C"]
    core.kill(signal.SIGTERM)
    assert core.p.returncode == 0, f"SIGTERM exit {core.p.returncode}"
    with open(rig.status) as f:
        js = json.load(f)
    assert js["ingest"]["committed"] == n and js["ingest"]["records_stored"] == n * PER, js["ingest"]
    assert js["feed"]["inds_published"] == len(inds) and js["feed"]["fixes_published"] == len(fixes), js["feed"]
    assert js["pub"]["hazard"]["items"] == SITES and js["feed"]["hazard_errors"] == 0, js
    # a restart rebuilds the same state from the store: a late joiner gets it in its snapshot
    core = rig.core()
    sub2 = rig.sub()
    st2 = sub2.dump()
    assert st2["ind"] == inds and st2["fix"] == last and st2["hazard"] == st["hazard"], "rebuilt state differs"
    core.kill(signal.SIGTERM)
    print(f"e2e: {n * PER} records stored once, {len(fixes)} fix + {len(inds)} ind updates seen once, "
          f"{len(st['hazard'])} hazard points (8 animals each), restart rebuilds the same state")


def kill(rig):
    n, kills = 400, 3
    core = rig.core()
    sub = rig.sub()
    gw = rig.gw(n)
    epochs = {core.epoch}
    for i in range(1, kills + 1):
        m = n * i // (kills + 2)
        while int(gw.wait(r"^ACK (\d+)$").group(1)) < m:
            pass
        core.kill(signal.SIGKILL)
        core = rig.core()
        epochs.add(core.epoch)
    gw.wait(r"^DONE ", 120)
    gw.kill(signal.SIGTERM)
    # a gateway that lost its acked mark (spool restored from a backup) resends half of everything: the core
    # must ack those batches as replays and publish nothing for them
    with open(rig.state, "w") as f:
        f.write(f"{n // 2}\n")
    gw = rig.gw(n, "--exit-when-done")
    gw.wait(r"^DONE ", 120)
    fixes, inds, last = check_store(rig, n)
    st = converge(sub, inds, last, 120)
    seen = no_dup_updates(sub)
    check_hazards(st, n)
    assert len(epochs) == kills + 1, "every start must draw a new epoch"
    ec = st["C"]["ind"]["epoch_changes"]
    assert ec >= 1, f"the subscriber never noticed a restart: {st['C']}"
    core.kill(signal.SIGTERM)
    assert core.p.returncode == 0
    with open(rig.status) as f:
        ing = json.load(f)["ingest"]
    assert ing["replays"] >= n // 2, ing  # the resent half, at least
    print(f"kill: {kills} SIGKILLs + {ing['replays']} replayed batches, store exact ({n * PER} records), "
          f"subscriber converged to the store "
          f"(ind epoch changes seen {ec}, snapshots {st['C']['ind']['snapshots']}), {len(seen)} updates, none twice")


def session(rig):
    """Records attributed by the store to sessions of a task: the hazard engine runs in that task's frame."""
    r = subprocess.run([SETUP, rig.db], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    task = int(re.match(r"^TASK (\d+)$", r.stdout.strip()).group(1))
    n = 100
    core = rig.core()
    sub = rig.sub()
    gw = rig.gw(n, "--exit-when-done")
    gw.wait(r"^DONE ")
    fixes, inds, last = check_store(rig, n)
    con = sqlite3.connect(rig.db)
    unplaced = con.execute("SELECT COUNT(*) FROM indications WHERE session_id IS NULL OR x_mm IS NULL").fetchone()[0]
    con.close()
    assert unplaced == 0, f"{unplaced} indications not attributed to a session"
    st = converge(sub, inds, last)
    check_hazards(st, n, task)
    core.kill(signal.SIGTERM)
    with open(rig.status) as f:
        fd = json.load(f)["feed"]
    assert fd["frames"] == 1 and fd["hazard_errors"] == 0 and fd["lookup_errors"] == 0, fd
    core = rig.core()  # rebuilt from the store in the task frame too
    st2 = rig.sub().dump()
    assert st2["hazard"] == st["hazard"], (st2["hazard"], st["hazard"])
    core.kill(signal.SIGTERM)
    print(f"session: records attributed to task {task}'s sessions; {len(st['hazard'])} hazard points in the task "
          f"frame, same after a restart")


def order(rig):
    """Determinism through the real daemon: the same records sent in different orders (an_core_testgw
    --shuffle: every collar's rec_seqs out of order, mixed across batches) into fresh stores give
    byte-identical `scentrack export` files (every format) and hazard reports (text and JSON)."""
    cli = os.path.join(os.path.dirname(CORE), "scentrack")
    n, seeds = 60, (0, 1, 2, 3, 4)
    ref = None
    for seed in seeds:
        rig.db, rig.state = f"{rig.tmp}/core{seed}.db", f"{rig.tmp}/gw{seed}.state"
        r = subprocess.run([SETUP, rig.db], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        core = rig.core()
        gw = rig.gw(n, "--exit-when-done", "--shuffle", str(seed))
        gw.wait(r"^DONE ")
        check_store(rig, n)
        # the hazard state of the last batch is written in the loop iteration that acked it, before the next
        # poll: a SIGTERM (which ends the poll) cannot cut it off
        core.kill(signal.SIGTERM)
        assert core.p.returncode == 0, f"SIGTERM exit {core.p.returncode}"
        with open(rig.status) as f:
            fd = json.load(f)["feed"]
        assert fd["hazard_errors"] == 0 and fd["hazard_sync_errors"] == 0 and fd["hazard_syncs"] > 0, fd
        out = {}
        for fmt in ("geojson", "kml", "gpx", "csv", "gpkg"):
            path = f"{rig.tmp}/export{seed}.{fmt}"
            r = subprocess.run([cli, "export", "--format", fmt, "--db", rig.db, "-o", path], capture_output=True,
                               timeout=60)
            assert r.returncode == 0, r.stderr
            with open(path, "rb") as f:
                out[fmt] = f.read()
        for args in (["report", "hazards"], ["report", "hazards", "--json"], ["report", "accuracy", "--json"]):
            r = subprocess.run([cli, *args, "--db", rig.db], capture_output=True, timeout=60)
            assert r.returncode == 0, r.stderr
            out[" ".join(args)] = r.stdout
        hz = out["report hazards --json"].count(b'"hazard_id"')
        assert hz == SITES, f"seed {seed}: {hz} hazard points in the report, expected {SITES}"
        if ref is None:
            ref = out
            continue
        for k in ref:
            assert out[k] == ref[k], f"seed {seed}: {k} differs from the unshuffled run"
    print(f"order: {len(seeds)} orders of {n * PER} records through the daemon: identical geojson/kml/gpx/csv/gpkg "
          f"exports and hazard/accuracy reports ({SITES} hazard points)")


def clearance(rig):
    """Clearance results over ZeroMQ: `scentrack import clearance --core EP` hands the file to the running
    core; all or nothing with line/field errors; when the OK arrives the stored hazard points already show
    the results (the site under an AP mine confirmed explosive); a re-import is all duplicates."""
    cli = os.path.join(os.path.dirname(CORE), "scentrack")
    r = subprocess.run([SETUP, rig.db], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    task = int(re.match(r"^TASK (\d+)$", r.stdout.strip()).group(1))
    ep = f"ipc://{rig.tmp}/clearance.sock"
    core = rig.core(f"[clearance]\nendpoint = {ep}\n")
    gw = rig.gw(40, "--exit-when-done")
    gw.wait(r"^DONE ")

    def hazards():
        con = sqlite3.connect(rig.db)
        try:
            return sorted(con.execute("SELECT status FROM hazard_points WHERE status <> 'superseded'").fetchall())
        finally:
            con.close()

    def n_clearances():
        con = sqlite3.connect(rig.db)
        try:
            return con.execute("SELECT count(*) FROM clearance_results").fetchone()[0]
        finally:
            con.close()

    head = "ref,task,date,result,lat,lon,sigma_m\n"
    # site 0 and site 1 of an_core_testgw (sites 4500e-7 deg of latitude apart, collars within 0.4 m)
    good = head + (f"C-1,{task},2023-11-15T08:00:00Z,AP mine,-25.8999982,32.7000001,0.05\n"
                   f"C-2,{task},2023-11-15T09:00:00Z,scrap,-25.8995482,32.7000001,0.05\n")
    bad = good + f"C-3,{task},2023-11-15T10:00:00Z,bogus,-25.8990982,32.7000001,0.05\n"
    for name, text in (("good.csv", good), ("bad.csv", bad)):
        with open(f"{rig.tmp}/{name}", "w") as f:
            f.write(text)
    r = subprocess.run([cli, "import", "clearance", "--core", ep, "--timeout", "30", f"{rig.tmp}/bad.csv"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 65, f"exit {r.returncode}: {r.stderr}"
    assert "bad.csv:4:" in r.stderr and "result" in r.stderr and "nothing imported" in r.stderr, r.stderr
    assert n_clearances() == 0, "a refused file left rows behind"
    # The core answers clearance requests after the flush of the loop iteration that acked the last batch,
    # so this answer also means the hazard state of every batch is in the store (reading it right after
    # DONE would race that flush).
    assert hazards() == [("awaiting_excavation",)] * SITES, hazards()
    r = subprocess.run([cli, "import", "clearance", "--core", ep, f"{rig.tmp}/good.csv"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, f"exit {r.returncode}: {r.stderr}"
    assert '"inserted":2' in r.stdout, r.stdout
    h = hazards()  # no wait: the core answered after feeding the engines and storing their state
    assert ("confirmed_explosive",) in h and ("confirmed_scrap",) in h and len(h) == SITES, h
    r = subprocess.run([cli, "import", "clearance", "--core", ep, f"{rig.tmp}/good.csv"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and '"inserted":0' in r.stdout and '"duplicates":2' in r.stdout, (r.stdout, r.stderr)
    assert n_clearances() == 2
    core.kill(signal.SIGTERM)
    assert core.p.returncode == 0
    with open(rig.status) as f:
        fd = json.load(f)["feed"]
    assert fd["clearance_imports"] == 2 and fd["clearance_refused"] == 1 and fd["clearances_fed"] == 2, fd
    # a restart feeds the stored results again: same statuses
    core = rig.core(f"[clearance]\nendpoint = {ep}\n")
    core.kill(signal.SIGTERM)
    assert hazards() == h, (hazards(), h)
    print(f"clearance: refused file (line 4) left nothing; 2 results imported over {ep}; hazard statuses "
          f"updated before the answer ({h}); re-import = 2 duplicates; same after a restart")


def calibration(rig):
    """The trainers' calibration records reach the hazard engines: at start-up (records imported with the
    CLI while the core was down) and live over the core's import socket (`scentrack import calibration
    --core`): the stored hazard points' log-odds move the way the records say (a well-calibrated rat's
    indication is worth more than a new rat's, a poor rat's less), before the answer, and a restart gives
    the same state as the live feed."""
    cli = os.path.join(os.path.dirname(CORE), "scentrack")
    r = subprocess.run([SETUP, rig.db], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    ep = f"ipc://{rig.tmp}/clearance.sock"
    ini = f"[clearance]\nendpoint = {ep}\n"
    core = rig.core(ini)
    gw = rig.gw(40, "--exit-when-done")
    gw.wait(r"^DONE ")
    # an empty-ish request the core answers after the flush of the batch that was acked last (see clearance)
    with open(f"{rig.tmp}/none.csv", "w") as f:
        f.write("animal,as_of,hits,misses,false_inds,area_m2,source\n")
    r = subprocess.run([cli, "import", "calibration", "--core", ep, f"{rig.tmp}/none.csv"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and '"rows":0' in r.stdout, (r.returncode, r.stdout, r.stderr)
    core.kill(signal.SIGTERM)

    def points():
        con = sqlite3.connect(rig.db)
        try:
            rows = con.execute("SELECT id, log_odds_q10, (SELECT count(*) FROM hazard_evidence e WHERE "
                               "e.hazard_id = h.id AND e.kind = 'clean_pass') FROM hazard_points h "
                               "WHERE status <> 'superseded' ORDER BY id").fetchall()
            return {i: (lo, nc) for i, lo, nc in rows}
        finally:
            con.close()

    new = points()
    assert len(new) == SITES, new
    con = sqlite3.connect(rig.db)
    rats = [n for (n,) in con.execute("SELECT name FROM animals ORDER BY id")]
    con.close()
    good = "animal,as_of,hits,misses,false_inds,area_m2,source,note\n" + "".join(
        f"{n},2023-11-01,140,10,2,4000,training,\"boxes T1-T40, 2023\"\n" for n in rats)
    with open(f"{rig.tmp}/good.csv", "w") as f:
        f.write(good)
    r = subprocess.run([cli, "import", "calibration", "--db", rig.db, f"{rig.tmp}/good.csv"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and f"{len(rats)} imported" in r.stdout, (r.stdout, r.stderr)
    log0 = os.path.getsize(rig.errpath)
    core = rig.core(ini)  # start-up: the records are read from the store and fed to the task frame
    calibrated = points()
    with open(rig.errpath) as f:
        f.seek(log0)
        log = f.read()
    assert f"calibrations: {len(rats)} records of {len(rats)} animals fed" in log, log[-2000:]
    for i, (lo, nc) in new.items():
        assert calibrated[i][0] != lo, (i, lo, calibrated[i])
        if nc == 0:
            assert calibrated[i][0] > lo, f"point {i}: calibrated indications must weigh more ({lo} -> {calibrated[i]})"
    # live: a poorer record with a later as_of, over the socket; a bad file first (nothing stored)
    poor = "animal,as_of,hits,misses,false_inds,area_m2,source\n" + "".join(
        f"{n},2023-11-10,20,130,200,1000,operational\n" for n in rats)
    bad = poor + "nobody,2023-11-10,1,1,1,1,training\nrat 1,2023-11-10,1,1,1,1,exam\n"
    for name, text in (("poor.csv", poor), ("bad.csv", bad)):
        with open(f"{rig.tmp}/{name}", "w") as f:
            f.write(text)
    r = subprocess.run([cli, "import", "calibration", "--core", ep, f"{rig.tmp}/bad.csv"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 65, (r.returncode, r.stderr)
    n_bad = len(rats) + 2
    assert f"line {n_bad}:" in r.stderr and f"line {n_bad + 1}:" in r.stderr and "nothing imported" in r.stderr, \
        r.stderr
    assert points() == calibrated, "a refused file changed the hazard points"
    r = subprocess.run([cli, "import", "calibration", "--core", ep, f"{rig.tmp}/poor.csv"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and f'"inserted":{len(rats)}' in r.stdout, (r.stdout, r.stderr)
    poor_pts = points()  # no wait: the core answered after rescoring and storing
    for i, (lo, _) in new.items():
        assert poor_pts[i][0] < lo, f"point {i}: a poor record must weigh less than none ({lo} -> {poor_pts[i]})"
    core.kill(signal.SIGTERM)
    assert core.p.returncode == 0
    with open(rig.status) as f:
        fd = json.load(f)["feed"]
    assert fd["calibrations_fed"] == 2 * len(rats) and fd["calibration_imports"] == 1, fd
    core = rig.core(ini)  # restart: the same state from the store (the latest as_of wins)
    core.kill(signal.SIGTERM)
    assert points() == poor_pts, (points(), poor_pts)
    # the CLI as a trainer meets it: the --help example runs as printed; bad lines are named FILE:LINE: field
    con = sqlite3.connect(rig.db)
    con.execute("INSERT INTO animals(species, name) VALUES ('rat', 'Kiri')")
    con.commit()
    con.close()
    h = subprocess.run([cli, "import", "calibration", "--help"], capture_output=True, text=True, timeout=30)
    assert h.returncode == 0, h.stderr
    ex = [ln.strip() for ln in h.stdout.split("example")[1].splitlines()
          if ln.strip().startswith(("printf '", "scentrack import"))]
    assert len(ex) == 2 and "cal.csv" in ex[0], ex
    ex[1] = ex[1].replace("scentrack", cli, 1).replace("field.db", rig.db)
    r = subprocess.run(" && ".join(ex), shell=True, cwd=rig.tmp, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "cal.csv: 1 line: 1 imported, 0 duplicates skipped" in r.stdout, (r.stdout, r.stderr)
    with open(f"{rig.tmp}/cli-bad.csv", "w") as f:
        f.write("animal,as_of,hits,misses,false_inds,area_m2,source\nKiri,2024-05-01,1,x,0,10,training\n"
                "Kiri,2024-05-02,1,1,0,10,training\nNobody,2024-05-01,1,1,0,10,exam\n")
    r = subprocess.run([cli, "import", "calibration", "--store", rig.db, f"{rig.tmp}/cli-bad.csv"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 65, (r.returncode, r.stderr)
    assert "cli-bad.csv:2: field 'misses':" in r.stderr and "cli-bad.csv:4: field 'source':" in r.stderr \
        and ":3:" not in r.stderr and "2 bad lines (nothing imported)" in r.stderr, r.stderr
    lo = lambda d: sorted(v[0] for v in d.values())
    print(f"calibration: {len(rats)} rats, {SITES} points; log-odds q10 new {lo(new)} -> calibrated at start-up "
          f"{lo(calibrated)} -> poorer record over {ep} {lo(poor_pts)}; same after a restart; a bad file "
          f"(2 bad lines, both named) changed nothing")


def boxpos(rig):
    """The data recorder's box positions (`scentrack import boxpos`): a sheet loaded with --db before the
    collars' records exist waits for them and places the indication at the core's start (it leaves its site
    and becomes a point of its own); a correction over the core's socket (--core, verb BOXPOS) moves it back
    before the answer; a bad sheet (a lane the box lacks, a distance that is no number) is refused whole with
    every bad line named; a restart gives the same points."""
    cli = os.path.join(os.path.dirname(CORE), "scentrack")
    r = subprocess.run([SETUP, rig.db], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    ep = f"ipc://{rig.tmp}/clearance.sock"
    ini = f"[clearance]\nendpoint = {ep}\n"

    def live_points():
        con = sqlite3.connect(rig.db)
        try:
            return sorted(con.execute("SELECT id, x_mm, y_mm, n_sessions FROM hazard_points "
                                      "WHERE status <> 'superseded'").fetchall())
        finally:
            con.close()

    def sheet(name, text):
        with open(f"{rig.tmp}/{name}", "w") as f:
            f.write(text)
        return f"{rig.tmp}/{name}"

    # collar 1's first indication (rec_seq 15, site 0 at the box's lane 0, ~0 m along) written 15 m across
    # and 25 m along the box: before the record exists, so only the ranges can be checked
    away = sheet("away.csv", "collar,rec_seq,lane,along_m\n1,15,30,25.0\n")
    r = subprocess.run([cli, "import", "boxpos", "--db", rig.db, away], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "1 line: 1 imported" in r.stdout, (r.returncode, r.stdout, r.stderr)
    core = rig.core(ini)
    gw = rig.gw(40, "--exit-when-done")
    gw.wait(r"^DONE ")
    # a request the core answers after the flush of the batch acked last (see clearance): a header-only sheet
    r = subprocess.run([cli, "import", "boxpos", "--core", ep, sheet("none.csv", "indication,lane,along_m\n")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and '"rows":0' in r.stdout, (r.returncode, r.stdout, r.stderr)
    moved = live_points()
    assert len(moved) == SITES + 1, f"the moved indication must be a point of its own: {moved}"
    alone = [p for p in moved if p[0] == (1 << 32 | 15)]
    assert alone and 14500 <= alone[0][1] <= 15500 and 24500 <= alone[0][2] <= 25500, moved
    # a bad sheet: both bad lines named, nothing stored, nothing moved
    bad = sheet("bad.csv", "indication,lane,along_m,sd_m\n1-15,0,0.0,0.2\n1-31,40,1.0,\n2-15,0,x,0.1\n")
    r = subprocess.run([cli, "import", "boxpos", "--core", ep, bad], capture_output=True, text=True, timeout=60)
    assert r.returncode == 65, (r.returncode, r.stderr)
    assert "line 3: field 'lane'" in r.stderr and "line 4: field 'along_m'" in r.stderr and \
        "line 2:" not in r.stderr and "nothing imported" in r.stderr, r.stderr
    assert live_points() == moved, "a refused sheet changed the points"
    # the correction, live: back at its site (lane 0, 0.05 m along)
    back = sheet("back.csv", "indication,lane,along_m\n1-15,0,0.05\n")
    r = subprocess.run([cli, "import", "boxpos", "--core", ep, back], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and '"inserted":1' in r.stdout, (r.stdout, r.stderr)
    pts = live_points()  # no wait: the core answered after placing, recomputing and storing
    assert len(pts) == SITES, f"the correction must put it back into its site: {pts}"
    r = subprocess.run([cli, "import", "boxpos", "--core", ep, back], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and '"duplicates":1' in r.stdout, (r.stdout, r.stderr)
    # a correction within the site: no point is created or retired, but its centroid moves in the store
    r = subprocess.run([cli, "import", "boxpos", "--core", ep, sheet("nudge.csv", "indication,lane,along_m\n1-15,0,0.6\n")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and '"inserted":1' in r.stdout, (r.stdout, r.stderr)
    nudged = live_points()
    assert len(nudged) == SITES and nudged != pts, (pts, nudged)
    pts = nudged
    core.kill(signal.SIGTERM)
    assert core.p.returncode == 0
    with open(rig.status) as f:
        fd = json.load(f)["feed"]
    assert fd["boxpos_fed"] == 3 and fd["boxpos_imports"] == 4, fd
    core = rig.core(ini)  # restart: the latest entry from the store, the same points
    core.kill(signal.SIGTERM)
    assert live_points() == pts, (live_points(), pts)
    # the --help example runs as printed (collar 12 has no record here: the line waits for it)
    h = subprocess.run([cli, "import", "boxpos", "--help"], capture_output=True, text=True, timeout=30)
    assert h.returncode == 0, h.stderr
    ex = [ln.strip() for ln in h.stdout.split("example")[1].splitlines()
          if ln.strip().startswith(("printf '", "scentrack import"))]
    assert len(ex) == 2 and "sheet.csv" in ex[0], ex
    ex[1] = ex[1].replace("scentrack", cli, 1).replace("field.db", rig.db)
    r = subprocess.run(" && ".join(ex), shell=True, cwd=rig.tmp, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "sheet.csv: 1 line: 1 imported, 0 duplicates skipped" in r.stdout, \
        (r.stdout, r.stderr)
    print(f"boxpos: a sheet loaded before the records moved collar 1's indication out of its site at start-up "
          f"({len(moved)} points); a bad sheet (2 bad lines, both named) changed nothing; the correction over {ep} "
          f"put it back ({len(pts)} points) before the answer; re-import = duplicate; same after a restart")


def review(rig):
    """The handlers' verdicts (an/store.h indication_reviews) as hazard evidence: a rejection stored before the
    collars' records exist is fed at the core's start and weighs on the indication's pass once it arrives
    (-1648 q10 against another new rat's pass at the same site); a later confirmation stored while the core
    runs is fed after the next ingest commit (as a collar's verdict stored by ingest is) and the point is
    rescored (+602); a restart gives the same; [hazard] handler_verdicts = no takes them out."""
    cli = os.path.join(os.path.dirname(CORE), "scentrack")
    r = subprocess.run([SETUP, rig.db], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    ep = f"ipc://{rig.tmp}/clearance.sock"
    ini = f"[clearance]\nendpoint = {ep}\n"

    def add_verdict(verdict, t_ms):
        # what ingest (collar) or the web API append through an_store__review_insert / an_store_review_add
        con = sqlite3.connect(rig.db, timeout=30)
        with con:
            con.execute("INSERT INTO indication_reviews (collar_id, rec_seq, verdict, t_ms, source, who) "
                        "VALUES (1, 15, ?, ?, 'import', 'test')", (verdict, t_ms))
        con.close()

    def handler_term():
        """delta of collar 1's pass (its first indication, 1-15) minus another collar's at the same point"""
        con = sqlite3.connect(rig.db)
        try:
            hz = con.execute("SELECT e.hazard_id FROM hazard_evidence e JOIN hazard_points h ON h.id = e.hazard_id "
                             "WHERE e.collar_id = 1 AND e.rec_seq = 15 AND h.status <> 'superseded'").fetchone()[0]
            rows = con.execute("SELECT collar_id, delta_q10 FROM hazard_evidence WHERE hazard_id = ? AND "
                               "kind = 'indication' AND delta_q10 <> 0", (hz,)).fetchall()
        finally:
            con.close()
        mine = [d for c, d in rows if c == 1]
        others = {d for c, d in rows if c != 1}
        assert len(mine) == 1 and len(others) == 1, rows  # 8 new rats, one pass each: one LR+ value
        return mine[0] - others.pop()

    def barrier():
        # the core answers a request on its import socket after the flush of the batch acked last
        with open(f"{rig.tmp}/none.csv", "w") as f:
            f.write("indication,lane,along_m\n")
        r = subprocess.run([cli, "import", "boxpos", "--core", ep, f"{rig.tmp}/none.csv"], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, (r.stdout, r.stderr)

    add_verdict("rejected", 1700000100000)
    core = rig.core(ini)
    gw = rig.gw(40, "--exit-when-done")
    gw.wait(r"^DONE ")
    barrier()
    rejected = handler_term()
    assert rejected == -1648, rejected
    # the handler changes his mind later: stored while the core runs, fed after the next commit
    add_verdict("confirmed", 1700000200000)
    gw = rig.gw(60, "--exit-when-done")
    gw.wait(r"^DONE ")
    barrier()
    confirmed = handler_term()
    assert confirmed == 602, confirmed
    core.kill(signal.SIGTERM)
    assert core.p.returncode == 0
    with open(rig.status) as f:
        fd = json.load(f)["feed"]
    assert fd["reviews_fed"] == 2, fd
    core = rig.core(ini)  # restart: both from the store, the later one in force
    core.kill(signal.SIGTERM)
    assert handler_term() == 602
    core = rig.core(ini + "[hazard]\nhandler_verdicts = no\n")
    core.kill(signal.SIGTERM)
    con = sqlite3.connect(rig.db)
    rows = con.execute("SELECT DISTINCT delta_q10 FROM hazard_evidence e JOIN hazard_points h ON h.id = e.hazard_id "
                       "WHERE h.status <> 'superseded' AND e.kind = 'indication' AND e.delta_q10 <> 0 AND "
                       "e.hazard_id = (SELECT hazard_id FROM hazard_evidence WHERE collar_id = 1 AND rec_seq = 15 "
                       "ORDER BY id DESC LIMIT 1)").fetchall()
    con.close()
    assert len(rows) == 1, rows  # collar 1's pass weighs like the others again
    print(f"review: a rejection stored before the records weighed {rejected} q10 on collar 1's pass from the "
          f"start; a later confirmation stored live was fed after the next commit ({confirmed:+d}); same after a "
          f"restart; handler_verdicts = no takes them out")


def config(rig):
    def run(ini_text, *args):
        path = f"{rig.tmp}/t.ini"
        with open(path, "w") as f:
            f.write(ini_text)
        return subprocess.run([CORE, "-N", "-f", path, *args], capture_output=True, text=True, timeout=30)

    good = open(rig.write_ini()).read()
    cases = [
        ("[core]\nbogus = 1\n", r"t\.ini:2: \[core\] bogus: unknown key"),
        (good + "[ingest]\ncredit = 0\n", r"t\.ini:\d+: \[ingest\] credit: \"0\": expected 1\.\.1024"),
        (good.replace("[pub]", "[pubb]"), r"t\.ini:\d+: \[pubb\] endpoint: unknown section"),
        ("[core]\nthis line has no equals sign\n", r"t\.ini:2: syntax error"),
        (good + "[hazard]\norigin_lat_e7 = 950000000\n", r"t\.ini:\d+: \[hazard\] origin_lat_e7"),
        (good + "[hazard]\norigin_lat_e7 = 10\n", r"origin_lat_e7 and origin_lon_e7 go together"),
        (good + "[pub]\nendpoint = localhost:1\n", r"\[pub\] endpoint: \"localhost:1\": expected tcp://"),
        (good + "[clearance]\nendpoint = tcp://0.0.0.0:1\n", r"\[clearance\] endpoint \"tcp://0\.0\.0\.0:1\": must be ipc://"),
        (good.replace(f"{rig.tmp}/core.key", f"{rig.tmp}/missing.key"), r"secret_key: .*missing\.key"),
        (good + "[hazard]\nhandler_verdicts = maybe\n", r"\[hazard\] handler_verdicts: \"maybe\": expected yes or no"),
        (good + "[hazard]\nhandler_confirm_true = 1\n", r"\[hazard\] handler_confirm_true: \"1\": expected a probability"),
        (good + "[hazard]\nhandler_confirm_true = 0.4\n", r"handler_confirm_false \(0\.5\) must be below handler_confirm_true"),
    ]
    for text, rx in cases:
        r = run(text)
        assert r.returncode == 78, f"exit {r.returncode} for {rx}: {r.stderr}"
        assert re.search(rx, r.stderr), f"stderr {r.stderr!r} does not match {rx!r}"
    with open(f"{rig.tmp}/bad.allow", "w") as f:
        f.write("# x\n7 notakey\n")
    r = run(good.replace(f"{rig.tmp}/allow.txt", f"{rig.tmp}/bad.allow"))
    assert r.returncode == 78 and re.search(r"bad\.allow:2", r.stderr), r.stderr
    r = subprocess.run([CORE, "-N", "-f", f"{rig.tmp}/nonexistent.ini"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 78 and "nonexistent.ini" in r.stderr, r.stderr
    # the shipped sample parses: it gets as far as the (absent) key file
    sample = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../analysis/scentrack-core.ini.sample")
    r = subprocess.run([CORE, "-N", "-f", sample], capture_output=True, text=True, timeout=30)
    assert r.returncode == 78 and "[ingest] secret_key" in r.stderr and "unknown" not in r.stderr, r.stderr
    r = subprocess.run([CORE, "-h"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "SYNOPSIS" in r.stdout and "EXIT STATUS" in r.stdout
    r = subprocess.run([CORE, "-V"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.startswith("scentrack-core ")
    r = subprocess.run([CORE, "-x"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 64, r.returncode
    r = subprocess.run([CORE, "keygen", f"{rig.tmp}/core.pub", f"{rig.tmp}/x.key"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 73 and "exists" in r.stderr, (r.returncode, r.stderr)
    # a port in use is not a config error
    core = rig.core()
    r = run(good.replace("endpoint = tcp://127.0.0.1:*", f"endpoint = {rig.eps['pub']}", 2))
    assert r.returncode == 71, (r.returncode, r.stderr)
    core.kill(signal.SIGTERM)
    print(f"config: {len(cases) + 2} bad files exit 78 with file:line, flags and keygen behave")


def bench(rig):
    """Not a test: latency from the gateway's first send of a batch to the subscriber's receipt of the batch's
    last record, and records/s. BENCH_BATCHES, BENCH_RATE (batches/s, 0 = as fast as the credit allows)."""
    n = int(os.environ.get("BENCH_BATCHES", "2000"))
    rate = os.environ.get("BENCH_RATE", "0")
    core = rig.core()
    sub = rig.sub()
    gw = rig.gw(n, "--exit-when-done", "--rate", rate)
    gw.wait(r"^DONE ", 600)
    sub.wait_updates(n * PER, 600)
    sent = {}
    for line in gw.lines:
        if line.startswith("SENT "):
            _, s, t = line.split()
            sent[int(s)] = int(t)
    got = {}
    for _, c, s, t in sub.updates:
        gws = (s * COLLARS + (c - 1)) // PER + 1
        got[gws] = max(got.get(gws, 0), t)
    lat = sorted((got[k] - sent[k]) / 1e6 for k in sent if k in got)
    secs = (max(got.values()) - min(sent.values())) / 1e9
    pct = lambda p: lat[min(len(lat) - 1, int(len(lat) * p))]
    print(f"bench rate={rate}: {n} batches x {PER} = {n * PER} records in {secs:.2f} s = {n * PER / secs:.0f} "
          f"records/s; submit->subscriber latency per batch p50 {pct(0.5):.1f} ms p99 {pct(0.99):.1f} ms "
          f"max {lat[-1]:.1f} ms")
    core.kill(signal.SIGTERM)
    with open(rig.status) as f:
        fd = json.load(f)["feed"]
    print(f"  hazard engine: {fd['hazard_applies']} applies, {fd['hazard_inputs']} inputs, mean "
          f"{fd['hazard_apply_us_total'] / max(1, fd['hazard_applies']) / 1000:.2f} ms, max "
          f"{fd['hazard_apply_us_max'] / 1000:.2f} ms; {fd['inds_published']} indications, "
          f"{fd['hazard_published']} hazard updates")


def main():
    with tempfile.TemporaryDirectory(prefix="core-proc-") as tmp:
        rig = Rig(tmp)
        try:
            {"e2e": e2e, "kill": kill, "config": config, "session": session, "order": order, "clearance": clearance,
             "calibration": calibration, "boxpos": boxpos, "review": review,
             "bench": bench}[SCENARIO](rig)
        except BaseException:
            rig.err.flush()
            with open(rig.errpath) as f:
                sys.stderr.write("---- stderr of the processes (last 40 lines) ----\n")
                sys.stderr.write("".join(f.readlines()[-40:]))
            raise
        finally:
            for p in procs:
                if p.p.poll() is None:
                    p.p.kill()
                    p.p.wait()


if __name__ == "__main__":
    main()

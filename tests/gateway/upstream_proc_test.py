#!/usr/bin/python3
"""Process-level tests of the gateway → core transport: the real upstream (gw_up_testgw) and the real
ingest + store (an_ingest_testcore) as separate processes on tcp loopback with CURVE keys from
zmq_curve_keypair, killed, stopped and restarted while data flows.

    upstream_proc_test.py TESTGW TESTCORE SCENARIO
    SCENARIO: exactly_once | core_kill | gw_kill | blocked | security | bench

Never sleeps to wait: every wait reads the line a process prints when the event happened, with a deadline
that fails the test. Every process started is killed in `finally`.
"""
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

TESTGW, TESTCORE, SCENARIO = sys.argv[1], sys.argv[2], sys.argv[3]
PER = 64
COLLARS = 8  # up_gen.h
GW_ID = 7
WAIT_S = 60  # upper bound of one wait; events normally arrive in milliseconds (outages: a few seconds)

procs = []


class Proc:
    def __init__(self, name, args, errlog):
        self.name = name
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=errlog, text=True, bufsize=1)
        self.q = queue.Queue()
        self.lines = []
        threading.Thread(target=self._reader, daemon=True).start()
        procs.append(self)

    def _reader(self):
        for line in self.p.stdout:
            self.q.put(line.rstrip("\n"))
        self.q.put(None)

    def wait(self, pattern, timeout=WAIT_S):
        """Wait for a stdout line matching pattern (regex); return the match."""
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
            self.lines.append(line)
            m = rx.search(line)
            if m:
                return m

    def wait_ack(self, at_least, timeout=WAIT_S):
        deadline = time.monotonic() + timeout
        while True:
            m = self.wait(r"^ACK (\d+)$", max(0.001, deadline - time.monotonic()))
            if int(m.group(1)) >= at_least:
                return int(m.group(1))

    def kill(self, sig=signal.SIGKILL):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        self.p.wait(timeout=30)

    def term(self):
        """SIGTERM, then return the STATS line as a dict."""
        self.p.send_signal(signal.SIGTERM)
        m = self.wait(r"^STATS (.*)$")
        self.p.wait(timeout=30)
        return stats(m.group(1))


def stats(s):
    return {k: int(v) for k, v in (kv.split("=") for kv in s.split())}


def run(args):
    subprocess.run(args, check=True, timeout=30)


class Rig:
    def __init__(self, tmp):
        self.tmp = tmp
        self.err = open(os.path.join(tmp, "stderr.log"), "a")
        for who in ("core", "gw", "other"):
            run([TESTGW, "keygen", f"{tmp}/{who}.pub", f"{tmp}/{who}.key"])
        self.allow = f"{tmp}/allow.txt"
        self.write_allow(f"{GW_ID} {self.key('gw')}\n")
        self.db = f"{tmp}/core.db"
        self.state = f"{tmp}/gw.state"
        self.endpoint = "tcp://127.0.0.1:*"
        self.n_core = 0

    def key(self, who):
        with open(f"{self.tmp}/{who}.pub") as f:
            return f.read().strip()

    def write_allow(self, text):
        with open(self.allow, "w") as f:
            f.write("# process test allow-list\n" + text)

    def core(self, *extra, db=None):
        self.n_core += 1
        c = Proc(f"core#{self.n_core}", [TESTCORE, "run", "--db", db or self.db, "--endpoint", self.endpoint,
                                          "--secret", f"{self.tmp}/core.key", "--allow", self.allow,
                                          *extra], self.err)
        ep = c.wait(r"^READY (\S+)$").group(1)
        self.endpoint = ep  # restarts bind the same port
        return c

    def gw(self, batches, *extra, server="core", secret="gw", gw_id=GW_ID, state=True):
        args = [TESTGW, "run", "--endpoint", self.endpoint, "--gw-id", str(gw_id), "--server-key",
                f"{self.tmp}/{server}.pub", "--secret", f"{self.tmp}/{secret}.key", "--batches", str(batches),
                "--per", str(PER), *extra]
        if state:
            args += ["--state", self.state]
        g = Proc("gw", args, self.err)
        g.wait(r"^READY")
        return g


def verify_store(db, batches):
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT collar_id, rec_seq, gw_seq, gw_id FROM records ORDER BY id").fetchall()
        n = batches * PER
        assert len(rows) == n, f"{len(rows)} records stored, expected {n}"
        got = {(c, s) for c, s, _, _ in rows}
        want = {(1 + g % COLLARS, g // COLLARS) for g in range(n)}
        assert got == want, f"missing {len(want - got)}, invented {len(got - want)}"
        seqs = [r[2] for r in rows]
        assert seqs == sorted(seqs), "records not committed in gw_seq order"
        assert all(r[3] == GW_ID for r in rows)
        last = con.execute("SELECT last_gw_seq FROM gateways WHERE gw_id = ?", (GW_ID,)).fetchone()
        assert last and last[0] == batches, f"last_gw_seq {last}, expected {batches}"
    finally:
        con.close()


def count_records(db):
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT COUNT(*) FROM records").fetchone()[0]
    finally:
        con.close()


def read_state(rig):
    with open(rig.state) as f:
        return int(f.read())


# ---- scenarios ---------------------------------------------------------------------------------------


def exactly_once(rig):
    n = 300
    core = rig.core("--credit", "8")
    gw = rig.gw(n, "--exit-when-done")
    done = stats(gw.wait(r"^DONE (.*)$").group(1))
    gw.p.wait(timeout=30)
    cs = core.term()
    verify_store(rig.db, n)
    assert done["max_in_flight"] <= 8, f"in flight {done['max_in_flight']} > credit 8"
    assert done["max_in_flight"] >= 4, "the credit window was never used"
    assert done["resent"] == 0 and cs["replays"] == 0 and cs["dup"] == 0, (done, cs)
    assert cs["committed"] == n and cs["stored"] == n * PER, cs
    assert read_state(rig) == n
    print(f"exactly_once: {n * PER} records in {n} batches, max in flight {done['max_in_flight']}")


def core_kill(rig):
    n, kills = 400, 4
    core = rig.core()
    gw = rig.gw(n)
    for i in range(1, kills + 1):
        gw.wait_ack(i * n // (kills + 2))
        core.kill(signal.SIGKILL)
        core = rig.core()  # same db, same port
    done = stats(gw.wait(r"^DONE (.*)$", 120).group(1))
    cs = core.term()
    gw.term()
    verify_store(rig.db, n)
    assert done["resent"] > 0, "after a core crash the in-flight batches must be resent"
    assert done["handshakes"] >= kills + 1, done
    print(f"core_kill: {kills} SIGKILLs of the core, {done['resent']} batches resent, "
          f"last core saw {cs['replays']} replays; store exact")


def gw_kill(rig):
    n = 300
    core = rig.core()
    gw = rig.gw(n)
    gw.wait_ack(n // 3)
    gw.kill(signal.SIGKILL)
    resumed = read_state(rig)
    assert 0 < resumed < n
    gw = rig.gw(n)
    assert gw.lines[-1] == f"READY acked={resumed}", gw.lines[-1]
    gw.wait(r"^DONE ")
    cs = core.term()
    gw.term()
    verify_store(rig.db, n)
    print(f"gw_kill: gateway SIGKILLed, resumed after gw_seq {resumed}; core replays {cs['replays']}, "
          f"duplicate records dropped {cs['dup']}; store exact")


def blocked(rig):
    n = 600
    core = rig.core()
    gw = rig.gw(n, "--rate", "100")  # 100 batches/s = 6400 records/s arriving at the gateway
    gw.wait_ack(n // 6)
    core.p.send_signal(signal.SIGSTOP)  # the core hangs: TCP stays up, nothing answers
    t0 = time.monotonic()
    try:
        # noticed by the ZMTP heartbeat timeout (disconnected) or the PING liveness (reconnect), ~3 s
        gw.wait(r"^EVENT (disconnected|reconnect) ")
        t_detect = time.monotonic() - t0
        acked_during = [int(l.split()[1]) for l in gw.lines if l.startswith("ACK ")]
        backlog_at = max(acked_during)
    finally:
        core.p.send_signal(signal.SIGCONT)
    done = stats(gw.wait(r"^DONE (.*)$", 120).group(1))
    cs = core.term()
    gw.term()
    verify_store(rig.db, n)
    print(f"blocked: core stopped at ack {backlog_at}, outage detected after {t_detect:.1f} s, "
          f"backlog drained in order after restore; resent {done['resent']}, rewinds {done['rewinds']}, "
          f"core replays {cs['replays']}")


def security(rig):
    # 1. the gateway expects another core key: handshake fails, nothing delivered
    core = rig.core(db=f"{rig.tmp}/s1.db")
    gw = rig.gw(5, server="other", state=False)
    core.wait(r"^EVENT handshake_failure")
    g = gw.term()
    cs = core.term()
    assert g["acked"] == 0 and g["handshakes"] == 0 and cs["committed"] == 0, (g, cs)
    assert count_records(f"{rig.tmp}/s1.db") == 0

    # 2. a gateway key that is not allow-listed: ZAP denies, both monitors see HANDSHAKE_FAILED_AUTH
    core = rig.core(db=f"{rig.tmp}/s2.db")
    gw = rig.gw(5, secret="other", state=False)
    gw.wait(r"^EVENT auth_failure")
    core.wait(r"^EVENT auth_failure")
    g = gw.term()
    cs = core.term()
    assert g["acked"] == 0 and cs["zap_denied"] >= 1 and cs["zap_allowed"] == 0, (g, cs)
    assert count_records(f"{rig.tmp}/s2.db") == 0

    # 3. the key is listed for gateway 8 but the process claims to be 7: refused on identity
    rig.write_allow(f"8 {rig.key('gw')}\n")
    core = rig.core(db=f"{rig.tmp}/s3.db")
    gw = rig.gw(5, state=False)
    core.wait(r"^EVENT rej_identity")
    g = gw.term()
    cs = core.term()
    assert g["acked"] == 0 and cs["committed"] == 0 and cs["zap_allowed"] >= 1, (g, cs)
    assert count_records(f"{rig.tmp}/s3.db") == 0
    rig.write_allow(f"{GW_ID} {rig.key('gw')}\n")

    # 4. no ZAP handler with ZMQ_ZAP_ENFORCE_DOMAIN: even a listed key is refused
    core = rig.core("--no-zap", db=f"{rig.tmp}/s4.db")
    gw = rig.gw(5, state=False)
    core.wait(r"^EVENT handshake_failure")
    g = gw.term()
    cs = core.term()
    assert g["acked"] == 0 and g["handshakes"] == 0 and cs["committed"] == 0, (g, cs)
    assert count_records(f"{rig.tmp}/s4.db") == 0

    # and the same setup with the key listed delivers (the refusals above were not a broken rig)
    core = rig.core(db=f"{rig.tmp}/s5.db")
    gw = rig.gw(5, "--exit-when-done", state=False)
    gw.wait(r"^DONE ")
    core.term()
    verify_store(f"{rig.tmp}/s5.db", 5)
    print("security: wrong core key, unlisted key, User-Id mismatch, no ZAP handler all refused; "
          "listed key delivers")


def bench(rig):
    """Not a test: figures. BENCH_BATCHES / BENCH_RATE / BENCH_SYNC (full|normal) from the environment."""
    n = int(os.environ.get("BENCH_BATCHES", "2000"))
    rate = os.environ.get("BENCH_RATE", "0")
    extra = ["--sync-normal"] if os.environ.get("BENCH_SYNC", "full") == "normal" else []
    core = rig.core(*extra)
    gw = rig.gw(n, "--exit-when-done", "--rate", rate, state=False)
    b = gw.wait(r"^BENCH (.*)$", 600).group(1)
    core.term()
    print(f"bench sync={os.environ.get('BENCH_SYNC', 'full')} rate={rate}: {b}")


def main():
    with tempfile.TemporaryDirectory(prefix="up-proc-") as tmp:
        rig = Rig(tmp)
        try:
            {"exactly_once": exactly_once, "core_kill": core_kill, "gw_kill": gw_kill, "blocked": blocked,
             "security": security, "bench": bench}[SCENARIO](rig)
        except BaseException:
            rig.err.flush()
            with open(os.path.join(tmp, "stderr.log")) as f:
                sys.stderr.write("---- stderr of the processes (last 40 lines) ----\n")
                sys.stderr.write("".join(f.readlines()[-40:]))
            raise
        finally:
            for p in procs:
                if p.p.poll() is None:
                    p.p.send_signal(signal.SIGCONT)
                    p.p.kill()
                    p.p.wait()


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Process tests of scentrack-core's web server ([web], analysis/daemon/web*.c): the real daemon with a store
prepared by an_core_setup (task, box, 8 rats on collars 1..8), fed through its real ingest by an_core_testgw
(CURVE), and checked over real loopback sockets with the standard library only.

    core_web_test.py CORE TESTGW SETUP SCENARIO
    SCENARIO: web    static files, traversal, snapshot, SSE ids/replay/reset, restart (clean and SIGKILL),
                     writes (401/403/400/413, audited), hostile strings escaped
              alerts the server-side handler alerts: battery low, heat and GPS lost from what the collars
                     send, link lost when the gateway stops, all cleared again; as `alert` events with ids,
                     replayed from Last-Event-ID, and listed in the snapshot
              bench  not a test: SSE delivery latency with WEB_CLIENTS concurrent streams (default 50),
                     WEB_BATCHES batches (default 300) at WEB_RATE batches/s (default 20)

Never sleeps to wait: every wait reads a line a process prints, or SSE bytes, with a deadline that fails the
test. Every process started is killed in `finally`; the whole run has a global deadline (DEADLINE_S).
"""
import http.client
import json
import os
import queue
import re
import selectors
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

CORE, TESTGW, SETUP, SCENARIO = sys.argv[1:5]
PER = 64
GW_ID = 7
WAIT_S = int(os.environ.get("WEB_WAIT_S", "60"))
DEADLINE_S = int(os.environ.get("WEB_DEADLINE_S", "240"))
TOKEN = "tok-3f9a1c7e5b2d4f6081a9c3e5"
HOSTILE = "</script><img src=x onerror=alert(1)>\"\\'&\u2028\x01 Zoë"
HOSTILE_W = HOSTILE.replace("\x01", "")  # writes refuse control characters (400), so none in a good form
T_START = time.monotonic()

procs = []


def left(timeout):
    """Seconds to wait: the smaller of timeout and what is left of the global deadline."""
    rest = DEADLINE_S - (time.monotonic() - T_START)
    if rest <= 0:
        raise AssertionError(f"global deadline of {DEADLINE_S} s passed")
    return min(timeout, rest)


class Proc:
    def __init__(self, name, args, errlog, stdin=False):
        self.name = name
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=errlog, text=True, bufsize=1,
                                  stdin=subprocess.PIPE if stdin else subprocess.DEVNULL)
        self.stdin = self.p.stdin
        self.q = queue.Queue()
        self.lines = []
        threading.Thread(target=self._reader, daemon=True).start()
        procs.append(self)

    def _reader(self):
        for line in self.p.stdout:
            self.q.put(line.rstrip("\n"))
        self.q.put(None)

    def wait(self, pattern, timeout=WAIT_S):
        rx = re.compile(pattern)
        deadline = time.monotonic() + left(timeout)
        while True:
            rest = deadline - time.monotonic()
            if rest <= 0:
                raise AssertionError(f"{self.name}: no line matching {pattern!r}; last: {self.lines[-5:]}")
            try:
                line = self.q.get(timeout=rest)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"{self.name}: exited (rc {self.p.wait()}) before {pattern!r}")
            self.lines.append(line)
            m = rx.search(line)
            if m:
                return m

    def kill(self, sig=signal.SIGKILL):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        return self.p.wait(timeout=30)


class Sse:
    """One SSE stream over a raw HTTP/1.0 socket (the server then ends the body by closing: no chunking to
    undo). Events are (id, type, data dict, receive wall ms, receive monotonic ns)."""

    def __init__(self, hub, port, last_id=None, query=None):
        self.events = []
        self.comments = 0
        self.closed = False
        self.error = None
        self.buf = b""
        self.head_done = False
        self.status = None
        self.cond = hub.cond
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        path = "/api/events" + (f"?last_event_id={query}" if query is not None else "")
        hdr = f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        if last_id is not None:
            hdr += f"Last-Event-ID: {last_id}\r\n"
        s.sendall((hdr + "\r\n").encode())
        s.setblocking(False)
        self.sock = s
        hub.add(self)

    def feed(self, data, now_ms, now_ns):
        if not data:
            self.closed = True
            return
        self.buf += data
        if not self.head_done:
            i = self.buf.find(b"\r\n\r\n")
            if i < 0:
                return
            self.status = int(self.buf.split(b" ", 2)[1])
            self.buf = self.buf[i + 4:]
            self.head_done = True
        while True:
            i = self.buf.find(b"\n\n")
            if i < 0:
                return
            rec, self.buf = self.buf[:i].decode(), self.buf[i + 2:]
            ev = {"id": None, "event": "message", "data": ""}
            for line in rec.split("\n"):
                if line.startswith(":"):
                    self.comments += 1
                    continue
                k, _, v = line.partition(": ")
                if k in ev:
                    ev[k] = v
            if ev["data"]:
                data = json.loads(ev["data"])
                self.events.append((int(ev["id"]) if ev["id"] else None, ev["event"], data, now_ms, now_ns))

    def ids(self):
        return [e[0] for e in self.events if e[0] is not None]


class Hub:
    """One thread reads every stream (selectors): hundreds of clients cost one Python thread."""

    def __init__(self):
        self.sel = selectors.DefaultSelector()
        self.cond = threading.Condition()
        self.stop = False
        self.pending = []
        self.clients = []
        self.r, self.w = socket.socketpair()
        self.sel.register(self.r, selectors.EVENT_READ, None)
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def add(self, c):
        with self.cond:
            self.pending.append(c)
            self.clients.append(c)
        self.w.send(b"x")

    def run(self):
        while not self.stop:
            for key, _ in self.sel.select(timeout=1):
                if key.data is None:
                    self.r.recv(4096)
                    with self.cond:
                        for c in self.pending:
                            self.sel.register(c.sock, selectors.EVENT_READ, c)
                        self.pending = []
                    continue
                c = key.data
                try:
                    data = c.sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                now_ms, now_ns = time.time() * 1000.0, time.monotonic_ns()
                with self.cond:
                    try:
                        c.feed(data, now_ms, now_ns)
                    except Exception as e:  # a malformed stream fails the waiter, not silently this thread
                        c.error = f"{type(e).__name__}: {e}"
                        c.closed = True
                    if c.closed:
                        self.sel.unregister(c.sock)
                        c.sock.close()
                    self.cond.notify_all()

    def errors(self):
        return [c.error for c in self.clients if c.error]

    def wait(self, pred, what, timeout=WAIT_S):
        deadline = time.monotonic() + left(timeout)
        with self.cond:
            while not pred():
                rest = deadline - time.monotonic()
                if rest <= 0:
                    raise AssertionError(f"SSE: {what} not seen in time; last ids {[(c.ids()[-2:], c.events[:3], c.closed, c.buf[:200]) for c in self.clients][:4]}")
                if self.errors():
                    raise AssertionError(f"SSE: {self.errors()}")
                self.cond.wait(rest)


class Rig:
    def __init__(self, tmp):
        self.tmp = tmp
        self.errpath = os.path.join(tmp, "stderr.log")
        self.err = open(self.errpath, "a")
        for who in ("core", "gw"):
            r = subprocess.run([CORE, "keygen", f"{tmp}/{who}.pub", f"{tmp}/{who}.key"], capture_output=True,
                               text=True, timeout=30)
            assert r.returncode == 0, r.stderr
        with open(f"{tmp}/allow.txt", "w") as f:
            f.write(f"{GW_ID} {open(f'{tmp}/gw.pub').read().strip()}\n")
        with open(f"{tmp}/token", "w") as f:
            f.write(TOKEN + "\n")
        self.db = f"{tmp}/core.db"
        r = subprocess.run([SETUP, self.db], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        self.task = int(re.search(r"TASK (\d+)", r.stdout).group(1))
        # a hostile animal name (collar 8's rat): everything user-supplied must come out escaped
        con = sqlite3.connect(self.db)
        con.execute("UPDATE animals SET name = ? WHERE id = (SELECT animal_id FROM collar_assignments "
                    "WHERE collar_id = 8 AND to_ms IS NULL)", (HOSTILE,))
        con.commit()
        con.close()
        # the page's files, plus things a traversal would like to reach
        self.root = f"{tmp}/www"
        os.makedirs(f"{self.root}/assets/sub")
        with open(f"{self.root}/index.html", "w") as f:
            f.write("<!doctype html><title>t</title>index-page\n")
        with open(f"{self.root}/assets/app.js", "w") as f:
            f.write("console.log('app');\n")
        with open(f"{self.root}/assets/sub/s.css", "w") as f:
            f.write("body{}\n")
        with open(f"{self.root}/.hidden", "w") as f:
            f.write("hidden-secret\n")
        with open(f"{tmp}/secret.txt", "w") as f:
            f.write("outside-secret\n")
        os.symlink(f"{tmp}/secret.txt", f"{self.root}/assets/evil.txt")
        # offline tiles: MBTiles rows are TMS (y grows north); distinct blobs tell whether y was flipped
        self.mbtiles = f"{tmp}/tiles.mbtiles"
        con = sqlite3.connect(self.mbtiles)
        con.execute("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB)")
        con.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
        con.executemany("INSERT INTO metadata VALUES (?, ?)", [("format", "png"), ("minzoom", "1"),
                                                               ("maxzoom", "1"), ("bounds", "-180,-85,180,85")])
        for row in (0, 1):
            con.execute("INSERT INTO tiles VALUES (1, 0, ?, ?)", (row, b"\x89PNG\r\n\x1a\n" + f"tms-row-{row}".encode()))
        con.commit()
        con.close()
        self.state = f"{tmp}/gw.state"
        self.listen = "127.0.0.1:0"
        self.ingest = "tcp://127.0.0.1:*"
        self.n_core = 0

    def core(self, replay=1024, extra=""):
        self.n_core += 1
        path = f"{self.tmp}/core.ini"
        with open(path, "w") as f:
            f.write(f"""[core]
db = {self.db}
status_file = {self.tmp}/status.json
[ingest]
endpoint = {self.ingest}
secret_key = {self.tmp}/core.key
allow = {self.tmp}/allow.txt
[pub]
endpoint = tcp://127.0.0.1:*
[snapshot]
endpoint = tcp://127.0.0.1:*
[web]
listen = {self.listen}
root = {self.root}
token_file = {self.tmp}/token
replay = {replay}
heartbeat_s = 1
mbtiles = {self.mbtiles}
{extra}""")
        c = Proc(f"core#{self.n_core}", [CORE, "-N", "-f", path], self.err)
        m = c.wait(r"^WEB http://127\.0\.0\.1:(\d+)/$")
        c.port = int(m.group(1))
        m = c.wait(r"^READY ingest=(\S+) ")
        self.ingest = m.group(1)                   # restarts: the same ports
        self.listen = f"127.0.0.1:{c.port}"
        self.port = c.port
        return c

    def gw(self, batches, *extra):
        g = Proc("gw", [TESTGW, "run", "--endpoint", self.ingest, "--gw-id", str(GW_ID), "--server-key",
                        f"{self.tmp}/core.pub", "--secret", f"{self.tmp}/gw.key", "--batches", str(batches),
                        "--per", str(PER), "--state", self.state, "--exit-when-done", *extra], self.err)
        g.wait(r"^READY")
        return g

    def http(self, method, path, body=None, headers=None, raw_path=False):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=left(30))
        h = dict(headers or {})
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode() if not isinstance(body, str) else body.encode()
        c.putrequest(method, path, skip_accept_encoding=True)
        for k, v in h.items():
            c.putheader(k, v)
        if body is not None:
            c.putheader("Content-Length", str(len(body)))
        c.endheaders(body)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, dict(r.getheaders()), data

    def get_json(self, path, **kw):
        st, h, d = self.http("GET", path, **kw)
        assert st == 200, (path, st, d[:200])
        assert h.get("Content-Type") == "application/json", h
        return json.loads(d)


AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


def check_static(rig):
    st, h, d = rig.http("GET", "/")
    assert st == 200 and b"index-page" in d and h["Content-Type"].startswith("text/html"), (st, h)
    etag = h["ETag"]
    assert "default-src 'self'" in h["Content-Security-Policy"] and "connect-src 'self'" in h["Content-Security-Policy"]
    assert h["Cache-Control"] == "no-cache"
    st, h2, d = rig.http("GET", "/", headers={"If-None-Match": etag})
    assert st == 304 and not d, st
    st, h, d = rig.http("GET", "/assets/app.js")
    assert st == 200 and h["Content-Type"].startswith("text/javascript"), h
    st, h, d = rig.http("GET", "/assets/sub/s.css")
    assert st == 200 and h["Content-Type"].startswith("text/css"), h
    for bad in ("/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt", "/assets/%2e%2e/%2e%2e/secret.txt",
                "/assets/evil.txt", "/.hidden", "//etc/passwd", "/assets/..%2f..%2fsecret.txt", "/etc/passwd",
                "/assets/app.js%00.png", "/assets\\..\\secret.txt"):
        st, h, d = rig.http("GET", bad)
        assert st == 404, (bad, st)
        assert b"secret" not in d and b"root:" not in d, (bad, d)
        json.loads(d)
    st, _, _ = rig.http("POST", "/index.html", body="x")
    assert st == 405, st
    st, h, d = rig.http("GET", "/tiles/1/0/0.png")
    assert st == 200 and h["Content-Type"] == "image/png" and d.endswith(b"tms-row-1"), (st, d)
    st, h, d = rig.http("GET", "/tiles/1/0/1.png")
    assert st == 200 and d.endswith(b"tms-row-0"), (st, d)
    for bad in ("/tiles/1/2/0.png", "/tiles/2/0/0.png", "/tiles/1/0/0.png/x", "/tiles/a/b/c.png"):
        assert rig.http("GET", bad)[0] == 404, bad
    print("static: types, ETag/304, 11 traversal attempts refused; MBTiles y flipped (XYZ -> TMS)")


def check_ids(ids, first, last, what):
    assert ids == list(range(first, last + 1)), (f"{what}: expected ids {first}..{last}, got {len(ids)} ids "
                                                  f"{ids[:3]}..{ids[-3:]}; gaps/dups")


def web(rig):
    hub = Hub()
    core = rig.core()
    check_static(rig)
    snap0 = rig.get_json("/api/snapshot")
    e0 = snap0["event_id"]
    assert snap0["task"]["id"] == rig.task and len(snap0["boxes"]) == 1, snap0
    assert snap0["tiles"] == {"format": "png", "minzoom": 1, "maxzoom": 1, "bounds": [-180, -85, 180, 85]}, snap0
    a = Sse(hub, rig.port, last_id=e0)
    q = Sse(hub, rig.port, query=e0)
    hub.wait(lambda: a.head_done and q.head_done, "stream headers")
    assert a.status == 200 and q.status == 200

    # 1. live: ids strictly increasing, no gap, every type; collar 8's handler rejects each of its indications
    # on the collar (IND key VERDICT): each indication comes as open (the map alerts), then as rejected
    gw = rig.gw(12, "--reject-collar", "8")
    gw.wait(r"^DONE ")
    gw.kill()
    e1 = rig.get_json("/api/snapshot")["event_id"]
    hub.wait(lambda: a.ids() and a.ids()[-1] >= e1 and q.ids() and q.ids()[-1] >= e1, f"event {e1}")
    check_ids(a.ids(), e0 + 1, e1, "live A")
    check_ids(q.ids(), e0 + 1, e1, "live Q (?last_event_id)")
    kinds = {e[1] for e in a.events}
    assert {"fix", "ind", "hazard", "status"} <= kinds, kinds
    fixes = [e[2] for e in a.events if e[1] == "fix"]
    assert len(fixes) == 12 * PER * 15 // 16, len(fixes)
    assert all("server_ms" in e[2] for e in a.events)
    assert not any(e[1] == "reset" for e in a.events)
    seen = {}
    for e in a.events:
        if e[1] == "ind":
            seen.setdefault(e[2]["id"], []).append((e[2]["collar_id"], e[2]["status"]))
    assert seen and all(v[0][1] == "open" and v[-1][1] == ("rejected" if v[0][0] == 8 else "open") and
                        len(v) == (2 if v[0][0] == 8 else 1) for v in seen.values()), seen
    print(f"live: {len(a.events)} events {e0 + 1}..{e1}, no gap, types {sorted(kinds)}; collar 8's "
          f"{sum(v[0][0] == 8 for v in seen.values())} indications open, then rejected on the collar")
    # more than the ring (1024) in total, in bursts the ring holds: A keeps up, the oldest ids leave the ring
    gw = rig.gw(20)
    gw.wait(r"^DONE ")
    gw.kill()
    e1 = rig.get_json("/api/snapshot")["event_id"]
    assert e1 - e0 > 1024, e1
    hub.wait(lambda: a.ids() and a.ids()[-1] >= e1, f"event {e1}")
    check_ids(a.ids(), e0 + 1, e1, "live A, second burst")

    # 2. reconnect with Last-Event-ID: exactly the missed ones; too old for the ring: reset
    mid = e1 - 100
    b = Sse(hub, rig.port, last_id=mid)
    old = Sse(hub, rig.port, last_id=e0 + 1)
    fut = Sse(hub, rig.port, last_id=e1 + 1000)
    hub.wait(lambda: b.ids() and b.ids()[-1] >= e1, "replay")
    check_ids(b.ids(), mid + 1, e1, "replay")
    hub.wait(lambda: old.events and fut.events, "resets")
    assert old.events[0][1] == "reset" and old.events[0][2]["reason"] == "too_old", old.events[0]
    assert fut.events[0][1] == "reset" and fut.events[0][2]["reason"] == "unknown", fut.events[0]
    st, _, d = rig.http("GET", "/api/events", headers={"Last-Event-ID": "12x"})
    assert st == 400 and json.loads(d)["error"].startswith("Last-Event-ID:"), d
    print(f"replay: Last-Event-ID {mid} -> {mid + 1}..{e1} exactly; {e0 + 1} (older than the ring of 1024) and "
          f"{e1 + 1000} -> reset")

    # 3. snapshot and history, hostile strings escaped
    st, _, raw = rig.http("GET", "/api/snapshot")
    assert b"<" not in raw and b">" not in raw and "\u2028".encode() not in raw and b"\x01" not in raw, raw[:300]
    snap = json.loads(raw)
    names = {x["name"] for x in snap["animals"]}
    assert HOSTILE in names, names
    assert len(snap["animals"]) == 8 and len(snap["hazards"]) >= 1, (len(snap["animals"]), snap["hazards"])
    ind = snap["indications"][0]
    animal1 = next(x["animal_id"] for x in snap["animals"] if x["collar_id"] == 1)
    tr = rig.get_json(f"/api/tracks?animal={animal1}&from=2023-11-14&to=2023-11-16")
    assert len(tr["points"]) > 0 and not tr["truncated"], tr
    assert rig.http("GET", "/api/tracks?animal=x")[0] == 400
    hz = rig.get_json(f"/api/hazards/{snap['hazards'][0]['id']}")
    assert hz["indications"] and isinstance(hz["swept_by"], list), hz
    rig.get_json(f"/api/accuracy?animal={animal1}")
    assert rig.http("GET", "/api/accuracy?animal=999999")[0] == 404
    gj = json.loads(rig.http("GET", "/api/export?format=geojson")[2])
    assert gj["type"] == "FeatureCollection" and gj["features"], gj.keys()
    box = snap["boxes"][0]
    cov = rig.get_json(f"/api/coverage?box={box['id']}")
    assert cov["lanes"] == box["lanes"] and len(cov["cells"]) == cov["lanes"] * cov["segs"] > 0, cov.keys()
    assert all(c["seg_m"] > 0 and "lat" in c for c in cov["cells"]), cov["cells"][0]
    assert rig.http("GET", "/api/coverage?box=9999")[0] == 404
    st, h, d = rig.http("GET", "/api/export?format=gpkg")
    assert st == 200 and d.startswith(b"SQLite format 3\0") and "attachment" in h["Content-Disposition"], h
    print("snapshot/history: hostile name escaped and intact; tracks, hazard evidence, accuracy, exports")

    # 4. writes: refused without the token, validated field by field, audited, events emitted
    n_posts = 0

    def post(path, body, headers=AUTH, expect=None):
        nonlocal n_posts
        n_posts += 1
        st, h, d = rig.http("POST", path, body=body, headers=headers)
        if expect:
            assert st == expect, (path, body, st, d)
        return st, json.loads(d) if d else None

    good = {"lat": -25.8999990, "lon": 32.7000000, "err_m": 0.3, "result": "ap_mine", "device": HOSTILE_W,
            "depth_cm": 12, "team": "T1", "date": "2023-11-15", "by": "Leader <b>"}
    st, r = post("/api/clearance", good, headers={"Content-Type": "application/json"}, expect=401)
    st, r = post("/api/clearance", good, headers={"Authorization": "Bearer wrong-token-0000000000"}, expect=401)
    for field, val in (("lat", 91), ("lon", "east"), ("err_m", -1), ("result", "bogus"), ("date", None),
                       ("by", ""), ("depth_cm", True), ("colour", "red"), ("date", "2023-13-45")):
        body = dict(good)
        if val is None:
            del body[field]
        else:
            body[field] = val
        st, r = post("/api/clearance", body, expect=400)
        assert r["error"].startswith(field + ":"), (field, r)
    st, r = post("/api/clearance", "{\"lat\": ", expect=400)
    assert r["error"].startswith("body:"), r
    st, r = post("/api/clearance", "{" + " " * 70000 + "}", expect=413)
    before = a.ids()[-1]
    st, r = post("/api/clearance", good, expect=201)
    cid, hid = r["clearance_id"], r["matched_hazard"]
    assert cid > 0 and r["matched_hazard"] is not None, r
    st, r2 = post("/api/clearance", good, expect=200)
    assert r2["duplicate"] is True, r2
    st, r = post(f"/api/indications/{ind['id']}/confirm", {"by": "Handler A"}, expect=200)
    assert r["status"] == "confirmed", r
    post("/api/indications/99-99/reject", {"by": "Handler A"}, expect=404)
    # a handler's reject through the web is evidence: the live engine lowers the P of the point holding that
    # indication by the handler's ratio (an/fusion.h: -1648 q10 on its pass, -824 on a further pass of the same
    # animal), publishes it and writes it to the store; the verdict is kept in the store's log with its source
    def ind_key(s):
        c, r = s.split("-")
        return int(c) << 32 | int(r)
    live = {h["id"]: h for h in rig.get_json("/api/hazards")["hazards"]}
    rej = next(i for i in snap["indications"] if ind_key(i["id"]) in live and ind_key(i["id"]) != hid and
               i["collar_id"] != 8 and
               ind["id"] not in [x["id"] for x in rig.get_json(f"/api/hazards/{ind_key(i['id'])}")["indications"]])
    rh = ind_key(rej["id"])
    con = sqlite3.connect(rig.db)
    lo0 = con.execute("SELECT log_odds_q10 FROM hazard_points WHERE id = ?", (rh,)).fetchone()[0]
    st, r = post(f"/api/indications/{rej['id']}/reject", {"by": "Handler B"}, expect=200)
    assert r["status"] == "rejected", r
    hub.wait(lambda: any(e[1] == "hazard" and e[2]["id"] == rh and e[2]["log_odds"] < live[rh]["log_odds"] - 0.8
                         for e in a.events), f"hazard {rh}: P lowered by the reject")
    lo1 = con.execute("SELECT log_odds_q10 FROM hazard_points WHERE id = ?", (rh,)).fetchone()[0]
    assert lo1 - lo0 in (-1648, -824), (lo0, lo1)
    src = con.execute("SELECT source, who FROM indication_reviews WHERE collar_id = ? AND rec_seq = ?",
                      (rh >> 32, rh & 0xffffffff)).fetchall()
    assert src == [("web", "Handler B")], src
    con.close()
    # the data recorder's box position of that indication (lane 0 of box A, whose lanes run north from the task
    # origin: along = its own northing, so the point it belongs to stays what it is): checked against the box
    # field by field, audited, stored once, given to the hazard engine
    bp = {"lane": 0, "along_m": round((ind["lat"] + 25.9) * 1e7 * 0.011066, 3), "by": "Recorder"}
    for field, val in (("lane", 40), ("lane", 1.5), ("along_m", 500), ("along_m", -1), ("sd_m", 11),
                       ("along_m", None), ("rope", 3)):
        body = dict(bp)
        if val is None:
            del body[field]
        else:
            body[field] = val
        st, r = post(f"/api/indications/{ind['id']}/boxpos", body, expect=400)
        assert r["error"].startswith(field + ":"), (field, r)
    st, r = post(f"/api/indications/{ind['id']}/boxpos", bp, expect=201)
    assert r["indication"] == ind["id"] and r["lane"] == 0 and r["sd_m"] == 0.25 and r["duplicate"] is False, r
    st, r = post(f"/api/indications/{ind['id']}/boxpos", bp, expect=200)
    assert r["duplicate"] is True, r
    post("/api/indications/99-99/boxpos", bp, expect=404)
    post("/api/indications/zz/reject", {"by": "Handler A"}, expect=400)
    st, r = post("/api/accreditation", {"box": snap["boxes"][0]["id"], "animal_id": animal1, "by": "Tester"},
                 expect=201)
    post("/api/accreditation", {"box": 999, "animal_id": animal1, "by": "Tester"}, expect=400)
    hub.wait(lambda: any(e[1] == "clearance" for e in a.events) and
             any(e[1] == "ind" and e[2]["status"] == "confirmed" for e in a.events), "write events")
    # the live hazard engine took the result: the matched point is confirmed, and says so on the stream
    hub.wait(lambda: any(e[1] == "hazard" and e[2]["id"] == hid and e[2]["status"] == "confirmed_explosive"
                         for e in a.events), f"hazard {hid} confirmed_explosive")
    ev = next(e for e in a.events if e[1] == "clearance")
    assert ev[0] > before and ev[2]["clearance_id"] == cid and ev[2]["by"] == "Leader <b>", ev
    assert rig.http("GET", "/api/audit")[0] == 401
    audit = rig.get_json("/api/audit?limit=1000", headers=AUTH)["audit"]
    web_rows = [x for x in audit if x["action"].startswith("web.")]
    assert len(web_rows) == n_posts, (len(web_rows), n_posts)  # the 413 included
    assert sum("no-token" in x["who"] for x in web_rows) == 2, [x["who"] for x in web_rows]
    assert all(json.loads(x["detail"])["status"] for x in web_rows)
    con = sqlite3.connect(rig.db)
    dev = con.execute("SELECT device_type FROM clearance_results WHERE id = ?", (cid,)).fetchone()[0]
    con.close()
    assert dev == HOSTILE_W, dev
    print(f"writes: 2x401, 17x400 naming the field, 413, 201 (hazard {hid} -> confirmed_explosive) + duplicate, "
          f"confirm, reject (hazard {rh}: log-odds {lo0} -> {lo1} q10), box position 201 + duplicate, 404s, "
          f"accreditation; "
          f"{len(web_rows)} audit rows")

    hub.wait(lambda: a.comments > 0, "a heartbeat (: ping) on an idle stream", 10)
    # 5. clean restart: ids continue, a reconnect with the last id has no gap and no reset
    last = a.ids()[-1]
    assert core.kill(signal.SIGTERM) == 0
    with open(f"{rig.tmp}/status.json") as f:  # rewritten at shutdown
        ws = json.load(f)["web"]
    assert ws["last_event_id"] == last and ws["writes_ok"] == 7 and ws["writes_refused"] == n_posts - 7, ws
    hub.wait(lambda: a.closed, "stream end at shutdown")
    core = rig.core()
    c = Sse(hub, rig.port, last_id=last)
    gw = rig.gw(28)
    gw.wait(r"^DONE ")
    gw.kill()
    e3 = rig.get_json("/api/snapshot")["event_id"]
    hub.wait(lambda: c.ids() and c.ids()[-1] >= e3, f"event {e3} after restart")
    snap2 = rig.get_json("/api/snapshot")
    hz_after = {h["id"]: h["status"] for h in snap2["hazards"]}
    assert hz_after.get(hid) == "confirmed_explosive", (hid, hz_after)
    st_after = {i["id"]: i["status"] for i in snap2["indications"]}
    assert st_after[ind["id"]] == "confirmed", st_after[ind["id"]]  # the review was loaded from the store
    assert not any(e[1] == "reset" for e in c.events), c.events[:2]
    check_ids(c.ids(), last + 1, e3, "after a clean restart")
    print(f"clean restart (same port {rig.port}): Last-Event-ID {last} -> {last + 1}..{e3}, no reset")

    # 6. crash: ids never reused; an old id is told to reload
    core.kill(signal.SIGKILL)
    core = rig.core()
    d = Sse(hub, rig.port, last_id=e3)
    gw = rig.gw(36)
    gw.wait(r"^DONE ")
    gw.kill()
    e4 = rig.get_json("/api/snapshot")["event_id"]
    hub.wait(lambda: d.ids() and d.ids()[-1] >= e4, f"event {e4} after a crash")
    assert d.events[0][1] == "reset" and d.events[0][2]["reason"] == "too_old", d.events[0]
    ids = d.ids()
    assert ids[0] > e3 and ids == list(range(ids[0], e4 + 1)), (e3, ids[:3])
    print(f"SIGKILL + restart: ids resume at {ids[0]} > {e3} (never reused), old Last-Event-ID -> reset")
    assert core.kill(signal.SIGTERM) == 0
    hub.stop = True


def alerts(rig):
    hub = Hub()
    rig.core(extra="alert_link_lost_s = 3\nalert_gps_lost_s = 2\nalert_stationary_s = 0\nalert_bout_rat_s = 0\n"
                   "alert_outside_box_cm = 0\n")
    snap0 = rig.get_json("/api/snapshot")
    assert snap0["alerts"] == [], snap0["alerts"]
    e0 = snap0["event_id"]
    a = Sse(hub, rig.port, last_id=e0)
    hub.wait(lambda: a.head_done, "stream headers")

    def alert_events(c):
        return [(e[0], e[2]) for e in c.events if e[1] in ("alert", "alerts")]

    def active(c):  # (collar, kind) -> the raised alert, after every event the stream brought
        out = {}
        for _, x in alert_events(c):
            if "alerts" in x:  # a (re)started core's whole set
                out = {(y["collar_id"], y["kind"]): y for y in x["alerts"]}
            elif x["state"] == "raised":
                out[(x["collar_id"], x["kind"])] = x
            else:
                assert out.pop((x["collar_id"], x["kind"]))["alert_id"] == x["alert_id"], x
        return out

    # collar 3 says 15 % and 34.5 degC in its STATUS; collar 5's fixes never come (its indications do)
    gw = rig.gw(24, "--per", "32", "--rate", "8", "--status-collar", "3", "--mute-fix-collar", "5")
    hub.wait(lambda: {(3, "battery_low"), (3, "heat"), (5, "gps_lost")} <= set(active(a)), "battery, heat, GPS alerts")
    gw.wait(r"^DONE ")
    gw.kill()
    on = active(a)
    assert on[(3, "battery_low")]["text"] == "battery 15 %" and on[(3, "heat")]["text"] == "heat 34.5 \u00b0C", on
    assert not any(k == "gps_lost" and c != 5 for c, k in on), on
    # the gateway stopped: nothing of any collar arrives, link lost for all 8 (and GPS lost gives way to it)
    hub.wait(lambda: {c for c, k in active(a) if k == "link_lost"} == set(range(1, 9)), "link lost x8", timeout=30)
    on = active(a)
    assert (5, "gps_lost") not in on, on
    snap = rig.get_json("/api/snapshot")
    got = {(x["collar_id"], x["kind"]): x["alert_id"] for x in snap["alerts"]}
    assert got == {k: v["alert_id"] for k, v in on.items()}, (got, on)
    # a page that reconnects from e0 gets the same alert events, same ids, same order
    e1 = snap["event_id"]
    b = Sse(hub, rig.port, last_id=e0)
    hub.wait(lambda: b.ids() and b.ids()[-1] >= e1, "replay")
    assert [x for x in alert_events(b) if x[0] <= e1] == [x for x in alert_events(a) if x[0] <= e1]
    check_ids(a.ids(), e0 + 1, a.ids()[-1], "live with alerts")
    # the collars come back, battery 50 % and 25 degC: every alert clears
    gw = rig.gw(48, "--per", "32", "--rate", "8", "--status-collar", "3", "--status-batt", "50", "--status-temp", "250")
    hub.wait(lambda: not active(a), "every alert cleared")
    gw.wait(r"^DONE ")
    gw.kill()
    assert rig.get_json("/api/snapshot")["alerts"] == []
    n = len(alert_events(a))
    print(f"alerts: battery 15 %, heat 34.5 degC, GPS lost (collar 5 without fixes), link lost x8 when the gateway "
          f"stopped; snapshot = the raised ones; replay identical; all cleared when they came back ({n} alert events)")


def bench(rig):
    """Not a test. SSE delivery with N concurrent streams read by an_core_web_load (C, one epoll loop: a Python
    reader of 50 streams would measure itself): per (stream, event) the time from the event's server_ms (the
    core's wall clock when it queued the event, right after the commit) to its receipt. WEB_CLIENTS may list
    several counts ("50,100,200"): one core, one run per count, WEB_BATCHES batches each at WEB_RATE/s."""
    counts = [int(x) for x in os.environ.get("WEB_CLIENTS", "50").split(",")]
    batches = int(os.environ.get("WEB_BATCHES", "60"))
    rate = os.environ.get("WEB_RATE", "2")
    load = os.path.join(os.path.dirname(TESTGW), "an_core_web_load")
    global DEADLINE_S
    DEADLINE_S = 1800
    core = rig.core(replay=65536)
    total = 0
    for n in counts:
        e0 = rig.get_json("/api/snapshot")["event_id"]
        cl = Proc(f"load{n}", [load, str(rig.port), str(n), str(e0)], rig.err, stdin=True)
        cl.wait(r"^READY$")
        total += batches
        gw = rig.gw(total, "--rate", rate)
        gw.wait(r"^DONE ", 900)
        gw.kill()
        e1 = rig.get_json("/api/snapshot")["event_id"]
        cl.stdin.write(f"STOP {e1}\n")
        cl.stdin.flush()
        m = cl.wait(r"^RESULT ", 300)
        ind = [x for x in cl.lines if x.startswith("IND ")]
        print(f"bench: {n} SSE clients, {batches} batches x {PER} records at {rate} batches/s "
              f"({e1 - e0} events per client): {m.string}\n  {ind[0] if ind else ''}")
        cl.kill()
    core.kill(signal.SIGTERM)


def main():
    with tempfile.TemporaryDirectory(prefix="core-web-") as tmp:
        rig = Rig(tmp)
        try:
            {"web": web, "bench": bench, "alerts": alerts}[SCENARIO](rig)
        except BaseException:
            rig.err.flush()
            with open(rig.errpath) as f:
                sys.stderr.write("---- stderr of the processes (last 40 lines) ----\n")
                sys.stderr.write("".join(f.readlines()[-40:]))
            raise
        finally:
            for p in procs:
                try:
                    p.kill()
                except Exception:
                    pass
            rig.err.close()
    print(f"PASS {SCENARIO}")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""End to end with real collars: scentrack-collar ×8 → radio modems (ptys, two collars per modem through a
frame multiplexer) → the real libserialport path → scentrack-gateway → ZeroMQ+CURVE → scentrack-core.

    e2e_collars_test.py CORE GATEWAY COLLAR SHIM SCENARIO
    SCENARIO: e2e | gwkill | corekill | blocked

The radio. Each collar's --radio is one end of a socketpair (fd:N). The test is the radio: four modems, each
a pty whose slave is bind-mounted over a tty node that has a /sys/class/tty entry (/dev/ttyS0, /dev/tty60..62)
in a private mount namespace (the test re-executes itself under `unshare --mount`; needs root, else exit 77),
opened by the gateway through libserialport with the LD_PRELOAD ioctl shim (tests/gateway/pty/ioctl_shim.c),
exactly as tests/gateway/pty/radio_harness.c does. The multiplexer puts every whole frame (bytes up to a
0x00 delimiter) a collar sends on its modem's pty, and broadcasts what the gateway writes on a modem to both
collars of that modem (a collar ignores frames for other ids, as on air). A modem whose pty is full drops
frames: loss on air, the collars' ARQ resends.

What a collar journaled: each collar runs with --journal-log and prints "journaled SEQ TYPE CRC" after each
durable append; the set of (collar, SEQ, TYPE) it printed is what must reach the core. The core's store
(records table: one row per (collar_id, rec_seq), read with sqlite3 after the core stopped or while it runs,
WAL) is compared with that set: lost = journaled but not stored, invented = stored but never journaled,
duplicates = rows per (collar, rec_seq) beyond one. For records whose raw frame in the store is a single-record
FIX or IND frame, the CRC-32C of the frame's body must equal the CRC the collar printed.

Scenarios:
  e2e       the chain runs undisturbed until every collar exits (inputs done, all acked) and the core holds
            everything; then clean SIGTERMs.
  gwkill    the gateway is SIGKILLed E2E_GW_KILLS times (default 50) at random moments — after a random
            number (0..60) of radio frames since it came up — while the collars stream and the core acks;
            restarted at once each time.
  corekill  the same with the core (E2E_CORE_KILLS, default 20): each core instance is killed 0..120 radio
            frames after its first commit (so the gateway had reconnected and batches were in flight).
  blocked   the backhaul blocked for a long stretch: the core is SIGSTOPped (a hung link: TCP stays up,
            nothing is acked) until the collars have all finished (everything is in the gateway's spool),
            then the core is SIGKILLed (the port drops) and the gateway is SIGKILLed too while it is down;
            then both are restarted and the spool drains.
  sighup    the key file lacks one collar (its frames are refused); it is added and another removed, SIGHUP;
            the added collar is delivered, the removed one refused; all restored, SIGHUP; everything arrives.
  cmd       the core sends SET_RATE 5000 ms to one collar (scentrack-core -C); its CMD_ACK reaches the
            core's store and the collar journals fewer fixes from then on.
  latency   (benchmark, 6th argument = an_core_sub) IND last byte on the modem → core commit → PUB update,
            p50/p99. E2E_REALTIME=1 runs the collars at the pace of their logs (1 fix/s each, as in the
            field) instead of --fast; E2E_IND_EVERY_MS sets the indication period (default 13000).
E2E_EPOCHS sets the seconds of GNSS per collar (one fix a second, a handler-button indication every 13 s;
default 1500 for gwkill, 5000 for corekill (a core restart is slower than the --fast collars: at 3000 a
loaded CI machine once saw only 17 of the 20 kills before the collars were done), 1200 for blocked, 1500
for cmd, 300 for e2e).

Never sleeps to wait: one poll() loop over every fd (collars' radios and stdouts, ptys, sd_notify socket,
core stdout) drives the test; each wait is a predicate checked after every wake-up with a deadline that
fails the test; the store is read at most every 100 ms while waiting for it. A global alarm ends it all.
"""
import json
import msgpack
import os
import random
import re
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import tty

CORE, GATEWAY, COLLAR, SHIM, SCENARIO = sys.argv[1:6]
SUB = sys.argv[6] if len(sys.argv) > 6 else None  # an_core_sub, for the latency benchmark
NCOLL = 8
MODEMS = ["/dev/ttyS0", "/dev/tty60", "/dev/tty61", "/dev/tty62"]
GW_ID = 7
# enough GNSS that the collars are still streaming when the last kill falls (measured: ~100 epochs/s per collar)
EPOCHS = int(os.environ.get("E2E_EPOCHS", {"gwkill": "1500", "corekill": "5000", "blocked": "1200", "cmd": "1500"}.get(SCENARIO, "300")))
GW_KILLS = int(os.environ.get("E2E_GW_KILLS", "50"))
CORE_KILLS = int(os.environ.get("E2E_CORE_KILLS", "20"))
GLOBAL_S = int(os.environ.get("E2E_TIMEOUT_S", "240"))
LINK_BUF = 64 * 1024
SEED = int(os.environ.get("E2E_SEED", "20261207"))
REALTIME = os.environ.get("E2E_REALTIME") == "1"              # collars at the pace of their GNSS log
IND_EVERY_MS = int(os.environ.get("E2E_IND_EVERY_MS", "13000"))  # handler-button indications

# ---- the private mount namespace --------------------------------------------------------------------------

if os.environ.get("E2E_IN_NS") != "1":
    if os.geteuid() != 0:
        print("SKIP: needs root for a private mount namespace (CI runs as root)")
        sys.exit(77)
    for dev in MODEMS:
        if not os.path.exists(dev):
            print(f"SKIP: {dev} does not exist here")
            sys.exit(77)
    env = dict(os.environ, E2E_IN_NS="1")
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable, *sys.argv], env=env)
    sys.exit(r.returncode)

rng = random.Random(SEED)


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


class Fail(Exception):
    pass


def now():
    return time.monotonic()


# ---- the world --------------------------------------------------------------------------------------------


class Collar:
    def __init__(self, idx, tmp):
        self.idx = idx
        self.id = 101 + idx
        self.modem = idx % len(MODEMS)
        self.key = bytes((self.id * 7 + i * 13) & 0xFF for i in range(32))
        self.key_path = f"{tmp}/collar{self.id}.key"
        with open(self.key_path, "w") as f:
            f.write(self.key.hex() + "\n")
        self.nmea = f"{tmp}/collar{self.id}.nmea"
        self.motion = f"{tmp}/collar{self.id}.csv"
        self.flash = f"{tmp}/collar{self.id}.flash"
        self.write_inputs()
        self.journal = {}  # rec_seq -> (type, crc)
        self.cmd_after_seq = None  # highest rec_seq journaled before the first CMD ran (--journal-log "cmd")
        self.out = b""
        self.rx = b""       # bytes from the collar not yet ending in a delimiter
        self.proc = None
        self.sock = None
        self.rc = None

    def write_inputs(self):
        def line(body):
            x = 0
            for c in body.encode():
                x ^= c
            return f"${body}*{x:02X}\r\n"

        with open(self.nmea, "w") as f:
            f.write("# synthetic 1 Hz receiver log (e2e_collars_test.py)\n")
            for i in range(EPOCHS):
                s = 10 * 3600 + i
                hh, mm, ss = s // 3600, s // 60 % 60, s % 60
                lon = 350000 + i * 3 + self.idx * 40
                lat = 1234 + self.idx * 17
                f.write(line(f"GPGGA,{hh:02}{mm:02}{ss:02}.00,2554.{lat:04},S,032{lon // 10000:02}.{lon % 10000:04},"
                             f"E,1,09,0.9,45.0,M,-10.0,M,,"))
                f.write(line(f"GPRMC,{hh:02}{mm:02}{ss:02}.00,A,2554.{lat:04},S,032{lon // 10000:02}."
                             f"{lon % 10000:04},E,0.97,90.0,010625,,,A"))
        with open(self.motion, "w") as f:
            f.write("t_ms,event,level\n")
            t = 5000 + self.idx * 700
            while t + 1000 < EPOCHS * 1000:
                f.write(f"{t},button,1\n{t + 700},button,0\n")
                t += IND_EVERY_MS

    def start(self, err, fixed_rate=True):
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        a.setblocking(False)
        # the collar's radio is our socket's other end, same fd number in the child
        args = [COLLAR, "--id", str(self.id), "--key", self.key_path, "--flash", self.flash, "--flash-pages", "256",
                "--gnss", self.nmea, "--motion", self.motion, "--radio", f"fd:{b.fileno()}", "--exit-on-eof",
                "--journal-log", "--pair-hold", "1000", "--seed", str(self.id)]
        args += [] if REALTIME else ["--fast"]
        args += ["--rate", "1000"] if fixed_rate else []
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                                     pass_fds=(b.fileno(),))
        b.close()
        self.sock = a
        os.set_blocking(self.proc.stdout.fileno(), False)

    def on_stdout(self):
        try:
            data = os.read(self.proc.stdout.fileno(), 65536)
        except BlockingIOError:
            return 0
        if not data:
            return -1
        self.out += data
        n = 0
        while b"\n" in self.out:
            ln, self.out = self.out.split(b"\n", 1)
            f = ln.decode().split()
            if len(f) == 4 and f[0] == "journaled":
                seq = int(f[1])
                if seq in self.journal:
                    raise Fail(f"collar {self.id} journaled rec_seq {seq} twice")
                self.journal[seq] = (f[2], int(f[3], 16))
                n += 1
            elif len(f) == 6 and f[0] == "cmd" and self.cmd_after_seq is None:
                # the collar ran a CMD: every record journaled from here on was made under it
                self.cmd_after_seq = max(self.journal, default=0)
        return n


class Modem:
    def __init__(self, dev):
        self.dev = dev
        self.m, self.s = os.openpty()
        tty.setraw(self.s)
        os.set_blocking(self.m, False)
        os.set_inheritable(self.m, False)
        os.set_inheritable(self.s, False)
        pts = os.ttyname(self.s)
        subprocess.run(["mount", "--bind", pts, dev], check=True)
        self.out = bytearray()
        self.dropped = 0


class World:
    def __init__(self, tmp):
        self.tmp = tmp
        self.errpath = f"{tmp}/stderr.log"
        self.err = open(self.errpath, "a")
        self.gwlog = open(f"{tmp}/gateway.log", "a")
        self.collars = [Collar(i, tmp) for i in range(NCOLL)]
        self.modems = [Modem(d) for d in MODEMS]
        self.frames = 0      # radio frames through the multiplexer, both ways
        self.ind_sent = {}   # (collar, rec_seq) -> monotonic ns its IND frame first went onto the modem
        self.ind_pub = {}    # (collar, rec_seq) -> monotonic ns the core's PUB update reached an_core_sub
        self.sub = None
        self.sub_out = b""
        self.gw = None
        self.core = None
        self.core_out = b""
        self.core_ready = None
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(f"{tmp}/notify")
        self.notify.setblocking(False)
        self.gw_ready = False
        self.db = f"{tmp}/core.db"
        self.core_status = f"{tmp}/core-status.json"
        self.spool = f"{tmp}/spool.sqlite"
        self.status_sock = f"{tmp}/gw-status.sock"
        with socket.socket() as s:  # a free port for the ZeroMQ status (bound again by the gateway at once)
            s.bind(("127.0.0.1", 0))
            self.status_zmq = f"tcp://127.0.0.1:{s.getsockname()[1]}"
        self.last_db_check = 0.0
        self.db_count = 0
        for who in ("core", "gw"):
            r = subprocess.run([CORE, "keygen", f"{tmp}/{who}.pub", f"{tmp}/{who}.key"], capture_output=True,
                               text=True, timeout=30)
            if r.returncode != 0:
                raise Fail(f"keygen: {r.stderr}")
        with open(f"{tmp}/gw.pub") as f:
            gw_pub = f.read().strip()
        with open(f"{tmp}/allow.txt", "w") as f:
            f.write(f"{GW_ID} {gw_pub}\n")
        self.write_keys(self.collars)
        self.core_ep = "tcp://127.0.0.1:*"
        self.n_core = 0
        self.n_gw = 0

    def write_keys(self, collars):
        path = f"{self.tmp}/collar-keys"
        with open(path + ".new", "w") as f:
            for c in collars:
                f.write(f"{c.id} {c.key.hex()}\n")
        os.chmod(path + ".new", 0o600)
        os.rename(path + ".new", path)

    # -- processes --

    def core_start(self, commands=False):
        ini = f"{self.tmp}/core.ini"
        with open(ini, "w") as f:
            f.write(f"[core]\ndb = {self.db}\nstatus_file = {self.core_status}\nlog_level = warn\n"
                    f"[ingest]\nendpoint = {self.core_ep}\nsecret_key = {self.tmp}/core.key\n"
                    f"allow = {self.tmp}/allow.txt\ncredit = 8\n"
                    f"[pub]\nendpoint = tcp://127.0.0.1:*\n[snapshot]\nendpoint = tcp://127.0.0.1:*\n")
        self.n_core += 1
        self.core = subprocess.Popen([CORE, "-N", "-f", ini] + (["-C"] if commands else []), stdout=subprocess.PIPE,
                                     stderr=self.err, stdin=subprocess.PIPE if commands else subprocess.DEVNULL)
        os.set_blocking(self.core.stdout.fileno(), False)
        self.core_out = b""
        self.core_ready = None
        self.wait(lambda: self.core_ready is not None, 30, "core READY")
        self.core_ep = self.core_ready  # a restart binds the same port

    def core_kill(self, sig=signal.SIGKILL):
        self.core.send_signal(sig)
        rc = self.core.wait(timeout=30)
        self.core = None
        return rc

    def gw_config(self):
        path = f"{self.tmp}/gateway.ini"
        with open(path, "w") as f:
            f.write(f"[gateway]\nid = {GW_ID}\nkeys = {self.tmp}/collar-keys\nstatus_socket = {self.status_sock}\n"
                    f"status_zmq = {self.status_zmq}\nstats_interval_s = 0\n[spool]\npath = {self.spool}\n")
            for i, m in enumerate(self.modems):
                f.write(f"[link radio{i}]\ntype = serial\npath = {m.dev}\nbaud = 115200\nreopen_min_ms = 20\n"
                        f"reopen_max_ms = 200\n")
            f.write(f"[upstream]\nendpoint = {self.core_ep}\nserver_key = {self.tmp}/core.pub\n"
                    f"secret_key = {self.tmp}/gw.key\nping_ms = 500\nack_timeout_ms = 3000\n"
                    f"reconnect_ms = 50\nreconnect_max_ms = 200\n")
        return path

    def gw_start(self):
        env = dict(os.environ, LD_PRELOAD=SHIM, NOTIFY_SOCKET=f"{self.tmp}/notify",
                   ASAN_OPTIONS="verify_asan_link_order=0")
        self.n_gw += 1
        self.gw_ready = False
        self.gw = subprocess.Popen([GATEWAY, "-N", "-D", "1", "-f", self.gw_config()], stdout=self.gwlog,
                                   stderr=self.gwlog, stdin=subprocess.DEVNULL, env=env)
        self.wait(lambda: self.gw_ready, 30, "gateway READY")

    def gw_kill(self, sig=signal.SIGKILL):
        self.gw.send_signal(sig)
        rc = self.gw.wait(timeout=30)
        self.gw = None
        return rc

    def gw_status(self, via=None):
        r = subprocess.run([GATEWAY, "--status", "-s", via or self.status_sock], capture_output=True, text=True,
                           timeout=30)
        if r.returncode != 0:
            raise Fail(f"--status exited {r.returncode}: {r.stderr}")
        return json.loads(r.stdout)

    # -- the event loop --

    def pump(self, timeout):
        fds = {}
        for c in self.collars:
            if c.proc is not None:
                if c.sock is not None:
                    fds[c.sock.fileno()] = ("csock", c)
                if c.proc.stdout is not None:
                    fds[c.proc.stdout.fileno()] = ("cout", c)
        for m in self.modems:
            fds[m.m] = ("modem", m)
        fds[self.notify.fileno()] = ("notify", None)
        if self.core is not None:
            fds[self.core.stdout.fileno()] = ("core", None)
        if self.sub is not None:
            fds[self.sub.stdout.fileno()] = ("sub", None)
        p = select.poll()
        for fd, (kind, obj) in fds.items():
            ev = select.POLLIN
            if kind == "modem" and obj.out:
                ev |= select.POLLOUT
            p.register(fd, ev)
        for fd, ev in p.poll(max(0, int(timeout * 1000))):
            kind, obj = fds[fd]
            if kind == "csock":
                self.from_collar(obj)
            elif kind == "cout":
                if obj.on_stdout() < 0:
                    obj.proc.stdout.close()
                    obj.proc.stdout = None
            elif kind == "modem":
                if ev & select.POLLIN:
                    self.from_modem(obj)
                if ev & select.POLLOUT:
                    self.flush(obj)
            elif kind == "notify":
                try:
                    msg = self.notify.recv(4096)
                    if b"READY=1" in msg:
                        self.gw_ready = True
                except BlockingIOError:
                    pass
            elif kind == "sub":
                try:
                    self.sub_out += os.read(fd, 65536)
                except BlockingIOError:
                    pass
                while b"\n" in self.sub_out:
                    ln, self.sub_out = self.sub_out.split(b"\n", 1)
                    f = ln.split()
                    if len(f) == 5 and f[0] == b"U" and f[1] == b"i":
                        self.ind_pub.setdefault((int(f[2]), int(f[3])), int(f[4]))
                    elif f[:1] == [b"READY"]:
                        self.sub_ready = True
            elif kind == "core":
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    data = b""
                self.core_out += data
                m = re.search(rb"READY ingest=(\S+)", self.core_out)
                if m:
                    self.core_ready = m.group(1).decode()
        for c in self.collars:
            if c.proc is not None and c.rc is None and c.proc.poll() is not None:
                c.rc = c.proc.returncode
                if c.proc.stdout is not None:
                    while c.on_stdout() > 0:
                        pass
                if c.rc != 0:
                    raise Fail(f"collar {c.id} exited with {c.rc}")
        if self.gw is not None and self.gw.poll() is not None:
            raise Fail(f"gateway exited on its own with {self.gw.returncode}")
        if self.core is not None and self.core.poll() is not None:
            raise Fail(f"core exited on its own with {self.core.returncode}")

    def from_collar(self, c):
        try:
            data = c.sock.recv(65536)
        except BlockingIOError:
            return
        except ConnectionResetError:
            data = b""
        if not data:  # the collar exited (its exit status is checked in pump)
            c.sock.close()
            c.sock = None
            return
        c.rx += data
        m = self.modems[c.modem]
        while b"\x00" in c.rx:
            frame, c.rx = c.rx.split(b"\x00", 1)
            if not frame:
                continue
            self.frames += 1
            if len(m.out) + len(frame) + 2 > LINK_BUF:
                m.dropped += 1  # the modem is saturated: lost on air
                continue
            m.out += b"\x00" + frame + b"\x00"
            if self.sub is not None:
                self.note_ind(frame)
        self.flush(m)

    def note_ind(self, wire):
        """Latency benchmark: the first time an IND frame (COBS-decoded: header type 4) goes to a modem."""
        out, i = bytearray(), 0
        while i < len(wire):
            code = wire[i]
            out += wire[i + 1:i + code]
            i += code
            if code < 0xFF and i < len(wire):
                out.append(0)
        if len(out) > 20 and out[1] == 4:
            try:
                seq = msgpack.unpackb(bytes(out[8:-12]), strict_map_key=False)[1]
            except Exception:
                return
            cid = out[2] | out[3] << 8
            self.ind_sent.setdefault((cid, seq), time.monotonic_ns())

    def flush(self, m):
        while m.out:
            try:
                n = os.write(m.m, m.out)
            except BlockingIOError:
                return
            del m.out[:n]

    def from_modem(self, m):
        try:
            data = os.read(m.m, 65536)
        except (BlockingIOError, OSError):
            return
        self.frames += data.count(b"\x00") // 2
        for c in self.collars:
            if c.modem == self.modems.index(m) and c.sock is not None:
                try:
                    c.sock.send(data)
                except (BlockingIOError, BrokenPipeError, ConnectionResetError, OSError):
                    pass  # the collar is not listening: lost on air

    def wait(self, pred, timeout, what):
        deadline = now() + timeout
        while not pred():
            left = deadline - now()
            if left <= 0:
                raise Fail(f"timeout after {timeout} s waiting for {what}")
            self.pump(min(left, 0.1))

    # -- the store --

    def stored(self):
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        try:
            return con.execute("SELECT collar_id, rec_seq, type, raw FROM records").fetchall()
        finally:
            con.close()

    def journaled_total(self):
        return sum(len(c.journal) for c in self.collars)

    def db_refresh(self):
        """The store's row count, read at most every 100 ms (WAL: readers never block the core)."""
        t = now()
        if t - self.last_db_check < 0.1:
            return self.db_count
        self.last_db_check = t
        try:
            con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
            self.db_count = con.execute("SELECT COUNT(*) FROM records").fetchone()[0]
            con.close()
        except sqlite3.Error:
            pass
        return self.db_count

    def core_has_all(self):
        if not all(c.rc == 0 for c in self.collars):
            return False
        return self.db_refresh() >= self.journaled_total()

    def wait_core_commits(self, timeout=60):
        """Until this core instance has stored something new (so the gateway reconnected and batches flow)."""
        self.last_db_check = 0
        base = self.db_refresh()
        self.wait(lambda: self.db_refresh() > base or self.core_has_all(), timeout, "a commit by the new core")

    def check(self, label):
        rows = self.stored()
        want = {}
        for c in self.collars:
            for seq, (typ, crc) in c.journal.items():
                want[(c.id, seq)] = (typ, crc)
        have = {}
        dups = 0
        for cid, seq, typ, raw in rows:
            if (cid, seq) in have:
                dups += 1
            have[(cid, seq)] = (typ, raw)
        lost = sorted(set(want) - set(have))
        invented = sorted(set(have) - set(want))
        tname = {2: "FIX", 4: "IND"}
        wrong_type = [k for k in want if k in have and tname.get(have[k][0]) != want[k][0]]
        crc_checked = crc_bad = 0
        for k, (typ, raw) in have.items():
            # a single FIX (0x02) or IND (0x04) frame: header 8 B (ver, type, id, link_seq, boot), body, 8 B tag,
            # 4 B CRC — the body is the journaled record
            if raw is not None and len(raw) > 20 and raw[1] in (2, 4) and k in want:
                crc_checked += 1
                if crc32c(raw[8:-12]) != want[k][1]:
                    crc_bad += 1
        inds = sum(1 for t, _ in want.values() if t == "IND")
        print(f"{label}: journaled {len(want)} records ({inds} IND) by {NCOLL} collars; core stores {len(rows)}; "
              f"lost {len(lost)}, invented {len(invented)}, duplicates {dups}, wrong type {len(wrong_type)}; "
              f"body CRC checked on {crc_checked} single-record frames, {crc_bad} differ", flush=True)
        if lost or invented or dups or wrong_type or crc_bad:
            raise Fail(f"lost {lost[:10]} invented {invented[:10]} dups {dups} wrong type {wrong_type[:10]} "
                       f"crc_bad {crc_bad}")
        if crc_checked == 0 or inds == 0:
            raise Fail("nothing to compare: no single-record frames or no indications")
        return len(want)

    def start_collars(self, fixed_rate=True):
        for c in self.collars:
            c.start(self.err, fixed_rate)

    def streaming(self):
        return any(c.rc is None for c in self.collars)

    def finish(self, timeout=120):
        self.wait(lambda: not self.streaming(), timeout, "every collar done (inputs ended, everything acked)")
        self.wait(self.core_has_all, timeout, "the core to hold every journaled record")

    def wait_frames(self, n, timeout=60):
        target = self.frames + n
        self.wait(lambda: self.frames >= target or not self.streaming(), timeout, f"{n} radio frames")

    def teardown(self):
        for c in self.collars:
            if c.proc is not None and c.proc.poll() is None:
                c.proc.kill()
                c.proc.wait()
        for p in (self.gw, self.core, self.sub):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


# ---- scenarios --------------------------------------------------------------------------------------------


def clean_stop(w):
    rc = w.gw_kill(signal.SIGTERM)
    if rc != 0:
        raise Fail(f"gateway exit {rc} after SIGTERM")
    rc = w.core_kill(signal.SIGTERM)
    if rc != 0:
        raise Fail(f"core exit {rc} after SIGTERM")


def core_counters(w):
    with open(w.core_status) as f:
        return json.load(f)["ingest"]


def e2e(w):
    t0 = now()
    w.core_start()
    w.gw_start()
    w.start_collars()
    w.finish()
    st = w.gw_status()
    zst = w.gw_status(via=w.status_zmq)  # the same document on request over ZeroMQ
    if zst["totals"]["records"] != st["totals"]["records"] or set(zst) != set(st):
        raise Fail(f"ZeroMQ status differs: {zst['totals']} vs {st['totals']}")
    secs = now() - t0
    clean_stop(w)
    n = w.check("e2e")
    ing = core_counters(w)
    print(f"e2e: status over ZeroMQ ({w.status_zmq}) = status over the unix socket: sections {sorted(zst)}")
    print(f"e2e: {n} records in {secs:.1f} s; gateway totals: {json.dumps(st['totals'])}; "
          f"core ingest: batches {ing['batches']} records_stored {ing['records_stored']} "
          f"records_dup {ing['records_dup']} conflicts {ing['records_conflict']}")
    if ing["records_conflict"]:
        raise Fail("the core saw conflicting records")


def gwkill(w):
    w.core_start()
    w.gw_start()
    w.start_collars()
    during = 0
    t0 = now()
    for i in range(GW_KILLS):
        w.wait_frames(rng.randrange(0, 61))
        during += w.streaming()
        w.gw_kill()
        w.gw_start()
    w.finish(180)
    secs = now() - t0
    clean_stop(w)
    w.check(f"gwkill ({GW_KILLS} SIGKILLs of the gateway, {during} while collars streamed, {secs:.1f} s)")
    if during < GW_KILLS * 9 // 10:
        raise Fail(f"only {during} of {GW_KILLS} kills happened while the collars streamed: raise E2E_EPOCHS")


def corekill(w):
    w.core_start()
    w.gw_start()
    w.start_collars()
    during = 0
    t0 = now()
    for i in range(CORE_KILLS):
        w.wait_core_commits()
        w.wait_frames(rng.randrange(0, 121))
        during += w.streaming()
        w.core_kill()
        w.core_start()
    w.finish(180)
    secs = now() - t0
    st = w.gw_status()
    clean_stop(w)
    w.check(f"corekill ({CORE_KILLS} SIGKILLs of the core, {during} while collars streamed, {secs:.1f} s)")
    print(f"corekill: gateway upstream reconnects {st['upstream']['reconnects']} handshakes "
          f"{st['upstream']['handshakes']} resent {st['upstream']['batches_resent']}")
    if during < CORE_KILLS * 9 // 10:
        raise Fail(f"only {during} of {CORE_KILLS} kills happened while the collars streamed: raise E2E_EPOCHS")


def blocked(w):
    w.core_start()
    w.gw_start()
    w.start_collars()
    w.wait_frames(200)
    before = w.stored()
    w.core.send_signal(signal.SIGSTOP)
    t0 = now()
    w.wait(lambda: not w.streaming(), 180, "every collar done while the core is stopped")
    st = w.gw_status()
    up = st["upstream"]
    print(f"blocked: core stopped {now() - t0:.1f} s; collars done ({w.journaled_total()} journaled, "
          f"{len(before)} in the core before the stop); gateway upstream queue_depth {up['queue_depth']} "
          f"connected {up['connected']}")
    if up["queue_depth"] == 0:
        raise Fail("the gateway's upstream queue is empty while the core is stopped")
    # the port drops: the core dies while stopped, and the gateway restarts while the core is away
    w.core.send_signal(signal.SIGKILL)
    w.core.wait(timeout=30)
    w.core = None
    w.gw_kill()
    w.gw_start()
    t1 = now()
    w.core_start()
    w.wait(w.core_has_all, 120, "the spool to drain into the core")
    print(f"blocked: drained in {now() - t1:.2f} s after the core came back")
    clean_stop(w)
    w.check("blocked")


def sighup(w):
    """SIGHUP reloads the key file: a collar added while the gateway runs is accepted from then on, a collar
    removed is refused (its records wait in its journal), and comes back when re-added."""
    a, b = w.collars[-1], w.collars[-2]
    w.write_keys(w.collars[:-1])             # a not yet provisioned at this gateway
    w.core_start()
    w.gw_start()
    w.start_collars()
    last = {"t": 0.0, "st": None}

    def status():
        if now() - last["t"] >= 0.1:
            last["t"], last["st"] = now(), w.gw_status()
        return last["st"]

    w.wait(lambda: status()["totals"]["unknown_collar"] >= 3 and status()["totals"]["last_unknown_collar"] == a.id,
           60, f"frames of collar {a.id} refused as unknown")
    if a.rc is not None:
        raise Fail(f"collar {a.id} finished although the gateway did not know it")
    w.write_keys([c for c in w.collars if c is not b])   # a added, b removed
    w.gw.send_signal(signal.SIGHUP)
    w.wait(lambda: a.rc is not None, 120, f"collar {a.id} done after the SIGHUP added it")
    refused = status()["totals"]["unknown_collar"]
    w.wait(lambda: status()["totals"]["unknown_collar"] > refused and status()["totals"]["last_unknown_collar"] == b.id
           or b.rc is not None, 60, f"frames of the removed collar {b.id} refused")
    removed_refused = b.rc is None
    w.write_keys(w.collars)
    w.gw.send_signal(signal.SIGHUP)
    w.finish()
    st = w.gw_status()
    clean_stop(w)
    w.check("sighup")
    print(f"sighup: collar {a.id} refused until its key was added, then delivered; collar {b.id} "
          f"{'refused while removed' if removed_refused else 'had finished before its removal'}; "
          f"key_reloads {st['gateway']['key_reloads']}")
    if st["gateway"]["key_reloads"] != 2:
        raise Fail(f"key_reloads {st['gateway']['key_reloads']}, want 2")


def cmd(w):
    """A command from the core to one collar: `scentrack-core -C` reads "cmd GW COLLAR set_rate 5000" and
    sends a CMD over the upstream; the gateway queues it for the collar and piggy-backs it on the collar's
    ACKs; the collar applies it and answers CMD_ACK, which comes back to the core in a BATCH (the core's
    collar_status table). The collars run with their adaptive report rate (a fixed --rate would take
    precedence over the CMD); after the CMD_ACK the target's fixes are 5 s apart."""
    target, peer = w.collars[0], w.collars[1]
    w.core_start(commands=True)
    w.gw_start()
    w.start_collars(fixed_rate=False)
    w.wait_core_commits()
    w.core.stdin.write(f"cmd {GW_ID} {target.id} set_rate 5000\n".encode())
    w.core.stdin.flush()
    w.wait(lambda: re.search(rb"CMD_(SENT (\d+)|ERR .*)\n", w.core_out), 30, "the core's answer to the command")
    m = re.search(rb"CMD_(SENT (\d+)|ERR .*)\n", w.core_out)
    if not m.group(2):
        raise Fail(f"core: {m.group(0)!r}")
    cmd_id = int(m.group(2))
    journaled_at_cmd = len(target.journal)

    def cmd_ack():
        if now() - w.last_db_check < 0.1:
            return None
        w.last_db_check = now()
        con = sqlite3.connect(f"file:{w.db}?mode=ro", uri=True, timeout=10)
        try:
            return con.execute("SELECT cmd_result FROM collar_status WHERE type = 6 AND collar_id = ? AND cmd_id = ?",
                               (target.id, cmd_id)).fetchone()
        finally:
            con.close()

    got = {}
    if target.proc.poll() is not None:
        # the collar ran through its log before the command was queued: nothing left to carry the CMD
        raise Fail(f"collar {target.id} had already stopped when CMD {cmd_id} was queued: raise E2E_EPOCHS")
    try:
        w.wait(lambda: got.setdefault("r", cmd_ack()) is not None or got.pop("r") is not None, 60,
               f"CMD_ACK of CMD {cmd_id} in the core's store")
    except Fail as e:
        state = "still running" if target.proc.poll() is None else f"exited ({target.proc.returncode})"
        raise Fail(f"{e}; collar {target.id} {state}") from None
    result = got["r"][0]
    w.finish()
    st = w.gw_status()
    clean_stop(w)
    w.check("cmd")
    con = sqlite3.connect(w.db)
    if target.cmd_after_seq is None:
        raise Fail(f"collar {target.id} acknowledged CMD {cmd_id} but never printed that it ran it")
    # Fixes journaled after the collar ran the CMD (its own "cmd" line marks the point, so the check does not
    # depend on how fast the --fast collars ran through their logs meanwhile); the peer over the same seqs.
    gaps = {}
    for c in (target, peer):
        t = [r[0] for r in con.execute("SELECT t_ms FROM fixes WHERE collar_id = ? AND rec_seq > ? ORDER BY rec_seq",
                                       (c.id, target.cmd_after_seq))]
        late = sorted(b - a for a, b in zip(t, t[1:]))
        gaps[c.id] = (len(t), late[len(late) // 2] if late else None)
    con.close()
    if gaps[target.id][0] < 5:
        raise Fail(f"only {gaps[target.id][0]} fixes after the CMD ran: raise E2E_EPOCHS")
    print(f"cmd: CMD {cmd_id} (set_rate 5000 ms) for collar {target.id}: CMD_ACK result {result} in the core; "
          f"gateway cmds queued {st['totals']['cmds_queued']} sent {st['totals']['cmds_sent']} acked "
          f"{st['totals']['cmd_acks']}; (fixes, median gap ms after the CMD ran): collar {target.id} "
          f"{gaps[target.id]} ({journaled_at_cmd} records before the CMD), collar {peer.id} {gaps[peer.id]}")
    if result != 1:
        raise Fail(f"CMD_ACK result {result}, want 1 (done)")
    if st["totals"]["cmd_acks"] < 1 or st["upstream"]["cmds_in"] != 1:
        raise Fail(f"gateway counters: {st['totals']} {st['upstream']}")
    if gaps[target.id][1] != 5000 or gaps[peer.id][1] == 5000:
        raise Fail(f"the target's fixes are not 5 s apart after the CMD (or the peer's are too): {gaps}")


def latency(w):
    """Benchmark, not a CTest: IND latency from the frame's last byte handed to the modem's pty to the core's
    PUB update for it reaching a subscriber (an_core_sub, CLOCK_MONOTONIC like time.monotonic_ns): gateway
    validate + spool commit (fsync) + BATCH + core commit (fsync) + publish. Upper bound of last byte → core
    commit. The first transmission counts (a resend after a loss adds its delay)."""
    if not SUB:
        raise Fail("latency needs the an_core_sub path as 6th argument")
    w.core_start()
    m = re.search(rb"pub=(\S+) snapshot=(\S+)", w.core_out)
    w.sub = subprocess.Popen([SUB, m.group(1).decode(), m.group(2).decode()], stdout=subprocess.PIPE, stderr=w.err,
                             stdin=subprocess.PIPE)
    os.set_blocking(w.sub.stdout.fileno(), False)
    w.sub_ready = False
    w.wait(lambda: w.sub_ready, 30, "subscriber READY")
    w.gw_start()
    w.start_collars()
    w.finish()
    w.wait(lambda: all(k in w.ind_pub for k in w.ind_sent), 60, "every IND published")
    clean_stop(w)
    w.check("latency")
    lat = sorted((w.ind_pub[k] - t) / 1e6 for k, t in w.ind_sent.items())
    pct = lambda q: lat[min(len(lat) - 1, int(len(lat) * q))]
    print(f"latency: IND last byte on the modem -> core commit -> PUB at a subscriber: n={len(lat)} "
          f"p50={pct(0.5):.1f} ms p99={pct(0.99):.1f} ms max={lat[-1]:.1f} ms")


def main():
    signal.alarm(GLOBAL_S)
    with tempfile.TemporaryDirectory(prefix="gw-e2e-") as tmp:
        w = World(tmp)
        try:
            {"e2e": e2e, "gwkill": gwkill, "corekill": corekill, "blocked": blocked, "sighup": sighup, "cmd": cmd,
             "latency": latency}[SCENARIO](w)
        except BaseException as e:
            w.teardown()
            for name in ("stderr.log", "gateway.log"):
                with open(f"{tmp}/{name}", errors="replace") as f:
                    sys.stderr.write(f"---- {name} (last 30 lines) ----\n" + "".join(f.readlines()[-30:]))
            if isinstance(e, Fail):
                print(f"FAIL: {e}", flush=True)
                sys.exit(1)
            raise
        finally:
            w.teardown()
    print(f"PASS {SCENARIO}")


if __name__ == "__main__":
    def on_alarm(*_):
        raise Fail(f"global timeout ({GLOBAL_S} s)")

    signal.signal(signal.SIGALRM, on_alarm)
    main()

#!/usr/bin/python3
"""
qemu_collar.py — boot the collar's MCU image in qemu-system-arm -M mps2-an386 and check what it does.

The image runs the collar application cf_app (collar-fw/core/app.c) on the board's four UARTs
(collar-fw/boards/mps2-an386/board.h, main.c):
  UART0 console -> QEMU's stdout (a pipe read here, line by line)
  UART1 GNSS    <- a Unix socket this script listens on; QEMU connects; the NMEA log is written into it,
                   one receiver epoch every --epoch-ms (a receiver's pace, not a wait)
  UART2 sensor  <- a Unix socket too: sensor-bus lines (B 1 / B 0 button, A x y z samples, FAULT, HANG, STATUS)
  UART3 radio   -> a file here (nothing answers: the collar sends HELLOs); qemu_e2e.py puts the gateway there
The PSRAM (journal flash + provisioning block) is always a file here, so the collar is provisioned with
collar id, key and report period like a docked collar (write_provisioning).

Scenarios (each bounded by --timeout; QEMU is always killed at the end, whatever happens):
  fixes LOG...  for each gpsd log (its first MAX_EPOCHS epochs): boot, feed it paced (comment lines
                stripped, as the host's --decode does), wait for the SUMMARY that ends the burst, then:
                the parser's record count equals `scentrack-collar --decode` of the same bytes, every record
                is journaled, skipped by the report period or has no position (counted), and every journaled
                FIX equals the host's record of the same epoch (time, lat, lon, alt), in order.
  fault LOG     feed LOG, then FAULT on the sensor UART: the board must reboot warm, print the fault record
                (a HardFault with a PC inside the image) and find every journaled record again.
  watchdog LOG  the same with HANG: the watchdog NMI must be recorded and the journal must survive.
  powercycle LOG1 LOG2
                the PSRAM that holds the journal is backed by a file (-object memory-backend-file): feed
                LOG1, SIGKILL QEMU (a power cut: every append that returned is in the file's page cache),
                boot a new QEMU on the same file with LOG2. The board must boot cold (RAM is new) yet find
                every record of the first run, and continue rec_seq after it.

Waiting is always on an event (a console line, a socket becoming ready) with a deadline, never a sleep.
"""
import argparse
import heapq
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

PROV_OFFSET = 256 * 1024  # main.c / mps2_an386.ld: the provisioning block follows the journal's flash
MAX_EPOCHS = 30


class Fail(Exception):
    pass


def die_with_parent():
    """preexec_fn: the child gets SIGKILL when this driver dies, however it dies (CTest's timeout kill
    included), so no QEMU or daemon outlives a test. Kept across exec (not across fork)."""
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def stop_on_sigterm():
    """SIGTERM/SIGINT raise SystemExit, so the drivers' finally blocks tear everything down."""
    def handler(sig, _frame):
        raise SystemExit(128 + sig)
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def fmt_fixed(v, dec):
    a = abs(v)
    return "%s%d.%0*d" % ("-" if v < 0 else "", a // 10 ** dec, dec, a % 10 ** dec)


def utc_iso(t_ms):
    secs, ms = divmod(t_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + ".%03dZ" % ms



TIME_FIELD = {b"GGA": 1, b"RMC": 1, b"GNS": 1, b"GST": 1, b"ZDA": 1, b"GBS": 1, b"GLL": 5}


def nmea_time(line):
    """The hhmmss[.ss] field of a timed NMEA sentence, else None."""
    if not line.startswith(b"$") or len(line) < 7:
        return None
    k = TIME_FIELD.get(line[3:6])
    if k is None:
        return None
    f = line.split(b"*")[0].split(b",")
    return f[k] if len(f) > k and f[k] else None


def epochs(data):
    """Split NMEA bytes into receiver epochs: a new epoch starts at a timed sentence with a new time (the
    parser's own epoch rule), untimed sentences stay with the epoch they follow."""
    groups, cur, cur_t = [], [], None
    for line in data.splitlines(keepends=True):
        t = nmea_time(line)
        if t is not None and cur_t is not None and t != cur_t and cur:
            groups.append(b"".join(cur))
            cur = []
        if t is not None:
            cur_t = t
        cur.append(line)
    if cur:
        groups.append(b"".join(cur))
    return groups


def write_provisioning(psram, collar_id, key, rate_ms):
    """The block the dock writes (main.c PROVISIONING BLOCK), into the PSRAM backing file."""
    blk = struct.pack("<IHH32sI", 0x56504353, 1, collar_id, key, rate_ms)
    blk += struct.pack("<I", crc32c(blk))
    with open(psram, "r+b" if os.path.exists(psram) else "w+b") as f:
        f.truncate(16 * 1024 * 1024)
        f.seek(PROV_OFFSET)
        f.write(blk)


class Board:
    """One QEMU run. Inputs are scheduled (at(), feed_epochs()) and written by pump() as their time comes;
    pump() also reads the console and serves extra fds (the e2e radio proxy)."""

    def __init__(self, args, workdir, psram, deadline=None):
        self.psram = psram
        self.args = args
        self.dir = workdir
        self.deadline = deadline if deadline is not None else time.monotonic() + args.timeout
        self.proc = None
        self.lines = []        # every console line so far
        self.partial = b""
        self.socks = {}        # name -> connected socket (gnss, sensor)
        self.pending = {}      # name -> bytes not yet accepted by the socket
        self.sched = []        # heap of (monotonic time, seq, name, bytes)
        self.nsched = 0
        self.listeners = []
        self.extra = {}        # fd -> callback(), called when readable
        self.on_pump = None    # called after every pump turn
        self.want_write = None  # () -> {fd: callback} of extra fds with bytes to write
        self.radio = None      # extra -chardev/-serial for UART3 (e2e); default a file

    def _listen(self, name):
        path = os.path.join(self.dir, name)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.listen(1)
        self.listeners.append(s)
        return s, path

    def start(self, radio_args=None):
        lg, gpath = self._listen("gnss.sock")
        ls, spath = self._listen("sensor.sock")
        self.radio_path = os.path.join(self.dir, "radio.bin")
        machine = ["-M", "mps2-an386,memory-backend=psram", "-object",
                   "memory-backend-file,id=psram,size=16M,share=on,mem-path=" + self.psram]
        cmd = [self.args.qemu] + machine + ["-nographic", "-monitor", "none",
               "-icount", "shift=0", "-kernel", self.args.elf,
               "-serial", "stdio",
               "-chardev", "socket,id=gnss,path=" + gpath, "-serial", "chardev:gnss",
               "-chardev", "socket,id=sensor,path=" + spath, "-serial", "chardev:sensor"]
        cmd += radio_args if radio_args else ["-serial", "file:" + self.radio_path]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, preexec_fn=die_with_parent)
        for name, lst in (("gnss", lg), ("sensor", ls)):
            self.socks[name] = self._accept(lst, name)
            self.socks[name].setblocking(False)
            self.pending[name] = b""

    def _accept(self, lst, what):
        r, _, _ = select.select([lst], [], [], max(0.0, self.deadline - time.monotonic()))
        if not r:
            raise Fail("QEMU did not connect the %s UART: %s" % (what, self._stderr()))
        conn, _ = lst.accept()
        return conn

    def _stderr(self):
        if self.proc and self.proc.poll() is not None:
            return self.proc.stderr.read().decode(errors="replace")
        return "(qemu running)"

    def at(self, t, name, data):
        heapq.heappush(self.sched, (t, self.nsched, name, data))
        self.nsched += 1

    def feed_gnss(self, data):
        self.at(time.monotonic(), "gnss", data)

    def feed_epochs(self, groups, period_s, t0=None):
        """Schedule one epoch every period_s (a receiver's output rate); returns the time of the last."""
        t0 = time.monotonic() if t0 is None else t0
        for k, g in enumerate(groups):
            self.at(t0 + k * period_s, "gnss", g)
        return t0 + (len(groups) - 1) * period_s

    def send_sensor(self, line, t=None):
        self.at(time.monotonic() if t is None else t, "sensor", line.encode() + b"\n")

    def sched_done(self, name="gnss"):
        return not any(n == name for _, _, n, _ in self.sched) and not self.pending.get(name)

    def pump(self, timeout):
        """One turn: due inputs, writable sockets, console lines, extra fds. Returns at most after timeout."""
        now = time.monotonic()
        while self.sched and self.sched[0][0] <= now:
            _, _, name, data = heapq.heappop(self.sched)
            self.pending[name] += data
        if self.sched:
            timeout = min(timeout, max(0.0, self.sched[0][0] - now))
        wfds = [self.socks[n] for n in self.pending if self.pending[n]]
        rfds = [self.proc.stdout] + list(self.extra)
        wextra = self.want_write() if self.want_write else {}
        r, w, _ = select.select(rfds, wfds + list(wextra), [], max(0.0, timeout))
        for sk in w:
            if sk in wextra:
                wextra[sk]()
                continue
            name = [n for n in self.socks if self.socks[n] is sk][0]
            try:
                n = sk.send(self.pending[name][:65536])
                self.pending[name] = self.pending[name][n:]
            except BlockingIOError:
                pass
        for fd in r:
            if fd is self.proc.stdout:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    raise Fail("QEMU exited (rc %s): %s" % (self.proc.wait(), self._stderr()))
                self.partial += chunk
                *done, self.partial = self.partial.split(b"\n")
                for d in done:
                    line = d.decode(errors="replace").rstrip("\r")
                    self.lines.append(line)
                    if self.args.verbose:
                        print("  mcu| " + line, flush=True)
            else:
                self.extra[fd]()
        if self.on_pump:
            self.on_pump()

    def wait_line(self, pattern, start=0):
        """Pump until a console line from index `start` on matches. Returns (index, match). Fails at the
        deadline or if QEMU exits."""
        rx = re.compile(pattern)
        i = start
        while True:
            while i < len(self.lines):
                m = rx.search(self.lines[i])
                if m:
                    return i, m
                i += 1
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise Fail("timeout waiting for /%s/; console tail:\n  %s" % (pattern, "\n  ".join(self.lines[-8:])))
            self.pump(left)

    def wait_until(self, cond, what, poll_s=None):
        """Pump until cond() is true (checked after every event, and every poll_s if given: for state
        outside this process, e.g. a database). Fails at the deadline."""
        while not cond():
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise Fail("timeout waiting for %s; console tail:\n  %s" % (what, "\n  ".join(self.lines[-8:])))
            self.pump(min(left, poll_s) if poll_s else left)

    def power_cut(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for s in list(self.socks.values()) + self.listeners:
            s.close()
        if self.proc is not None:
            self.proc.stdout.close()
            self.proc.stderr.close()


def strip_comments(raw):
    return b"".join(l for l in raw.splitlines(keepends=True) if not l.startswith(b"#"))


def host_decode(args, data, workdir, ref_date=None):
    """`scentrack-collar --decode` of the same bytes; ref_date = the gateway's date when the collar has
    heard from one (it resolves 2-digit years and GPS week rollover the same way)."""
    path = os.path.join(workdir, "host-input.nmea")
    with open(path, "wb") as f:
        f.write(data)
    ref = ["--ref-date", ref_date] if ref_date else []
    out = subprocess.run([args.collar, "--decode"] + ref + [path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=60, check=True).stdout.decode()
    recs = []
    for line in out.splitlines():
        j = json.loads(line)
        alt = j.get("altMSL")
        recs.append({"t": j.get("time", "-"), "mode": j["mode"],
                     "lat": None if "lat" not in j else "%.7f" % j["lat"],
                     "lon": None if "lon" not in j else "%.7f" % j["lon"],
                     "alt": None if alt is None else "%.3f" % alt})
    return recs


FIX_RE = re.compile(r"^FIX seq=(\d+) t=(\S+) lat=(\S+) lon=(\S+)(?: alt=(\S+))?$")
IND_RE = re.compile(r"^IND seq=(\d+) kind=(\d+) src=(\d+)(?: lat=(\S+) lon=(\S+))?(?: fix_ref=(\d+))?$")
J_RE = re.compile(r"^J (\d+) (\w+) (0x[0-9a-f]+)$")


def mcu_fixes(lines):
    recs = []
    for line in lines:
        m = FIX_RE.match(line)
        if m:
            recs.append({"seq": int(m.group(1)), "t": m.group(2), "lat": m.group(3), "lon": m.group(4),
                         "alt": m.group(5)})
    return recs


def kv(line):
    return {k: v for k, v in re.findall(r"(\w+)=(\S+)", line)}


def summary(lines):
    summ = {}
    for line in lines:
        if line.startswith("SUMMARY"):
            summ.update(kv(line))
    return summ


def match_host(got, want, what):
    """Every journaled FIX equals the host's record of the same epoch, in order (a subsequence of the
    host's records with a position: the report period may skip epochs, never reorder or alter them)."""
    pos = [w for w in want if w["lat"] is not None]
    k = 0
    for g in got:
        while k < len(pos) and pos[k]["t"] != g["t"]:
            k += 1
        if k == len(pos):
            raise Fail("%s: journaled FIX seq %d (t=%s) is not a host record (or out of order)" %
                       (what, g["seq"], g["t"]))
        w = pos[k]
        for f in ("lat", "lon", "alt"):
            if g[f] != w[f]:
                raise Fail("%s: FIX seq %d field %s: MCU %r, host %r" % (what, g["seq"], f, g[f], w[f]))
        k += 1


def provision(args, workdir, rate_ms, collar_id=1, key=None):
    psram = os.path.join(workdir, "psram.img")
    write_provisioning(psram, collar_id, key if key is not None else os.urandom(32), rate_ms)
    return psram


def run_fixes(args, log, workdir):
    groups = epochs(strip_comments(open(log, "rb").read()))[:MAX_EPOCHS]
    data = b"".join(groups)
    want = host_decode(args, data, workdir)
    b = Board(args, workdir, provision(args, workdir, args.rate_ms))
    try:
        b.start()
        b.wait_line(r"^PROV provisioned collar_id=1 rate_ms=%d$" % args.rate_ms)
        b.wait_line(r"^READY")
        b.feed_epochs(groups, args.epoch_ms / 1000.0)
        i, _ = b.wait_line(r"^SUMMARY gnss_bytes=%d " % len(data))
        b.wait_line(r"^SUMMARY stack_used=", i)
    finally:
        b.stop()
    got = mcu_fixes(b.lines)
    summ = summary(b.lines)
    n_pos = sum(1 for w in want if w["lat"] is not None)
    if int(summ["records"]) != len(want):
        raise Fail("%s: MCU parser gave %s records, host --decode %d" % (log, summ["records"], len(want)))
    if int(summ["no_pos"]) != len(want) - n_pos:
        raise Fail("%s: %s records without position, host %d" % (log, summ["no_pos"], len(want) - n_pos))
    if int(summ["journaled_fix"]) != len(got) or len(got) + int(summ["rate_skip"]) != n_pos:
        raise Fail("%s: %d FIX lines, journaled_fix=%s rate_skip=%s, host records with a position %d" %
                   (log, len(got), summ["journaled_fix"], summ["rate_skip"], n_pos))
    if n_pos and not got:
        raise Fail("%s: nothing journaled" % log)
    if [g["seq"] for g in got] != list(range(1, len(got) + 1)):
        raise Fail("%s: rec_seq not 1..%d" % (log, len(got)))
    match_host(got, want, log)
    for key in ("fix_encode_err", "journal_err", "gnss_rx_overrun"):
        if int(summ[key]) != 0:
            raise Fail("%s: SUMMARY %s=%s" % (log, key, summ[key]))
    print("%s: %d records as the host's; %d journaled FIXes equal to the host's, %s skipped by the %d ms "
          "report period; insn per NMEA line %s (max %s), per frame %s (max %s, %s frames); stack %s/%s B" %
          (os.path.basename(log), len(want), len(got), summ["rate_skip"], args.rate_ms, summ["line_insn_mean"],
           summ["line_insn_max"], summ["frame_insn_mean"], summ["frame_insn_max"], summ["frame_n"],
           summ["stack_used"], summ["stack_size"]))


def run_reboot(args, log, workdir, command, kind):
    data = strip_comments(open(log, "rb").read())
    b = Board(args, workdir, provision(args, workdir, args.rate_ms))
    try:
        b.start()
        b.wait_line(r"^READY")
        b.feed_epochs(epochs(data), args.epoch_ms / 1000.0)
        i, _ = b.wait_line(r"^SUMMARY gnss_bytes=%d " % len(data))
        i, _ = b.wait_line(r"^SUMMARY stack_used=", i)
        before = mcu_fixes(b.lines)
        if not before:
            raise Fail("%s: nothing journaled before the %s" % (log, command))
        last = before[-1]
        b.send_sensor(command)
        i, m = b.wait_line(r"^BOOT .* boot=2 warm faults=1$", i)
        i, m = b.wait_line(r"^FAULT (\w+) pc=(0x[0-9a-f]+) ", i)
        if m.group(1) != kind:
            raise Fail("fault record says %s, expected %s" % (m.group(1), kind))
        pc = int(m.group(2), 16)
        syms = subprocess.run([args.nm, "-S", "-C", args.elf], stdout=subprocess.PIPE, check=True).stdout.decode()
        where = [l.split()[3] for l in syms.splitlines() if len(l.split()) == 4 and
                 int(l.split()[0], 16) <= (pc & ~1) < int(l.split()[0], 16) + int(l.split()[1], 16)]
        i, m2 = b.wait_line(r"^FAULT cfsr=(0x[0-9a-f]+) hfsr=(0x[0-9a-f]+)", i)
        i, j = b.wait_line(r"^JOURNAL boot_id=(\d+) next_seq=(\d+) records=(\d+)", i)
        i, n = b.wait_line(r"^JOURNAL newest seq=(\d+) type=FIX t=(\S+) lat=(\S+) lon=(\S+)", i)
        b.wait_line(r"^READY", i)
    finally:
        b.stop()
    if int(j.group(2)) != last["seq"] + 1 or int(j.group(3)) != last["seq"]:
        raise Fail("journal after reboot: next_seq %s records %s, expected %d and %d" %
                   (j.group(2), j.group(3), last["seq"] + 1, last["seq"]))
    if (int(n.group(1)), n.group(2), n.group(3), n.group(4)) != (last["seq"], last["t"], last["lat"], last["lon"]):
        raise Fail("newest journal record %s differs from the last FIX before the reset %r" % (n.groups(), last))
    if kind == "hardfault":
        cfsr, hfsr = int(m2.group(1), 16), int(m2.group(2), 16)
        if not (hfsr & (1 << 30)) or not (cfsr & (1 << 16)):
            raise Fail("HardFault record: expected HFSR.FORCED and CFSR.UNDEFINSTR, got %#x %#x" % (hfsr, cfsr))
        if where != ["deliberate_fault"] and where != ["sensor_line"]:
            raise Fail("fault PC %#x is in %r, expected the deliberate fault" % (pc, where))
    elif not where:
        raise Fail("watchdog PC %#x is not inside the image" % pc)
    print("%s: %s recorded (pc %#x in %s), warm reboot, journal kept %s records up to seq %d (%s)" %
          (command, kind, pc, where[0] if where else "?", j.group(3), last["seq"], os.path.basename(log)))


def run_powercycle(args, log1, log2, workdir):
    psram = provision(args, workdir, args.rate_ms)
    runs = []
    for k, log in enumerate((log1, log2)):
        data = strip_comments(open(log, "rb").read())
        wd = os.path.join(workdir, "run%d" % k)
        os.mkdir(wd)
        b = Board(args, wd, psram)
        try:
            b.start()
            i, j = b.wait_line(r"^JOURNAL boot_id=(\d+) next_seq=(\d+) records=(\d+)")
            i, _ = b.wait_line(r"^READY", i)
            b.feed_epochs(epochs(data), args.epoch_ms / 1000.0)
            i, _ = b.wait_line(r"^SUMMARY gnss_bytes=%d " % len(data), i)
            b.wait_line(r"^SUMMARY stack_used=", i)
            b.power_cut()
        finally:
            b.stop()
        boot = [l for l in b.lines if l.startswith("BOOT ")]
        newest = [l for l in b.lines if l.startswith("JOURNAL newest")]
        runs.append((boot, j, newest, mcu_fixes(b.lines)))
    (boot1, j1, _, recs1), (boot2, j2, newest2, recs2) = runs
    if not recs1 or not recs2:
        raise Fail("powercycle: both logs must give journaled fixes")
    if len(boot2) != 1 or " cold " not in boot2[0]:
        raise Fail("powercycle: second QEMU must boot cold (new RAM), got %r" % boot2)
    last = recs1[-1]
    if (int(j2.group(1)), int(j2.group(2)), int(j2.group(3))) != (int(j1.group(1)) + 1, last["seq"] + 1, last["seq"]):
        raise Fail("powercycle: journal after the cut %s, expected boot_id %d next_seq %d records %d" %
                   (j2.groups(), int(j1.group(1)) + 1, last["seq"] + 1, last["seq"]))
    want = "JOURNAL newest seq=%d type=FIX t=%s lat=%s lon=%s" % (last["seq"], last["t"], last["lat"], last["lon"])
    if newest2 != [want]:
        raise Fail("powercycle: newest record after the cut %r, expected %r" % (newest2, want))
    if [r["seq"] for r in recs2] != list(range(last["seq"] + 1, last["seq"] + 1 + len(recs2))):
        raise Fail("powercycle: rec_seq after the cut does not continue at %d" % (last["seq"] + 1))
    print("powercycle: %d records journaled, QEMU killed, new QEMU booted cold on the same PSRAM file and found "
          "them all (newest seq %d); the next run journaled seq %d..%d" %
          (len(recs1), last["seq"], recs2[0]["seq"], recs2[-1]["seq"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qemu", default="qemu-system-arm")
    ap.add_argument("--nm", default="arm-none-eabi-nm")
    ap.add_argument("--elf", required=True)
    ap.add_argument("--collar", help="host scentrack-collar (fixes scenario)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per QEMU run")
    ap.add_argument("--rate-ms", type=int, default=50, help="provisioned FIX report period")
    ap.add_argument("--epoch-ms", type=int, default=100, help="receiver epoch period of the replay")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("scenario", choices=["fixes", "fault", "watchdog", "powercycle"])
    ap.add_argument("logs", nargs="+")
    args = ap.parse_args()
    stop_on_sigterm()
    if shutil.which(args.qemu) is None:
        print("qemu-system-arm not found")
        return 1
    workroot = tempfile.mkdtemp(prefix="scentrack-mcu-")
    try:
        if args.scenario == "powercycle":
            if len(args.logs) != 2:
                print("powercycle needs two logs")
                return 1
            run_powercycle(args, args.logs[0], args.logs[1], workroot)
            return 0
        for k, log in enumerate(args.logs):
            wd = os.path.join(workroot, str(k))
            os.mkdir(wd)
            if args.scenario == "fixes":
                run_fixes(args, log, wd)
            elif args.scenario == "fault":
                run_reboot(args, log, wd, "FAULT", "hardfault")
            else:
                run_reboot(args, log, wd, "HANG", "watchdog")
    except (Fail, subprocess.SubprocessError, OSError) as e:
        print("FAIL: %s" % e)
        return 1
    finally:
        shutil.rmtree(workroot, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

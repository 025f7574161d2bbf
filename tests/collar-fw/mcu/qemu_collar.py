#!/usr/bin/python3
"""
qemu_collar.py — boot the collar's MCU image in qemu-system-arm -M mps2-an386 and check what it does.

The board's four UARTs (collar-fw/boards/mps2-an386/board.h):
  UART0 console -> QEMU's stdout (a pipe read here, line by line)
  UART1 GNSS    <- a Unix socket this script listens on; QEMU connects; the NMEA log is written into it
  UART2 sensor  <- a Unix socket too: command lines (FAULT, HANG, STATUS)
  UART3 radio   -> a file: COBS frames, checked here (CRC-32C, HMAC tag with the development key, FIX body)

Scenarios (each bounded by --timeout; QEMU is always killed at the end, whatever happens):
  fixes LOG...  for each gpsd log: boot, feed the log (comment lines stripped, as the host's --decode does),
                wait for the SUMMARY that ends the burst, then require the MCU's records to equal
                `scentrack-collar --decode LOG` (same count, time, mode, lat, lon, alt), every record with a
                position journaled and sent as a valid authenticated frame, no UART overrun.
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
import hashlib
import hmac
import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

DEV_KEY = b"scentrack-dev-key-unprovisioned\x00"  # main.c dev_key: 31 chars + NUL
PROTO_T_FIX = 0x02


class Fail(Exception):
    pass


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def cobs_decode(s):
    out = bytearray()
    i = 0
    while i < len(s):
        code = s[i]
        if code == 0 or i + code > len(s):
            raise Fail("radio: bad COBS code at %d" % i)
        out += s[i + 1:i + code]
        i += code
        if code < 0xFF and i < len(s):
            out.append(0)
    return bytes(out)


def fmt_fixed(v, dec):
    a = abs(v)
    return "%s%d.%0*d" % ("-" if v < 0 else "", a // 10 ** dec, dec, a % 10 ** dec)


def utc_iso(t_ms):
    secs, ms = divmod(t_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + ".%03dZ" % ms


class Board:
    def __init__(self, args, workdir, psram=None):
        self.psram = psram
        self.args = args
        self.dir = workdir
        self.deadline = time.monotonic() + args.timeout
        self.proc = None
        self.lines = []        # every console line so far
        self.partial = b""
        self.gnss = None
        self.sensor = None
        self.pending = b""     # GNSS bytes not yet accepted by the socket
        self.listeners = []

    def _listen(self, name):
        path = os.path.join(self.dir, name)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.listen(1)
        self.listeners.append(s)
        return s, path

    def start(self):
        lg, gpath = self._listen("gnss.sock")
        ls, spath = self._listen("sensor.sock")
        self.radio_path = os.path.join(self.dir, "radio.bin")
        machine = ["-M", "mps2-an386"]
        if self.psram:
            machine = ["-M", "mps2-an386,memory-backend=psram", "-object",
                       "memory-backend-file,id=psram,size=16M,share=on,mem-path=" + self.psram]
        cmd = [self.args.qemu] + machine + ["-nographic", "-monitor", "none",
               "-icount", "shift=0", "-kernel", self.args.elf,
               "-serial", "stdio",
               "-chardev", "socket,id=gnss,path=" + gpath, "-serial", "chardev:gnss",
               "-chardev", "socket,id=sensor,path=" + spath, "-serial", "chardev:sensor",
               "-serial", "file:" + self.radio_path]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.gnss = self._accept(lg, "GNSS")
        self.sensor = self._accept(ls, "sensor")
        self.gnss.setblocking(False)

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

    def feed_gnss(self, data):
        self.pending += data

    def send_sensor(self, line):
        self.sensor.sendall(line.encode() + b"\n")

    def wait_line(self, pattern, start=0):
        """Pump GNSS bytes and read the console until a line from index `start` on matches. Returns
        (index, match). Fails at the deadline or if QEMU exits."""
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
            wfds = [self.gnss] if self.pending else []
            r, w, _ = select.select([self.proc.stdout], wfds, [], left)
            if w:
                try:
                    n = self.gnss.send(self.pending[:65536])
                    self.pending = self.pending[n:]
                except BlockingIOError:
                    pass
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    raise Fail("QEMU exited (rc %s): %s" % (self.proc.wait(), self._stderr()))
                self.partial += chunk
                *done, self.partial = self.partial.split(b"\n")
                for d in done:
                    line = d.decode(errors="replace").rstrip("\r")
                    self.lines.append(line)
                    if self.args.verbose:
                        print("  mcu| " + line)

    def power_cut(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for s in [self.gnss, self.sensor] + self.listeners:
            if s is not None:
                s.close()
        if self.proc is not None:
            self.proc.stdout.close()
            self.proc.stderr.close()


def strip_comments(raw):
    return b"".join(l for l in raw.splitlines(keepends=True) if not l.startswith(b"#"))


def host_decode(args, log):
    out = subprocess.run([args.collar, "--decode", log], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
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


FIX_RE = re.compile(r"^FIX (\d+) t=(\S+) mode=(\d)(?: lat=(\S+) lon=(\S+))?(?: alt=(\S+))?(?: seq=(\d+))?$")


def mcu_records(lines):
    recs = []
    for line in lines:
        m = FIX_RE.match(line)
        if m:
            recs.append({"t": m.group(2), "mode": int(m.group(3)), "lat": m.group(4), "lon": m.group(5),
                         "alt": m.group(6), "seq": None if m.group(7) is None else int(m.group(7))})
    return recs


def kv(line):
    return {k: v for k, v in re.findall(r"(\w+)=(\S+)", line)}


def check_radio(path, recs, boot_id):
    """Every journaled record went out as one frame: CRC, HMAC tag, header and FIX body must match."""
    import msgpack
    raw = open(path, "rb").read()
    frames = [cobs_decode(f) for f in raw.split(b"\x00") if f]
    sent = [r for r in recs if r["seq"] is not None]
    if len(frames) != len(sent):
        raise Fail("radio: %d frames for %d journaled records" % (len(frames), len(sent)))
    prev_link = None
    for f, r in zip(frames, sent):
        if crc32c(f[:-4]) != int.from_bytes(f[-4:], "little"):
            raise Fail("radio: CRC-32C mismatch in frame of seq %d" % r["seq"])
        ver_flags, typ = f[0], f[1]
        collar, link_seq, fboot = (int.from_bytes(f[i:i + 2], "little") for i in (2, 4, 6))
        if ver_flags != 0x11 or typ != PROTO_T_FIX or collar != 1 or fboot != boot_id:
            raise Fail("radio: header %02x %02x collar %d boot %d" % (ver_flags, typ, collar, fboot))
        if prev_link is not None and link_seq != (prev_link + 1) & 0xFFFF:
            raise Fail("radio: link_seq %d after %d" % (link_seq, prev_link))
        prev_link = link_seq
        body, tag = f[8:-12], f[-12:-4]
        if not hmac.compare_digest(hmac.new(DEV_KEY, f[:-12], hashlib.sha256).digest()[:8], tag):
            raise Fail("radio: HMAC tag mismatch in frame of seq %d" % r["seq"])
        m = msgpack.unpackb(body, strict_map_key=False)
        got_t = utc_iso(m[2]) if 2 in m else "-"
        if m[1] != r["seq"] or fmt_fixed(m[4], 7) != r["lat"] or fmt_fixed(m[5], 7) != r["lon"] or \
                (2 in m and got_t != r["t"]):
            raise Fail("radio: frame body %r does not match console record %r" % (m, r))
    return len(frames)


def run_fixes(args, log, workdir):
    data = strip_comments(open(log, "rb").read())
    want = host_decode(args, log)
    b = Board(args, workdir)
    try:
        b.start()
        _, m = b.wait_line(r"^JOURNAL boot_id=(\d+)")
        boot_id = int(m.group(1))
        b.wait_line(r"^READY")
        b.feed_gnss(data)
        i, _ = b.wait_line(r"^SUMMARY gnss_bytes=%d " % len(data))
        b.wait_line(r"^SUMMARY stack_used=", i)
    finally:
        b.stop()
    got = mcu_records(b.lines)
    if len(got) != len(want):
        raise Fail("%s: MCU printed %d records, host --decode %d" % (log, len(got), len(want)))
    for k, (g, w) in enumerate(zip(got, want)):
        for f in ("t", "mode", "lat", "lon", "alt"):
            if g[f] != w[f]:
                raise Fail("%s: record %d field %s: MCU %r, host %r" % (log, k + 1, f, g[f], w[f]))
        if (g["lat"] is not None) != (g["seq"] is not None):
            raise Fail("%s: record %d: journaled iff it has a position" % (log, k + 1))
    summ = {}
    for line in b.lines:
        if line.startswith("SUMMARY"):
            summ.update(kv(line))
    n_pos = sum(1 for w in want if w["lat"] is not None)
    for key, val in (("records", len(want)), ("journaled", n_pos), ("enc_err", 0), ("journal_err", 0),
                     ("gnss_rx_overrun", 0), ("radio_dropped", 0)):
        if int(summ[key]) != val:
            raise Fail("%s: SUMMARY %s=%s, expected %d" % (log, key, summ[key], val))
    frames = check_radio(b.radio_path, got, boot_id)
    # Work per receiver epoch (1 s at 1 Hz): every line parsed, every fix journaled and framed, every byte's
    # RX interrupt. Instructions, from QEMU's icount; a Cortex-M4 retires about one per cycle (more cycles
    # with flash wait states), so the duty cycle at 64 MHz is given at 1 cycle per instruction.
    per_epoch = (int(summ["line_n"]) * int(summ["line_insn_mean"]) +
                 int(summ["journal_n"]) * int(summ["journal_insn_mean"]) +
                 int(summ["frame_n"]) * int(summ["frame_insn_mean"]) +
                 len(data) * int(summ["gnss_rx_isr_insn_per_byte"])) // max(1, len(got))
    print("%s: %d records equal to the host's, %d journaled and sent as valid frames; insn per NMEA line %s "
          "(max %s), per fix: journal %s (max %s) frame %s (max %s), RX ISR per byte %s; per 1 Hz epoch %d insn "
          "= %.3f %% of a 64 MHz M4; stack %s/%s B" %
          (os.path.basename(log), len(got), frames, summ["line_insn_mean"], summ["line_insn_max"],
           summ["journal_insn_mean"], summ["journal_insn_max"], summ["frame_insn_mean"], summ["frame_insn_max"],
           summ["gnss_rx_isr_insn_per_byte"], per_epoch, per_epoch / 64e6 * 100, summ["stack_used"],
           summ["stack_size"]))


def run_reboot(args, log, workdir, command, kind):
    data = strip_comments(open(log, "rb").read())
    b = Board(args, workdir)
    try:
        b.start()
        b.wait_line(r"^READY")
        b.feed_gnss(data)
        i, _ = b.wait_line(r"^SUMMARY gnss_bytes=%d " % len(data))
        i, _ = b.wait_line(r"^SUMMARY stack_used=", i)
        before = mcu_records(b.lines)
        last = [r for r in before if r["seq"] is not None][-1]
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
        i, n = b.wait_line(r"^JOURNAL newest seq=(\d+) t=(\S+) lat=(\S+) lon=(\S+)", i)
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
    psram = os.path.join(workdir, "psram.img")
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
            b.feed_gnss(data)
            i, _ = b.wait_line(r"^SUMMARY gnss_bytes=%d " % len(data), i)
            b.wait_line(r"^SUMMARY stack_used=", i)
            b.power_cut()
        finally:
            b.stop()
        boot = [l for l in b.lines if l.startswith("BOOT ")]
        newest = [l for l in b.lines if l.startswith("JOURNAL newest")]
        runs.append((boot, j, newest, [r for r in mcu_records(b.lines) if r["seq"] is not None]))
    (boot1, j1, _, recs1), (boot2, j2, newest2, recs2) = runs
    if not recs1 or not recs2:
        raise Fail("powercycle: both logs must give journaled fixes")
    if len(boot2) != 1 or " cold " not in boot2[0]:
        raise Fail("powercycle: second QEMU must boot cold (new RAM), got %r" % boot2)
    last = recs1[-1]
    if (int(j2.group(1)), int(j2.group(2)), int(j2.group(3))) != (int(j1.group(1)) + 1, last["seq"] + 1, last["seq"]):
        raise Fail("powercycle: journal after the cut %s, expected boot_id %d next_seq %d records %d" %
                   (j2.groups(), int(j1.group(1)) + 1, last["seq"] + 1, last["seq"]))
    want = "JOURNAL newest seq=%d t=%s lat=%s lon=%s" % (last["seq"], last["t"], last["lat"], last["lon"])
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
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("scenario", choices=["fixes", "fault", "watchdog", "powercycle"])
    ap.add_argument("logs", nargs="+")
    args = ap.parse_args()
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

#!/usr/bin/python3
"""
qemu_e2e.py — the collar's MCU image, booted in qemu-system-arm -M mps2-an386, talking over its radio UART to
the real scentrack-gateway, which delivers over ZeroMQ+CURVE to the real scentrack-core.

    qemu_e2e.py --qemu Q --elf IMAGE --collar scentrack-collar --gateway scentrack-gateway
                --core scentrack-core [--shim ioctl_shim.so] LOG

  GNSS    the gpsd log (comments stripped) on UART1, one receiver epoch every --epoch-ms
  sensor  a scripted indication on UART2: handler button "B 1" / "B 0" (twice: once before and once during
          the radio cut); the collar journals each as an IND with the latest fix's position. Also 25
          accelerometer samples (all parsed) and one malformed line (counted and reported)
  radio   UART3 is a QEMU chardev socket to this script, which forwards its bytes both ways to the master of
          a pty. The gateway reads the pty through libserialport: the slave is bind-mounted over /dev/ttyS0
          in a private mount namespace (`unshare --mount`) and the gateway runs with LD_PRELOAD=ioctl_shim.so
          (the trick of tests/gateway/pty/radio_harness.c, which explains it). Without root or without
          /dev/ttyS0 the gateway gets the pty through the termios link kind instead (printed; both are real
          gateway code paths, only the serial one goes through libserialport).
  cut     from epoch --cut-from to --cut-to the forwarder drops every byte both ways (the collar is out of
          range; NMEA keeps flowing, the collar keeps journaling). Then the link is restored.
  keys    the collar key (random per run) is provisioned into the image's PSRAM provisioning block and the
          gateway's key table; gateway and core get CURVE key pairs from `scentrack-core keygen` and the core
          an allow-list with the gateway's public key.

Asserts: the collar's link comes up (HELLO answered by an authenticated ACK); at the restore, records the
collar journaled during the cut are NOT in the core's store yet (the cut was real); at the end the core's
store holds exactly the records the collar journaled (console "J seq TYPE crc"), each once, FIXes with the
positions of `scentrack-collar --decode` of the same log, both INDs with the position of the FIX they name,
and the collar's journal has no un-acked record left (backlog 0).

Bounded: one global deadline (--timeout); every wait polls its event (console line, the store every 0.2 s)
against it; QEMU, gateway and core are killed in `finally` whatever happens.
"""
import argparse
import os
import re
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import tty

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu_collar as qc  # noqa: E402
from qemu_collar import kv  # noqa: E402

GW_ID = 5
COLLAR_ID = 4242
PROTO_T_FIX, PROTO_T_IND = 2, 4
ACCEL_N = 25


class Fail(qc.Fail):
    pass


class Radio:
    """QEMU's radio chardev <-> pty master, with a switch that drops bytes (the emulated link cut)."""

    def __init__(self, conn, master):
        self.conn, self.master = conn, master
        self.on = True
        self.to_gw, self.to_collar = b"", b""
        self.fwd = [0, 0]      # bytes forwarded collar->gw, gw->collar
        self.dropped = [0, 0]  # bytes dropped by the cut
        conn.setblocking(False)
        os.set_blocking(master, False)

    def from_collar(self):
        try:
            d = self.conn.recv(65536)
        except BlockingIOError:
            return
        if not d:
            raise Fail("QEMU closed the radio chardev")
        if self.on:
            self.to_gw += d
            self.fwd[0] += len(d)
        else:
            self.dropped[0] += len(d)

    def from_gw(self):
        try:
            d = os.read(self.master, 65536)
        except (BlockingIOError, OSError):
            return  # EIO: no slave open right now (gateway reopening)
        if self.on:
            self.to_collar += d
            self.fwd[1] += len(d)
        else:
            self.dropped[1] += len(d)

    def write_collar(self):
        try:
            n = self.conn.send(self.to_collar)
            self.to_collar = self.to_collar[n:]
        except BlockingIOError:
            pass

    def write_gw(self):
        try:
            n = os.write(self.master, self.to_gw)
            self.to_gw = self.to_gw[n:]
        except (BlockingIOError, OSError):
            pass

    def want_write(self):
        w = {}
        if self.to_collar:
            w[self.conn] = self.write_collar
        if self.to_gw:
            w[self.master] = self.write_gw
        return w


def read_until(proc, pattern, deadline, what):
    """A child's stdout line matching pattern (the core's READY), with the deadline."""
    rx = re.compile(pattern)
    buf = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Fail("%s: no line /%s/ in time" % (what, pattern))
        r, _, _ = select.select([proc.stdout], [], [], left)
        if not r:
            continue
        d = os.read(proc.stdout.fileno(), 4096)
        if not d:
            raise Fail("%s exited (rc %s) before /%s/" % (what, proc.wait(), pattern))
        buf += d
        for line in buf.decode(errors="replace").splitlines():
            m = rx.search(line)
            if m:
                return m


def store_state(db):
    if not os.path.exists(db):
        return {}, {}, {}
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
    try:
        recs = con.execute("SELECT rec_seq, type, COUNT(*) FROM records WHERE collar_id = ? GROUP BY rec_seq, type",
                           (COLLAR_ID,)).fetchall()
        fixes = {r[0]: r[1:] for r in con.execute(
            "SELECT rec_seq, t_ms, lat_e7, lon_e7, alt_mm FROM fixes WHERE collar_id = ?", (COLLAR_ID,))}
        inds = {r[0]: r[1:] for r in con.execute(
            "SELECT rec_seq, kind, src, lat_e7, lon_e7, fix_ref FROM indications WHERE collar_id = ?", (COLLAR_ID,))}
    except sqlite3.OperationalError:
        return {}, {}, {}  # schema not created yet
    finally:
        con.close()
    return {(s, t): n for s, t, n in recs}, fixes, inds


def journaled(lines):
    out = {}
    for line in lines:
        m = qc.J_RE.match(line)
        if m:
            out[int(m.group(1))] = {"FIX": PROTO_T_FIX, "IND": PROTO_T_IND}[m.group(2)]
    return out


def e7(s):
    neg = s.startswith("-")
    a, b = s.lstrip("-").split(".")
    v = int(a) * 10 ** 7 + int(b)
    return -v if neg else v


def milli(s):
    """"-12.345" -> -12345 (the console prints mm as metres with 3 decimals)."""
    neg = s.startswith("-")
    a, b = s.lstrip("-").split(".")
    v = int(a) * 1000 + int(b)
    return -v if neg else v


def serial_possible(shim):
    return (shim and os.path.exists(shim) and os.geteuid() == 0 and os.path.exists("/dev/ttyS0") and
            os.path.exists("/sys/class/tty/ttyS0") and shutil.which("unshare") is not None)


def run(args, tmp):
    deadline = time.monotonic() + args.timeout
    procs = []
    errlog = open(os.path.join(tmp, "daemons.log"), "wb")
    board = None
    try:
        # ---- keys
        for who in ("core", "gw"):
            r = subprocess.run([args.core, "keygen", "%s/%s.pub" % (tmp, who), "%s/%s.key" % (tmp, who)],
                               capture_output=True, text=True, timeout=30)
            if r.returncode != 0:
                raise Fail("keygen: %s" % r.stderr)
        gw_pub = open("%s/gw.pub" % tmp).read().strip()
        with open("%s/allow.txt" % tmp, "w") as f:
            f.write("%d %s\n" % (GW_ID, gw_pub))
        collar_key = os.urandom(32)
        with open("%s/collar-keys" % tmp, "w") as f:
            f.write("%d %s\n" % (COLLAR_ID, collar_key.hex()))
        os.chmod("%s/collar-keys" % tmp, 0o600)

        # ---- core
        db = "%s/core.db" % tmp
        with open("%s/core.ini" % tmp, "w") as f:
            f.write("[core]\ndb = %s\nstatus_file = %s/core-status.json\nlog_level = info\n"
                    "[ingest]\nendpoint = tcp://127.0.0.1:*\nsecret_key = %s/core.key\nallow = %s/allow.txt\n"
                    "credit = 8\n[pub]\nendpoint = tcp://127.0.0.1:*\n[snapshot]\nendpoint = tcp://127.0.0.1:*\n"
                    % (db, tmp, tmp, tmp))
        core = subprocess.Popen([args.core, "-N", "-f", "%s/core.ini" % tmp], stdout=subprocess.PIPE,
                                stderr=errlog, stdin=subprocess.DEVNULL, preexec_fn=qc.die_with_parent)
        procs.append(core)
        ingest = read_until(core, r"^READY ingest=(\S+) ", deadline, "scentrack-core").group(1)

        # ---- the radio: pty for the gateway
        master, slave = os.openpty()
        tty.setraw(slave)  # until the gateway configures it: no echo, no line discipline
        slave_path = os.ttyname(slave)
        serial = serial_possible(args.shim)
        link = ("type = serial\npath = /dev/ttyS0\nbaud = 57600\n" if serial else
                "type = tty\npath = %s\nbaud = 57600\n" % slave_path)
        with open("%s/gateway.ini" % tmp, "w") as f:
            f.write("[gateway]\nid = %d\nkeys = %s/collar-keys\nstatus_socket = %s/gw.sock\nstats_interval_s = 0\n"
                    "log_level = info\n[spool]\npath = %s/spool.sqlite\n[link radio0]\n%s"
                    "reopen_min_ms = 20\nreopen_max_ms = 200\n"
                    "[upstream]\nendpoint = %s\nserver_key = %s/core.pub\nsecret_key = %s/gw.key\n"
                    % (GW_ID, tmp, tmp, tmp, link, ingest, tmp, tmp))
        gwcmd = [args.gateway, "-N", "-f", "%s/gateway.ini" % tmp]
        if serial:
            gwcmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                     'mount --bind "$1" /dev/ttyS0 && shim="$2" && shift 2 && exec env LD_PRELOAD="$shim" "$@"',
                     "sh", slave_path, args.shim] + gwcmd
        gw = subprocess.Popen(gwcmd, stdout=errlog, stderr=errlog, stdin=subprocess.DEVNULL,
                              preexec_fn=qc.die_with_parent)
        procs.append(gw)
        print("radio link: %s" % ("libserialport (serial link kind, pty bind-mounted over /dev/ttyS0 in a private "
                                  "mount namespace)" if serial else "termios (tty link kind) on " + slave_path))

        # ---- the collar
        psram = os.path.join(tmp, "psram.img")
        qc.write_provisioning(psram, COLLAR_ID, collar_key, args.rate_ms)
        board = qc.Board(args, tmp, psram, deadline)
        lr = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        rpath = os.path.join(tmp, "radio.sock")
        lr.bind(rpath)
        lr.listen(1)
        board.listeners.append(lr)
        board.start(["-chardev", "socket,id=radio,path=" + rpath, "-serial", "chardev:radio"])
        conn = board._accept(lr, "radio")
        board.socks["radio"] = conn  # closed by stop()
        radio = Radio(conn, master)
        board.extra = {conn: radio.from_collar, master: radio.from_gw,
                       core.stdout: lambda: os.read(core.stdout.fileno(), 65536)}
        board.want_write = radio.want_write

        board.wait_line(r"^PROV provisioned collar_id=%d rate_ms=%d$" % (COLLAR_ID, args.rate_ms))
        i, _ = board.wait_line(r"^READY")
        i, _ = board.wait_line(r"^LINK up", i)
        print("collar link up (HELLO answered with an authenticated ACK) after %.1f s" %
              (args.timeout - (deadline - time.monotonic())))

        # ---- the script: GNSS epochs, two button presses, the cut
        groups = qc.epochs(qc.strip_comments(open(args.log, "rb").read()))
        data = b"".join(groups)
        # the collar has the gateway's UTC from its ACKs (link up): the host decoder gets the same reference
        want = qc.host_decode(args, data, tmp, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        period = args.epoch_ms / 1000.0
        t0 = time.monotonic() + 0.1
        board.feed_epochs(groups, period, t0)
        for k, (press, release) in enumerate(((8, 10), (args.cut_from + 4, args.cut_from + 6))):
            board.send_sensor("B 1", t0 + press * period)
            board.send_sensor("B 0", t0 + release * period)
        # half a second of 50 Hz accelerometer samples (a collar at rest: too short for any indication) and one
        # malformed sample, which must be counted and reported, not taken
        for k in range(ACCEL_N):
            board.send_sensor("A %d %d %d" % (-30 + k % 7, 12, 1000 - k % 5), t0 + 2 * period + k * 0.02)
        board.send_sensor("A 99999 0 0", t0 + 3 * period)
        t_cut, t_restore = t0 + args.cut_from * period, t0 + args.cut_to * period
        cut = {"state": "before"}

        def on_pump():
            now = time.monotonic()
            if cut["state"] == "before" and now >= t_cut:
                cut["state"] = "cut"
                radio.on = False
            elif cut["state"] == "cut" and "j_at_cut" not in cut and now >= t_cut + 1.0:
                # records journaled from here on were sent (if at all) into the cut: one second after it
                # began, the console lines of records journaled (and maybe sent) before it have been read
                cut["j_at_cut"] = set(journaled(board.lines))
            elif cut["state"] == "cut" and now >= t_restore:
                recs, _, _ = store_state(db)
                cut["state"] = "restored"
                cut["j_in_cut"] = set(journaled(board.lines)) - cut["j_at_cut"]
                cut["stored_in_cut"] = {s for s, _ in recs} & cut["j_in_cut"]
                radio.on = True
        board.on_pump = on_pump
        board.wait_until(lambda: cut["state"] == "restored", "the end of the cut", poll_s=0.05)
        if not cut["j_in_cut"]:
            raise Fail("nothing was journaled during the cut")
        if cut["stored_in_cut"]:
            raise Fail("records journaled during the cut reached the core: %s (the cut did not cut)" %
                       sorted(cut["stored_in_cut"]))
        print("cut for %.1f s: %d records journaled meanwhile (from 1 s into it), none of them in the core's store "
              "at the restore; bytes dropped collar->gw %d, gw->collar %d" % (t_restore - t_cut, len(cut["j_in_cut"]),
                                                            radio.dropped[0], radio.dropped[1]))

        # ---- end of the log: the collar closes the epoch (GNSS quiet) and prints its SUMMARY
        i, _ = board.wait_line(r"^SUMMARY gnss_bytes=%d " % len(data), i)
        board.wait_line(r"^SUMMARY stack_used=", i)
        jr = journaled(board.lines)

        def complete():
            recs, _, _ = store_state(db)
            return set(recs) == set(jr.items())
        board.wait_until(complete, "every journaled record in the core's store", poll_s=0.2)
        print("backlog drained: all %d journaled records in the store %.1f s after the restore (the log ended "
              "%.1f s after it)" % (len(jr), time.monotonic() - t_restore, t0 + (len(groups) - 1) * period - t_restore))

        # the collar's journal: every record acked (the last ACK may follow the store's commit; asked at most
        # 5 times a second, so that the asking does not become the collar's workload)
        while True:
            k = len(board.lines)
            board.send_sensor("STATUS")
            _, m = board.wait_line(r"^JOURNAL boot_id=\d+ next_seq=\d+ records=\d+ backlog=(\d+)", k)
            board.wait_line(r"^SUMMARY stack_used=", k)
            if int(m.group(1)) == 0:
                break
            next_ask = time.monotonic() + 0.2
            board.wait_until(lambda: time.monotonic() >= next_ask, "the next STATUS", poll_s=0.2)

        # ---- the store against the collar's console and the host decoder
        recs, sfix, sind = store_state(db)
        jr = journaled(board.lines)
        if set(recs) != set(jr.items()):
            raise Fail("store %s != journal %s" % (sorted(recs), sorted(jr.items())))
        dup = {k: n for k, n in recs.items() if n != 1}
        if dup:
            raise Fail("duplicates in the store: %s" % dup)
        got = qc.mcu_fixes(board.lines)
        qc.match_host(got, want, args.log)
        for g in got:
            t_ms, lat, lon, alt = sfix[g["seq"]]
            if (lat, lon) != (e7(g["lat"]), e7(g["lon"])) or (g["alt"] is not None and alt != milli(g["alt"])):
                raise Fail("store FIX %d %s differs from the collar's %r" % (g["seq"], sfix[g["seq"]], g))
            if g["t"] != "-" and qc.utc_iso(t_ms) != g["t"]:
                raise Fail("store FIX %d time %s, collar %s" % (g["seq"], qc.utc_iso(t_ms), g["t"]))
        inds = [l for l in board.lines if l.startswith("IND seq=")]
        if len(inds) != 2 or len(sind) != 2:
            raise Fail("expected 2 indications, collar journaled %d, store has %d" % (len(inds), len(sind)))
        for seq, (kind, src, lat, lon, fix_ref) in sind.items():
            if kind != 3 or src != 2:
                raise Fail("IND %d: kind %d src %d, expected a handler mark from the button (3, 2)" % (seq, kind, src))
            if fix_ref is None or fix_ref not in sfix or (lat, lon) != sfix[fix_ref][1:3]:
                raise Fail("IND %d at %s,%s: not the position of its FIX %s" % (seq, lat, lon, fix_ref))
        # figures from the summary the collar printed itself when the GNSS stream went quiet (the log, the cut,
        # the drain until then; not the test's STATUS questions)
        k = min(i for i, l in enumerate(board.lines) if l.startswith("SUMMARY gnss_bytes="))
        e = min(i for i, l in enumerate(board.lines) if i > k and l.startswith("SUMMARY stack_used="))
        summ = qc.summary(board.lines[k:e + 1])
        print("collar's summary at the end of the log:\n  " + "\n  ".join(board.lines[k:e + 1]))
        last = qc.summary(board.lines)
        for key, want_n in (("fix_encode_err", 0), ("journal_err", 0), ("rx_bad_tag", 0), ("gnss_rx_overrun", 0),
                            ("sensor_bad", 1), ("accel_in", ACCEL_N), ("button_in", 4)):
            if int(last[key]) != want_n:
                raise Fail("collar SUMMARY %s=%s, expected %d" % (key, last[key], want_n))
        if not any(l == "ERR sensor: bad line 'A 99999 0 0'" for l in board.lines):
            raise Fail("the malformed sensor line was not reported")
        # samples are stamped when read: two that a loaded host delivers in the same millisecond are refused
        # by the classifier (equal times) and counted; that count is reported, not asserted
        print("sensor bus: %s samples parsed, %s refused by the classifier (same-ms arrivals), 1 malformed line "
              "counted and reported, 4 button edges" % (last["accel_in"], last["accel_rejected"]))
        # the gateway's own account at a clean stop: frames verified, none failed authentication
        gw.send_signal(signal.SIGTERM)
        if gw.wait(timeout=max(1.0, deadline - time.monotonic())) != 0:
            raise Fail("scentrack-gateway did not stop cleanly (rc %s)" % gw.returncode)
        errlog.flush()
        st = [l for l in open(os.path.join(tmp, "daemons.log"), errors="replace")
              if "scentrack-gateway: INFO stats:" in l]
        m = re.search(r"frames ok (\d+), crc (\d+), auth (\d+), replay (\d+), malformed (\d+), unknown collar (\d+)",
                      st[-1] if st else "")
        if not m or int(m.group(1)) == 0 or int(m.group(3)) != 0 or int(m.group(6)) != 0:
            raise Fail("gateway stats: %r" % (st[-1] if st else None))
        print("gateway: %s frames verified (HMAC with the provisioned key), %s failed authentication, %s CRC "
              "errors (frames cut in half by the outage)" % (m.group(1), m.group(3), m.group(2)))
        n_ep = len(groups)
        print("store = journal: %d FIXes (equal to scentrack-collar --decode; %d epochs skipped by the %d ms "
              "period), %d INDs at their FIX's position, no duplicate, no loss" %
              (len(sfix), int(summ["rate_skip"]), args.rate_ms, len(sind)))
        print("link: %s frames, %s retransmissions, %s backfill, %s ACKs; radio bytes collar->gw %d gw->collar %d" %
              (summ["tx_frames"], summ["retx"], summ["backfill"], summ["rx_acks"], radio.fwd[0], radio.fwd[1]))
        busy = int(summ["busy_insn"])
        print("costs (instructions, QEMU -icount shift=0): per NMEA line %s (max %s), per frame %s (max %s, %s "
              "frames), per radio rx chunk %s; busy %d insn over %s ms since READY; stack %s/%s B" %
              (summ["line_insn_mean"], summ["line_insn_max"], summ["frame_insn_mean"], summ["frame_insn_max"],
               summ["frame_n"], summ["rx_insn_mean"], busy, summ["since_ready_ms"], last["stack_used"],
               last["stack_size"]))
        # busy covers everything since READY (link-up wait, cut, drain, idle ticks): per second of uptime it is
        # the CPU duty cycle; at --epoch-ms 1000 that is a 1 Hz collar's
        cal = [l for l in board.lines if l.startswith("CAL seal_cobs_insn=")]
        if cal:
            print("frame seal alone (CRC-32C + HMAC-SHA256 + COBS, 60 B body): %s insn" % kv(cal[0])["seal_cobs_insn"])
        print("loop: %s turns, %s sleeps, tick+poll %s times (%s for new work, %s for a due deadline), tick+deadline "
              "%s insn mean, radio polls that found nothing to send %s insn mean (max %s); waiting for transmitters %s "
              "insn (idle, not busy); idle turns %s x %s insn" %
              (summ["turns"], summ["sleeps"], summ["tick_n"], summ["tick_work"], summ["tick_due"],
               summ["tick_insn_mean"], summ["nopoll_insn_mean"], summ["nopoll_insn_max"], summ["txwait_insn"],
               summ["idle_n"], summ["idle_insn_mean"]))
        secs = int(summ["since_ready_ms"]) / 1000.0
        print("duty: %d busy insn per second over %.1f s (one epoch every %d ms) = %.3f %% of a 64 MHz Cortex-M4 "
              "(1 cycle/insn); %d busy insn per epoch" %
              (busy / secs, secs, args.epoch_ms, busy / secs / 64e6 * 100, busy // n_ep))
    finally:
        if board is not None:
            board.stop()
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            if p.stdout:
                p.stdout.close()
        errlog.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qemu", default="qemu-system-arm")
    ap.add_argument("--elf", required=True)
    ap.add_argument("--collar", required=True, help="host scentrack-collar (--decode)")
    ap.add_argument("--gateway", required=True)
    ap.add_argument("--core", required=True)
    ap.add_argument("--shim", help="ioctl_shim.so: the gateway opens the pty through libserialport")
    ap.add_argument("--timeout", type=float, default=150.0, help="global deadline, seconds")
    ap.add_argument("--rate-ms", type=int, default=100, help="provisioned FIX report period (< epoch: host jitter)")
    ap.add_argument("--epoch-ms", type=int, default=250, help="receiver epoch period of the replay")
    ap.add_argument("--cut-from", type=int, default=16, help="epoch at which the radio is cut")
    ap.add_argument("--cut-to", type=int, default=44, help="epoch at which it is restored")
    ap.add_argument("-k", "--keep", action="store_true", help="keep the work directory")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("log")
    args = ap.parse_args()
    qc.stop_on_sigterm()
    tmp = tempfile.mkdtemp(prefix="scentrack-mcu-e2e-")
    try:
        run(args, tmp)
    except (qc.Fail, subprocess.SubprocessError, OSError, KeyError) as e:
        print("FAIL: %s" % e)
        log = os.path.join(tmp, "daemons.log")
        if os.path.exists(log):
            print("daemons' log tail:\n" + "".join(open(log, errors="replace").readlines()[-25:]))
        return 1
    finally:
        if args.keep:
            print("work directory kept: " + tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

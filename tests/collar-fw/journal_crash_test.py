#!/usr/bin/python3
"""Process-level power cuts for the collar journal: SIGKILL journal_crash_tool at random points, thousands of times.

    journal_crash_test.py TOOL WORKDIR [DEFAULT_KILLS]

Environment: SCENTRACK_JOURNAL_KILLS (default DEFAULT_KILLS, else 2000), SCENTRACK_JOURNAL_SEED (default 1).

Each round starts the tool on the same flash file (the host board's file flash: kill -9 is a power cut), reads
a random number of "a <seq>" lines from its stdout (0 = kill during start-up and mount), sends SIGKILL, and then
drains every line the tool managed to print before it died: each one is a promise the journal made. The next
round's tool verifies, before doing anything else, that every promise still holds (printed and not acked =>
present and intact; nothing corrupted or duplicated; boot_id and rec_seq above anything printed) and exits 3
if not. Waiting is only ever on the pipe, never on a clock.
"""
import os
import random
import signal
import subprocess
import sys


def main():
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    tool, workdir = sys.argv[1], sys.argv[2]
    kills = int(os.environ.get("SCENTRACK_JOURNAL_KILLS", sys.argv[3] if len(sys.argv) == 4 else "2000"))
    seed = int(os.environ.get("SCENTRACK_JOURNAL_SEED", "1"))
    rng = random.Random(seed)
    os.makedirs(workdir, exist_ok=True)
    flash = os.path.join(workdir, "flash.bin")
    expect_path = os.path.join(workdir, "expect.txt")
    for stale in (flash, flash + ".new"):
        if os.path.exists(stale):
            os.unlink(stale)

    pending = set()   # printed (append returned 0) and not named by any announced ack: must be present
    ack_cum = 0       # highest cum the tool announced it was about to ack
    sacked = set()    # rec_seqs above ack_cum named by an announced sack bit
    max_boot = 0
    max_seq = 0
    appends = 0
    killed_in_startup = 0

    def parse(line):
        nonlocal ack_cum, max_boot, max_seq, appends
        f = line.split()
        if f[0] == "a":
            s = int(f[1])
            if s <= max_seq:
                raise SystemExit("FAIL: rec_seq %d printed twice or out of order (max so far %d)" % (s, max_seq))
            pending.add(s)
            max_seq = s
            appends += 1
        elif f[0] == "K":
            cum, sack = int(f[1]), int(f[2])
            ack_cum = max(ack_cum, cum)
            for i in range(64):
                if sack >> i & 1:
                    sacked.add(cum + 1 + i)
            # from the moment an ack is announced its records may be reclaimed: no longer promised
            for s in [s for s in pending if s <= ack_cum or s in sacked]:
                pending.discard(s)
            for s in [s for s in sacked if s <= ack_cum]:
                sacked.discard(s)
        elif f[0] in ("boot", "b"):
            b = int(f[1])
            if b <= max_boot:
                raise SystemExit("FAIL: boot_id %d not above %d" % (b, max_boot))
            max_boot = b
        else:
            raise SystemExit("FAIL: unexpected line from the tool: %r" % line)

    def args(extra=()):
        with open(expect_path, "w") as f:
            for s in sorted(pending):
                f.write("%d\n" % s)
        return [tool, flash, "--min-boot", str(max_boot), "--min-next", str(max_seq), "--expect", expect_path,
                *extra]

    for rnd in range(kills):
        want = rng.choice([0, 0, 1, 2, 3]) if rng.random() < 0.1 else rng.randint(1, 300)
        p = subprocess.Popen(args(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=False)
        got = 0
        while got < want:
            line = p.stdout.readline()
            if not line:
                break          # the tool exited on its own: reported below
            if not line.endswith(b"\n"):
                break
            parse(line.decode())
            got += line.startswith(b"a ")
        p.send_signal(signal.SIGKILL)
        # Everything printed before death counts, up to the last complete line. Drain through the same
        # buffered reader readline() used (communicate() would read the raw fd and skip what it buffered).
        rest = p.stdout.read()
        err = p.stderr.read()
        p.wait()
        for line in rest.decode().split("\n")[:-1]:
            parse(line)
        if p.returncode != -signal.SIGKILL:
            sys.stderr.write(err.decode())
            raise SystemExit("FAIL: round %d: the tool exited with %s instead of being killed" % (rnd, p.returncode))
        if want == 0:
            killed_in_startup += 1

    p = subprocess.run(args(["--verify-only"]), capture_output=True)
    if p.returncode != 0:
        sys.stderr.write(p.stderr.decode())
        raise SystemExit("FAIL: final verification exited %d" % p.returncode)
    print("journal crash test: %d SIGKILLs (%d during start-up), %d durable appends printed, last rec_seq %d, "
          "boot_id %d, %d still un-acked at the end: all present and intact"
          % (kills, killed_in_startup, appends, max_seq, max_boot, len(pending)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

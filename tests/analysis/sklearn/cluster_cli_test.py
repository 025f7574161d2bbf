#!/usr/bin/python3
"""Process tests of `scentrack cluster` (and the `scentrack` dispatcher): exit codes, error messages with
line numbers and no stdout on bad input, the --help example, order independence through the CLI, degrees.

usage: cluster_cli_test.py PATH/TO/scentrack        exit 0 = all passed, 1 = a failure (reason on stderr)
"""
import random
import subprocess
import sys

EXE = sys.argv[1] if len(sys.argv) > 1 else "scentrack"
failures = []


def run(args, stdin=""):
    p = subprocess.run([EXE] + args, input=stdin, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def expect(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL " + what, file=sys.stderr)


# dispatcher
rc, out, err = run(["--help"])
expect(rc == 0 and "cluster" in out and "exit status" in out, "scentrack --help lists commands and exit codes")
rc, out, err = run(["-V"])
expect(rc == 0 and out.startswith("scentrack "), "scentrack -V prints the version")
rc, out, err = run(["frobnicate"])
expect(rc == 64 and "unknown command" in err and out == "", "unknown command: 64")
rc, out, err = run([])
expect(rc == 64, "no command: 64")

# cluster --help teaches, and its example is true
rc, out, err = run(["cluster", "--help"])
expect(rc == 0 and "example" in out and "EX_" not in err, "cluster --help exits 0 with an example")
lines = out.splitlines()
i = next(k for k, l in enumerate(lines) if l.strip().startswith("printf 'id,x_mm,y_mm"))
cmd = lines[i].strip()
data = cmd.split("'")[1].encode().decode("unicode_escape")
want = [lines[i + 1].strip(), lines[i + 2].strip(), lines[i + 3].strip()]
rc, out, err = run(["cluster", "--eps-mm", "1000", "--min-pts", "2"], data)
expect(rc == 0 and out.split() == want, f"the --help example prints what it says: {out.split()} vs {want}")

# usage errors: 64
for args, what in [(["cluster"], "missing --eps-mm/--min-pts"),
                   (["cluster", "-e", "0", "-k", "2"], "eps 0"),
                   (["cluster", "-e", "1000", "-k", "70000"], "min_pts too big"),
                   (["cluster", "-e", "1000", "-k", "2", "--deg", "--mm"], "--deg and --mm"),
                   (["cluster", "-e", "1000", "-k", "2", "--nope"], "unknown option"),
                   (["cluster", "-e", "1000", "-k", "2", "a", "b"], "two files")]:
    rc, out, err = run(args, "1,0,0\n")
    expect(rc == 64 and out == "" and "scentrack cluster:" in err, f"usage error ({what}): 64, got {rc}")

rc, out, err = run(["cluster", "-e", "1000", "-k", "2", "/nonexistent/x.csv"])
expect(rc == 66 and out == "" and "/nonexistent/x.csv" in err, "missing file: 66")

# data errors: 65, message names the line, nothing on stdout
good = "id,x_mm,y_mm\n1,0,0\n2,500,0\n"
bad_rows = [
    ("3,1.5,0\n", 4, "not an integer number of millimetres"),
    ("3,abc,0\n", 4, "x_mm"),
    ("3,0\n", 4, "3 comma-separated fields"),
    ("3,0,0,0\n", 4, "3 comma-separated fields"),
    ("-3,0,0\n", 4, "id"),
    ("18446744073709551615,0,0\n", 4, "too large"),
    ("99999999999999999999999,0,0\n", 4, "too large"),
    ("3,3000000000,0\n", 4, "out of range"),
    ("1,7,7\n", 4, "duplicate id 1 (first on line 2)"),
    ("3,0," + "9" * 2000 + "\n", 4, "longer than"),
    ("3,0\x00,0\n", 4, "NUL"),
]
for extra, line, msg in bad_rows:
    rc, out, err = run(["cluster", "-e", "1000", "-k", "2"], good + extra)
    expect(rc == 65 and out == "" and f":{line}:" in err and msg in err,
           f"bad row {extra[:30]!r}: want 65, line {line}, '{msg}'; got {rc} {err.strip()!r}")
rc, out, err = run(["cluster", "-e", "1000", "-k", "2"], "id,east,north\n1,0,0\n")
expect(rc == 65 and ":1:" in err and "header" in err, "unknown header: 65 on line 1")
rc, out, err = run(["cluster", "-e", "1000", "-k", "2", "--deg"], "1,91.0,0\n")
expect(rc == 65 and "lat" in err, "latitude out of range: 65")
rc, out, err = run(["cluster", "-e", "1000", "-k", "2", "--deg"], "1,10,nan\n")
expect(rc == 65 and "lon" in err, "nan longitude: 65")

# comments, blank lines, CRLF, spaces; --header
rc, out, err = run(["cluster", "-e", "1000", "-k", "2", "--header"], "# survey 7\r\n\r\nid, x_mm, y_mm\r\n 5 , 0 , 0 \r\n6,1000,0\r\n")
expect(rc == 0 and out == "id,cluster_id,is_core\n5,5,1\n6,5,1\n", f"tolerant parsing: {out!r} {err!r}")
rc, out, err = run(["cluster", "-e", "1000", "-k", "2"], "")
expect(rc == 0 and out == "", "empty input: no output, 0")

# order independence through the CLI, both implementations
rnd = random.Random(5)
pts = []
for c in range(60):
    cx, cy = rnd.randint(-30000, 30000), rnd.randint(-30000, 30000)
    for _ in range(rnd.randint(1, 6)):
        pts.append((cx + rnd.randint(-900, 900), cy + rnd.randint(-900, 900)))
rows = [f"{rnd.randrange(10**12)*1000 + i},{x},{y}" for i, (x, y) in enumerate(pts)]
ref = None
for s in range(12):
    rnd.shuffle(rows)
    for extra in ([], ["--batch"]):
        rc, out, err = run(["cluster", "-e", "1000", "-k", "3"] + extra, "\n".join(rows) + "\n")
        expect(rc == 0, f"shuffle {s}: rc {rc} {err}")
        if ref is None:
            ref = out
            expect(len(out.splitlines()) == len(rows) and ",-1,0" in out and ",1\n" in out,
                   "shuffled data has clusters and noise")
        expect(out == ref, f"shuffle {s} {extra}: output differs")

# degrees: 0.5 m and 1.5 m apart along the meridian at 19° S (1e-5 deg of latitude ≈ 1.1066 m there)
deg = "id,lat,lon\n1,-19.000000,35.0\n2,-19.0000045,35.0\n3,-19.0000180,35.0\n4,-19.0000190,35.0\n"
rc, out, err = run(["cluster", "-e", "1000", "-k", "2", "--stats"], deg)
expect(rc == 0 and out == "1,1,1\n2,1,1\n3,3,1\n4,3,1\n", f"degrees: {out!r} {err!r}")
rc, out, err = run(["cluster", "-e", "1000", "-k", "2", "--deg"], deg.split("\n", 1)[1])
expect(rc == 0 and out == "1,1,1\n2,1,1\n3,3,1\n4,3,1\n", "degrees via --deg")
rc, out, err = run(["cluster", "-e", "1000", "-k", "2"], "id,lat,lon\n1,0,-179.9\n2,0,179.9\n")
expect(rc == 65 and "antimeridian" in err, "antimeridian refused")

print(f"cluster CLI: {'all passed' if not failures else str(len(failures)) + ' failed'}")
sys.exit(1 if failures else 0)

#!/usr/bin/python3
"""Interop test of proto/msg.h against python3-msgpack, a msgpack implementation nobody here wrote.

Usage: msgpack_peer.py <path to msgtool> [seed] [n]

1. Every body our C encoder produces (n seeded random messages of every type) must unpack with
   msgpack.unpackb to exactly the values the C struct holds (printed by msgtool from the field table, not by
   the encoder). FIXB is rebuilt here from its columns and deltas by an independent implementation of the
   format in proto/msg.h, and re-encoded by an independent encoder: the bytes must be identical.
2. msgpack.packb of those values (same key order, and every map's key order reversed) must be accepted by
   our decoder with the same values; so must messages constructed here from the documented ranges.
3. A few hostile bodies built here must be refused with their specific error code.

Exits non-zero on any mismatch and prints a count summary.
"""
import json
import random
import subprocess
import sys

import msgpack

T = dict(HELLO=0x01, FIX=0x02, FIXB=0x03, IND=0x04, STATUS=0x05, CMD_ACK=0x06, ACK=0x10, CMD=0x11,
         LOG_LIST=0x20, LOG_READ=0x21, LOG_DATA=0x22, LOG_TRIM=0x23, PROVISION=0x24, BATCH=0x30,
         BATCH_ACK=0x31, CREDIT=0x32)

# --- FIXB, written from the format description in proto/msg.h ---------------------------------------
SECOND_DIFF = {2, 3, 4, 5, 6}  # t, t_mono, lat, lon, alt
COG = 14
FIX_KEYS = range(1, 16)


def _predict(key, hist):
    if key in SECOND_DIFF and len(hist) >= 2:
        return 2 * hist[-1] - hist[-2]
    return hist[-1] if hist else 0


def _zigzag(d):
    return 2 * d if d >= 0 else -2 * d - 1


def _unzigzag(z):
    return z >> 1 if z % 2 == 0 else -(z >> 1) - 1


def _unpack(cols, n, bits, pk):
    """bits + pk -> the flat list of deltas (packed form: 2*len(cols) widths, row 1 then rows 2..)."""
    if len(bits) != 2 * len(cols):
        raise ValueError("bits length")
    acc, pos, vals = int.from_bytes(pk, "little"), 0, []
    for i in range(1, n):
        for c in range(len(cols)):
            w = bits[c if i == 1 else len(cols) + c]
            vals.append(_unzigzag((acc >> pos) & ((1 << w) - 1)))
            pos += w
    if len(pk) != (pos + 7) // 8 or acc >> pos:
        raise ValueError("pk length or padding")
    return vals


def fixb_decode(obj):
    base, n, cols = obj[1], obj[2], obj[3]
    vals = obj[4] if 4 in obj else _unpack(cols, n, obj[5], obj[6])
    if len(vals) != (n - 1) * len(cols):
        raise ValueError("vals length")
    fixes = [dict(base)]
    hist = {c: ([base[c]] if c in base else []) for c in cols}
    for i in range(1, n):
        f = dict(base)
        if 1 not in cols:
            f[1] = base[1] + i
        row = vals[(i - 1) * len(cols):i * len(cols)]
        for c, d in zip(cols, row):
            if d is None:
                f.pop(c, None)
                continue
            v = _predict(c, hist[c]) + d
            if c == COG:
                v %= 36000
            f[c] = v
            hist[c].append(v)
        fixes.append(f)
    return fixes


def fixb_encode(fixes):
    base = fixes[0]
    cols = []
    for k in FIX_KEYS:
        if k == 1:
            varies = any(f[1] != base[1] + i for i, f in enumerate(fixes))
        else:
            varies = any(f.get(k) != base.get(k) for f in fixes[1:])
        if varies:
            cols.append(k)
    hist = {c: ([base[c]] if c in base else []) for c in cols}
    vals = []
    for f in fixes[1:]:
        for c in cols:
            if c not in f:
                vals.append(None)
                continue
            d = f[c] - _predict(c, hist[c])
            if c == COG:
                d = (d + 18000) % 36000 - 18000
            vals.append(d)
            hist[c].append(f[c])
    plain = {1: dict(sorted(base.items())), 2: len(fixes), 3: cols, 4: vals}
    if None in vals:
        return plain
    nc = len(cols)
    bits = [0] * (2 * nc)
    for j, d in enumerate(vals):
        w = (j % nc) + (0 if j < nc else nc)
        bits[w] = max(bits[w], _zigzag(d).bit_length())
    acc = pos = 0
    for j, d in enumerate(vals):
        acc |= _zigzag(d) << pos
        pos += bits[(j % nc) + (0 if j < nc else nc)]
    packed = {1: plain[1], 2: plain[2], 3: cols, 5: bits, 6: acc.to_bytes((pos + 7) // 8, "little")}
    return packed if len(msgpack.packb(packed)) < len(msgpack.packb(plain)) else plain


# --- values: JSON from msgtool -> python values ------------------------------------------------------
def from_json(v):
    if isinstance(v, dict):
        if set(v) == {"bin"}:
            return bytes.fromhex(v["bin"])
        if set(v) == {"fixes"}:
            return {"fixes": [from_json(f) for f in v["fixes"]]}
        return {int(k): from_json(x) for k, x in v.items()}
    if isinstance(v, list):
        return [from_json(x) for x in v]
    return v


def reverse_maps(v):
    """The same values with every map's key order reversed (our decoder must not care)."""
    if isinstance(v, dict):
        return {k: reverse_maps(v[k]) for k in reversed(list(v))}
    if isinstance(v, list):
        return [reverse_maps(x) for x in v]
    return v


# --- messages constructed here, from the ranges documented in proto/msg.h ---------------------------
UTC_MIN, UTC_MAX = 946684800000, 4102444800000


def rnd(r, lo, hi):
    return r.choice([lo, hi, r.randint(lo, hi), r.randint(lo, hi)])


def py_fix(r):
    f = {1: rnd(r, 0, 2**32 - 1), 4: rnd(r, -900000000, 900000000), 5: rnd(r, -1800000000, 1800000000)}
    if r.random() < 0.7:
        f[2] = rnd(r, UTC_MIN, UTC_MAX)
        if r.random() < 0.5:
            f[15] = r.randint(0, 3)
    else:
        f[3] = rnd(r, 0, 2**32 - 1)
    opt = {6: (-1000000, 20000000), 7: (0, 9999), 8: (0, 100000000), 9: (0, 8), 11: (1, 3), 12: (0, 255),
           13: (0, 65535), 14: (0, 35999)}
    for k, (lo, hi) in opt.items():
        if r.random() < 0.5:
            f[k] = rnd(r, lo, hi)
    if r.random() < 0.5:
        f[10] = ord(r.choice("ADEFMNPRS"))
    return dict(sorted(f.items()))


def py_fix_walk(r, n):
    fixes = [py_fix(r)]
    fixes[0][1] = r.randint(0, 2**31)
    for _ in range(n - 1):
        f = dict(fixes[-1])
        f[1] += r.choice([1, 1, 1, r.randint(1, 500)])
        if 2 in f:
            f[2] = min(f[2] + 1000, UTC_MAX)
        else:
            f[3] = min(f[3] + 1000, 2**32 - 1)
        f[4] = max(-900000000, min(900000000, f[4] + r.randint(-150, 150)))
        f[5] = max(-1800000000, min(1800000000, f[5] + r.randint(-150, 150)))
        if 14 in f:
            f[14] = (f[14] + r.randint(-800, 800)) % 36000
        if r.random() < 0.2:  # an optional field comes or goes
            k = r.choice([6, 7, 8, 12, 13])
            if k in f:
                del f[k]
            else:
                f[k] = r.randint(0, 255)
        fixes.append(dict(sorted(f.items())))
    return fixes


def py_ind(r):
    e = {1: rnd(r, 1, 2**32 - 1), 4: r.randint(1, 3), 7: r.randint(1, 3)}
    if r.random() < 0.5:
        e[2] = rnd(r, UTC_MIN, UTC_MAX)
    else:
        e[3] = rnd(r, 0, 2**32 - 1)
    if r.random() < 0.5:
        e[5] = rnd(r, 0, 2**32 - 1)
    if r.random() < 0.5:
        e[6] = r.randint(0, 100)
    if r.random() < 0.7:
        e[8], e[9] = rnd(r, -900000000, 900000000), rnd(r, -1800000000, 1800000000)
        if r.random() < 0.5:
            e[10] = rnd(r, 0, 100000000)
    if r.random() < 0.5:
        e[11] = r.randint(0, e[1] - 1)
    if e[1] > 1 and r.random() < 0.3:
        e[12] = r.randint(1, e[1] - 1)  # a completion ...
    if r.random() < 0.4:
        e[13] = r.choice([1, 2])  # ... or an onset, with the handler's verdict: confirmed / rejected
    return dict(sorted(e.items()))


def py_ack(r):
    a = {1: rnd(r, 0, 2**32 - 1), 2: rnd(r, 0, 2**64 - 1)}
    if r.random() < 0.5:
        a[3] = rnd(r, UTC_MIN, UTC_MAX)
    if r.random() < 0.5:
        a[4] = r.randint(1, 64)
    return a


def py_cmd(r):
    c = {1: rnd(r, 0, 2**32 - 1), 2: r.randint(0, 255), 3: r.randint(1, 6)}
    param = {1: (4, 100, 86400000), 2: (5, 1, 3), 3: (6, UTC_MIN, UTC_MAX), 4: (7, 0, 2**32 - 1)}.get(c[3])
    if param:
        c[param[0]] = rnd(r, param[1], param[2])
    return c


def py_status(r):
    s = {4: rnd(r, 0, 2**32 - 1), 5: rnd(r, 0, 2**32 - 1), 6: rnd(r, 0, 2**32 - 1), 7: rnd(r, 0, 2**32 - 1)}
    for k, (lo, hi) in {1: (0, 65535), 2: (0, 100), 3: (-550, 1250), 8: (-200, 20), 9: (-500, 500)}.items():
        if r.random() < 0.5:
            s[k] = rnd(r, lo, hi)
    return dict(sorted(s.items()))


def py_provision(r):
    p = {1: rnd(r, 1, 65535), 2: bytes(r.getrandbits(8) for _ in range(32)), 3: r.randint(1, 2),
         4: rnd(r, 200, 3600000)}
    if r.random() < 0.5:
        p[5] = rnd(r, 1000, 86400000)
    return p


# --- running msgtool --------------------------------------------------------------------------------
def decode_all(tool, items):
    """items: list of (type, body bytes). Returns list of ("OK", value) or ("ERR", name)."""
    text = "".join("%02x %s\n" % (t, b.hex()) for t, b in items)
    out = subprocess.run([tool, "decode"], input=text, capture_output=True, text=True, check=True).stdout
    res = []
    for line in out.splitlines():
        if line.startswith("OK "):
            res.append(("OK", from_json(json.loads(line[3:]))))
        else:
            res.append(("ERR", line.split()[1]))
    if len(res) != len(items):
        raise SystemExit("msgtool decode answered %d lines for %d bodies" % (len(res), len(items)))
    return res


def main():
    tool = sys.argv[1]
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 20260101
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    fails = []
    counts = dict(unpacked=0, fixb_rebuilt=0, repacked_identical=0, fixb_reencoded_identical=0, fixb_packed_form=0,
                  c_decoded_repacked=0, c_decoded_reversed=0, c_decoded_python_built=0, hostile_refused=0,
                  ind_verdict_unpacked=0, ind_verdict_c_decoded=0)

    def fail(msg):
        if len(fails) < 20:
            print("MISMATCH:", msg, file=sys.stderr)
        fails.append(msg)

    out = subprocess.run([tool, "encode", str(seed), str(n)], capture_output=True, text=True, check=True).stdout
    to_decode, expect = [], []
    for line in out.splitlines():
        t_hex, body_hex, js = line.split(" ", 2)
        t, body, exp = int(t_hex, 16), bytes.fromhex(body_hex), from_json(json.loads(js))
        obj = msgpack.unpackb(body, strict_map_key=False, raw=False)
        counts["unpacked"] += 1
        if t == T["FIXB"]:
            got = {"fixes": fixb_decode(obj)}
            counts["fixb_packed_form"] += 6 in obj
            if got != exp:
                fail("FIXB %s: python rebuilt %r, C holds %r" % (body_hex, got, exp))
            else:
                counts["fixb_rebuilt"] += 1
            if msgpack.packb(fixb_encode(exp["fixes"])) != body:
                fail("FIXB %s: python's encoder gives different bytes" % body_hex)
            else:
                counts["fixb_reencoded_identical"] += 1
        elif obj != exp:
            fail("type %02x %s: unpackb %r != C values %r" % (t, body_hex, obj, exp))
        elif t == T["IND"] and 13 in obj:
            if obj[13] not in (1, 2):
                fail("IND %s: verdict %r is neither confirmed (1) nor rejected (2)" % (body_hex, obj[13]))
            else:
                counts["ind_verdict_unpacked"] += 1
        packed = msgpack.packb(obj)
        if packed != body:
            fail("type %02x: packb(unpackb(body)) differs from our bytes: %s vs %s" % (t, packed.hex(), body_hex))
        else:
            counts["repacked_identical"] += 1
        to_decode.append((t, packed))
        expect.append(("c_decoded_repacked", exp))
        to_decode.append((t, msgpack.packb(reverse_maps(obj))))
        expect.append(("c_decoded_reversed", exp))

    r = random.Random(seed)
    builders = [(T["FIX"], py_fix), (T["IND"], py_ind), (T["ACK"], py_ack), (T["CMD"], py_cmd),
                (T["STATUS"], py_status), (T["PROVISION"], py_provision)]
    for _ in range(n):
        for t, build in builders:
            v = build(r)
            to_decode.append((t, msgpack.packb(v)))
            expect.append(("c_decoded_python_built", v))
        fixes = py_fix_walk(r, r.randint(1, 5))
        to_decode.append((T["FIXB"], msgpack.packb(fixb_encode(fixes))))
        expect.append(("c_decoded_python_built", {"fixes": fixes}))

    for (t, body), (what, exp), (status, got) in zip(to_decode, expect, decode_all(tool, to_decode)):
        if status != "OK":
            fail("%s type %02x %s: our decoder refused it: %s" % (what, t, body.hex(), got))
        elif got != exp:
            fail("%s type %02x %s: decoded %r, expected %r" % (what, t, body.hex(), got, exp))
        else:
            counts[what] += 1
            if t == T["IND"] and 13 in exp:
                counts["ind_verdict_c_decoded"] += 1

    # The handler's verdict (IND key 13) must have crossed both ways, on onsets and on completions.
    for k in ("ind_verdict_unpacked", "ind_verdict_c_decoded"):
        if counts[k] == 0:
            fail("no IND carrying a verdict was %s" % k.replace("_", " "))

    fix = {1: 7, 3: 1000, 4: 0, 5: 0}
    ind = {1: 9, 3: 1000, 4: 3, 7: 2}
    hostile = [
        (T["FIX"], msgpack.packb({**fix, 4: 900000001}), "PROTO_EMSG_LAT"),
        (T["FIX"], msgpack.packb({**fix, 5: -1800000001}), "PROTO_EMSG_LON"),
        (T["FIX"], msgpack.packb({**fix, 4: 1.5}), "PROTO_EMP_TYPE"),
        (T["FIX"], msgpack.packb({**fix, "lat": 1}), "PROTO_EMSG_KEY"),
        (T["FIX"], msgpack.packb({**fix, 16: 1}), "PROTO_EMSG_KEY"),
        (T["FIX"], msgpack.packb({1: 7, 3: 1000, 4: 0}), "PROTO_EMSG_MISSING"),
        (T["FIX"], msgpack.packb({**fix, 2: UTC_MIN}), "PROTO_EMSG_TIME"),
        (T["FIX"], msgpack.packb({**fix, 10: ord("B")}), "PROTO_EMSG_ENUM"),
        (T["FIX"], msgpack.packb({**fix, 6: "x"}), "PROTO_EMSG_WTYPE"),
        (T["FIX"], msgpack.packb([1, 2]), "PROTO_EMSG_NOTMAP"),
        (T["FIX"], msgpack.packb(fix) + b"\x00", "PROTO_EMP_TRAILING"),
        (T["FIX"], msgpack.packb({**fix, 6: msgpack.ExtType(1, b"x")}), "PROTO_EMP_TYPE"),
        (T["FIX"], bytes.fromhex("ddffffffff"), "PROTO_EMP_COUNT"),
        (T["FIX"], bytes.fromhex("dfffffffff"), "PROTO_EMP_COUNT"),
        (T["ACK"], msgpack.packb({1: 5, 2: 0, 4: 65}), "PROTO_EMSG_RANGE"),
        (T["CMD"], msgpack.packb({1: 1, 2: 0, 3: 5, 4: 1000}), "PROTO_EMSG_EXCL"),
        (T["FIXB"], msgpack.packb({1: fix, 2: 3, 3: [1], 4: [1, 0]}), "PROTO_EMSG_SEQ"),
        (T["FIXB"], msgpack.packb({1: fix, 2: 3, 3: [4], 4: [1]}), "PROTO_EMSG_SIZE"),
        (T["FIXB"], msgpack.packb({1: fix, 2: 3, 3: [4], 5: [2, 2], 6: b"\x01\x00"}), "PROTO_EMSG_SIZE"),
        (T["FIXB"], msgpack.packb({1: fix, 2: 3, 3: [4], 5: [2, 2], 6: b"\x11"}), "PROTO_EMSG_RANGE"),
        (T["FIXB"], msgpack.packb({1: fix, 2: 3, 3: [4], 5: [2, 65], 6: b"\x01"}), "PROTO_EMSG_RANGE"),
        (T["FIXB"], msgpack.packb({1: fix, 2: 3, 3: [4], 5: [2]}), "PROTO_EMSG_MISSING"),
        (T["FIXB"], msgpack.packb({1: fix, 2: 3, 3: [4], 4: [1, 1], 5: [2, 2], 6: b"\x01"}), "PROTO_EMSG_EXCL"),
        (T["IND"], msgpack.packb({**ind, 13: 0}), "PROTO_EMSG_ENUM"),
        (T["IND"], msgpack.packb({**ind, 13: 3}), "PROTO_EMSG_ENUM"),
        (T["IND"], msgpack.packb({**ind, 12: 4, 13: -1}), "PROTO_EMSG_ENUM"),
        (T["IND"], msgpack.packb({**ind, 13: True}), "PROTO_EMSG_WTYPE"),
        (T["IND"], msgpack.packb({**ind, 12: 9, 13: 1}), "PROTO_EMSG_SEQ"),
        (T["PROVISION"], msgpack.packb({1: 1, 2: b"k" * 31, 3: 1, 4: 1000}), "PROTO_EMSG_SIZE"),
        (T["PROVISION"], msgpack.packb({1: 1, 2: "k" * 32, 3: 1, 4: 1000}), "PROTO_EMSG_WTYPE"),
    ]
    for (t, body, want), (status, got) in zip(hostile, decode_all(tool, [(t, b) for t, b, _ in hostile])):
        if status != "ERR" or got != want:
            fail("hostile type %02x %s: expected %s, got %s %r" % (t, body.hex(), want, status, got))
        else:
            counts["hostile_refused"] += 1

    print("python-msgpack %s interop (seed %d):" % (".".join(map(str, msgpack.version)), seed))
    for k, v in counts.items():
        print("  %-26s %d" % (k, v))
    print("  %-26s %d" % ("MISMATCHES", len(fails)))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())

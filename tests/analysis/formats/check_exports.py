#!/usr/bin/python3
"""check_exports.py SCENTRACK FIXTURE WORKDIR — judge `scentrack export|import|report` with tools nobody
here wrote: ogrinfo (GDAL), xmllint against the GPX 1.1 and OGC KML 2.2 XSDs (offline, schemas/ + an XML
catalog), python's csv, json and sqlite3 modules. The store is tests/analysis/formats/fixture.h, so every
count below is known by construction. Exits non-zero with a message on the first failure."""

import csv
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys

SCENTRACK, FIXTURE, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMAS = os.path.join(HERE, "schemas")
TIMEOUT = 60

# fixture.h: 3 sessions with >= 2 fixes (20 + 3 + 5 points), 11 indications (9 of collar 7, 2 of collar 8),
# 1 hazard point
N_TRACKS, N_POINTS, N_INDS, N_HAZ = 3, 28, 11, 1
RATTY = 'Ratty "Q" <&>, \u00e9'

failures = 0


def fail(msg):
    global failures
    failures += 1
    print("FAIL:", msg)


def check(cond, msg):
    if not cond:
        fail(msg)
    return cond


def run(args, env=None, stdin=None):
    e = dict(os.environ)
    e.pop("SCENTRACK_DB", None)
    if env:
        e.update(env)
    return subprocess.run(args, capture_output=True, timeout=TIMEOUT, env=e, input=stdin)


def ogr_counts(path):
    """{layer: feature count} from `ogrinfo -ro -al -so`."""
    r = run(["ogrinfo", "-ro", "-al", "-so", path])
    if not check(r.returncode == 0, f"ogrinfo cannot open {path}: {r.stderr.decode()}"):
        return {}
    out, layer, counts = r.stdout.decode(), None, {}
    for line in out.splitlines():
        if line.startswith("Layer name: "):
            layer = line[len("Layer name: "):].strip()
        elif line.startswith("Feature Count: "):
            counts[layer] = int(line.split(":")[1])
    err = r.stderr.decode()
    check("ERROR" not in err and "Warning" not in err, f"ogrinfo complained about {path}: {err}")
    return counts


def xsd_valid(path, xsd):
    env = {"XML_CATALOG_FILES": os.path.join(SCHEMAS, "catalog.xml")}
    r = run(["xmllint", "--nonet", "--noout", "--schema", os.path.join(SCHEMAS, xsd), path], env=env)
    return r.returncode == 0, r.stderr.decode()


def main():
    if os.path.isdir(WORK):
        shutil.rmtree(WORK)
    os.makedirs(WORK)
    db = os.path.join(WORK, "fixture.db")
    r = run([FIXTURE, db])
    if r.returncode != 0:
        print("fixture failed:", r.stderr.decode())
        return 1
    env = {"SCENTRACK_DB": db}

    # ---- exports, each twice: byte-identical ----
    outs = {}
    for fmt in ("geojson", "kml", "gpx", "csv", "gpkg"):
        paths = []
        for i in (1, 2):
            p = os.path.join(WORK, f"out{i}.{fmt}")
            if fmt == "gpkg":
                r = run([SCENTRACK, "export", "--format", fmt, "-o", p], env=env)
            else:
                r = run([SCENTRACK, "export", "--format", fmt], env=env)
                with open(p, "wb") as f:
                    f.write(r.stdout)
            check(r.returncode == 0, f"export {fmt} exit {r.returncode}: {r.stderr.decode()}")
            paths.append(p)
        with open(paths[0], "rb") as a, open(paths[1], "rb") as b:
            check(a.read() == b.read(), f"two {fmt} exports of the same store differ")
        outs[fmt] = paths[0]

    # ---- GeoJSON: RFC 7946 by hand + ogrinfo ----
    with open(outs["geojson"], encoding="utf-8") as f:
        gj = json.load(f)
    check(gj.get("type") == "FeatureCollection" and "crs" not in gj, "GeoJSON: FeatureCollection without crs")
    feats = gj["features"]
    layers = [x["properties"]["layer"] for x in feats]
    check(layers.count("track") == N_TRACKS and layers.count("indication") == N_INDS
          and layers.count("hazard_point") == N_HAZ, f"GeoJSON layer counts {layers}")

    def positions(g):
        return [g["coordinates"]] if g["type"] == "Point" else g["coordinates"]

    for x in feats:
        for lon, lat in positions(x["geometry"]):
            check(-180 <= lon <= 180 and -90 <= lat <= 90, f"GeoJSON position out of range {lon},{lat}")
            # the fixture is at 19.1 S 34.8 E: a swapped pair would put lon near -19
            check(abs(lon - 34.8) < 0.01 and abs(lat + 19.1) < 0.01, f"GeoJSON not lon,lat: {lon},{lat}")
        if x["geometry"]["type"] == "LineString":
            check(len(x["geometry"]["coordinates"]) >= 2, "GeoJSON LineString with < 2 positions")
    ratty = [x for x in feats if x["properties"].get("animal") == RATTY]
    check(len(ratty) == 3, f"GeoJSON: the escaped animal name did not round-trip ({len(ratty)} features)")
    check(ogr_counts(outs["geojson"]) == {"out1": N_TRACKS + N_INDS + N_HAZ}, "ogrinfo GeoJSON feature count")

    # ---- KML: XSD + ogrinfo per folder ----
    ok, msg = xsd_valid(outs["kml"], "ogckml22.xsd")
    check(ok, f"KML does not validate against ogckml22.xsd: {msg}")
    check(ogr_counts(outs["kml"]) == {"tracks": N_TRACKS, "indications": N_INDS, "hazard_points": N_HAZ},
          f"ogrinfo KML counts {ogr_counts(outs['kml'])}")
    # the validator must be able to say no: ExtendedData after the geometry is invalid KML 2.2
    with open(outs["kml"], encoding="utf-8") as f:
        kml = f.read()
    bad = kml.replace("<ExtendedData>", "<X>", 1)
    bad_path = os.path.join(WORK, "bad.kml")
    with open(bad_path, "w", encoding="utf-8") as f:
        f.write(bad)
    check(not xsd_valid(bad_path, "ogckml22.xsd")[0], "xmllint accepted an invalid KML (schema not applied?)")

    # ---- GPX: XSD + ogrinfo (waypoints = indications + hazard points; 2 segments in session 1) ----
    ok, msg = xsd_valid(outs["gpx"], "gpx.xsd")
    check(ok, f"GPX does not validate against gpx.xsd: {msg}")
    c = ogr_counts(outs["gpx"])
    check(c.get("waypoints") == N_INDS + N_HAZ and c.get("tracks") == N_TRACKS
          and c.get("track_points") == N_POINTS, f"ogrinfo GPX counts {c}")
    with open(outs["gpx"], encoding="utf-8") as f:
        gpx = f.read()
    check(gpx.count("<trkseg>") == N_TRACKS + 1, "GPX: the 120 s gap in session 1 should start a new trkseg")
    bad_path = os.path.join(WORK, "bad.gpx")
    with open(bad_path, "w", encoding="utf-8") as f:
        f.write(gpx.replace("<time>", "<time>not-a-time", 1))
    check(not xsd_valid(bad_path, "gpx.xsd")[0], "xmllint accepted an invalid GPX")

    # ---- CSV: RFC 4180 bytes, python csv reads the same values as the GeoJSON ----
    with open(outs["csv"], "rb") as f:
        raw = f.read()
    check(raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b""), "CSV lines must end in CRLF")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8"), newline="")))
    check(len(rows) == N_INDS + N_HAZ, f"CSV rows {len(rows)}")
    by_id = {x["id"]: x for x in feats}
    for row in rows:
        g = by_id.get(row["id"])
        if not check(g is not None, f"CSV id {row['id']} not in the GeoJSON"):
            continue
        lon, lat = g["geometry"]["coordinates"]
        check(float(row["lat"]) == lat and float(row["lon"]) == lon, f"CSV {row['id']} position differs")
        p = g["properties"]
        if row["layer"] == "indication":
            check(row["animal"] == (p["animal"] or ""), f"CSV animal {row['animal']!r} vs {p['animal']!r}")
            check(row["t_utc"] == p["t_utc"] and row["review"] == p["review"], f"CSV {row['id']} fields differ")
        else:
            check(row["status"] == p["status"] and float(row["p_explosive"]) == p["p_explosive"],
                  f"CSV hazard {row['id']} differs")
    check(sum(1 for r_ in rows if r_["animal"] == RATTY) == 2, "CSV: quoted animal name did not round-trip")
    check(ogr_counts(outs["csv"]) == {"out1": N_INDS + N_HAZ}, "ogrinfo CSV count")

    # ---- GeoPackage: ogrinfo + the metadata GDAL and QGIS look for ----
    c = ogr_counts(outs["gpkg"])
    check(c == {"tracks": N_TRACKS, "indications": N_INDS, "hazard_points": N_HAZ, "layer_styles": 3},
          f"ogrinfo GPKG counts {c}")
    con = sqlite3.connect(outs["gpkg"])
    check(con.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47, "GPKG application_id")
    check(con.execute("PRAGMA user_version").fetchone()[0] == 10300, "GPKG user_version")
    check(con.execute("PRAGMA integrity_check").fetchone()[0] == "ok", "GPKG integrity")
    srs = {r_[0] for r_ in con.execute("SELECT srs_id FROM gpkg_spatial_ref_sys")}
    check(srs == {4326, 0, -1}, f"GPKG srs {srs}")
    styles = con.execute("SELECT f_table_name, useAsDefault, styleQML FROM layer_styles ORDER BY id").fetchall()
    check([s[0] for s in styles] == ["tracks", "indications", "hazard_points"] and all(s[1] == 1 for s in styles)
          and all(s[2].startswith("<!DOCTYPE qgis") for s in styles), "GPKG layer_styles")
    blob = con.execute("SELECT geom FROM indications ORDER BY fid LIMIT 1").fetchone()[0]
    check(blob[:2] == b"GP" and blob[3] & 1 == 1 and int.from_bytes(blob[4:8], "little") == 4326,
          "GPKG geometry header")
    name = con.execute("SELECT animal FROM indications WHERE animal LIKE 'Ratty%' LIMIT 1").fetchone()[0]
    check(name == RATTY, f"GPKG animal name {name!r}")
    con.close()

    # ---- filters ----
    r = run([SCENTRACK, "export", "--format", "geojson", "--animal", "Magawa", "--from", "2023-12-01"], env=env)
    fs = json.loads(r.stdout)["features"]
    check(r.returncode == 0 and [x["properties"]["layer"] for x in fs].count("indication") == 2,
          "--animal Magawa --from 2023-12-01 should give session 2's 2 indications")
    r = run([SCENTRACK, "export", "--format", "csv", "--from", "2023-12-01T10:00"], env=env)
    check(r.returncode == 64 and b"zone" in r.stderr, "a --from time without a zone must be refused")
    r = run([SCENTRACK, "export", "--format", "gpkg"], env=env)
    check(r.returncode == 64, "gpkg without -o must be a usage error")

    # ---- import: errors with line numbers, nothing half-imported, idempotent ----
    def count_clr():
        c_ = sqlite3.connect(db)
        n = c_.execute("SELECT count(*) FROM clearance_results").fetchone()[0]
        c_.close()
        return n

    before = count_clr()
    good = ("ref,task,box,date,result,lat,lon,sigma_m,depth_cm,device_type,team\r\n"
            "B1-01,Dombe task 7,B1,2023-12-30T10:15:00Z,AP mine,-19.0998500,34.8001200,0.05,12,PMN-2,Team 3\r\n"
            "B1-02,1,B1,2023-12-30,scrap metal,-19.0998100,34.8001100,,,\"wire, bent\",\"Team \"\"4\"\"\"\r\n")
    bad = good + "B1-03,1,B1,2023-12-30T10:15:00,uxo,-19.0998,34.8001,,,,\r\n"
    p_bad = os.path.join(WORK, "bad.csv")
    with open(p_bad, "w", newline="") as f:
        f.write(bad)
    r = run([SCENTRACK, "import", "clearance", p_bad], env=env)
    err = r.stderr.decode()
    check(r.returncode == 65 and "bad.csv:4:4:" in err and "'date'" in err and "zone" in err,
          f"bad date on line 4 column 4: exit {r.returncode}, {err!r}")
    check(count_clr() == before, "a failed import must store nothing")
    p_good = os.path.join(WORK, "good.csv")
    with open(p_good, "w", newline="") as f:
        f.write(good)
    r = run([SCENTRACK, "import", "clearance", p_good], env=env)
    check(r.returncode == 0 and b"2 imported" in r.stdout, f"good import: {r.stdout!r} {r.stderr!r}")
    check(count_clr() == before + 2, "good import stores 2 rows")
    r = run([SCENTRACK, "import", "clearance", p_good], env=env)
    check(r.returncode == 0 and b"0 imported, 2 duplicates" in r.stdout, f"re-import: {r.stdout!r}")
    check(count_clr() == before + 2, "re-import stores nothing new")
    changed = good.replace(",12,PMN-2", ",15,PMN-2")
    with open(p_good, "w", newline="") as f:
        f.write(changed)
    r = run([SCENTRACK, "import", "clearance", p_good], env=env)
    check(r.returncode == 65 and b"B1-01" in r.stderr and b"depth_mm" in r.stderr,
          f"a changed row with a stored key must be refused: {r.stderr!r}")
    js = json.dumps([{"task": 1, "date": "2024-01-02T03:04:05.678+02:00", "result": "nothing", "x_mm": 10500,
                      "y_mm": 11000, "pos_err_mm": 30, "team": "J\u00f6rg \"J\""}], indent=1)
    r = run([SCENTRACK, "import", "clearance", "-"], env=env, stdin=js.encode())
    check(r.returncode == 0 and b"1 imported" in r.stdout, f"JSON import from stdin: {r.stderr!r}")
    c_ = sqlite3.connect(db)
    row = c_.execute("SELECT x_mm, y_mm, date_ms, team FROM clearance_results ORDER BY id DESC LIMIT 1").fetchone()
    audit = c_.execute("SELECT count(*) FROM audit_log WHERE action = 'import_clearance'").fetchone()[0]
    c_.close()
    check(row == (10500, 11000, 1704157445678, "J\u00f6rg \"J\""), f"JSON row stored as {row}")
    check(audit == 3, f"one audit row per successful import (3), got {audit}")
    badjs = '[\n {"task": 1, "date": "2024-01-02", "result": "nothing",\n  "lat": -19.1, "lon": "x"}\n]'
    r = run([SCENTRACK, "import", "clearance", "--format", "json", "-"], env=env, stdin=badjs.encode())
    check(r.returncode == 65 and b"-:3:24:" in r.stderr and b"'lon'" in r.stderr, f"JSON error location: {r.stderr!r}")

    # ---- reports: JSON parses, numbers as hand-computed in fixture.h ----
    r = run([SCENTRACK, "report", "accuracy", "--animal", "Magawa", "--json"], env=env)
    rep = json.loads(r.stdout)
    a = rep["animals"][0]["all"]
    # the import above added B1-01 (an AP mine inside B1 near no indication: a miss in both passes) and
    # B1-02 (scrap), and a "nothing" at (10.5 m, 11 m) near no indication: targets 6 + 2, hits 3
    check((a["targets"], a["hits"], a["correct"], a["false"], a["repeats"], a["unresolved"]) == (8, 3, 4, 2, 1, 1),
          f"accuracy counts {a}")
    r = run([SCENTRACK, "report", "accreditation", "--json"], env=env)
    t = json.loads(r.stdout)["tests"][0]
    check(t["pass"] is False and t["hits"] == 1 and t["false"] == 1, f"accreditation {t}")
    r = run([SCENTRACK, "report", "hazards", "--json"], env=env)
    h = json.loads(r.stdout)["hazard_points"][0]
    check(h["evidence_indications"] == 2 and h["evidence_clean_passes"] == 1, f"hazards {h}")
    r = run([SCENTRACK, "report", "accuracy", "--animal", "nobody"], env=env)
    check(r.returncode == 65, "unknown animal is a data error")

    if failures:
        print(f"{failures} check(s) failed")
        return 1
    print("all export/import/report checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

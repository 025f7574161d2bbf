#!/usr/bin/python3
"""Writes a small MBTiles file (SQLite, TMS rows) of plain PNG tiles around a point, for the web map's tiles
mode in the browser test: each tile is one flat colour per zoom with a darker border and its z/x/y drawn as
bars, so a screenshot shows whether tiles sit where they should. Only the standard library (zlib, sqlite3).

    make_mbtiles.py OUT.mbtiles LAT LON RADIUS_M ZMIN ZMAX
"""
import math
import sqlite3
import struct
import sys
import zlib


def png(w, h, rows):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def tile(z, x, y):
    base = [(236, 228, 206), (222, 232, 210), (214, 226, 236), (236, 220, 220), (226, 226, 226), (240, 234, 214)][z % 6]
    edge = tuple(int(c * 0.7) for c in base)
    b, e = bytes(base), bytes(edge)
    bar = min(6 * ((x + y) % 24), 246)            # a bar whose length tells x + y mod 24
    plain = e * 2 + b * 254
    barred = e * 2 + b * 6 + e * bar + b * (248 - bar)
    rows = [e * 256] * 2 + [barred if 8 <= j < 14 else plain for j in range(2, 256)]
    return png(256, 256, rows)


def main():
    out, lat, lon, rad, zmin, zmax = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), \
        int(sys.argv[5]), int(sys.argv[6])
    dlat = rad / 111320.0
    dlon = rad / (111320.0 * math.cos(math.radians(lat)))
    w, s, e, n = lon - dlon, lat - dlat, lon + dlon, lat + dlat
    db = sqlite3.connect(out)
    db.executescript("CREATE TABLE metadata (name TEXT, value TEXT);"
                     "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);"
                     "CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);")
    for k, v in (("name", "scentrack test tiles"), ("format", "png"), ("minzoom", str(zmin)), ("maxzoom", str(zmax)),
                 ("bounds", f"{w:.7f},{s:.7f},{e:.7f},{n:.7f}")):
        db.execute("INSERT INTO metadata VALUES (?, ?)", (k, v))
    count = 0
    for z in range(zmin, zmax + 1):
        def xy(la, lo):
            x = int((lo + 180.0) / 360.0 * (1 << z))
            y = int((1.0 - math.asinh(math.tan(math.radians(la))) / math.pi) / 2.0 * (1 << z))
            return x, y
        x0, y0 = xy(n, w)
        x1, y1 = xy(s, e)
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                db.execute("INSERT INTO tiles VALUES (?, ?, ?, ?)", (z, x, (1 << z) - 1 - y, tile(z, x, y)))
                count += 1
    db.commit()
    db.close()
    print(f"MBTILES {count}")


if __name__ == "__main__":
    main()

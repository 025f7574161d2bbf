/*
 * an/export.h — data out of the store for GIS and mine-action tools (`scentrack export`).
 *
 * What is exported (WGS84 lon/lat; times UTC ISO 8601 with ms):
 *   tracks        one per SESSION with >= 2 fixes in the filter: the session's fixes in time order
 *                 (fixes not attributed to a session — no animal known — are not exported as tracks)
 *   indications   every indication with a position (lat/lon) in the filter, attributed or not
 *   hazard_points every hazard point in the filter
 * Filter (all optional, AND-ed):
 *   from/to   fixes and indications with from <= t < to; hazard points with from <= created < to
 *   animal    sessions (→ tracks, indications) of that animal; hazard points with indication evidence
 *             from that animal
 *   task      tracks, indications and hazard points of that task
 *
 * Formats:
 *   GEOJSON  RFC 7946 FeatureCollection: LineString per track, Point per indication and hazard point,
 *            property "layer" = track | indication | hazard_point. 7 decimals (1 cm), no "crs" member.
 *   KML      KML 2.2 (validates against OGC ogckml22.xsd): Document with shared Styles, Folders "tracks",
 *            "indications" (style by review: unreviewed / confirmed / rejected) and "hazard_points" (style by
 *            status and P(explosive): explosive, cleared, p>=0.9, p>=0.5, p<0.5, other), each Placemark
 *            with TimeStamp/TimeSpan and ExtendedData. Colours are aabbggrr.
 *   GPX      GPX 1.1 (validates against gpx.xsd): wpt per indication and hazard point, trk per session with
 *            a new trkseg after a gap > AN_EXPORT_GPX_GAP_MS (lost link), trkpt with ele/time/sat/hdop.
 *   CSV      RFC 4180 (CRLF, quoted only when needed, "" inside quotes): one header line, then one row
 *            per indication and per hazard point (column "layer"). EPSG:4326 lat/lon columns.
 *   GPKG     OGC GeoPackage 1.3 written with plain SQLite: application_id 'GPKG', user_version 10300,
 *            gpkg_spatial_ref_sys (4326, 0, -1), gpkg_contents with bounding boxes, gpkg_geometry_columns,
 *            feature tables tracks (LINESTRING), indications and hazard_points (POINT) with GP header +
 *            little-endian WKB, and a QGIS `layer_styles` table (QML + SLD, useAsDefault) so QGIS opens the
 *            layers styled. No R-tree index (its triggers need SQL functions plain SQLite lacks).
 *
 * Determinism: rows are read ORDER BY their ids/times, numbers are printed from integers (degE7, mm) or
 * with fixed formats, and no wall-clock time is written (metadata times are the newest data time), so two
 * exports of the same store with the same filter are byte-identical — the GeoPackage included.
 * Escaping: every stored text (animal names, device types, teams ...) goes through the format's escaper
 * (JSON string escapes, XML entities, CSV quoting); invalid UTF-8 bytes become U+FFFD.
 */
#ifndef AN_EXPORT_H
#define AN_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct an_store;

enum an_export_format {
	AN_EXPORT_GEOJSON = 1,
	AN_EXPORT_KML = 2,
	AN_EXPORT_GPX = 3,
	AN_EXPORT_CSV = 4,
	AN_EXPORT_GPKG = 5,
};

#define AN_EXPORT_GPX_GAP_MS 60000 /* a gap longer than this starts a new track segment */
#define AN_EXPORT_ERR_MAX 512

struct an_export_filter {
	bool has_from, has_to;
	int64_t from_ms, to_ms; /* [from, to) UTC ms */
	int64_t animal_id;      /* 0 = all */
	int64_t task_id;        /* 0 = all */
};

struct an_export_counts {
	size_t tracks, track_points, indications, hazards;
};

/* "geojson" | "kml" | "gpx" | "csv" | "gpkg" (case-insensitive). @retval 0 or -EINVAL */
int an_export_format_parse(const char *name, enum an_export_format *out);
const char *an_export_format_name(enum an_export_format f);

/* ISO 8601 UTC time as the CLI's --from/--to take it: "2024-05-01" (midnight UTC) or
 * "2024-05-01T09:30:00[.sss](Z|+hh:mm)"; a time of day without a zone is refused (could be local time).
 * @retval 0, or -EINVAL with *why a static explanation */
int an_export_parse_time(const char *s, int64_t *t_ms, const char **why);

/* Write GEOJSON, KML, GPX or CSV to out (not GPKG: -EINVAL). counts may be NULL.
 * @retval 0; -EINVAL bad argument; -EIO write error or store failure; -ENOMEM */
int an_export_write(struct an_store *s, enum an_export_format fmt, const struct an_export_filter *f, FILE *out,
                    struct an_export_counts *counts, char *err, size_t errcap) __attribute__((warn_unused_result));

/* Write a GeoPackage to path: built in "<path>.tmp", then renamed over path, so a failed export never
 * leaves a half-written file under the real name. @retval 0; -EINVAL; -EIO; -ENOMEM; -ENOSPC */
int an_export_gpkg(struct an_store *s, const struct an_export_filter *f, const char *path,
                   struct an_export_counts *counts, char *err, size_t errcap) __attribute__((warn_unused_result));

#endif

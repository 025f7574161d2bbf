/*
 * analysis/daemon/web_internal.h — shared by web.c (HTTP server, routing, static files, auth), web_sse.c
 * (live state, event ring, SSE streams, snapshot) and web_api.c (history API, writes), web_json.c (JSON).
 */
#ifndef SCENTRACK_CORE_WEB_INTERNAL_H
#define SCENTRACK_CORE_WEB_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include "an/pub.h"
#include "an/store.h"
#include "proto/msg.h"
#include "web.h"

#define WEB_BODY_MAX (64u * 1024u)   /* request bodies: a clearance form is < 1 KB */
#define WEB_ID_BLOCK 4096u           /* event ids reserved in the store per write */
#define WEB_TRACK_MAX 20000u         /* points per /api/tracks answer */

/* ---- JSON out (web_json.c) --------------------------------------------------------------------------- */
struct wb {
	char *p;
	size_t len, cap;
	bool oom;
};
void wb_free(struct wb *b);
void wb_raw(struct wb *b, const char *s, size_t n);
void wb_puts(struct wb *b, const char *s);
void wb_printf(struct wb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string literal: quotes, \" \\ \n..., every control char, < > & ' U+2028 U+2029 as \uXXXX (so a
 * hostile name cannot close a <script> or an attribute if a page ever inlines it); invalid UTF-8 → U+FFFD. */
void wb_str(struct wb *b, const char *s);
void wb_strn(struct wb *b, const char *s, size_t n);
void wb_iso(struct wb *b, int64_t t_ms);      /* "2024-05-01T09:30:00.000Z" (quoted) */
void wb_deg(struct wb *b, int32_t e7);        /* 7 decimals */

/* ---- JSON in: a flat object of scalars (web_json.c) -------------------------------------------------- */
enum wj_type { WJ_STR = 1, WJ_NUM, WJ_BOOL, WJ_NULL };
struct wj_field {
	char key[32];
	enum wj_type type;
	char *val; /* unescaped, NUL-terminated (numbers as text); "true"/"false" for bools */
};
struct wj_obj {
	struct wj_field f[32];
	size_t n;
};
/* @retval 0; -EINVAL with why (position and reason) */
int wj_parse(const char *s, size_t len, struct wj_obj *o, char *why, size_t cap);
void wj_free(struct wj_obj *o);
const struct wj_field *wj_get(const struct wj_obj *o, const char *key);

/* ---- the server ------------------------------------------------------------------------------------------ */
/* server-side handler alerts (web_alerts.c), one bit each in web_collar.al_active */
enum {
	WEB_ALERT_LINK_LOST,
	WEB_ALERT_GPS_LOST,
	WEB_ALERT_BATTERY,
	WEB_ALERT_HEAT,
	WEB_ALERT_OUTSIDE,
	WEB_ALERT_STATIONARY,
	WEB_ALERT_BOUT,
	WEB_ALERT_N
};
struct web_collar {
	uint16_t collar_id;
	bool has_fix;
	struct proto_fix fix;
	int64_t animal_id;    /* store animal, or CORE_IMPLICIT_BASE + collar */
	char name[64];
	char species[4];      /* "rat" | "dog" */
	bool looked_up;
	bool has_status;      /* the last collar STATUS the store holds */
	int64_t st_rx_ms;
	int batt_mv, batt_pct, temp_dc, rssi_dbm; /* INT32_MIN = absent */
	int64_t tx_frames, retx;
	/* alerts: receipt times on the core's UTC clock (0 = unknown), record-time state of the newest fix */
	int64_t heard_ms, fix_rx_ms;
	bool al_have_fix, al_fix_bad, box_dirty;
	int64_t al_fix_t;
	int32_t al_fix_lat, al_fix_lon;
	uint32_t al_fix_hacc_mm;
	int64_t still_since_ms, bout_start_ms;
	int32_t still_lat_e7, still_lon_e7;
	bool box_known, has_box;  /* the animal's session box around al_fix_t (cache) */
	int64_t box_t0, box_t1;
	int32_t box_e7[6];        /* p0, along, across: lat, lon each */
	char box_name[48];
	uint32_t al_active;
	uint64_t al_id[WEB_ALERT_N];
	int64_t al_since[WEB_ALERT_N];
	char al_text[WEB_ALERT_N][64];
};
struct web_ind {
	uint64_t key; /* collar << 32 | rec_seq */
	struct proto_ind ind;
	uint8_t review; /* enum an_review */
};
struct web_event {
	uint64_t id;
	char *text; /* the whole SSE record "id: ..\nevent: ..\ndata: ..\n\n" */
	size_t len;
};
struct web_client; /* an SSE stream */

struct core_web {
	struct core_web_config cfg;
	struct an_store *store;
	struct an_pub *pub;
	struct MHD_Daemon *mhd;
	int epfd;
	char url[96];
	char token[256];
	bool has_token;
	char token_fp[17]; /* first 16 hex of SHA-256(token): names the credential in the audit log */
	struct sqlite3 *tiles;
	char tiles_format[8];           /* MBTiles metadata: "png" | "jpg" | "webp" | "" */
	int tiles_minzoom, tiles_maxzoom; /* -1 = unknown */
	bool tiles_has_bounds;
	double tiles_bounds[4];         /* w, s, e, n */
	core_web_clearance_fn on_clearance;
	void *on_clearance_ctx;
	core_web_clearance_fn on_boxpos; /* a recorder box position stored: to the hazard engines */
	void *on_boxpos_ctx;
	core_web_clearance_fn on_review; /* a handler's verdict stored: to the hazard engines */
	void *on_review_ctx;
	/* live state, fed by the PUB tap */
	struct web_collar *collars;
	size_t n_collars, cap_collars;
	struct web_ind *inds;
	size_t n_inds, cap_inds;
	bool inds_unsorted; /* start-up appends; sorted at the first lookup */
	struct an_pub_hazard *hz;
	size_t n_hz, cap_hz;
	struct an_pub_gw *gws;
	size_t n_gws;
	/* events */
	struct web_event *ring;
	size_t ring_cap, ring_head, ring_n; /* oldest at ring_head */
	uint64_t next_id, reserved_id, resume_floor;
	int64_t last_status_row; /* collar_status rows up to this id were turned into events */
	bool ids_ok;
	struct web_client *clients;
	size_t n_clients;
	bool wake;         /* events added since the last resume */
	uint64_t next_ping_ms;
	bool stopping;
	/* alerts */
	bool alerts_live;       /* the first tick after start-up has run: changes are events */
	uint64_t next_alert_ms; /* monotonic */
	/* counters (status) */
	uint64_t requests, sse_opened, sse_resets, writes_ok, writes_refused, events, ev_dropped;
};

/* web_sse.c */
int web_sse_open(struct core_web *w, char *err, size_t cap);
void web_sse_close(struct core_web *w);
void web_tap(void *ctx, enum an_pub_stream s, uint64_t key, uint64_t seq, const uint8_t *body, size_t len);
/* Add an event (data = one JSON object); returns its id, 0 if it could not be stored. */
uint64_t web_event_add(struct core_web *w, const char *type, const char *data, size_t len);
enum MHD_Result web_sse_start(struct core_web *w, struct MHD_Connection *c);
void web_sse_pump(struct core_web *w, uint64_t now_ms); /* resume streams with something to send */
void web_snapshot(struct core_web *w, struct wb *b);
void web_fix_json(struct core_web *w, struct wb *b, uint16_t collar, const struct proto_fix *f);
void web_ind_json(struct core_web *w, struct wb *b, const struct web_ind *i);
void web_hazard_json(struct wb *b, const struct an_pub_hazard *h);
void web_collar_status_json(struct core_web *w, struct wb *b, struct web_collar *c);
const char *web_state_of(struct core_web *w, const struct web_collar *c);
struct web_collar *web_collar_get(struct core_web *w, uint16_t collar_id);
struct web_ind *web_ind_find(struct core_web *w, uint64_t key);
void web_collar_lookup(struct core_web *w, struct web_collar *c); /* animal, name, species of the collar now */

/* web_alerts.c */
const char *web_alert_name(unsigned kind);
/* A fix of the collar (live: it arrived now; else loaded at start-up). */
void web_alerts_fix(struct core_web *w, struct web_collar *c, const struct proto_fix *f, bool live);
/* Something else of the collar arrived now (an indication, a STATUS). */
void web_alerts_heard(struct core_web *w, struct web_collar *c);
void web_alerts_eval(struct core_web *w, struct web_collar *c);
void web_alerts_tick(struct core_web *w, uint64_t now_mono_ms); /* once a second: clock kinds */
void web_alerts_snapshot(struct core_web *w, struct wb *b);     /* [active alerts] */
void web_alert_json(struct core_web *w, struct wb *b, const struct web_collar *c, unsigned kind, bool raised);
void web_inds_ready(struct core_web *w); /* sort what start-up appended, apply stored reviews */

/* web_api.c: every /api/ route except events and snapshot. *status and the body are the answer. */
int web_api(struct core_web *w, struct MHD_Connection *c, const char *method, const char *url, const char *body,
            size_t body_len, struct wb *out, const char **ctype, char *disposition, size_t dcap);

/* web.c */
void web_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Error body {"error": "..."} (escaped). */
void web_error(struct wb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Writes: the Bearer token matched (constant time). */
int web_auth(struct core_web *w, struct MHD_Connection *c);
void web_tiles_json(struct core_web *w, struct wb *b); /* snapshot "tiles": null or the MBTiles metadata */

#endif

/*
 * analysis/daemon/web.h — scentrack-core's embedded HTTP server: the live map's static files, one
 * Server-Sent Events stream per page, the JSON history API and the token-guarded writes (docs/internals.md
 * §4, the API contract in docs/web-api.md).
 *
 * libmicrohttpd in EXTERNAL epoll mode: no thread of its own, its epoll fd is one more item in the core's
 * zmq_poll, and core_web_service() runs it. SSE connections are suspended while they have nothing to send
 * and resumed when an event is added, so 50+ idle streams cost nothing per loop turn.
 */
#ifndef SCENTRACK_CORE_WEB_H
#define SCENTRACK_CORE_WEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CORE_WEB_PATH_MAX 512u
#define CORE_WEB_LISTEN_MAX 128u

struct an_store;
struct an_pub;

struct core_web_config {
	char listen[CORE_WEB_LISTEN_MAX]; /* "HOST:PORT" or "[V6]:PORT"; "" = no web server (default) */
	char root[CORE_WEB_PATH_MAX];     /* static assets (default: the build's copy of analysis/web) */
	char token_file[CORE_WEB_PATH_MAX]; /* one line: the write token; "" = writes refused (403) */
	char mbtiles[CORE_WEB_PATH_MAX];  /* optional offline raster tiles */
	unsigned replay;                  /* events kept for Last-Event-ID replay */
	unsigned max_clients;             /* HTTP connections (SSE streams included) */
	unsigned heartbeat_s;             /* SSE ": ping" period */
	/* server-side handler alerts (web_alerts.c); 0 turns a kind off */
	unsigned alert_link_lost_s, alert_gps_lost_s, alert_battery_pct, alert_heat_c, alert_outside_box_cm;
	unsigned alert_stationary_s, alert_stationary_cm, alert_bout_rat_s, alert_bout_dog_s, alert_bout_gap_s;
};

void core_web_config_defaults(struct core_web_config *c);
/* One key of the [web] section. @retval 0; -1 with why (unknown key, bad value) */
int core_web_config_kv(struct core_web_config *c, const char *name, const char *value, char *why, size_t cap);

struct core_web;

/* Bind, read the token, create the web tables and register the PUB tap (call BEFORE core_feed_open, which
 * loads the live state through the same tap). @retval 0; -EINVAL config/token; -EADDRINUSE; -EIO */
int core_web_open(const struct core_web_config *c, struct an_store *s, struct an_pub *p, struct core_web **out,
                  char *err, size_t errcap) __attribute__((warn_unused_result));
/* Persists the last event id (clean shutdown: the next start continues without a gap). NULL is a no-op. */
void core_web_close(struct core_web *w);
/* The fd to poll for input (epoll), -1 without a server. */
int core_web_fd(const struct core_web *w);
/* ms until core_web_service is due (<= max). */
uint64_t core_web_timeout(struct core_web *w, uint64_t max);
/* Run the HTTP server: accept, read, answer, push pending SSE events. */
void core_web_service(struct core_web *w);
/* Called after a clearance result was stored through the API (scentrack-core: give the new results to
 * the hazard engines, core_feed_clearances; the points change at the next core_feed_flush). */
typedef int (*core_web_clearance_fn)(void *ctx);
void core_web_set_clearance_hook(struct core_web *w, core_web_clearance_fn fn, void *ctx);
/* The same after a recorder box position was stored (POST /api/indications/{id}/boxpos: core_feed_boxpos). */
void core_web_set_boxpos_hook(struct core_web *w, core_web_clearance_fn fn, void *ctx);
/* The same after a handler's verdict was stored (POST /api/indications/{id}/confirm|reject: core_feed_reviews). */
void core_web_set_review_hook(struct core_web *w, core_web_clearance_fn fn, void *ctx);
/* A handler's verdict on this indication was stored (the collar's press, through ingest: core_feed_reviews):
 * the map's status of the indication follows the store's verdict in force, with an `ind` event when it
 * changed. NULL w is a no-op. */
void core_web_ind_reviewed(struct core_web *w, uint16_t collar_id, uint32_t rec_seq);
/* ,"web":{...} for the status file: url, counters (requests, streams, events, resets, writes). */
void core_web_status(const struct core_web *w, FILE *f);
/* "http://127.0.0.1:8080/" of the bound socket. */
const char *core_web_url(const struct core_web *w);

#endif

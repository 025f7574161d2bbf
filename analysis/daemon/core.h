/*
 * analysis/daemon/core.h — scentrack-core's private pieces: configuration (core_config.c) and the work done
 * after every committed batch (core_feed.c: publish, hazard engine). The shell is core_main.c.
 */
#ifndef SCENTRACK_CORE_H
#define SCENTRACK_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "an/geo.h"
#include "an/hazard.h"
#include "an/ingest.h"
#include "an/pub.h"
#include "an/store.h"
#include "web.h"

#define CORE_PATH_MAX 512u
#define CORE_DEFAULT_FILE "/etc/scentrack/core.ini"
/* Implicit sessions (no task/session set up in the store): one per collar, session id = animal id =
 * CORE_IMPLICIT_BASE + collar_id, far above any store row id, species rat. */
#define CORE_IMPLICIT_BASE (1ull << 40)

enum { CORE_LOG_ERR = 3, CORE_LOG_WARN = 4, CORE_LOG_NOTE = 5, CORE_LOG_INFO = 6, CORE_LOG_DEBUG = 7 };
void core_log(int level, const char *subsys, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void core_log_set_level(int level);
/* The daemon's clocks (core_clock.c): monotonic for timeouts and durations, UTC for what people read. */
uint64_t core_mono_ms(void);
uint64_t core_mono_us(void);
uint64_t core_utc_ms(void);

struct core_config {
	char file[CORE_PATH_MAX];
	/* [core] */
	char db[CORE_PATH_MAX];
	char status_file[CORE_PATH_MAX];
	int log_level;
	unsigned stats_interval_s;
	/* [ingest] */
	char ingest_endpoint[AN_INGEST_ENDPOINT_MAX];
	char secret_key[CORE_PATH_MAX];
	char allow[CORE_PATH_MAX];
	char zap_domain[64];
	unsigned credit;
	/* [pub] [snapshot] */
	char pub_endpoint[AN_INGEST_ENDPOINT_MAX];
	unsigned pub_sndhwm;
	unsigned long max_items;
	char snap_endpoint[AN_INGEST_ENDPOINT_MAX];
	/* [hazard] */
	bool hazard;
	bool has_origin;
	int32_t origin_lat_e7, origin_lon_e7;
	int64_t eps_mm; /* AN_HAZARD_EPS_DERIVED (0) = per pair from h_acc ("auto") */
	bool require_handler; /* only INDs the handler marked (src button or both) are hazard evidence */
	double density_per_m2; /* fusion prior: explosive items per m² from the task's survey; 0 = fusion default */
	bool box_frame;        /* place passes in their box's lanes (an/boxframe.h) */
	uint32_t pinpoint_rat_mm, pinpoint_dog_mm; /* the animals' own pinpointing, DRMS (an/hazard.h opts) */
	bool handler_verdicts;                     /* the handler's confirm/reject as evidence (an/fusion.h) */
	double handler_confirm_true, handler_confirm_false; /* c_T, c_F: 0 < c_F < c_T < 1 */
	double p_excavate;
	unsigned agree_animals;
	/* [clearance] (core_clearance.c) */
	char clr_endpoint[AN_INGEST_ENDPOINT_MAX]; /* "" = off */
	/* [web] (web.h) */
	struct core_web_config web;
};

void core_config_defaults(struct core_config *c);
/* Errors are logged as "file:line: [section] key: why". @retval 0; -ENOENT/-EACCES; -EINVAL */
int core_config_load(struct core_config *c, const char *path) __attribute__((warn_unused_result));
int core_log_level_parse(const char *s);

/* One local frame = one hazard engine: a task of the store (task_id > 0) or the implicit frame (0). */
struct core_frame {
	int64_t task_id;
	struct an_geo_origin origin;
	bool has_origin;
	struct an_hazard_engine *eng;
	struct an_hazard_input *in; /* inputs of the batch being fed */
	size_t n_in, cap_in;
	struct an_geo_box_patch **pbufs; /* the session inputs' patches, owned until the apply that takes them */
	size_t n_pbufs, cap_pbufs;
	struct an_hazard_event *evs; /* events of the last apply (stored; RETIRED ones also published) */
	size_t n_evs, cap_evs;
	bool ind_in;                 /* the last apply had an indication or clearance (points may have moved) */
	struct an_hazard_store_cache stored; /* what the last sync wrote: only changed points are rewritten */
};

struct core_gw {
	uint16_t gw_id;
	struct an_pub_gw st;
};

struct core_feed_stats {
	uint64_t batches, fixes_pub, inds_pub, hazard_pub, gw_pub;
	uint64_t pub_errors;        /* an_pub_* failed (stream full, send error) */
	uint64_t hazard_applies, hazard_errors, hazard_inputs;
	uint64_t hazard_apply_us_max, hazard_apply_us_total;
	uint64_t hazard_syncs, hazard_sync_errors; /* an_hazard_store_sync: state written to the store */
	uint64_t ind_completions;   /* IND records completing an earlier one: stored, not published */
	uint64_t ind_no_pos;        /* indications without a position: published, not clustered */
	uint64_t ind_unmarked;      /* classifier-only indications with require_handler: published, not evidence */
	uint64_t out_of_frame;      /* positions beyond the frame's range */
	uint64_t lookup_errors;     /* store reads after a commit failed */
	uint64_t loaded_fixes, loaded_inds;
	uint64_t clearances_fed;    /* clearance results given to the engines */
	uint64_t calibrations_fed;  /* calibration records read from the store and given to the task frames */
	uint64_t boxpos_fed;        /* recorder box positions read from the store and given to the task frames */
	uint64_t reviews_fed;       /* handler verdicts read from the store and given to every frame */
};

struct core_feed {
	struct an_store *store;
	struct an_pub *pub;
	const struct core_config *cfg;
	struct core_frame *frames;
	size_t n_frames;
	uint64_t *sessions; /* store sessions already given to the engines (sorted) */
	size_t n_sessions, cap_sessions;
	struct core_gw *gws;
	size_t n_gws;
	uint32_t max_h_acc_mm; /* fixes of store sessions the engine gets: the box frame's limit */
	uint32_t max_h_acc_coverage_mm; /* other fixes: the coverage's usable ones only (an_coverage_opts) */
	bool loading;        /* start-up: fill the PUB state without publishing */
	struct core_feed_stats st;
	struct an_ingest_sink store_sink; /* the real store sink the wrapper calls */
	struct sqlite3_stmt *q_rec, *q_fix_xy, *q_ind_xy, *q_session;
	int64_t clr_last_id; /* clearance results up to this id were given to the engines */
	/* every calibration record, recorder box position and handler verdict read, for the frames created later
	 * (handler verdicts go to the implicit frame too: its indications are collars' like the others) */
	struct an_hazard_input *task_inputs;
	size_t n_task_inputs, cap_task_inputs;
	int64_t cal_last_id; /* calibration records up to this id were read */
	int64_t bp_last_id; /* box positions up to this id were read */
	int64_t rv_last_id; /* handler verdicts up to this id were read */
	/* told of every verdict read live (not at start-up): the web map's indication status */
	void (*on_review)(void *ctx, uint16_t collar_id, uint32_t rec_seq);
	void *on_review_ctx;
};

/* Rebuild the PUB state and the hazard engines from the store (nothing published). @retval 0, -errno */
int core_feed_open(struct core_feed *f, struct an_store *s, struct an_pub *p, const struct core_config *cfg)
	__attribute__((warn_unused_result));
void core_feed_close(struct core_feed *f);
/* The ingest sink: commits through the store, then publishes and feeds the hazard engine. */
void core_feed_sink(struct core_feed *f, struct an_ingest_sink *sink);
/* Run the hazard engines on the inputs collected since the last call, publish their events.
 * @retval 0; the first engine error (the record stays stored and published; its contribution is lost) */
int core_feed_flush(struct core_feed *f);
size_t core_feed_hazard_points(const struct core_feed *f);
/* Give the engines the clearance results stored since the last call (task frames; engine id =
 * an_hazard_clearance_id, ind_ref = the row's hazard_id, which is a canonical hazard id = an indication id).
 * Call core_feed_flush after. @retval 0 or -errno */
int core_feed_clearances(struct core_feed *f) __attribute__((warn_unused_result));

/* Give every task frame's engine the calibration records stored since the last call (start-up: all of them;
 * the engine keeps each animal's latest, an/hazard.h, and rescoring every point is its full recompute).
 * Frames created later get every record read so far. Call core_feed_flush after. @retval 0 or -errno */
int core_feed_calibrations(struct core_feed *f) __attribute__((warn_unused_result));
/* The same for the data recorder's box positions (an/store.h; start-up: all of them). Every task frame gets
 * every entry: an entry names an indication, not a frame, and the engine of the indication's frame uses it
 * (the others keep it unused; an entry may come before its indication). @retval 0 or -errno */
int core_feed_boxpos(struct core_feed *f) __attribute__((warn_unused_result));
/* The same for the handlers' verdicts (an/store.h "handler verdicts"; start-up: all of them), given to every
 * frame, the implicit one too: from the collar (stored by ingest: called after every commit) and from the web
 * API. The engine of the indication's frame weighs the verdict in force (an/hazard.h). @retval 0 or -errno */
int core_feed_reviews(struct core_feed *f) __attribute__((warn_unused_result));

/* ---- clearance results over ZeroMQ (core_clearance.c) ---------------------------------------------------- */
#include <zmq.h>
#define CORE_CLR_BODY_MAX (256ll << 20)
struct core_clr_stats {
	uint64_t requests, imports, inserted, refused, send_errors;
	uint64_t cal_imports, cal_inserted; /* CALIBRATION requests imported, records stored */
	uint64_t bp_imports, bp_inserted;   /* BOXPOS requests imported, entries stored */
};
struct core_clr {
	void *sock; /* NULL = off */
	struct an_store *store;
	struct core_feed *feed;
	char endpoint[AN_INGEST_ENDPOINT_MAX];
	struct core_clr_stats st;
};
/* endpoint "" = off (returns 0, no socket). @retval -EINVAL not a local endpoint; -EIO bind failed */
int core_clr_open(struct core_clr *c, void *zctx, const char *endpoint, struct an_store *store, struct core_feed *feed,
                  char *err, size_t errcap) __attribute__((warn_unused_result));
void core_clr_close(struct core_clr *c);
size_t core_clr_pollitems(struct core_clr *c, zmq_pollitem_t *it); /* 0 or 1 item */
int core_clr_service(struct core_clr *c);                          /* every pending request; -EIO */

#endif

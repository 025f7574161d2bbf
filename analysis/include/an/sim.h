/*
 * an/sim.h — deterministic simulator of a mine action task: the GROUND TRUTH the pipeline is scored against,
 * and the streams the collars would produce (NMEA, accelerometer, handler button), plus a shared-channel
 * radio model for later gateway tests.
 *
 * Determinism. Everything is drawn from one 64-bit seed through PCG32 substreams (one per purpose and per
 * animal: adding a dog does not move a single target). No libc rand(), no clock, no hash-table order, no
 * -ffast-math: the same scenario and seed give byte-identical files on one machine (libm's last ulp may
 * differ between libcs; outputs are rounded to mm / 1e-7° / 1e-5 minute before printing).
 *
 * WORLD (an_sim_world_build). Sources are domain.md and analysis.md sections, cited at each model:
 *  - Task: a local ENU frame about the task origin (an/geo.h); the box layout is rotated by `bearing_deg`.
 *  - Rat boxes 5 × 20 m (domain.md §1.1, §6.6): 40 lanes of 0.5 m; each lane runs along the 5 m rope between
 *    the two handlers, who stand in the safe lanes beside the box and step 0.5 m after every pass, so the rat
 *    runs the lanes boustrophedon. Dog boxes: traverses `dog_lane_len_m` long, 0.6 m sideways step between
 *    traverses (domain.md §1.2). Boxes are laid out with 1 m safe lanes between them.
 *  - Passes: each rat box gets a primary pass, a second-animal pass by another rat and, for a fraction
 *    `qc_fraction` of boxes, a QC pass by a third rat (domain.md §1.1 "one to three rats", §1.4); each dog
 *    box a primary and a second dog ("two dogs = clearance", §1.2). `passes` (default 2, at most
 *    AN_SIM_PASSES_MAX) is the number of FULL passes of every task box: with 3 or 4, the third and fourth
 *    animals search the whole box after the one before (kind second, like the second pass), and QC and the
 *    comparison below come after the last of them (scentrack sim README: what a third pass costs). One
 *    animal per box at a time, several boxes worked at once, so passes of different animals overlap in
 *    time. No animal searches a task box twice: the QC pass and every confirmation are an animal that has
 *    not searched the box yet.
 *  - Confirmation (domain.md §1.1 "one to three rats are used consecutively", "handlers run many rats over
 *    each row in case the first one misses a mine"; scenario `confirm`, default yes): when all the
 *    full passes of a box are done (primary and second; `passes`), the team leader compares their PEGS (the
 *    indication positions, what the team sees on the ground, never the truth): a peg of one full pass with
 *    no peg of another full pass of the box within `confirm_radius_m` (1 m, the correct-indication rule) is
 *    disputed. A box with disputed pegs gets a confirmation pass (kind confirm) by another animal — none
 *    of the full passes' animals; of the box's species if the scenario has one left, else of the other
 *    species — over PATCHES: per disputed peg the box's lanes `confirm_rat_lanes` × `confirm_rat_len_m`
 *    (rat boxes, 4 × 2 m) or `confirm_dog_lanes` × `confirm_dog_len_m` (dog boxes, 6 × 4 m) centred on
 *    the peg and shifted to lie inside the box; overlapping patches merge into their bounding patch; the
 *    patches are searched in lane order, each boustrophedon, the animal taken between them along the safe
 *    lane at the nearer lane end. The pass's area_m2 is the patches' area; exposures only for targets
 *    inside them; false indications at the animal's rate over that area. A confirmation by the box's own
 *    species goes before opening another box (the team closes the boxes in hand first) unless the animal
 *    would wait more than 2 min for it; one by the other species when that animal has nothing earlier
 *    of its own; a job no animal takes before the day ends is not done. ROUNDS (`confirm_rounds`,
 *    default 1): when a confirmation
 *    pass ends, each of its disputed pegs with still no peg of another animal within confirm_radius_m
 *    (the confirming animal's, or any other pass's in the box) gets one more confirmation job over its
 *    patch, by an animal that has not searched the box yet (the box's species if one is left, else the
 *    other), up to confirm_rounds jobs per disputed peg; a peg the confirming animal alone made is not
 *    disputed again. pass.round numbers them (1, 2, ...; not in passes.csv: a box's confirm passes in time
 *    order). Confirmation passes draw from their own substreams (the k-th first-round confirmation pass;
 *    later rounds from SIM_STREAM_RECONFIRM), the other passes keep theirs (p-th non-confirmation pass):
 *    `confirm = no` writes the bytes written before it existed; `confirm_rounds = 1` draws and schedules
 *    exactly as before rounds existed (tests/analysis/sim/ref_seed1_rounds1).
 *  - Bouts (domain.md §1.8): rats work bouts of `rat_bout_min` (~30 min) then rest `rat_rest_min`, at most
 *    `rat_bouts` per day; dogs 15–30 min (uniform per bout) then rest `dog_rest_min`, all day.
 *  - Targets: Poisson count per box at `density_per_100m2`, classes by `mix` (AP, AT, UXO, fragment, scrap),
 *    depth and age by class (depth ranges below, OUR ASSUMPTION), at least 1 m apart. Presets: low =
 *    0.015/100 m² (Cambodia TSD: 213 items in 1.4 M m², domain.md §1.6), medium = 0.1/100 m² (Mozambique
 *    rats: 95 items in 93 400 m²), dense = 2/100 m² (OUR ASSUMPTION: a mined belt). A blind accreditation
 *    box (200 m² per rat, double-blind, domain.md §2 / §6.2 G9) holds `blind_targets` targets on a 2 m grid
 *    of candidate spots plus as many scrap distractors, buried 50–200 mm, 30–365 days before.
 *  - Sensitivity (per animal, per target exposure = the target lies in the lane the animal searched):
 *        logit p = logit(s_class) − k_depth·max(0, depth − 100 mm)/100 mm − k_temp·(T − 25 °C)
 *                  + k_hum·(H − 60 %)/10 − k_fatigue·max(0, minute_of_bout − fatigue_onset)/10
 *    s_scrap = 0 (no explosive). Rats degrade with heat and improve with humidity (McLean & Sargisson,
 *    domain.md §1.1, §3.5 of analysis.md); dogs get k_hum = 0 and a smaller k_temp. Fatigue after ~30 min
 *    (domain.md §1.7 NatGeo quote, §1.8). Age is recorded but is NOT in the model (no source).
 *  - False indications: homogeneous Poisson process per m² searched at the animal's rate λ (rats default
 *    0.33–0.40 per 100 m², Poling 2011 / Edwards 2015, domain.md §1.6), independent of heat and fatigue, at
 *    uniform positions in the searched lanes.
 *  - Localisation: the animal indicates at target + N(0, loc_sigma²) per axis (rats 0.15–0.35 m: the 1 m
 *    rule, domain.md §1.1; dogs 0.4–0.8 m: "MDD pinpointing is weak", §1.2).
 *  - Behaviour: rat scratch bout (log-normal, median `ind_median_s` ~3 s), dog sit-and-stare (median ~8 s),
 *    then a reward pause; handler confirms (p_confirm_true / p_confirm_false) with a short button press, or
 *    rejects with a long press (sim convention, see the button file).
 *  - GNSS per collar (an_sim_gnss): per-axis first-order Gauss–Markov error, σ = CEP / 1.1774 (circular
 *    normal: CEP = σ·√(2 ln 2)), e_k+1 = φ e_k + σ√(1−φ²) w, φ = exp(−Δt/τ). Classes (domain.md §5.5,
 *    analysis.md §1.4): consumer 2.5 m CEP τ 60 s, SBAS 1.0 m τ 90 s, RTK float 0.25 m τ 20 s, RTK fixed
 *    0.012 m τ 10 s (1 cm + 1 ppm at a 2 km baseline). Under canopy rectangles every class falls back to
 *    autonomous (GGA quality 1) with `canopy_cep_m` (10–20 m, §5.5), through a second Gauss–Markov term whose
 *    weight ramps over 10 s, and loses fixes in bursts (`canopy_fix_loss`). GST σ_lat/σ_lon are the model's
 *    current per-axis σ, so h_acc decoded from GST is the error model's own DRMS.
 *  - Motion (an_sim_motion): our own footfall-pulse gait model, see sim_motion.c.
 *
 * FILES written by an_sim_write() into a directory (all CSV with a header line; times in UTC ms since
 * 1970 unless named t_ms, which is the collar's own clock: t_ms = utc_ms − boot_utc_ms, see animals.csv):
 *   manifest.txt        seed, scenario, counts, file list
 *   boxes.csv           box,kind,lane_width_mm,lane_count,lane_len_mm,p0_e_mm,p0_n_mm,along_e,along_n,
 *                       across_e,across_n,p0_lat,p0_lon,area_m2
 *   truth.csv           id,class,lat,lon,x_mm,y_mm,depth_mm,box,age_days,along_mm,across_mm  (x east, y north
 *                       of the task origin; along/across in the box frame of an/geo.h)
 *   animals.csv         every true parameter of every animal (header names the units)
 *   passes.csv          pass,animal,box,kind(primary|second|qc|blind|confirm),t0_utc_ms,t1_utc_ms,bout,area_m2,
 *                       temp_c,hum_pct,n_true,n_false
 *   patches.csv         pass,box,lane0,lanes,along0_mm,along1_mm,area_m2 — confirmation patches (box frame);
 *                       written only when the scenario has confirm = yes
 *   exposures.csv       target,pass,animal,t_utc_ms,p_detect,detected
 *   history.csv         animal,source,as_of_utc_ms,hits,misses,false_inds,area_m2,s_hist (HISTORY below; a
 *                       header only when every animal is new; not listed in manifest.txt, which is unchanged)
 *   indications.csv     id,t_utc_ms,dur_ms,animal,pass,box,kind,target(-1 = false),x_mm,y_mm,lat,lon,
 *                       offset_mm,handler(confirm|reject),press_utc_ms,press_ms
 *   boxpos.csv          id,animal,pass,box,lane,along_m,sd_m — the data recorder's sheet (RECORDER below;
 *                       id = the indication's; only with recorder = yes; not listed in manifest.txt)
 *   track_<A>.csv       t_utc_ms,x_mm,y_mm,lat,lon,behaviour — true position every second the collar is on
 *   collar_<A>.nmea     1 Hz RMC VTG GGA GSA GST (GST only with a fix), CRLF, checksums
 *   collar_<A>.accel.csv  t_ms,x_mg,y_mg,z_mg at 50 Hz during work bouts (same columns as cf-motion-gen);
 *                       or .accel.bin: little-endian records {u32 t_ms; i16 x,y,z} (10 bytes) with --accel bin
 *   collar_<A>.labels.csv t0_ms,t1_ms,class — behaviour segments of the accel stream
 *   collar_<A>.button.csv t_ms,level — raw button contact (1 closed) with contact bounce
 */
#ifndef AN_SIM_H
#define AN_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "an/geo.h"

/* ---------------------------------------------------------------- random numbers (PCG32, O'Neill 2014) */
struct an_sim_rng {
	uint64_t state, inc;
	bool has_spare;
	double spare;
};
/* Stream `stream` of `seed`: different streams are independent sequences. */
void an_sim_rng_init(struct an_sim_rng *r, uint64_t seed, uint64_t stream);
uint32_t an_sim_rng_u32(struct an_sim_rng *r);
double an_sim_rng_unit(struct an_sim_rng *r);                   /* [0, 1), 53 bits */
double an_sim_rng_uniform(struct an_sim_rng *r, double lo, double hi);
double an_sim_rng_normal(struct an_sim_rng *r);                 /* N(0, 1), Marsaglia polar */
double an_sim_rng_exp(struct an_sim_rng *r, double mean);
double an_sim_rng_lognormal(struct an_sim_rng *r, double median, double sigma_log);
uint32_t an_sim_rng_poisson(struct an_sim_rng *r, double mean);   /* exact for mean < 500, normal beyond */
bool an_sim_rng_bernoulli(struct an_sim_rng *r, double p);

/* ---------------------------------------------------------------- scenario */
#define AN_SIM_NAME_MAX 16u
#define AN_SIM_ANIMALS_MAX 64u
#define AN_SIM_RECTS_MAX 16u
#define AN_SIM_BOXES_MAX 400u
#define AN_SIM_CONFIRM_ROUNDS_MAX 8u
/* full passes per task box (`[layout] passes`): 2 the programme's SOP, 3..4 the what-if of more animals */
#define AN_SIM_PASSES_MIN 2u
#define AN_SIM_PASSES_MAX 4u

enum an_sim_species { AN_SIM_RAT = 1, AN_SIM_DOG = 2 };
enum an_sim_rx { AN_SIM_RX_CONSUMER = 0, AN_SIM_RX_SBAS, AN_SIM_RX_RTK_FLOAT, AN_SIM_RX_RTK_FIXED, AN_SIM_RX_COUNT };
enum an_sim_tclass { AN_SIM_T_AP = 0, AN_SIM_T_AT, AN_SIM_T_UXO, AN_SIM_T_FRAG, AN_SIM_T_SCRAP, AN_SIM_T_COUNT };
enum an_sim_box_kind { AN_SIM_BOX_RAT = 0, AN_SIM_BOX_DOG, AN_SIM_BOX_BLIND };
enum an_sim_pass_kind { AN_SIM_PASS_PRIMARY = 0, AN_SIM_PASS_SECOND, AN_SIM_PASS_QC, AN_SIM_PASS_BLIND,
			 AN_SIM_PASS_CONFIRM, AN_SIM_PASS_KINDS };
enum an_sim_beh {
	AN_SIM_B_REST = 0, /* collar on, animal resting: no accelerometer stream */
	AN_SIM_B_WALK,
	AN_SIM_B_TROT,
	AN_SIM_B_STAND,
	AN_SIM_B_SIT,      /* dog indication (sit and stare) */
	AN_SIM_B_SCRATCH,  /* rat indication */
	AN_SIM_B_SNIFF,    /* sniff-pause */
	AN_SIM_B_SHAKE,
	AN_SIM_B_COUNT
};

/* Rectangle in local metres (east/north of the origin, NOT rotated by the layout bearing). */
struct an_sim_rect {
	double e0_m, n0_m, e1_m, n1_m;
};

/*
 * One animal as the scenario gives it. Every double left NAN is drawn from the species' population range
 * (sim_world.c, table "population"), so a scenario can pin exactly the parameters a test needs.
 */
struct an_sim_animal_cfg {
	char name[AN_SIM_NAME_MAX];
	int species;         /* enum an_sim_species */
	int rx;              /* enum an_sim_rx */
	bool blind;          /* takes the accreditation test */
	double sens[AN_SIM_T_COUNT]; /* base per-exposure sensitivity by class (scrap is forced to 0) */
	double false_per_100m2;
	double loc_sigma_m;  /* per-axis sd of the indication point around the target */
	double k_depth, k_temp, k_hum, k_fatigue, fatigue_onset_min;
	double speed_m_s;    /* mean search speed along a lane */
	double ind_median_s; /* median indication (scratch / sit) duration */
	double p_confirm_true, p_confirm_false;
	double cep_m, tau_s; /* GNSS override of the receiver class default */
	/* the trainers' history before the day (an_sim_history_build); NAN = the scenario's [history] value */
	double history_targets, history_m2;
};

struct an_sim_scenario {
	char name[32];
	int32_t origin_lat_e7, origin_lon_e7, origin_alt_mm;
	double geoid_sep_m;      /* geoid above ellipsoid, GGA field 11 */
	int32_t year, month, day;
	uint32_t start_s;        /* UTC seconds of day when the first animal starts */
	uint32_t day_len_s;      /* no pass starts after start + day_len */
	double bearing_deg;      /* layout rotation: lanes' along-axis bearing from north, clockwise */
	double temp_min_c, temp_max_c, hum_min_pct, hum_max_pct; /* min at start, max at 14:00 UTC (hum inverse) */
	uint32_t rat_boxes, dog_boxes;
	uint32_t dog_lanes;      /* lanes per dog box (0.6 m each) */
	double dog_lane_len_m;
	double density_per_100m2;
	double mix[AN_SIM_T_COUNT]; /* relative weights */
	double qc_fraction;
	uint32_t passes;         /* full passes per task box by different animals, AN_SIM_PASSES_MIN..MAX (2) */
	double rat_bout_min, rat_rest_min, dog_bout_min_lo, dog_bout_min_hi, dog_rest_min;
	uint32_t rat_bouts;
	uint32_t blind_targets;  /* 0: no accreditation box */
	bool confirm;            /* confirmation search of disputed pegs (an/sim.h "Confirmation") */
	double confirm_radius_m; /* a peg with a peg of the other animal this close is not disputed */
	uint32_t confirm_rounds; /* confirmation jobs a disputed peg can get, 1 .. AN_SIM_CONFIRM_ROUNDS_MAX */
	uint32_t confirm_rat_lanes, confirm_dog_lanes;  /* patch: lanes of the box across ... */
	double confirm_rat_len_m, confirm_dog_len_m;    /* ... × this long along them, by box kind */
	bool recorder;           /* the data recorder writes each indication's box position (an/sim.h "RECORDER") */
	double recorder_rat_sd_m, recorder_dog_sd_m;    /* along-the-lane error of that position, by species */
	double canopy_cep_m, canopy_fix_loss;
	struct an_sim_rect canopy[AN_SIM_RECTS_MAX];
	uint32_t n_canopy;
	struct an_sim_animal_cfg animals[AN_SIM_ANIMALS_MAX];
	uint32_t n_animals;
	double history_targets, history_m2; /* [history] targets, m2: every animal's unless it sets its own */
};

/* Defaults (documented in analysis/scenarios/README.md). */
void an_sim_scenario_defaults(struct an_sim_scenario *sc);

/*
 * Parse an INI scenario (format: analysis/scenarios/README.md) on top of the current contents of sc
 * (call an_sim_scenario_defaults first). On error writes "file:line: what" into err.
 * @retval -EINVAL syntax error, unknown section/key, bad value; -ENOENT/-EIO file cannot be read
 */
int an_sim_scenario_load(struct an_sim_scenario *sc, const char *path, char *err, size_t err_len)
	__attribute__((warn_unused_result));
int an_sim_scenario_parse(struct an_sim_scenario *sc, const char *text, const char *name, char *err,
			  size_t err_len) __attribute__((warn_unused_result));

/* ---------------------------------------------------------------- the generated world (ground truth) */
struct an_sim_box {
	char id[8];
	int kind;                /* enum an_sim_box_kind */
	struct an_geo_box geo;
	double area_m2;
};

struct an_sim_target {
	uint32_t id;
	int cls;                 /* enum an_sim_tclass */
	int64_t e_mm, n_mm;
	int32_t depth_mm;
	uint32_t age_days;
	uint32_t box;
};

/* True parameters of one animal (the scenario's values, or drawn). */
struct an_sim_animal {
	struct an_sim_animal_cfg p; /* every field resolved, no NAN left */
	uint32_t index;
	int64_t boot_utc_ms;       /* collar clock zero */
	int64_t on_utc_ms, off_utc_ms; /* collar switched on / off (track and NMEA span) */
	double roll_rad;           /* collar slip about x (motion model) */
	double accel_noise_mg, accel_bias_mg[3];
};

struct an_sim_leg {
	int64_t t0_ms, t1_ms;      /* UTC; position moves linearly from p0 at t0 to p1 at t1 */
	int64_t e0_mm, n0_mm, e1_mm, n1_mm;
	uint8_t beh;               /* enum an_sim_beh */
	int32_t pass;              /* -1 outside passes */
};

struct an_sim_track {
	struct an_sim_leg *legs;
	size_t n, cap;
};

struct an_sim_pass {
	uint32_t id, animal, box, bout;
	int kind;                  /* enum an_sim_pass_kind */
	int64_t t0_ms, t1_ms;
	double area_m2, temp_c, hum_pct;
	uint32_t n_true, n_false;
	uint32_t round;            /* confirmation: 1 the first round, 2 the next, ...; 0 other kinds (not in passes.csv) */
};

/* One patch of a confirmation pass: lanes lane0 .. lane0 + lanes - 1 of the box, along0_mm .. along1_mm
 * along them (box frame, an/geo.h); always inside the box. Patches of one pass do not overlap. */
struct an_sim_patch {
	uint32_t pass, box, lane0, lanes;
	int64_t along0_mm, along1_mm;
};

struct an_sim_ind {
	uint32_t id, animal, pass, box;
	int64_t t_ms;              /* onset, UTC */
	uint32_t dur_ms;
	int beh;                   /* AN_SIM_B_SCRATCH or AN_SIM_B_SIT */
	int32_t target;            /* index into targets, -1 = false indication */
	int64_t e_mm, n_mm;        /* where the animal indicated */
	bool confirmed;            /* handler's decision */
	int64_t press_ms;          /* UTC of the handler's button press */
	uint32_t press_len_ms;
};

struct an_sim_exposure {
	uint32_t target, pass, animal;
	int64_t t_ms;
	double p;
	bool hit;
};

/*
 * RECORDER (an_sim_recorder_build, run by an_sim_world_build; scenario [schedule] `recorder`, default yes):
 * the data recorder's sheet (domain.md §1.1: the rat's location is written as box x and y). For every
 * indication: lane = the lane of the box the animal indicated in (the handlers count lanes; clamped to the
 * box), along = where it indicated along that lane + N(0, σ), σ = `recorder_rat_sd_m` (0.15 m: marks on the
 * rope) or `recorder_dog_sd_m` (0.3 m: a tape to the peg) by the animal's species, clamped to 0 .. lane length
 * + 0.5 m. Drawn on its own substream (SIM_STREAM_RECORDER), after everything else: `recorder = no` leaves
 * every other draw and file as it was, and only then is boxpos.csv not written (not listed in manifest.txt).
 */
struct an_sim_boxpos {
	uint32_t ind;     /* index into inds */
	uint32_t lane;    /* 0-based in the indication's box */
	int64_t along_mm; /* from the lane's start */
	uint32_t sd_mm;   /* the σ it was drawn with (what the sheet's sd_m column says) */
};

/*
 * HISTORY (an_sim_history_build, run by an_sim_world_build): what the trainers' record says about each animal
 * before the day, drawn from its TRUE parameters and never from the day's outcomes, on its own PCG substream
 * (SIM_STREAM_HISTORY(i)): nothing else in the world moves when it is on, off or changed.
 *   n = history_targets explosive-target exposures in earlier accreditation and training boxes (0 = a NEW
 *   animal: no record); hits ~ Binomial(n, s_hist), misses = n − hits;
 *   s_hist = the detection model's mean p over the conditions of those boxes: explosive classes by the
 *   scenario's mix (AP, AT, UXO weights), depth uniform over the class's burial range (sim_world.c), the
 *   temperature and humidity of the scenario's day curve at uniformly spread times of the working day, no
 *   fatigue (a 100 m² training box takes 15–20 min, below every animal's fatigue onset);
 *   false indications ~ Poisson(λ · history_m2), λ = the animal's false_per_100m2 / 100.
 * Two records per animal, cumulative like a trainer's accuracy report: 'accreditation' 60 days before the
 * day with the first third of the exposures and area, and 'training' the day before with all of them
 * (the one in force). Written to history.csv; `scentrack sim --run` stores them as calibration records and
 * `--evaluate --in-process` feeds the same counts to the hazard engine.
 */
#define AN_SIM_HISTORY_TARGETS_DEFAULT 120.0
#define AN_SIM_HISTORY_M2_DEFAULT 3000.0
enum an_sim_hist_src { AN_SIM_HIST_ACCREDITATION = 1, AN_SIM_HIST_TRAINING = 2 }; /* = enum an_calib_source */
struct an_sim_history {
	uint32_t animal;           /* index into animals */
	int src;                   /* enum an_sim_hist_src */
	int64_t as_of_ms;          /* UTC */
	uint32_t hits, misses, false_inds; /* cumulative as of as_of_ms */
	double area_m2;
	double s_hist;             /* the true mean detection probability the hits were drawn from */
};

struct an_sim_world {
	struct an_sim_scenario sc;
	uint64_t seed;
	struct an_geo_origin origin;
	int64_t day0_utc_ms;       /* midnight UTC of the scenario date */
	struct an_sim_box *boxes;
	uint32_t n_boxes;
	struct an_sim_target *targets;
	uint32_t n_targets;
	struct an_sim_animal *animals;
	struct an_sim_track *tracks; /* one per animal */
	uint32_t n_animals;
	struct an_sim_pass *passes;
	uint32_t n_passes, cap_passes;
	struct an_sim_ind *inds;
	uint32_t n_inds, cap_inds;
	struct an_sim_exposure *exps;
	uint32_t n_exps, cap_exps;
	struct an_sim_patch *patches; /* confirmation patches, in pass order */
	uint32_t n_patches, cap_patches;
	struct an_sim_history *hist; /* by animal, then as_of (the last of an animal's is in force) */
	uint32_t n_hist;
	struct an_sim_boxpos *rec; /* the recorder's sheet (RECORDER above), in indication order */
	uint32_t n_rec;
};

/* Build everything (no streams). @retval -EINVAL bad scenario (reason in err), -ENOMEM */
int an_sim_world_build(struct an_sim_world *w, const struct an_sim_scenario *sc, uint64_t seed, char *err,
		       size_t err_len) __attribute__((warn_unused_result));
void an_sim_world_free(struct an_sim_world *w);

/* The RECORDER sheet: w->rec (n_rec = n_inds, or 0 with recorder = no; again = rebuilt). @retval -ENOMEM */
int an_sim_recorder_build(struct an_sim_world *w) __attribute__((warn_unused_result));
/* The HISTORY above for every animal of w (called by an_sim_world_build; again = rebuilt). @retval -ENOMEM */
int an_sim_history_build(struct an_sim_world *w) __attribute__((warn_unused_result));
/* The model's mean detection probability of animal a under the history's test conditions (s_hist above). */
double an_sim_history_sens(const struct an_sim_world *w, uint32_t a);

/* Truth helpers */
int an_sim_track_at(const struct an_sim_track *t, int64_t utc_ms, size_t *hint, int64_t *e_mm, int64_t *n_mm,
		    int *beh) __attribute__((warn_unused_result));
bool an_sim_in_canopy(const struct an_sim_scenario *sc, int64_t e_mm, int64_t n_mm);
double an_sim_temp_c(const struct an_sim_world *w, int64_t utc_ms);
double an_sim_hum_pct(const struct an_sim_world *w, int64_t utc_ms);
const char *an_sim_tclass_name(int cls);
const char *an_sim_beh_name(int beh);
const char *an_sim_rx_name(int rx);
const char *an_sim_pass_kind_name(int kind);

/* Summary counts (what --fast prints). */
struct an_sim_summary {
	uint32_t rats, dogs, boxes, passes, targets_by_class[AN_SIM_T_COUNT];
	uint32_t ind_true, ind_false, confirmed, exposures, hits;
	double track_hours, search_m2;
};
void an_sim_summarize(const struct an_sim_world *w, struct an_sim_summary *s);

/* ---------------------------------------------------------------- GNSS error model and NMEA */
struct an_sim_gnss {
	int rx;
	double sigma_m, tau_s;          /* open-sky per-axis σ and correlation time */
	double canopy_sigma_m, canopy_tau_s;
	double fix_loss;                /* P(enter a fix-loss burst) per epoch under canopy */
	double ze, zn, zu;              /* unit Gauss–Markov states (open sky) */
	double ce, cn;                  /* unit Gauss–Markov states (canopy multipath) */
	double w_canopy;                /* 0..1 ramp */
	double hdop;
	bool lost;
	bool started;
	struct an_sim_rng rng;
};

struct an_sim_gnss_out {
	double de_m, dn_m, du_m;        /* error added to the truth */
	double sigma_e_m, sigma_n_m, sigma_u_m; /* the model's current 1-σ per axis (goes into GST) */
	double hdop;
	uint8_t quality;                /* GGA quality: 0 no fix, 1, 2, 4, 5 */
	uint8_t nsat;
	bool fix;
};

/* Receiver class defaults: CEP (m) and τ (s). */
double an_sim_rx_cep_m(int rx);
double an_sim_rx_tau_s(int rx);

/* cep_m / tau_s <= 0: class default. @retval -EINVAL bad class or values */
int an_sim_gnss_init(struct an_sim_gnss *g, int rx, double cep_m, double tau_s, double canopy_cep_m,
		     double canopy_fix_loss, uint64_t seed, uint64_t stream) __attribute__((warn_unused_result));
/* Advance by dt_s (first call: draws from the stationary distribution) and give this epoch's error. */
void an_sim_gnss_step(struct an_sim_gnss *g, double dt_s, bool canopy, struct an_sim_gnss_out *out);

/* One epoch as the receiver reports it. */
struct an_sim_nmea_in {
	int64_t utc_ms;                 /* whole seconds recommended */
	double lat_deg, lon_deg, alt_msl_m, geoid_sep_m;
	double sog_m_s, cog_deg;
	struct an_sim_gnss_out g;
	int rx;                         /* talker and decimals: consumer/SBAS GP 5 decimals, RTK GN 7 decimals */
};

/*
 * Format RMC, VTG, GGA, GSA, GST (GST only with a fix) with CRLF and checksums into buf.
 * lat_e7/lon_e7 (may be NULL) receive the position exactly as printed, converted to 1e-7°.
 * @return bytes written (< cap, NUL-terminated) @retval -ENOSPC buf too small, -EINVAL bad input
 */
int an_sim_nmea_format(const struct an_sim_nmea_in *in, char *buf, size_t cap, int32_t *lat_e7, int32_t *lon_e7)
	__attribute__((warn_unused_result));

/* One epoch of a collar's NMEA stream, for sinks that want the truth beside the text. */
struct an_sim_epoch {
	int64_t utc_ms;
	int64_t true_e_mm, true_n_mm;
	double true_lat_deg, true_lon_deg;
	int32_t out_lat_e7, out_lon_e7; /* as printed (valid when g.fix) */
	struct an_sim_gnss_out g;
	bool canopy;
};
typedef int (*an_sim_nmea_sink)(void *ctx, const char *text, size_t len, const struct an_sim_epoch *ep);

/* Generate animal `a`'s whole NMEA stream (1 Hz from on to off). Stops at the first sink error (returned). */
int an_sim_nmea_collar(const struct an_sim_world *w, uint32_t a, an_sim_nmea_sink sink, void *ctx)
	__attribute__((warn_unused_result));

/* ---------------------------------------------------------------- accelerometer */
/* Same fields, order and units as struct cf_accel_sample (cf/motion.h: collar body frame x along the neck or
 * spine towards the head, specific force in mg, +1000 mg up at rest). Declared here because the analysis
 * library does not see the firmware headers; sim_test.c checks that the two layouts agree. */
struct an_sim_accel {
	uint32_t t_ms; /* collar clock */
	int16_t x_mg;
	int16_t y_mg;
	int16_t z_mg;
};
typedef int (*an_sim_accel_sink)(void *ctx, const struct an_sim_accel *s);
typedef int (*an_sim_label_sink)(void *ctx, uint32_t t0_ms, uint32_t t1_ms, int beh);

/* 50 Hz samples of animal `a` during every non-REST leg, in time order; labels per leg (may be NULL). */
int an_sim_motion_collar(const struct an_sim_world *w, uint32_t a, an_sim_accel_sink sink,
			 an_sim_label_sink labels, void *ctx) __attribute__((warn_unused_result));

#define AN_SIM_ACCEL_HZ 50u

/* The handler's button of animal `a` as raw contact edges (level 1 = closed) with bounce, in time order; t_ms
 * on the collar clock (utc - boot_utc_ms). Stops at the first sink error (returned). */
typedef int (*an_sim_button_sink)(void *ctx, int64_t t_ms, int level);
int an_sim_button_edges(const struct an_sim_world *w, uint32_t a, an_sim_button_sink sink, void *ctx)
	__attribute__((warn_unused_result));

/* ---------------------------------------------------------------- writing a run */
enum an_sim_accel_fmt { AN_SIM_ACCEL_CSV = 0, AN_SIM_ACCEL_BIN, AN_SIM_ACCEL_NONE };
struct an_sim_write_opts {
	int accel;                      /* enum an_sim_accel_fmt */
	bool tracks, nmea;
};
/* Write all files into dir (must exist). @retval -errno of the failing write; err names the file */
int an_sim_write(const struct an_sim_world *w, const char *dir, const struct an_sim_write_opts *o, char *err,
		 size_t err_len) __attribute__((warn_unused_result));

/* Only history.csv (what `--run` keeps beside the store). @retval -errno; err names the file */
int an_sim_write_history(const struct an_sim_world *w, const char *dir, char *err, size_t err_len)
	__attribute__((warn_unused_result));

/* ---------------------------------------------------------------- shared radio channel */
/*
 * A shared channel between many senders (collars) and one receiver (the gateway). The caller owns the
 * clock: every call passes now_us, which must not go backwards (-ERANGE, counted). A frame occupies the
 * channel for its airtime = (overhead + len) · 8 / bitrate. Fate of a frame, decided when its airtime ends:
 *  - COLLIDED if another frame's airtime overlapped it. Pure ALOHA by default. With csma, a sender that hears
 *    the channel busy queues behind the last scheduled frame plus a uniform backoff of 0..backoff_max_us
 *    (the channel then serves frames one after another); a frame sent less than sense_us after a frame
 *    started cannot hear it yet and goes out at once (the vulnerable period). Overload therefore
 *    shows as collisions (ALOHA) or as queueing, latency and -ENOBUFS (CSMA).
 *  - LOST_OUTAGE if any part of it falls in an outage window;
 *  - LOST: Gilbert–Elliott two-state chain advanced once per frame (P(G→B) ge_p_gb, P(B→G) ge_p_bg, loss
 *    probability ge_loss_good / ge_loss_bad in each state), then independent Bernoulli p_loss;
 *  - CORRUPTED with p_corrupt (delivered, the caller should flip bits with an_sim_radio_corrupt);
 *  - else OK.
 */
#define AN_SIM_RADIO_INFLIGHT_MAX 512u
#define AN_SIM_RADIO_OUTAGES_MAX 32u

enum an_sim_radio_fate { AN_SIM_RADIO_OK = 0, AN_SIM_RADIO_COLLIDED, AN_SIM_RADIO_LOST_OUTAGE, AN_SIM_RADIO_LOST,
			 AN_SIM_RADIO_CORRUPTED };

struct an_sim_radio_cfg {
	uint32_t bitrate_bps;
	uint32_t overhead_bytes;        /* preamble, sync, header, CRC on air per frame */
	bool csma;
	uint32_t sense_us, backoff_max_us;
	double p_loss, p_corrupt;
	double ge_p_gb, ge_p_bg, ge_loss_good, ge_loss_bad;
	uint64_t seed;
};

struct an_sim_radio_stats {
	uint64_t sent, ok, collided, lost_outage, lost, corrupted, overflow, clock_errors;
	uint64_t busy_us;               /* channel occupied time (union of airtimes) */
};

struct an_sim_radio_frame {
	uint64_t id;
	uint32_t sender, len;
	int64_t start_us, end_us;
	bool collided;
};

struct an_sim_radio {
	struct an_sim_radio_cfg cfg;
	struct an_sim_radio_stats stats;
	struct an_sim_rng rng;
	struct an_sim_radio_frame fl[AN_SIM_RADIO_INFLIGHT_MAX]; /* in flight or queued, by start time */
	uint32_t n_fl;
	int64_t outage[AN_SIM_RADIO_OUTAGES_MAX][2];
	uint32_t n_outage;
	int64_t now_us, chan_free_us;
	uint64_t next_id;
	bool ge_bad;
};

struct an_sim_radio_rx {
	uint64_t id;
	uint32_t sender, len;
	int64_t start_us, end_us;
	int fate;                       /* enum an_sim_radio_fate */
};

int an_sim_radio_init(struct an_sim_radio *r, const struct an_sim_radio_cfg *cfg) __attribute__((warn_unused_result));
int64_t an_sim_radio_airtime_us(const struct an_sim_radio_cfg *cfg, uint32_t len);
/* Outage [t0, t1): nothing gets through. @retval -ENOSPC table full, -EINVAL t1 <= t0 */
int an_sim_radio_outage(struct an_sim_radio *r, int64_t t0_us, int64_t t1_us) __attribute__((warn_unused_result));
/* Queue a frame at now_us. @retval -ENOBUFS too many frames in flight/queued (counted as overflow),
 * -ERANGE clock went backwards, -EINVAL len 0 */
int an_sim_radio_send(struct an_sim_radio *r, int64_t now_us, uint32_t sender, uint32_t len, uint64_t *id,
		      int64_t *end_us) __attribute__((warn_unused_result));
/* Next frame whose airtime ended at or before now_us: 1 with *out, 0 none. -ERANGE clock backwards. */
int an_sim_radio_poll(struct an_sim_radio *r, int64_t now_us, struct an_sim_radio_rx *out)
	__attribute__((warn_unused_result));
/* Flip 1..3 random bits of buf (what a CORRUPTED frame looks like after a weak CRC-less link). */
void an_sim_radio_corrupt(struct an_sim_radio *r, uint8_t *buf, size_t len);


/* ---------------------------------------------------------------- scoring against the ground truth */
/*
 * EVALUATION (an_sim_evaluate). Hazard points (any policy's) are matched one-to-one to the world's targets:
 * all (point, target) pairs closer than gate_mm, taken in increasing distance, each point and target used
 * once, explosive targets (AP, AT, UXO) before clutter (fragment, scrap). Then
 *   detected        explosive targets with a point;   detection_rate = detected / explosive targets
 *   correct points  points matched to a clutter item whose class bit is in `correct_mask` (1u << cls): an
 *                   indication there is right, as the accuracy report's role "correct" (an/report.h POLICY;
 *                   the CLI's default is AN_SIM_EVAL_CORRECT_DEFAULT: fragments, whose explosive residue the
 *                   animals indicate by design, analysis.md §7.4); neither a detection nor a false point
 *   false points    the other points not matched to an explosive target; false_per_100m2 over `area_m2` (the
 *                   boxes' area). clutter_points of all the points not on an explosive target sit on a
 *                   fragment or scrap item, fragment_points on a fragment (whatever their role): with
 *                   correct_mask 0 every point without an explosive item under it is false
 *   error           distance point → its explosive target; median over the matched points
 *   ranking         points sorted by score (descending; ties share the precision at the end of their group):
 *                   top_decile_precision = share of the top ceil(10 %) points that are explosive,
 *                   pr_auc = average precision over ALL explosive targets (a target without a point adds
 *                   precision 0), i.e. the area under the step precision–recall curve.
 * target_of_point (may be NULL) receives per point the matched target's index in w->targets, or -1.
 */
#define AN_SIM_EXPLOSIVE(cls) ((cls) == AN_SIM_T_AP || (cls) == AN_SIM_T_AT || (cls) == AN_SIM_T_UXO)

struct an_sim_eval_point {
	int64_t e_mm, n_mm; /* task-local ENU of the world (an_sim_world.origin) */
	double score;       /* higher = more likely explosive */
	int32_t group;      /* caller's label (e.g. receiver class), reported per group in err_by_group */
};

#define AN_SIM_EVAL_GROUPS 4u
struct an_sim_eval {
	uint32_t points, explosive, detected, false_points, clutter_points;
	uint32_t fragment_points; /* of clutter_points, those on a fragment (explosive residue: the animals
	                           * indicate it by design, sens[AN_SIM_T_FRAG]); the rest sit on scrap */
	uint32_t correct_points;  /* of clutter_points, those on a class of correct_mask: not in false_points */
	double detection_rate, false_per_100m2;
	double median_err_m;                       /* NAN when nothing matched */
	double median_err_by_group_m[AN_SIM_EVAL_GROUPS];
	uint32_t matched_by_group[AN_SIM_EVAL_GROUPS];
	double top_decile_precision, pr_auc;
};

/* The classes a point may sit on without being false, by default (the accuracy report's default roles). */
#define AN_SIM_EVAL_CORRECT_DEFAULT (1u << AN_SIM_T_FRAG)

/* @retval -EINVAL gate_mm <= 0, area_m2 <= 0, or correct_mask names an explosive class (those are targets) */
int an_sim_evaluate(const struct an_sim_world *w, const struct an_sim_eval_point *pts, size_t n, int64_t gate_mm,
		    double area_m2, uint32_t correct_mask, struct an_sim_eval *out, int32_t *target_of_point)
	__attribute__((warn_unused_result));

/* What the task's survey tells the programme before any animal searched: explosive items (AP, AT, UXO) per
 * 100 m² = the scenario's density × the explosive share of its class mix. The core's fusion prior
 * ([hazard] density_per_100m2) for a simulated day; not a fitted value (no seed enters it). */
double an_sim_explosive_density_per_100m2(const struct an_sim_scenario *sc);

/*
 * COVERAGE of the trainers' view (an_sim_coverage_add): per animal of one world, the accuracy report's
 * estimators against the simulator's true parameters:
 *  - sensitivity: k hits of n exposures to explosive targets (AP, AT, UXO), two-sided Clopper–Pearson
 *    interval (an_stats_binom_cp). The truth is the mean of the per-exposure detection probabilities p
 *    the world drew from (depth, heat, humidity and fatigue move p per exposure, so "the" sensitivity of
 *    the day is that mean; k is Poisson-binomial, for which Clopper–Pearson stays conservative).
 *  - false-indication rate: k false indications over the searched area, two-sided Garwood interval per
 *    100 m² (an_stats_rate_exact); the truth is the animal's false_per_100m2.
 * Counts accumulate into *acc over worlds (seeds). Animals without explosive exposures skip the first.
 * Exact intervals guarantee coverage >= conf; with the few events one animal meets in one day they are
 * markedly conservative, which is what this measures (Wilson beside it for the sensitivity).
 */
struct an_sim_coverage {
	uint64_t sens_n, sens_cov, rate_n, rate_cov;
	uint64_t sens_below, sens_above, rate_below, rate_above; /* truth outside: below lo / above hi */
	uint64_t sens_wilson_cov; /* the same with the Wilson interval (what dashboards show) */
	uint64_t sens_k_sum, rate_k_sum; /* total hits / false indications behind the intervals */
	/* the HISTORY record in force (what the core's fusion uses), Clopper-Pearson / Garwood of its counts
	 * against the s_hist it was drawn from and the true rate; and how the day's per-exposure true p differs
	 * from s_hist (the fusion applies the record to the day's exposures): Σ (p − s_hist) over them */
	uint64_t hist_n, hist_cov, hist_rate_cov, hist_day_exps;
	double hist_day_dp_sum;
};
int an_sim_coverage_add(const struct an_sim_world *w, double conf, struct an_sim_coverage *acc)
	__attribute__((warn_unused_result));

#endif

/*
 * analysis/src/store_schema.c — the core store's schema as an ordered list of migrations.
 *
 * Rules (an/store.h has the full story):
 *  - PRAGMA user_version is the schema version: the number of migration steps applied. Step n takes a
 *    database from n-1 to n; an_store_open applies the missing steps in order, each in its own transaction
 *    together with its user_version bump, so a crash leaves the database at a step boundary.
 *  - A step is never edited once released: new columns/tables/indexes go in a new step at the end.
 *  - Units are in column names (lat_e7, h_acc_mm, t_ms, temp_dc = deci-°C). Absent = NULL, never 0 (the wire
 *    rule). Wire enumerations are stored as the wire's integers (kind, src, gga_q); lifecycle values that
 *    people read and export (status, result, mode, species) are TEXT with a CHECK, so a GeoPackage/CSV
 *    export and a QGIS user see words, and a typo in code cannot invent a new state.
 *  - Times are UTC ms since 1970 (t_ms) unless the column says t_mono_ms (collar ms since boot).
 */
#include <stddef.h>

#include "store_internal.h"

/* Step 1: the domain model (domain.md §6.3/§6.4), records, ingest bookkeeping, hazard lifecycle, audit. */
static const char *const step1[] = {
	/* ---- organisation and geometry ---- */
	"CREATE TABLE programmes ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  imsma_id TEXT,"
	"  created_ms INTEGER NOT NULL"
	");",
	/* A task (minefield) owns the local metric frame: every x_mm/y_mm below is ENU about this origin. */
	"CREATE TABLE tasks ("
	"  id INTEGER PRIMARY KEY,"
	"  programme_id INTEGER NOT NULL REFERENCES programmes(id),"
	"  name TEXT NOT NULL,"
	"  imsma_id TEXT,"
	"  origin_lat_e7 INTEGER NOT NULL CHECK (origin_lat_e7 BETWEEN -900000000 AND 900000000),"
	"  origin_lon_e7 INTEGER NOT NULL CHECK (origin_lon_e7 BETWEEN -1800000000 AND 1800000000),"
	"  origin_alt_mm INTEGER NOT NULL,"
	"  status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open','worked_on','closed')),"
	"  created_ms INTEGER NOT NULL,"
	"  UNIQUE (programme_id, name)"
	");",
	"CREATE TABLE hazard_areas ("
	"  id INTEGER PRIMARY KEY,"
	"  task_id INTEGER NOT NULL REFERENCES tasks(id),"
	"  imsma_id TEXT,"
	"  class TEXT NOT NULL CHECK (class IN ('SHA','CHA')),"
	"  status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open','worked_on','cancelled','reduced','cleared')),"
	"  polygon_geojson TEXT"
	");",
	/* Box frame: p0 = start of lane 0, p_along = end of lane 0, p_across = p0 + lane_count·lane_width
	 * (an/geo.h). The fourth corner is implied. The corners are kept as entered (degE7) and as local mm. */
	"CREATE TABLE boxes ("
	"  id INTEGER PRIMARY KEY,"
	"  task_id INTEGER NOT NULL REFERENCES tasks(id),"
	"  hazard_area_id INTEGER REFERENCES hazard_areas(id),"
	"  name TEXT NOT NULL,"
	"  p0_lat_e7 INTEGER NOT NULL, p0_lon_e7 INTEGER NOT NULL,"
	"  along_lat_e7 INTEGER NOT NULL, along_lon_e7 INTEGER NOT NULL,"
	"  across_lat_e7 INTEGER NOT NULL, across_lon_e7 INTEGER NOT NULL,"
	"  p0_x_mm INTEGER NOT NULL, p0_y_mm INTEGER NOT NULL,"
	"  along_x_mm INTEGER NOT NULL, along_y_mm INTEGER NOT NULL,"
	"  across_x_mm INTEGER NOT NULL, across_y_mm INTEGER NOT NULL,"
	"  lane_width_mm INTEGER NOT NULL CHECK (lane_width_mm > 0),"
	"  lane_count INTEGER NOT NULL CHECK (lane_count > 0),"
	"  species TEXT NOT NULL CHECK (species IN ('rat','dog')),"
	"  preparation TEXT,"
	"  blind INTEGER NOT NULL DEFAULT 0 CHECK (blind IN (0,1)),"
	"  UNIQUE (task_id, name)"
	");",
	/* ---- people, animals, devices ---- */
	"CREATE TABLE animals ("
	"  id INTEGER PRIMARY KEY,"
	"  species TEXT NOT NULL CHECK (species IN ('rat','dog')),"
	"  name TEXT NOT NULL UNIQUE,"
	"  role TEXT,"
	"  sex TEXT CHECK (sex IN ('f','m')),"
	"  birth_ms INTEGER"
	");",
	"CREATE TABLE handlers ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  role TEXT NOT NULL DEFAULT 'handler' CHECK (role IN ('handler','observer','supervisor','tester'))"
	");",
	"CREATE TABLE collars ("
	"  collar_id INTEGER PRIMARY KEY CHECK (collar_id BETWEEN 1 AND 65535),"
	"  firmware TEXT,"
	"  caps INTEGER,"
	"  boot_id INTEGER,"
	"  last_seen_ms INTEGER"
	");",
	/* Which animal wore which collar when: [from_ms, to_ms), to_ms NULL = still worn. */
	"CREATE TABLE collar_assignments ("
	"  id INTEGER PRIMARY KEY,"
	"  collar_id INTEGER NOT NULL REFERENCES collars(collar_id),"
	"  animal_id INTEGER NOT NULL REFERENCES animals(id),"
	"  from_ms INTEGER NOT NULL,"
	"  to_ms INTEGER CHECK (to_ms IS NULL OR to_ms > from_ms)"
	");",
	"CREATE INDEX collar_assignments_by_collar ON collar_assignments(collar_id, from_ms);",
	"CREATE TABLE sessions ("
	"  id INTEGER PRIMARY KEY,"
	"  box_id INTEGER NOT NULL REFERENCES boxes(id),"
	"  animal_id INTEGER NOT NULL REFERENCES animals(id),"
	"  mode TEXT NOT NULL CHECK (mode IN ('training','operational','qc','accreditation')),"
	"  start_ms INTEGER NOT NULL,"
	"  end_ms INTEGER CHECK (end_ms IS NULL OR end_ms >= start_ms),"
	"  temp_dc INTEGER,"
	"  humidity_pct INTEGER CHECK (humidity_pct BETWEEN 0 AND 100),"
	"  wind_cms INTEGER,"
	"  wind_dir_deg INTEGER CHECK (wind_dir_deg BETWEEN 0 AND 359),"
	"  abort_reason TEXT"
	");",
	"CREATE INDEX sessions_by_animal ON sessions(animal_id, start_ms);",
	"CREATE TABLE session_handlers ("
	"  session_id INTEGER NOT NULL REFERENCES sessions(id),"
	"  handler_id INTEGER NOT NULL REFERENCES handlers(id),"
	"  PRIMARY KEY (session_id, handler_id)"
	") WITHOUT ROWID;",
	/* ---- ingest ---- */
	"CREATE TABLE gateways ("
	"  gw_id INTEGER PRIMARY KEY CHECK (gw_id BETWEEN 1 AND 65535),"
	"  name TEXT,"
	"  public_key BLOB CHECK (public_key IS NULL OR length(public_key) = 32),"
	"  last_gw_seq INTEGER,"      /* every batch <= this is committed; NULL = none yet */
	"  last_batch_ms INTEGER"
	");",
	/* One row per journaled collar record (FIX or IND). (collar_id, rec_seq) is the record's identity
	 * ACROSS types: the collar numbers FIX and IND from one counter, so a second record with the same key
	 * is a duplicate whatever its type. digest (FNV-1a of the decoded fields) tells an honest duplicate
	 * from a conflicting one. The (collar_id, rec_seq, type) key lets fixes and indications reference
	 * their row with a type-checked foreign key: a FIX row and an IND row can never share a key. */
	"CREATE TABLE records ("
	"  id INTEGER PRIMARY KEY,"
	"  collar_id INTEGER NOT NULL REFERENCES collars(collar_id),"
	"  rec_seq INTEGER NOT NULL CHECK (rec_seq BETWEEN 0 AND 4294967295),"
	"  type INTEGER NOT NULL CHECK (type IN (2, 4)),"   /* proto: 2 = FIX, 4 = IND */
	"  digest INTEGER NOT NULL,"
	"  gw_id INTEGER NOT NULL REFERENCES gateways(gw_id),"
	"  gw_seq INTEGER NOT NULL,"
	"  rx_ms INTEGER NOT NULL,"
	"  link INTEGER NOT NULL,"
	"  rssi_dbm INTEGER,"
	"  snr_db10 INTEGER,"
	"  raw BLOB,"                                         /* the authenticated frame, if it carried one */
	"  raw_record_id INTEGER REFERENCES records(id),"     /* ... else the record whose raw frame it came in */
	"  UNIQUE (collar_id, rec_seq),"
	"  UNIQUE (collar_id, rec_seq, type)"
	");",
	"CREATE TABLE fixes ("
	"  record_id INTEGER PRIMARY KEY REFERENCES records(id),"
	"  collar_id INTEGER NOT NULL,"
	"  rec_seq INTEGER NOT NULL,"
	"  rec_type INTEGER NOT NULL DEFAULT 2 CHECK (rec_type = 2),"
	"  t_ms INTEGER,"
	"  t_mono_ms INTEGER,"
	"  lat_e7 INTEGER NOT NULL,"
	"  lon_e7 INTEGER NOT NULL,"
	"  alt_mm INTEGER,"
	"  hdop_c INTEGER,"
	"  h_acc_mm INTEGER,"
	"  gga_q INTEGER,"
	"  faa_mode INTEGER,"
	"  fix_dim INTEGER,"
	"  nsat INTEGER,"
	"  sog_cms INTEGER,"
	"  cog_cdeg INTEGER,"
	"  tq INTEGER,"
	"  rx_ms INTEGER NOT NULL,"
	"  gw_id INTEGER NOT NULL,"
	"  session_id INTEGER REFERENCES sessions(id),"
	"  task_id INTEGER REFERENCES tasks(id),"
	"  x_mm INTEGER,"                                      /* ENU east about the task origin */
	"  y_mm INTEGER,"                                      /* ENU north */
	"  CHECK ((t_ms IS NULL) <> (t_mono_ms IS NULL)),"
	"  CHECK ((x_mm IS NULL) = (y_mm IS NULL) AND (x_mm IS NULL OR task_id IS NOT NULL)),"
	"  UNIQUE (collar_id, rec_seq),"
	"  FOREIGN KEY (collar_id, rec_seq, rec_type) REFERENCES records(collar_id, rec_seq, type)"
	");",
	"CREATE INDEX fixes_by_collar_time ON fixes(collar_id, t_ms);",
	"CREATE TABLE indications ("
	"  record_id INTEGER PRIMARY KEY REFERENCES records(id),"
	"  collar_id INTEGER NOT NULL,"
	"  rec_seq INTEGER NOT NULL,"
	"  rec_type INTEGER NOT NULL DEFAULT 4 CHECK (rec_type = 4),"
	"  t_ms INTEGER,"                                      /* onset */
	"  t_mono_ms INTEGER,"
	"  kind INTEGER NOT NULL CHECK (kind IN (1,2,3)),"     /* proto: sit, scratch, handler mark */
	"  dur_ms INTEGER,"
	"  conf_pct INTEGER CHECK (conf_pct BETWEEN 0 AND 100),"
	"  src INTEGER NOT NULL CHECK (src IN (1,2,3)),"       /* proto: classifier, button, both */
	"  lat_e7 INTEGER,"
	"  lon_e7 INTEGER,"
	"  h_acc_mm INTEGER,"
	"  fix_ref INTEGER,"                                   /* rec_seq of the FIX the position came from */
	"  rx_ms INTEGER NOT NULL,"
	"  gw_id INTEGER NOT NULL,"
	"  session_id INTEGER REFERENCES sessions(id),"
	"  task_id INTEGER REFERENCES tasks(id),"
	"  x_mm INTEGER,"
	"  y_mm INTEGER,"
	"  review TEXT NOT NULL DEFAULT 'unreviewed' CHECK (review IN ('unreviewed','confirmed','rejected')),"
	"  reviewed_by INTEGER REFERENCES handlers(id),"
	"  reviewed_ms INTEGER,"
	"  CHECK ((t_ms IS NULL) <> (t_mono_ms IS NULL)),"
	"  CHECK ((lat_e7 IS NULL) = (lon_e7 IS NULL)),"
	"  CHECK ((x_mm IS NULL) = (y_mm IS NULL) AND (x_mm IS NULL OR task_id IS NOT NULL)),"
	"  CHECK ((review = 'unreviewed') = (reviewed_by IS NULL)),"
	"  UNIQUE (collar_id, rec_seq),"
	"  FOREIGN KEY (collar_id, rec_seq, rec_type) REFERENCES records(collar_id, rec_seq, type)"
	");",
	"CREATE INDEX indications_by_task_time ON indications(task_id, t_ms);",
	/* Non-journaled collar messages: no rec_seq, so their identity is their place in a batch, which makes
	 * a replayed batch idempotent for them too. */
	"CREATE TABLE collar_status ("
	"  id INTEGER PRIMARY KEY,"
	"  gw_id INTEGER NOT NULL REFERENCES gateways(gw_id),"
	"  gw_seq INTEGER NOT NULL,"
	"  idx INTEGER NOT NULL,"
	"  collar_id INTEGER NOT NULL REFERENCES collars(collar_id),"
	"  type INTEGER NOT NULL CHECK (type IN (1, 5, 6)),"  /* proto: HELLO, STATUS, CMD_ACK */
	"  rx_ms INTEGER NOT NULL,"
	"  batt_mv INTEGER, batt_pct INTEGER, temp_dc INTEGER,"
	"  backlog INTEGER, tx_frames INTEGER, retx INTEGER, acks INTEGER, rssi_dbm INTEGER, snr_db10 INTEGER,"
	"  fw TEXT, boot_id INTEGER, oldest_seq INTEGER, next_seq INTEGER, caps INTEGER,"
	"  cmd_id INTEGER, cmd_result INTEGER, cmd_progress_pct INTEGER,"
	"  UNIQUE (gw_id, gw_seq, idx)"
	");",
	"CREATE INDEX collar_status_by_collar ON collar_status(collar_id, rx_ms);",
	/* ---- correlation results ---- */
	"CREATE TABLE hazard_points ("
	"  id INTEGER PRIMARY KEY,"
	"  task_id INTEGER NOT NULL REFERENCES tasks(id),"
	"  box_id INTEGER REFERENCES boxes(id),"
	"  status TEXT NOT NULL CHECK (status IN ('candidate','awaiting_second_animal','awaiting_excavation',"
	"    'confirmed_explosive','confirmed_fragment','confirmed_scrap','confirmed_nothing','not_accessible',"
	"    'superseded')),"
	"  x_mm INTEGER NOT NULL, y_mm INTEGER NOT NULL,"
	"  lat_e7 INTEGER NOT NULL, lon_e7 INTEGER NOT NULL,"
	"  r95_mm INTEGER NOT NULL CHECK (r95_mm >= 0),"
	"  log_odds_q10 INTEGER NOT NULL,"                    /* integer log-odds × 1024 (analysis.md §7.3) */
	"  p_explosive REAL NOT NULL CHECK (p_explosive BETWEEN 0.0 AND 1.0),"
	"  n_ind INTEGER NOT NULL DEFAULT 0, n_animals INTEGER NOT NULL DEFAULT 0,"
	"  n_sessions INTEGER NOT NULL DEFAULT 0,"
	"  created_ms INTEGER NOT NULL,"
	"  updated_ms INTEGER NOT NULL"
	");",
	"CREATE INDEX hazard_points_by_task ON hazard_points(task_id);",
	/* Evidence: each contributing indication, and each session that covered the spot without indicating
	 * (negative evidence), with its log-odds contribution, so every score is explainable (§7.3). */
	"CREATE TABLE hazard_evidence ("
	"  id INTEGER PRIMARY KEY,"
	"  hazard_id INTEGER NOT NULL REFERENCES hazard_points(id),"
	"  kind TEXT NOT NULL CHECK (kind IN ('indication','clean_pass')),"
	"  collar_id INTEGER, rec_seq INTEGER,"
	"  session_id INTEGER REFERENCES sessions(id),"
	"  delta_q10 INTEGER NOT NULL,"
	"  CHECK ((kind = 'indication') = (rec_seq IS NOT NULL)),"
	"  CHECK (kind = 'indication' OR session_id IS NOT NULL),"
	"  FOREIGN KEY (collar_id, rec_seq) REFERENCES indications(collar_id, rec_seq)"
	");",
	"CREATE INDEX hazard_evidence_by_hazard ON hazard_evidence(hazard_id);",
	/* The hazard event log: seq is the stream sequence the core publishes (PUB + snapshot, Clone pattern).
	 * AUTOINCREMENT so a sequence number is never reused, even after the newest row is deleted. */
	"CREATE TABLE hazard_events ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  hazard_id INTEGER NOT NULL REFERENCES hazard_points(id),"
	"  t_ms INTEGER NOT NULL,"
	"  kind TEXT NOT NULL CHECK (kind IN ('created','status','score','evidence')),"
	"  from_status TEXT, to_status TEXT,"
	"  who TEXT NOT NULL,"
	"  note TEXT"
	");",
	"CREATE TABLE clearance_results ("
	"  id INTEGER PRIMARY KEY,"
	"  task_id INTEGER NOT NULL REFERENCES tasks(id),"
	"  hazard_id INTEGER REFERENCES hazard_points(id),"
	"  lat_e7 INTEGER, lon_e7 INTEGER,"
	"  x_mm INTEGER, y_mm INTEGER,"
	"  pos_err_mm INTEGER CHECK (pos_err_mm >= 0),"
	"  result TEXT NOT NULL CHECK (result IN ('ap_mine','at_mine','uxo','other_erw','fragment','scrap',"
	"    'nothing','not_accessible')),"
	"  device_type TEXT,"
	"  depth_mm INTEGER,"
	"  team TEXT,"
	"  method TEXT,"
	"  excavated_radius_mm INTEGER,"
	"  date_ms INTEGER NOT NULL,"
	"  CHECK ((lat_e7 IS NULL) = (lon_e7 IS NULL) AND (lat_e7 IS NULL) = (x_mm IS NULL)"
	"    AND (x_mm IS NULL) = (y_mm IS NULL))"
	");",
	"CREATE INDEX clearance_results_by_task ON clearance_results(task_id);",
	"CREATE TABLE audit_log ("
	"  id INTEGER PRIMARY KEY,"
	"  t_ms INTEGER NOT NULL,"
	"  who TEXT NOT NULL,"
	"  action TEXT NOT NULL,"
	"  entity TEXT NOT NULL,"
	"  entity_id INTEGER,"
	"  detail TEXT"
	");",
	NULL,
};

/* Step 2: accreditation tests (domain.md §6.3 TestEvent). A separate step, so the migration path from an
 * older file is exercised by the tests (store_test.c migrates a step-1 file with data in it). */
static const char *const step2[] = {
	"CREATE TABLE accreditation_tests ("
	"  id INTEGER PRIMARY KEY,"
	"  authority TEXT NOT NULL,"
	"  date_ms INTEGER NOT NULL,"
	"  box_id INTEGER REFERENCES boxes(id),"
	"  session_id INTEGER REFERENCES sessions(id),"
	"  animal_id INTEGER NOT NULL REFERENCES animals(id),"
	"  handler_id INTEGER REFERENCES handlers(id),"
	"  layout_sha256 BLOB CHECK (layout_sha256 IS NULL OR length(layout_sha256) = 32),"
	"  area_m2 INTEGER,"
	"  n_targets INTEGER NOT NULL CHECK (n_targets >= 0),"
	"  n_hits INTEGER CHECK (n_hits BETWEEN 0 AND n_targets),"
	"  n_false INTEGER CHECK (n_false >= 0),"
	"  pass INTEGER CHECK (pass IN (0,1)),"
	"  rule TEXT"
	");",
	/* Targets are known only to the tester (double-blind): the handler UI never reads this table. */
	"CREATE TABLE accreditation_targets ("
	"  id INTEGER PRIMARY KEY,"
	"  test_id INTEGER NOT NULL REFERENCES accreditation_tests(id),"
	"  lat_e7 INTEGER NOT NULL, lon_e7 INTEGER NOT NULL,"
	"  x_mm INTEGER, y_mm INTEGER,"
	"  target_type TEXT NOT NULL,"
	"  depth_mm INTEGER,"
	"  hit INTEGER CHECK (hit IN (0,1)),"
	"  hit_dist_mm INTEGER"
	");",
	NULL,
};

/* Step 3: the natural key of imported clearance results (scentrack import clearance), so a re-import of the
 * same file is idempotent and a changed row under a stored key is refused rather than duplicated. */
static const char *const step3[] = {
	"CREATE TABLE clearance_import ("
	"  clearance_id INTEGER PRIMARY KEY REFERENCES clearance_results(id),"
	"  task_id INTEGER NOT NULL REFERENCES tasks(id),"
	"  natural_key TEXT NOT NULL,"
	"  box_id INTEGER REFERENCES boxes(id),"
	"  source TEXT,"
	"  line INTEGER,"
	"  imported_ms INTEGER NOT NULL,"
	"  UNIQUE (task_id, natural_key)"
	");",
	NULL,
};

/* Step 4: CHECK (x IN (...)) → CHECK (x = a OR x = b ...) on the tables written per record or per hazard
 * sync. SQLite 3.40 evaluates an IN list in a CHECK by building an ephemeral table on EVERY execution of the
 * INSERT: callgrind put an indication insert at ~112 k instructions, most of it those three tables (see
 * docs/internals.md §4 for the before/after ingest figures). The OR forms accept exactly the same values.
 * Changing a CHECK needs no table rebuild: SQLite documents editing the schema text with writable_schema
 * when existing rows satisfy the new constraint (they do: it is equivalent); RESET re-parses it on this
 * connection. The text replaced is step 1's, byte for byte (store_test checks no IN list is left). */
static const char *const step4[] = {
	"PRAGMA writable_schema = ON",
	"UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (type IN (2, 4))', 'CHECK (type = 2 OR type = 4)'"
	") WHERE type = 'table' AND name = 'records'",
	"UPDATE sqlite_schema SET sql = replace(replace(replace(sql, 'CHECK (kind IN (1,2,3))', 'CHECK (kind "
	"= 1 OR kind = 2 OR kind = 3)'), 'CHECK (src IN (1,2,3))', 'CHECK (src = 1 OR src = 2 OR src = 3)'), "
	"'CHECK (review IN (''unreviewed'',''confirmed'',''rejected''))', 'CHECK (review = ''unreviewed'' OR "
	"review = ''confirmed'' OR review = ''rejected'')') WHERE type = 'table' AND name = 'indications'",
	"UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (type IN (1, 5, 6))', 'CHECK (type = 1 OR type = "
	"5 OR type = 6)') WHERE type = 'table' AND name = 'collar_status'",
	"UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (status IN (''candidate'',''awaiting_second_anima"
	"l'',''awaiting_excavation'',    ''confirmed_explosive'',''confirmed_fragment'',''confirmed_scrap'','"
	"'confirmed_nothing'',''not_accessible'',    ''superseded''))', 'CHECK (status = ''candidate'' OR sta"
	"tus = ''awaiting_second_animal'' OR status = ''awaiting_excavation'' OR status = ''confirmed_explosi"
	"ve'' OR status = ''confirmed_fragment'' OR status = ''confirmed_scrap'' OR status = ''confirmed_noth"
	"ing'' OR status = ''not_accessible'' OR status = ''superseded'')') WHERE type = 'table' AND name = '"
	"hazard_points'",
	"UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (kind IN (''indication'',''clean_pass''))', 'CHEC"
	"K (kind = ''indication'' OR kind = ''clean_pass'')') WHERE type = 'table' AND name = 'hazard_evidenc"
	"e'",
	"UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (kind IN (''created'',''status'',''score'',''evid"
	"ence''))', 'CHECK (kind = ''created'' OR kind = ''status'' OR kind = ''score'' OR kind = ''evidence'"
	"')') WHERE type = 'table' AND name = 'hazard_events'",
	"UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (result IN (''ap_mine'',''at_mine'',''uxo'',''oth"
	"er_erw'',''fragment'',''scrap'',    ''nothing'',''not_accessible''))', 'CHECK (result = ''ap_mine'' "
	"OR result = ''at_mine'' OR result = ''uxo'' OR result = ''other_erw'' OR result = ''fragment'' OR re"
	"sult = ''scrap'' OR result = ''nothing'' OR result = ''not_accessible'')') WHERE type = 'table' AND "
	"name = 'clearance_results'",
	"PRAGMA writable_schema = RESET",
	/* a DDL statement bumps the schema cookie: other connections re-read the schema */
	"CREATE TABLE schema_step4_bump (x)",
	"DROP TABLE schema_step4_bump",
	NULL,
};

/* Step 5: IND completions. An indication that outlasts the collar's hold is journaled before it ends; its
 * END is a second IND record with `completes` = the first's rec_seq and the final duration. It is not an
 * indication of its own: it is kept here, and the completed indication's dur_ms/conf_pct are taken from it
 * whichever of the two arrives first (the core's results never depend on arrival order). */
static const char *const step5[] = {
	"CREATE TABLE ind_completions ("
	"  record_id INTEGER PRIMARY KEY REFERENCES records(id),"
	"  collar_id INTEGER NOT NULL,"
	"  rec_seq INTEGER NOT NULL,"
	"  completes INTEGER NOT NULL CHECK (completes < rec_seq),"
	"  dur_ms INTEGER,"
	"  conf_pct INTEGER CHECK (conf_pct BETWEEN 0 AND 100)"
	");",
	"CREATE INDEX ind_completions_target ON ind_completions(collar_id, completes, rec_seq);",
	NULL,
};

/* Step 6: the hazard point the engine matched each clearance result to (written by an_hazard_store_sync,
 * NULL = matched to none). Not the imported hazard_id: that one is an input (the point a team says it dug,
 * part of the result's identity, an_hazard_clearance_id); this one is derived from all the evidence and is
 * rewritten whenever the matching changes (a new point can take a match over). */
static const char *const step6[] = {
	"ALTER TABLE clearance_results ADD COLUMN matched_hazard_id INTEGER REFERENCES hazard_points(id);",
	NULL,
};

/* Step 7: the trainers' calibration record (an/store.h "calibration records"): per animal, its cumulative
 * calibration counts as of a date — targets indicated within the correct radius (hits), targets passed over
 * (misses), false indications and the area searched — from accreditation tests, training boxes, confirmed
 * operational finds or an import. Append-only: a correction is a new record with a later as_of (the
 * triggers refuse UPDATE and DELETE, so the history an audit reads is the history the core used). The
 * record in force for an animal is the one with the latest as_of_ms (ties: an_store_calibration_latest).
 * (animal, as_of, source) is the natural key a re-import is checked against. area_m2 is REAL: the fusion
 * takes it as a double and training boxes are not whole m². */
static const char *const step7[] = {
	"CREATE TABLE calibrations ("
	"  id INTEGER PRIMARY KEY,"
	"  animal_id INTEGER NOT NULL REFERENCES animals(id),"
	"  as_of_ms INTEGER NOT NULL,"
	"  hits INTEGER NOT NULL CHECK (hits >= 0),"
	"  misses INTEGER NOT NULL CHECK (misses >= 0),"
	"  false_inds INTEGER NOT NULL CHECK (false_inds >= 0),"
	"  area_m2 REAL NOT NULL CHECK (area_m2 >= 0 AND area_m2 < 1e12),"
	"  source TEXT NOT NULL CHECK (source = 'accreditation' OR source = 'training' OR source = 'operational' "
	"OR source = 'import'),"
	"  note TEXT,"
	"  entered_ms INTEGER NOT NULL,"
	"  UNIQUE (animal_id, as_of_ms, source)"
	");",
	"CREATE TRIGGER calibrations_append_only_update BEFORE UPDATE ON calibrations "
	"BEGIN SELECT RAISE(ABORT, 'calibrations are append-only: add a record with a later as_of'); END;",
	"CREATE TRIGGER calibrations_append_only_delete BEFORE DELETE ON calibrations "
	"BEGIN SELECT RAISE(ABORT, 'calibrations are append-only: add a record with a later as_of'); END;",
	NULL,
};

/* Step 8: the data recorder's box position of an indication (an/store.h "recorder box positions"): the
 * lane the handlers counted and the distance along it from the rope's marks or a tape, as the data sheet
 * has it. Keyed by the indication's (collar_id, rec_seq), not by its row: the sheet may be entered before
 * the collar's record reaches the core. Append-only: a correction is a new row, the latest entered wins. */
static const char *const step8[] = {
	"CREATE TABLE indication_boxpos ("
	"  id INTEGER PRIMARY KEY,"
	"  collar_id INTEGER NOT NULL CHECK (collar_id BETWEEN 1 AND 65535),"
	"  rec_seq INTEGER NOT NULL CHECK (rec_seq BETWEEN 0 AND 4294967295),"
	"  lane INTEGER NOT NULL CHECK (lane BETWEEN 0 AND 65535),"
	"  along_mm INTEGER NOT NULL CHECK (along_mm BETWEEN 0 AND 10000000),"
	"  sd_mm INTEGER NOT NULL CHECK (sd_mm BETWEEN 0 AND 10000),"
	"  entered_ms INTEGER NOT NULL,"
	"  who TEXT NOT NULL"
	");",
	"CREATE INDEX indication_boxpos_by_ind ON indication_boxpos(collar_id, rec_seq, entered_ms);",
	"CREATE TRIGGER indication_boxpos_append_only_update BEFORE UPDATE ON indication_boxpos "
	"BEGIN SELECT RAISE(ABORT, 'box positions are append-only: a correction is a new entry'); END;",
	"CREATE TRIGGER indication_boxpos_append_only_delete BEFORE DELETE ON indication_boxpos "
	"BEGIN SELECT RAISE(ABORT, 'box positions are append-only: a correction is a new entry'); END;",
	NULL,
};

/* Step 9: handler verdicts (an/store.h "handler verdicts"). The handler confirms or rejects each indication
 * with one tap (domain.md §6): a short or long press on the collar's button, or the web map's confirm /
 * reject. Every verdict is kept (append-only, like box positions); indications.review holds the one in force
 * (the latest t_ms, ties: rejected, then the larger id). A collar verdict has no handler row (the button does
 * not say who pressed it), so step 1's "reviewed iff reviewed_by" becomes "unreviewed has no reviewer", edited
 * in place the way step 4 edits CHECKs (the existing rows satisfy the weaker constraint). */
static const char *const step9[] = {
	"PRAGMA writable_schema = ON",
	"UPDATE sqlite_schema SET sql = replace(sql, 'CHECK ((review = ''unreviewed'') = (reviewed_by IS NULL))', "
	"'CHECK (review <> ''unreviewed'' OR reviewed_by IS NULL)') WHERE type = 'table' AND name = 'indications'",
	"PRAGMA writable_schema = RESET",
	"CREATE TABLE indication_reviews ("
	"  id INTEGER PRIMARY KEY,"
	"  collar_id INTEGER NOT NULL CHECK (collar_id BETWEEN 1 AND 65535),"
	"  rec_seq INTEGER NOT NULL CHECK (rec_seq BETWEEN 0 AND 4294967295),"
	"  verdict TEXT NOT NULL CHECK (verdict = 'confirmed' OR verdict = 'rejected'),"
	"  t_ms INTEGER NOT NULL,"
	"  source TEXT NOT NULL CHECK (source = 'collar' OR source = 'web' OR source = 'import'),"
	"  who TEXT NOT NULL,"
	"  handler_id INTEGER REFERENCES handlers(id)"
	");",
	"CREATE INDEX indication_reviews_by_ind ON indication_reviews(collar_id, rec_seq, t_ms);",
	"CREATE TRIGGER indication_reviews_append_only_update BEFORE UPDATE ON indication_reviews "
	"BEGIN SELECT RAISE(ABORT, 'verdicts are append-only: a change of mind is a new verdict'); END;",
	"CREATE TRIGGER indication_reviews_append_only_delete BEFORE DELETE ON indication_reviews "
	"BEGIN SELECT RAISE(ABORT, 'verdicts are append-only: a change of mind is a new verdict'); END;",
	NULL,
};

/* Step 10: the patches a session searched (an/store.h struct an_store_session): a confirmation search is a
 * few lanes × a few metres about a disputed peg, assigned by the team leader in the box frame (an/geo.h
 * struct an_geo_box_patch); the hazard engine counts an ended session's patches as swept (an/hazard.h).
 * seq keeps the order they were given in; at most AN_STORE_SESSION_MAX_PATCHES per session. Whether a
 * patch lies inside its box needs the box frame: an_store_session_add checks that, the CHECKs the rest. */
static const char *const step10[] = {
	"CREATE TABLE session_patches ("
	"  session_id INTEGER NOT NULL REFERENCES sessions(id),"
	"  seq INTEGER NOT NULL CHECK (seq BETWEEN 0 AND 15),"
	"  lane_first INTEGER NOT NULL CHECK (lane_first BETWEEN 0 AND 65535),"
	"  lane_count INTEGER NOT NULL CHECK (lane_count BETWEEN 1 AND 65536),"
	"  along_lo_mm INTEGER NOT NULL CHECK (along_lo_mm >= 0),"
	"  along_hi_mm INTEGER NOT NULL CHECK (along_hi_mm > along_lo_mm AND along_hi_mm <= 10000000),"
	"  PRIMARY KEY (session_id, seq)"
	") WITHOUT ROWID;",
	NULL,
};

static const char *const *const steps[] = {step1, step2, step3, step4, step5, step6, step7, step8, step9, step10};

int an_store__migration_count(void)
{
	return (int)(sizeof steps / sizeof steps[0]);
}

const char *const *an_store__migration_sql(int version)
{
	if (version < 1 || version > an_store__migration_count())
		return NULL;
	return steps[version - 1];
}

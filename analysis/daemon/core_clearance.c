/*
 * analysis/daemon/core_clearance.c — clearance results imported over ZeroMQ: the office's
 * `scentrack import clearance --core ENDPOINT FILE` hands the file to the running core, which imports it
 * with the same code as the CLI's direct import (an/import.h: all or nothing, errors with line, column and
 * field), feeds the new results to the hazard engines and answers.
 *
 * Socket: a ROUTER bound to [clearance] endpoint (empty = off). It carries no CURVE: it must be ipc:// or a
 * loopback tcp:// address (checked at start-up), i.e. only processes on the core's own machine reach it,
 * with the file permissions of the ipc path as the access control. Why not a second network service: the
 * gateways are the only remote peers, and an import is an office act done where the store is.
 *
 * Request (a REQ client; the ROUTER sees [identity][""] first):
 *     "CLEARANCE" | format ("csv", "json" or "auto") | source (file name for messages and the audit log,
 *     <= 255 bytes) | body (the file, <= CORE_CLR_BODY_MAX)
 *     "CALIBRATION" | format ("csv" or "auto") | source | body: the trainers' calibration records
 *     (`scentrack import calibration --core`, an/import.h an_import_calibration); the error's message then
 *     lists every bad line, one per line, and "line" is the first. The new records go to every task frame
 *     (core_feed_calibrations) and are rescored before the answer, like clearance results.
 *     "BOXPOS" | format ("csv" or "auto") | source | body: the data recorder's box positions of indications
 *     (`scentrack import boxpos --core`, an/import.h an_import_boxpos), answered like CALIBRATION; the new
 *     entries go to every task frame (core_feed_boxpos) and the points are recomputed before the answer.
 * Reply:
 *     "OK"  | {"rows":R,"inserted":I,"duplicates":D}
 *     "ERR" | {"code":"EINVAL","error":"<message>","line":L,"column":C,"field":"<name>"}
 * Nothing is stored unless the reply is OK. The engines are fed and flushed BEFORE the reply, so when the
 * client has its OK the store's hazard points already reflect the new results. The import runs inside the
 * one event loop: ingest waits while a file is parsed and committed (a clearance sheet of thousands of rows
 * takes milliseconds; the body is capped at CORE_CLR_BODY_MAX).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "an/import.h"
#include "core.h"

#define CLR_FRAMES_MAX 8

static bool local_endpoint(const char *ep)
{
	static const char *const ok[] = {"ipc://", "tcp://127.0.0.1:", "tcp://localhost:", "tcp://[::1]:"};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		if (!strncmp(ep, ok[i], strlen(ok[i])))
			return true;
	return false;
}

int core_clr_open(struct core_clr *c, void *zctx, const char *endpoint, struct an_store *store, struct core_feed *feed,
                  char *err, size_t errcap)
{
	memset(c, 0, sizeof *c);
	c->store = store;
	c->feed = feed;
	if (!endpoint[0])
		return 0; /* off */
	if (!local_endpoint(endpoint)) {
		snprintf(err, errcap, "[clearance] endpoint \"%s\": must be ipc://PATH or tcp://127.0.0.1:PORT (the socket "
		         "has no encryption: only processes on this machine may reach it)", endpoint);
		return -EINVAL;
	}
	c->sock = zmq_socket(zctx, ZMQ_ROUTER);
	if (!c->sock) {
		snprintf(err, errcap, "[clearance] socket: %s", zmq_strerror(zmq_errno()));
		return -EIO;
	}
	int64_t maxmsg = CORE_CLR_BODY_MAX;
	int linger = 0;
	zmq_setsockopt(c->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
	zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger);
	if (zmq_bind(c->sock, endpoint) < 0) {
		snprintf(err, errcap, "[clearance] bind %s: %s", endpoint, zmq_strerror(zmq_errno()));
		zmq_close(c->sock);
		c->sock = NULL;
		return -EIO;
	}
	size_t len = sizeof c->endpoint;
	if (zmq_getsockopt(c->sock, ZMQ_LAST_ENDPOINT, c->endpoint, &len) < 0)
		snprintf(c->endpoint, sizeof c->endpoint, "%s", endpoint);
	return 0;
}

void core_clr_close(struct core_clr *c)
{
	if (c->sock)
		zmq_close(c->sock);
	c->sock = NULL;
}

size_t core_clr_pollitems(struct core_clr *c, zmq_pollitem_t *it)
{
	if (!c->sock)
		return 0;
	it[0] = (zmq_pollitem_t){.socket = c->sock, .events = ZMQ_POLLIN};
	return 1;
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static const char *errname(int rc)
{
	switch (rc) {
	case -EINVAL: return "EINVAL";
	case -EEXIST: return "EEXIST";
	case -E2BIG: return "E2BIG";
	case -ENOENT: return "ENOENT";
	case -EBUSY: return "EBUSY";
	case -EROFS: return "EROFS";
	case -ENOSPC: return "ENOSPC";
	case -ENOMEM: return "ENOMEM";
	case -EPROTO: return "EPROTO";
	default: return "EIO";
	}
}

static void reply(struct core_clr *c, zmq_msg_t *id, const char *status, const char *body, size_t len)
{
	zmq_msg_t m;
	zmq_msg_init(&m);
	zmq_msg_copy(&m, id);
	int ok = zmq_msg_send(&m, c->sock, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0 &&
	         zmq_send(c->sock, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0 &&
	         zmq_send(c->sock, status, strlen(status), ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0 &&
	         zmq_send(c->sock, body, len, ZMQ_DONTWAIT) >= 0;
	if (!ok) {
		zmq_msg_close(&m);
		c->st.send_errors++;
		core_log(CORE_LOG_WARN, "clearance", "reply not sent: %s", zmq_strerror(zmq_errno()));
	}
}

static void refuse(struct core_clr *c, zmq_msg_t *id, int rc, const char *msg, const struct an_import_result *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return;
	fprintf(f, "{\"code\":\"%s\",\"error\":", errname(rc));
	json_str(f, msg);
	fprintf(f, ",\"line\":%lu,\"column\":%lu,\"field\":", r ? r->err_line : 0ul, r ? r->err_col : 0ul);
	json_str(f, r ? r->err_field : "");
	fputc('}', f);
	fclose(f);
	c->st.refused++;
	core_log(CORE_LOG_WARN, "clearance", "import refused: %s", msg);
	reply(c, id, "ERR", buf, len);
	free(buf);
}

static void bad_line_to(void *ctx, unsigned long line, const char *field, const char *why)
{
	FILE *f = ctx;
	if (field != NULL && field[0])
		fprintf(f, "line %lu: field '%s': %s\n", line, field, why);
	else
		fprintf(f, "line %lu: %s\n", line, why);
}

/* CALIBRATION and BOXPOS: CSV sheets that report every bad line (an/import.h) */
static void handle_calibration(struct core_clr *c, zmq_msg_t *id, const struct an_import_opts *o, const char *body,
                               size_t len, bool boxpos)
{
	if (o->format == AN_IMPORT_JSON) {
		refuse(c, id, -EPROTO, boxpos ? "box positions are CSV only" : "calibration records are CSV only", NULL);
		return;
	}
	struct an_import_result r;
	char err[AN_IMPORT_ERR_MAX];
	char *lines = NULL;
	size_t llen = 0;
	FILE *lf = open_memstream(&lines, &llen);
	if (!lf) {
		refuse(c, id, -ENOMEM, "out of memory", NULL);
		return;
	}
	int rc = boxpos ? an_import_boxpos(c->store, body, len, o, &r, bad_line_to, lf, err, sizeof err)
	                : an_import_calibration(c->store, body, len, o, &r, bad_line_to, lf, err, sizeof err);
	fclose(lf);
	if (rc) {
		/* every bad line, then the summary: the client prints the message as it is */
		char *msg = NULL;
		size_t ml = 0;
		FILE *mf = open_memstream(&msg, &ml);
		if (mf) {
			fprintf(mf, "%s%s", lines ? lines : "", err);
			fclose(mf);
		}
		refuse(c, id, rc, msg ? msg : err, &r);
		free(msg);
		free(lines);
		return;
	}
	free(lines);
	if (boxpos) {
		c->st.bp_imports++;
		c->st.bp_inserted += r.inserted;
	} else {
		c->st.cal_imports++;
		c->st.cal_inserted += r.inserted;
	}
	core_log(CORE_LOG_NOTE, "clearance", "%s: %zu %s lines, %zu new, %zu duplicates", o->source, r.rows,
	         boxpos ? "box position" : "calibration", r.inserted, r.duplicates);
	if (r.inserted && (boxpos ? core_feed_boxpos(c->feed) : core_feed_calibrations(c->feed)) == 0)
		(void)core_feed_flush(c->feed);
	char rb[160];
	int n = snprintf(rb, sizeof rb, "{\"rows\":%zu,\"inserted\":%zu,\"duplicates\":%zu}", r.rows, r.inserted,
	                 r.duplicates);
	reply(c, id, "OK", rb, (size_t)n);
}

static void handle(struct core_clr *c, zmq_msg_t *fr, size_t n)
{
	zmq_msg_t *id = &fr[0];
	/* [identity][""][verb][format][source][body] */
	if (n != 6 || zmq_msg_size(&fr[1]) != 0) {
		refuse(c, id, -EPROTO, "expected frames CLEARANCE | format | source | body (from a REQ socket)", NULL);
		return;
	}
	const char *verb = zmq_msg_data(&fr[2]);
	bool calib = zmq_msg_size(&fr[2]) == 11 && !memcmp(verb, "CALIBRATION", 11);
	bool boxpos = zmq_msg_size(&fr[2]) == 6 && !memcmp(verb, "BOXPOS", 6);
	if (!calib && !boxpos && (zmq_msg_size(&fr[2]) != 9 || memcmp(verb, "CLEARANCE", 9))) {
		refuse(c, id, -EPROTO, "unknown request (expected CLEARANCE, CALIBRATION or BOXPOS)", NULL);
		return;
	}
	char fmt[8] = "", source[256] = "";
	if (zmq_msg_size(&fr[3]) >= sizeof fmt || zmq_msg_size(&fr[4]) >= sizeof source) {
		refuse(c, id, -EPROTO, "format or source frame too long", NULL);
		return;
	}
	memcpy(fmt, zmq_msg_data(&fr[3]), zmq_msg_size(&fr[3]));
	memcpy(source, zmq_msg_data(&fr[4]), zmq_msg_size(&fr[4]));
	if (memchr(source, '\0', zmq_msg_size(&fr[4])) || memchr(fmt, '\0', zmq_msg_size(&fr[3]))) {
		refuse(c, id, -EPROTO, "NUL byte in the format or source frame", NULL);
		return;
	}
	struct an_import_opts o = {.source = source[0] ? source : "zmq", .who = "scentrack-core (clearance socket)"};
	if (!strcmp(fmt, "csv"))
		o.format = AN_IMPORT_CSV;
	else if (!strcmp(fmt, "json"))
		o.format = AN_IMPORT_JSON;
	else if (!strcmp(fmt, "auto") || !fmt[0])
		o.format = AN_IMPORT_AUTO;
	else {
		refuse(c, id, -EPROTO, "format must be csv, json or auto", NULL);
		return;
	}
	struct an_import_result r;
	char err[AN_IMPORT_ERR_MAX];
	memset(&r, 0, sizeof r);
	if (calib || boxpos) {
		handle_calibration(c, id, &o, zmq_msg_data(&fr[5]), zmq_msg_size(&fr[5]), boxpos);
		return;
	}
	int rc = an_import_clearance(c->store, zmq_msg_data(&fr[5]), zmq_msg_size(&fr[5]), &o, &r, err, sizeof err);
	if (rc) {
		refuse(c, id, rc, err, &r);
		return;
	}
	c->st.imports++;
	c->st.inserted += r.inserted;
	core_log(CORE_LOG_NOTE, "clearance", "%s: %zu rows, %zu new, %zu duplicates", o.source, r.rows, r.inserted,
	         r.duplicates);
	/* the engines see the new results before the client hears OK */
	if (r.inserted && core_feed_clearances(c->feed) == 0)
		(void)core_feed_flush(c->feed);
	char body[160];
	int len = snprintf(body, sizeof body, "{\"rows\":%zu,\"inserted\":%zu,\"duplicates\":%zu}", r.rows, r.inserted,
	                   r.duplicates);
	reply(c, id, "OK", body, (size_t)len);
}

int core_clr_service(struct core_clr *c)
{
	if (!c->sock)
		return 0;
	for (;;) {
		zmq_msg_t fr[CLR_FRAMES_MAX];
		size_t n = 0;
		int more = 1;
		bool over = false;
		while (more) {
			zmq_msg_t m;
			zmq_msg_init(&m);
			if (zmq_msg_recv(&m, c->sock, ZMQ_DONTWAIT) < 0) {
				zmq_msg_close(&m);
				for (size_t i = 0; i < n; i++)
					zmq_msg_close(&fr[i]);
				return zmq_errno() == EAGAIN ? 0 : -EIO;
			}
			more = zmq_msg_more(&m);
			if (n < CLR_FRAMES_MAX)
				fr[n++] = m;
			else {
				over = true;
				zmq_msg_close(&m);
			}
		}
		c->st.requests++;
		if (over)
			refuse(c, &fr[0], -EPROTO, "too many frames", NULL);
		else if (n >= 1)
			handle(c, fr, n);
		for (size_t i = 0; i < n; i++)
			zmq_msg_close(&fr[i]);
	}
}

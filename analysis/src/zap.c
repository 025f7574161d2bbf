/*
 * analysis/src/zap.c — the core's ZAP handler (ZeroMQ RFC 27) with the gateway allow-list, and CURVE key
 * files. The handler runs in its own thread because libzmq's I/O threads call it synchronously during
 * every handshake: it must answer even while the ingest thread is inside a long SQLite commit.
 *
 * Request (frames): "1.0", request id, domain, address, routing id, mechanism, credentials...
 * Reply:            "1.0", request id, status "200"/"400"/"500", status text, User-Id, metadata ("")
 * Only mechanism CURVE in our domain with a listed 32-byte key gets 200, User-Id = decimal gateway id.
 */
#define _GNU_SOURCE /* O_CLOEXEC, fchmod, fsync */
#include "ingest_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_FRAMES_MAX 8u
#define ZAP_FRAME_MAX 256u

/* ---- allow-list ------------------------------------------------------------------------------------- */

struct allow_entry {
	uint8_t key[32];
	uint16_t gw_id;
};
struct an_ingest_allow {
	size_t n;
	struct allow_entry e[]; /* sorted by key for bsearch */
};

static int entry_cmp(const void *a, const void *b)
{
	return memcmp(((const struct allow_entry *)a)->key, ((const struct allow_entry *)b)->key, 32);
}

int an_ingest_allow_load(const char *path, struct an_ingest_allow **out, char *errbuf, size_t errcap)
{
	char line[512];
	unsigned lineno = 0;
	size_t cap = 16;
	int rc;

	*out = NULL;
	if (errbuf && errcap)
		errbuf[0] = '\0';
	FILE *f = fopen(path, "re");
	if (!f) {
		rc = -errno;
		if (errbuf)
			snprintf(errbuf, errcap, "allow-list %s: %s", path, strerror(errno));
		return rc;
	}
	struct an_ingest_allow *a = malloc(sizeof *a + cap * sizeof a->e[0]);
	if (!a) {
		rc = -ENOMEM;
		goto close_f;
	}
	a->n = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		size_t len = strlen(line);
		if (len == sizeof line - 1 && line[len - 1] != '\n') {
			if (errbuf)
				snprintf(errbuf, errcap, "%s:%u: line longer than %zu bytes", path, lineno, sizeof line - 2);
			rc = -EINVAL;
			goto free_a;
		}
		char *p = line;
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		char *end;
		errno = 0;
		unsigned long id = strtoul(p, &end, 10);
		if (end == p || errno || id < 1 || id > 65535 || !isspace((unsigned char)*end)) {
			if (errbuf)
				snprintf(errbuf, errcap, "%s:%u: expected \"<gw_id 1..65535> <Z85 public key>\"", path,
				         lineno);
			rc = -EINVAL;
			goto free_a;
		}
		p = end;
		while (*p == ' ' || *p == '\t')
			p++;
		char *k = p;
		while (*p && !isspace((unsigned char)*p))
			p++;
		size_t klen = (size_t)(p - k);
		while (isspace((unsigned char)*p))
			p++;
		char z85[AN_INGEST_KEY_Z85_LEN + 1];
		struct allow_entry e = {.gw_id = (uint16_t)id};
		if (klen == AN_INGEST_KEY_Z85_LEN) {
			memcpy(z85, k, klen);
			z85[klen] = '\0';
		}
		if (klen != AN_INGEST_KEY_Z85_LEN || !zmq_z85_decode(e.key, z85) || (*p && *p != '#')) {
			if (errbuf)
				snprintf(errbuf, errcap, "%s:%u: gateway %lu: expected one 40-character Z85 public key",
				         path, lineno, id);
			rc = -EINVAL;
			goto free_a;
		}
		for (size_t i = 0; i < a->n; i++) {
			if (a->e[i].gw_id == e.gw_id || !memcmp(a->e[i].key, e.key, 32)) {
				if (errbuf)
					snprintf(errbuf, errcap, "%s:%u: gateway %lu: %s listed twice", path, lineno, id,
					         a->e[i].gw_id == e.gw_id ? "gateway id" : "public key");
				rc = -EINVAL;
				goto free_a;
			}
		}
		if (a->n == cap) {
			if (cap >= 65536) {
				rc = -EINVAL;
				goto free_a;
			}
			cap *= 2;
			struct an_ingest_allow *b = realloc(a, sizeof *a + cap * sizeof a->e[0]);
			if (!b) {
				rc = -ENOMEM;
				goto free_a;
			}
			a = b;
		}
		a->e[a->n++] = e;
	}
	if (ferror(f)) {
		rc = -EIO;
		if (errbuf)
			snprintf(errbuf, errcap, "allow-list %s: read error", path);
		goto free_a;
	}
	qsort(a->e, a->n, sizeof a->e[0], entry_cmp);
	*out = a;
	rc = 0;
	goto close_f;
free_a:
	free(a);
close_f:
	fclose(f);
	return rc;
}

void an_ingest_allow_free(struct an_ingest_allow *a)
{
	free(a);
}

uint16_t an_ingest_allow_lookup(const struct an_ingest_allow *a, const uint8_t key[32])
{
	struct allow_entry k;
	if (!a)
		return 0;
	memcpy(k.key, key, 32);
	const struct allow_entry *e = bsearch(&k, a->e, a->n, sizeof a->e[0], entry_cmp);
	return e ? e->gw_id : 0;
}

size_t an_ingest_allow_count(const struct an_ingest_allow *a)
{
	return a ? a->n : 0;
}

/* ---- key files -------------------------------------------------------------------------------------- */

int an_ingest_key_read(const char *path, char z85[AN_INGEST_KEY_Z85_LEN + 1], char *errbuf, size_t errcap)
{
	char line[256];
	unsigned lineno = 0;
	int rc;

	if (errbuf && errcap)
		errbuf[0] = '\0';
	FILE *f = fopen(path, "re");
	if (!f) {
		rc = -errno;
		if (errbuf)
			snprintf(errbuf, errcap, "%s: %s", path, strerror(errno));
		return rc;
	}
	rc = -EINVAL;
	if (errbuf)
		snprintf(errbuf, errcap, "%s: no key in the file", path);
	while (fgets(line, sizeof line, f)) {
		lineno++;
		size_t n = strlen(line);
		while (n && isspace((unsigned char)line[n - 1]))
			line[--n] = '\0';
		size_t i = 0;
		while (i < n && isspace((unsigned char)line[i]))
			i++;
		if (i == n || line[i] == '#')
			continue;
		uint8_t bin[32];
		if (n - i != AN_INGEST_KEY_Z85_LEN || !zmq_z85_decode(bin, line + i)) {
			if (errbuf)
				snprintf(errbuf, errcap, "%s:%u: expected a 40-character Z85 CURVE key", path, lineno);
		} else {
			memcpy(z85, line + i, AN_INGEST_KEY_Z85_LEN);
			z85[AN_INGEST_KEY_Z85_LEN] = '\0';
			if (errbuf && errcap)
				errbuf[0] = '\0';
			rc = 0;
		}
		memset(line, 0, sizeof line);
		break;
	}
	fclose(f);
	return rc;
}

static int write_key(const char *path, const char *z85, mode_t mode)
{
	char line[AN_INGEST_KEY_Z85_LEN + 1];
	memcpy(line, z85, AN_INGEST_KEY_Z85_LEN);
	line[AN_INGEST_KEY_Z85_LEN] = '\n';
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	int rc = 0;
	if (fchmod(fd, mode) != 0 || write(fd, line, sizeof line) != (ssize_t)sizeof line || fsync(fd) != 0)
		rc = errno ? -errno : -EIO;
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	if (rc)
		unlink(path);
	return rc;
}

int an_ingest_keygen_files(const char *public_path, const char *secret_path)
{
	char pub[AN_INGEST_KEY_Z85_LEN + 1], sec[AN_INGEST_KEY_Z85_LEN + 1];
	if (!zmq_has("curve") || zmq_curve_keypair(pub, sec) != 0)
		return -ENOTSUP;
	int rc = write_key(secret_path, sec, 0600);
	if (rc == 0) {
		rc = write_key(public_path, pub, 0644);
		if (rc)
			unlink(secret_path);
	}
	memset(sec, 0, sizeof sec);
	return rc;
}

/* ---- the handler thread ------------------------------------------------------------------------------ */

struct an_zap {
	void *zctx;
	pthread_t thread;
	pthread_mutex_t mu; /* guards allow */
	struct an_ingest_allow *allow;
	char domain[128];
	char ctl_ep[64];
	void *ctl;          /* main side of the control PAIR */
	_Atomic uint64_t allowed, denied, malformed;
};

static int send_frames(void *s, const char *const *f, const size_t *len, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (zmq_send(s, f[i], len[i], i + 1 < n ? ZMQ_SNDMORE : 0) < 0)
			return -1;
	return 0;
}

static void zap_answer(struct an_zap *z, void *rep)
{
	char fr[ZAP_FRAMES_MAX][ZAP_FRAME_MAX];
	size_t len[ZAP_FRAMES_MAX] = {0};
	size_t n = 0;
	int more = 1;
	size_t ml = sizeof more;
	bool truncated = false;

	while (more) {
		char scratch[ZAP_FRAME_MAX];
		char *dst = n < ZAP_FRAMES_MAX ? fr[n] : scratch;
		int r = zmq_recv(rep, dst, ZAP_FRAME_MAX, 0);
		if (r < 0)
			return;
		if ((size_t)r > ZAP_FRAME_MAX)
			truncated = true;
		if (n < ZAP_FRAMES_MAX)
			len[n] = (size_t)r > ZAP_FRAME_MAX ? ZAP_FRAME_MAX : (size_t)r;
		n++;
		if (zmq_getsockopt(rep, ZMQ_RCVMORE, &more, &ml) != 0)
			return;
	}
	const char *status = "400", *text = "denied";
	char user[8] = "";
	if (n < 6 || truncated || len[0] != 3 || memcmp(fr[0], "1.0", 3) != 0) {
		atomic_fetch_add(&z->malformed, 1);
		status = "500";
		text = "malformed ZAP request";
	} else if (len[2] != strlen(z->domain) || memcmp(fr[2], z->domain, len[2]) != 0) {
		atomic_fetch_add(&z->denied, 1);
		text = "wrong ZAP domain";
	} else if (len[5] != 5 || memcmp(fr[5], "CURVE", 5) != 0 || n != 7 || len[6] != 32) {
		atomic_fetch_add(&z->denied, 1);
		text = "only CURVE is accepted";
	} else {
		pthread_mutex_lock(&z->mu);
		uint16_t id = an_ingest_allow_lookup(z->allow, (const uint8_t *)fr[6]);
		pthread_mutex_unlock(&z->mu);
		if (id) {
			atomic_fetch_add(&z->allowed, 1);
			status = "200";
			text = "OK";
			snprintf(user, sizeof user, "%u", (unsigned)id);
		} else {
			atomic_fetch_add(&z->denied, 1);
			text = "public key not in the allow-list";
		}
	}
	const char *out[6] = {"1.0", n >= 2 ? fr[1] : "", status, text, user, ""};
	size_t olen[6] = {3, n >= 2 ? len[1] : 0, 3, strlen(text), strlen(user), 0};
	send_frames(rep, out, olen, 6);
}

static void *zap_main(void *arg)
{
	struct an_zap *z = arg;
	void *ctl = zmq_socket(z->zctx, ZMQ_PAIR);
	void *rep = zmq_socket(z->zctx, ZMQ_REP);
	int zero = 0;
	char status = 'E';

	if (!ctl || !rep || zmq_connect(ctl, z->ctl_ep) != 0)
		goto close;
	zmq_setsockopt(rep, ZMQ_LINGER, &zero, sizeof zero);
	zmq_setsockopt(ctl, ZMQ_LINGER, &zero, sizeof zero);
	if (zmq_bind(rep, ZAP_ENDPOINT) != 0) {
		status = errno == EADDRINUSE ? 'U' : 'E';
		zmq_send(ctl, &status, 1, 0);
		goto close;
	}
	status = 'R';
	if (zmq_send(ctl, &status, 1, 0) != 1)
		goto close;
	for (;;) {
		zmq_pollitem_t it[2] = {{rep, -1, ZMQ_POLLIN, 0}, {ctl, -1, ZMQ_POLLIN, 0}};
		if (zmq_poll(it, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break; /* ETERM: the context is going away */
		}
		if (it[1].revents & ZMQ_POLLIN)
			break; /* stop */
		if (it[0].revents & ZMQ_POLLIN)
			zap_answer(z, rep);
	}
close:
	if (rep)
		zmq_close(rep);
	if (ctl)
		zmq_close(ctl);
	return NULL;
}

int an_zap_start(void *zctx, const char *domain, struct an_ingest_allow *allow, struct an_zap **out,
                 char *errbuf, size_t errcap)
{
	int rc = -EIO;
	*out = NULL;
	struct an_zap *z = calloc(1, sizeof *z);
	if (!z) {
		an_ingest_allow_free(allow);
		return -ENOMEM;
	}
	z->zctx = zctx;
	z->allow = allow;
	snprintf(z->domain, sizeof z->domain, "%s", domain);
	snprintf(z->ctl_ep, sizeof z->ctl_ep, "inproc://an-zap-ctl-%p", (void *)z);
	if (pthread_mutex_init(&z->mu, NULL) != 0)
		goto free_z;
	z->ctl = zmq_socket(zctx, ZMQ_PAIR);
	int zero = 0, wait_ms = 10000;
	if (!z->ctl || zmq_setsockopt(z->ctl, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
	    zmq_setsockopt(z->ctl, ZMQ_RCVTIMEO, &wait_ms, sizeof wait_ms) != 0 || zmq_bind(z->ctl, z->ctl_ep) != 0) {
		snprintf(errbuf, errcap, "ZAP control socket: %s", zmq_strerror(errno));
		goto close_ctl;
	}
	if (pthread_create(&z->thread, NULL, zap_main, z) != 0) {
		snprintf(errbuf, errcap, "ZAP thread: cannot create");
		goto close_ctl;
	}
	char status = 0;
	/* bounded wait (RCVTIMEO): the handler must be bound before the ROUTER accepts anyone */
	if (zmq_recv(z->ctl, &status, 1, 0) != 1 || status != 'R') {
		snprintf(errbuf, errcap, "ZAP handler: %s",
		         status == 'U' ? "another ZAP handler is bound in this ZeroMQ context"
		                       : "could not bind inproc://zeromq.zap.01");
		rc = status == 'U' ? -EADDRINUSE : -EIO;
		char stop = 'S';
		zmq_send(z->ctl, &stop, 1, ZMQ_DONTWAIT);
		pthread_join(z->thread, NULL);
		goto close_ctl;
	}
	*out = z;
	return 0;
close_ctl:
	if (z->ctl)
		zmq_close(z->ctl);
	pthread_mutex_destroy(&z->mu);
free_z:
	an_ingest_allow_free(z->allow);
	free(z);
	return rc;
}

void an_zap_set_allow(struct an_zap *z, struct an_ingest_allow *allow)
{
	pthread_mutex_lock(&z->mu);
	struct an_ingest_allow *old = z->allow;
	z->allow = allow;
	pthread_mutex_unlock(&z->mu);
	an_ingest_allow_free(old);
}

void an_zap_counts(const struct an_zap *z, struct an_zap_counts *c)
{
	c->allowed = atomic_load(&z->allowed);
	c->denied = atomic_load(&z->denied);
	c->malformed = atomic_load(&z->malformed);
}

void an_zap_stop(struct an_zap *z)
{
	if (!z)
		return;
	char stop = 'S';
	zmq_send(z->ctl, &stop, 1, 0);
	pthread_join(z->thread, NULL);
	zmq_close(z->ctl);
	pthread_mutex_destroy(&z->mu);
	an_ingest_allow_free(z->allow);
	free(z);
}

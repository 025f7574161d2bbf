/*
 * gw/src/keys.c — collar key file reader (format in gw/keys.h).
 */
#define _GNU_SOURCE
#include "gw/keys.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gw/log.h"

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int gw_keys_load(const char *path, struct gw_key *keys, size_t cap, size_t *n)
{
	*n = 0;
	FILE *f = fopen(path, "re");
	if (!f) {
		int err = -errno;
		gw_log(GW_LOG_ERR, "keys", "%s: %s", path, strerror(errno));
		return err;
	}
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
		gw_log(GW_LOG_WARN, "keys", "%s is readable by group/others (mode %03o): collar keys are secrets",
		       path, (unsigned)(st.st_mode & 0777));
	char line[512];
	unsigned lineno = 0;
	int err = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = 0;
		char *p = line;
		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			continue;
		char *end;
		errno = 0;
		unsigned long id = strtoul(p, &end, 0);
		if (end == p || errno || id == 0 || id > 65535 || !isspace((unsigned char)*end)) {
			gw_log(GW_LOG_ERR, "keys", "%s:%u: collar id must be 1..65535", path, lineno);
			err = -EINVAL;
			break;
		}
		p = end;
		while (isspace((unsigned char)*p))
			p++;
		if (*n >= cap) {
			gw_log(GW_LOG_ERR, "keys", "%s:%u: more than %zu collars", path, lineno, cap);
			err = -E2BIG;
			break;
		}
		struct gw_key *k = &keys[*n];
		size_t i;
		for (i = 0; i < PROTO_KEY_LEN; i++) {
			int hi = hexval(p[2 * i]), lo = hi < 0 ? -1 : hexval(p[2 * i + 1]);
			if (hi < 0 || lo < 0)
				break;
			k->key[i] = (uint8_t)(hi << 4 | lo);
		}
		char *q = p + 2 * i;
		while (isspace((unsigned char)*q))
			q++;
		if (i != PROTO_KEY_LEN || *q) {
			gw_log(GW_LOG_ERR, "keys", "%s:%u: key must be exactly 64 hex digits", path, lineno);
			err = -EINVAL;
			break;
		}
		for (size_t j = 0; j < *n; j++) {
			if (keys[j].collar_id == id) {
				gw_log(GW_LOG_ERR, "keys", "%s:%u: collar %lu listed twice", path, lineno, id);
				err = -EINVAL;
				break;
			}
		}
		if (err)
			break;
		k->collar_id = (uint16_t)id;
		(*n)++;
	}
	explicit_bzero(line, sizeof line);
	fclose(f);
	if (err)
		explicit_bzero(keys, cap * sizeof *keys);
	return err;
}

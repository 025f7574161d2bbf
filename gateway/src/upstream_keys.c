/*
 * gateway/src/upstream_keys.c — CURVE key pairs as Z85 text files (gw/upstream.h).
 *
 * Making keys for a site (documented here because the daemon and the core read these files):
 *   gateway: gw_up_keygen_files("/etc/scentrack/gw7.pub", "/etc/scentrack/gw7.key")
 *   core:    the same function (or an_ingest_keygen_files) for the core's pair "core.pub"/"core.key"
 *   then: copy core.pub to every gateway (its config names it), and add "7 <contents of gw7.pub>" to the
 *   core's allow-list. Secret files are 0600 and never leave their machine. Revoking a gateway = deleting
 *   its line from the allow-list.
 */
#define _GNU_SOURCE /* O_CLOEXEC, fchmod, fsync */
#include "gw/upstream.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int gw_up_keygen(char public_z85[GW_UP_KEY_Z85_LEN + 1], char secret_z85[GW_UP_KEY_Z85_LEN + 1])
{
	if (!zmq_has("curve"))
		return -ENOTSUP;
	if (zmq_curve_keypair(public_z85, secret_z85) != 0)
		return errno == ENOTSUP ? -ENOTSUP : -EIO;
	return 0;
}

static int write_key(const char *path, const char *z85, mode_t mode)
{
	char line[GW_UP_KEY_Z85_LEN + 2];
	memcpy(line, z85, GW_UP_KEY_Z85_LEN);
	line[GW_UP_KEY_Z85_LEN] = '\n';
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	int rc = 0;
	/* fchmod: the umask must not widen or narrow what the caller asked for */
	if (fchmod(fd, mode) != 0 || write(fd, line, sizeof line - 1) != (ssize_t)(sizeof line - 1) ||
	    fsync(fd) != 0)
		rc = errno ? -errno : -EIO;
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	if (rc)
		unlink(path);
	return rc;
}

int gw_up_keygen_files(const char *public_path, const char *secret_path)
{
	char pub[GW_UP_KEY_Z85_LEN + 1], sec[GW_UP_KEY_Z85_LEN + 1];
	int rc = gw_up_keygen(pub, sec);
	if (rc)
		return rc;
	rc = write_key(secret_path, sec, 0600);
	if (rc)
		goto wipe;
	rc = write_key(public_path, pub, 0644);
	if (rc)
		unlink(secret_path); /* half a pair is useless and confusing */
wipe:
	memset(sec, 0, sizeof sec);
	return rc;
}

int gw_up_key_read(const char *path, char z85[GW_UP_KEY_Z85_LEN + 1], char *errbuf, size_t errcap)
{
	char line[256];
	unsigned lineno = 0;
	int rc = -EINVAL;

	if (errbuf && errcap)
		errbuf[0] = '\0';
	FILE *f = fopen(path, "re");
	if (!f) {
		rc = -errno;
		if (errbuf)
			snprintf(errbuf, errcap, "%s: %s", path, strerror(errno));
		return rc;
	}
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
		if (n - i != GW_UP_KEY_Z85_LEN || !zmq_z85_decode(bin, line + i)) {
			if (errbuf)
				snprintf(errbuf, errcap, "%s:%u: expected a 40-character Z85 CURVE key, got %zu characters%s",
				         path, lineno, n - i, n - i == GW_UP_KEY_Z85_LEN ? " that are not Z85" : "");
			rc = -EINVAL;
			goto close_f;
		}
		memcpy(z85, line + i, GW_UP_KEY_Z85_LEN);
		z85[GW_UP_KEY_Z85_LEN] = '\0';
		memset(line, 0, sizeof line);
		rc = 0;
		goto close_f;
	}
	if (errbuf)
		snprintf(errbuf, errcap, "%s: no key in the file", path);
	rc = -EINVAL;
close_f:
	fclose(f);
	return rc;
}

int gw_up_key_public(const char *secret_z85, char public_z85[GW_UP_KEY_Z85_LEN + 1])
{
	uint8_t bin[32];
	if (!secret_z85 || strlen(secret_z85) != GW_UP_KEY_Z85_LEN || !zmq_z85_decode(bin, secret_z85))
		return -EINVAL;
	if (zmq_curve_public(public_z85, secret_z85) != 0)
		return -EINVAL;
	return 0;
}

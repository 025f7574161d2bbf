/*
 * analysis/daemon/web_api.c — the JSON history API and the token-guarded writes of the web server.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "core.h"
#include "web_internal.h"

int web_api(struct core_web *w, struct MHD_Connection *c, const char *method, const char *url, const char *body,
            size_t body_len, struct wb *out, const char **ctype, char *disposition, size_t dcap)
{
	(void)w; (void)c; (void)method; (void)body; (void)body_len; (void)ctype; (void)disposition; (void)dcap;
	web_error(out, "%s: no such API", url);
	return 404;
}

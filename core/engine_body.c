/* SPDX-License-Identifier: MIT */
/*
 * engine_body.c - the bytes of a creds/ file: Vault's JSON for creds/ROLE,
 * and the other formats (credfmt.h) for ROLE.env, .uri, .service, .pgpass
 * and the files of ROLE.d/.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "engine_i.h"
#include "leasesvc.h"
#include "timefmt.h"

struct secret *engine_body(struct lease *l, const struct secret *pw)
{
	char lid[160], maxe[TIMEFMT_LEN];
	struct secret *body = NULL;
	json_t *j;
	size_t n;

	snprintf(lid, sizeof(lid), "database/creds/%s/%s", l->role->name, l->id);
	timefmt_rfc3339(l->max_expires + leasesvc_wall_off(), maxe);
	j = json_pack("{s:s, s:I, s:b, s:s, s:{s:s, s:s}}", "lease_id", lid, "lease_duration",
		      (json_int_t)(l->ttl_ms / 1000), "renewable", l->valid_until < l->max_expires,
		      "max_expires", maxe, "data", "username", l->username, "password",
		      secret_str(pw));
	if (!j)
		return NULL;
	n = json_dumpb(j, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (n && (body = secret_alloc(n + 1))) {
		json_dumpb(j, secret_buf(body), n, JSON_COMPACT | JSON_PRESERVE_ORDER);
		secret_buf(body)[n] = '\n';
	}
	json_decref(j); /* the wiping allocator clears the password copy */
	return body;
}

void engine_creds_clear(struct engine_creds *cr)
{
	if (!cr)
		return;
	lease_unref(cr->lease);
	cr->lease = NULL;
	for (size_t i = 0; i < ENGINE_NFMT; i++) {
		secret_free(cr->body[i]);
		cr->body[i] = NULL;
	}
}

/*
 * The bodies of the formats in fmts other than JSON, into cr->body, made
 * before the login exists: a connection_url or a value a format cannot
 * hold fails the open with EINVAL and creates nothing.
 */
int engine_render(const struct dbconf *c, const struct role *ro, const char *username,
		  const struct secret *pw, unsigned fmts, struct engine_creds *cr, char *errbuf)
{
	struct credfmt_target t = { 0 };
	char err[CREDFMT_ERRLEN] = "";
	int r;

	if (!(fmts & ~ENGINE_FMT(CREDFMT_JSON)))
		return 0;
	if ((r = credfmt_target(c->connection_url, &t, err)) != 0) {
		snprintf(errbuf, ENGINE_ERRLEN, "connection \"%.64s\": %.170s", c->name,
			 r == -ENOMEM ? "out of memory" : err);
		return r == -ENOMEM ? -ENOMEM : -EINVAL;
	}
	for (int f = CREDFMT_ENV; f < ENGINE_NFMT; f++) {
		if (!(fmts & ENGINE_FMT(f)))
			continue;
		if (!(cr->body[f] = credfmt_render(f, &t, ro->name, username, pw))) {
			r = errno == ENOMEM ? -ENOMEM : -EINVAL;
			if (r == -ENOMEM)
				snprintf(errbuf, ENGINE_ERRLEN, "out of memory");
			else
				snprintf(errbuf, ENGINE_ERRLEN,
					 "connection \"%s\": a value of its connection_url cannot "
					 "be written in this format (a line break, trailing white "
					 "space or a NUL byte)",
					 c->name);
			break;
		}
	}
	credfmt_target_clear(&t);
	return r;
}

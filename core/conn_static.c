/* SPDX-License-Identifier: MIT */
/*
 * conn_static.c - the SQL of static roles: whether the user exists, and
 * setting its password (Vault's UpdateUser with a static account).
 */
#include <errno.h>
#include <string.h>

#include "conn_i.h"
#include "log.h"
#include "static.h"

int conn_static_exists(struct conn_pool *p, const char *username, char *errbuf)
{
	const char *const params[] = { username };
	PGconn *pg = NULL;
	PGresult *res;
	bool reused;
	int r;

	if ((r = conn_checkout(p, &pg, &reused, errbuf)) != 0)
		return r;
	res = conn_exec_params(pg, "SELECT 1 FROM pg_roles WHERE rolname = $1", 1, params);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		conn_result_err(errbuf, res, pg);
		r = -EIO;
	} else {
		r = PQntuples(res) == 1 ? 0 : -ENOENT;
	}
	PQclear(res);
	conn_checkin(p, pg);
	return r;
}

int conn_static_set_password(struct conn_pool *p, const char *username, char *const *stmts,
			     size_t n, const struct secret *pw, char *errbuf)
{
	static char *const def[] = { (char *)STATIC_DEFAULT_ROTATION, NULL };
	struct dbconf *c = conn_pool_conf(p);
	PGconn *pg = NULL;
	char *pwv = NULL;
	bool reused;
	int r;

	if ((r = conn_checkout(p, &pg, &reused, errbuf)) != 0)
		goto out;
	if (!(pwv = conn_password_value(pg, c, username, pw))) {
		conn_set_err(errbuf, "", "cannot encrypt password");
		r = -EIO;
		goto out;
	}
	{
		struct tmpl_var vars[] = {
			{ "name", username, strlen(username) },
			{ "username", username, strlen(username) },
			{ "password", pwv, strlen(pwv) },
		};
		r = n ? conn_exec_stmts(pg, stmts, n, vars, 3, errbuf)
		      : conn_exec_stmts(pg, def, 1, vars, 3, errbuf);
	}
	conn_mask(errbuf, secret_str(pw));
	conn_mask(errbuf, pwv);
out:
	if (pg)
		conn_checkin(p, pg);
	secret_wipe_str(pwv);
	dbconf_unref(c);
	return r;
}

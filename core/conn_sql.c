/* SPDX-License-Identifier: MIT */
/*
 * conn_sql.c - the SQL of every credential operation (conn.h): rendering
 * the statements, creating, renewing and revoking logins (with the default
 * revocation) and rotating the root password. Connections come from the
 * pool in conn.c.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "conn.h"
#include "conn_i.h"
#include "log.h"
#include "scram.h"
#include "sqlsplit.h"
#include "timefmt.h"
#include "tmpl.h"

#define CONN_DEFAULT_RENEW "ALTER ROLE \"{{name}}\" VALID UNTIL '{{expiration}}'"

/* --- statements ---------------------------------------------------------- */

/*
 * Render every statement and join them after prefix with sqlsplit_join,
 * each ended by "\n;\n" so that a trailing -- comment cannot swallow the
 * next statement, into one string (*sqlp, wiped and freed by the caller
 * with its length *lenp).
 */
static int conn_render_stmts(const char *prefix, char *const *stmts, size_t n,
			     const struct tmpl_var *vars, size_t nvars, char **sqlp, size_t *lenp,
			     char *errbuf)
{
	char **parts = calloc(n ? n : 1, sizeof(*parts));
	size_t *lens = calloc(n ? n : 1, sizeof(*lens));
	int r = -ENOMEM;

	if (!parts || !lens)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if ((r = tmpl_render(stmts[i], vars, nvars, &parts[i], &lens[i], NULL)) != 0) {
			conn_set_err(errbuf, "", "cannot render statement");
			goto out;
		}
	}
	r = sqlsplit_join(prefix, parts, lens, n, sqlp, lenp);
out:
	for (size_t i = 0; parts && i < n; i++)
		tmpl_free(parts[i]);
	free(parts);
	free(lens);
	return r;
}

static void conn_free_sql(char *sql, size_t len)
{
	if (sql) {
		secret_wipe(sql, len);
		free(sql);
	}
}

/*
 * Render every statement and send them as one simple-query message: one
 * round trip, and PostgreSQL runs a multi-statement message as a single
 * implicit transaction, so a failure rolls all of it back.
 */
int conn_exec_stmts(PGconn *pg, char *const *stmts, size_t n, const struct tmpl_var *vars,
		    size_t nvars, char *errbuf)
{
	PGresult *res = NULL;
	char *sql = NULL;
	size_t len = 0;
	int r;

	if ((r = conn_render_stmts("", stmts, n, vars, nvars, &sql, &len, errbuf)) != 0)
		return r;
	res = conn_exec_retry(pg, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		conn_result_err(errbuf, res, pg);
		r = -EIO;
	}
	PQclear(res);
	conn_free_sql(sql, len);
	return r;
}

/* End an open or failed transaction; a connection where that fails is not reused. */
static void conn_rollback(PGconn *pg)
{
	if (PQstatus(pg) == CONNECTION_OK && PQtransactionStatus(pg) != PQTRANS_IDLE)
		PQclear(conn_exec(pg, "ROLLBACK"));
}

/*
 * One pipelined creation transaction (libpq's pipeline mode, the extended
 * protocol): BEGIN and the statements are sent at once; while PostgreSQL
 * runs them, durable(ctx) makes the lease durable; then COMMIT (only if
 * durable() succeeded) and a sync point go out without waiting for the
 * statements' answers, and every answer is read after the sync. Against the
 * two simple-query messages below, this saves a round trip: PostgreSQL
 * has COMMIT in hand as soon as the lease is durable. An error skips the
 * rest up to the sync (COMMIT included): the transaction is then left
 * aborted, and rolled back by the caller.
 *
 * Returns 0 (committed), -EPROTO (COMMIT was sent and no answer came: the
 * login may exist; *errp may say why), -EIO with *errp the first failed
 * answer (may be NULL: the connection broke before COMMIT went out), or
 * -ECANCELED (durable() failed: no COMMIT was sent).
 */
static int conn_create_pipe(PGconn *pg, char *const *stmts, size_t n, conn_durable_fn *durable,
			    void *ctx, int *drp, PGresult **errp)
{
	bool commit_sent = false, committed = false, synced = false, server_err = false;
	size_t sent = 0, answered = 0, nulls = 0;
	PGresult *res;

	*errp = NULL;
	if (!PQenterPipelineMode(pg))
		return -EIO;
	for (; sent < n; sent++)
		if (!PQsendQueryParams(pg, stmts[sent], 0, NULL, NULL, NULL, NULL, 0))
			break;
	/* Out now: PostgreSQL runs the statements while the lease is made durable. */
	if (sent == n && PQflush(pg) == 0 && *drp == 1)
		*drp = durable(ctx);
	if (sent == n && *drp == 0)
		commit_sent = PQsendQueryParams(pg, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) == 1;
	if (!PQpipelineSync(pg))
		return commit_sent ? -EPROTO : -EIO;
	/* Each query's answers end with a NULL; the sync point ends them all. */
	while (!synced && nulls <= sent + 1) {
		ExecStatusType st;

		if (!(res = conn_get_result(pg))) {
			answered++;
			if (PQstatus(pg) != CONNECTION_OK || conn_deadline_expired())
				break;
			nulls++;
			continue;
		}
		st = PQresultStatus(res);
		if (st == PGRES_PIPELINE_SYNC) {
			synced = true;
		} else if (commit_sent && answered == sent && st == PGRES_COMMAND_OK) {
			committed = !strcmp(PQcmdStatus(res), "COMMIT");
		} else if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK &&
			   st != PGRES_PIPELINE_ABORTED && !*errp) {
			/* PostgreSQL's, or conn_get_result's when the deadline passed */
			server_err = !conn_deadline_expired();
			*errp = res;
			continue;
		}
		PQclear(res);
	}
	/* No sync: an error of PostgreSQL's means it skipped COMMIT; else it may have run. */
	if (!synced || !PQexitPipelineMode(pg))
		return commit_sent && !server_err ? -EPROTO : -EIO;
	if (committed)
		return 0;
	if (*drp != 0)
		return -ECANCELED;
	return -EIO;
}

/*
 * The creation transaction, in two messages: "BEGIN;" with the statements,
 * then COMMIT. While PostgreSQL runs the statements, durable(ctx) makes the
 * lease durable, so its fdatasync overlaps them instead of preceding them;
 * COMMIT is sent only after durable() succeeded. A crash in between leaves
 * an open transaction that PostgreSQL rolls back when the connection drops:
 * a login never exists that the state does not hold.
 *
 * 0: committed. -ECANCELED: durable() failed (its own error), rolled back.
 * -EPROTO: the connection broke during COMMIT, so the login may or may not
 * exist. -EIO: PostgreSQL refused it, rolled back (errbuf says why).
 */
/*
 * A creation attempt that did not commit, rolled back here: 0 to try again
 * (a lost catalog race: err freed, after a backoff), else what to return:
 * -ECANCELED (durable() failed), -EIO (errbuf says why). err is taken.
 */
static int conn_create_failed(PGconn *pg, PGresult *err, bool canceled, int attempt, char *errbuf)
{
	conn_rollback(pg);
	if (!canceled && err && conn_transient(err) && attempt + 1 < CONN_RETRIES &&
	    PQtransactionStatus(pg) == PQTRANS_IDLE) {
		PQclear(err);
		conn_backoff(attempt);
		return 0;
	}
	if (!canceled)
		conn_result_err(errbuf, err, pg);
	PQclear(err);
	return canceled ? -ECANCELED : -EIO;
}

static int conn_create_tx(PGconn *pg, const char *sql, char *const *stmts, size_t n,
			  conn_durable_fn *durable, void *ctx, int *drp, char *errbuf)
{
	int dr = *drp; /* 1: durable() not asked yet */
	PGresult *res;
	int r;

	for (int attempt = 0;; attempt++) {
		PGresult *err = NULL;

		if (stmts) {
			r = conn_create_pipe(pg, stmts, n, durable, ctx, drp, &err);
			dr = *drp;
			if (r == 0)
				return 0;
			if (r == -EPROTO) {
				conn_result_err(errbuf, err, pg);
				PQclear(err);
				return -EPROTO;
			}
			if ((r = conn_create_failed(pg, err, r == -ECANCELED, attempt, errbuf)) !=
			    0)
				return r;
			continue;
		}
		if (!PQsendQuery(pg, sql)) {
			conn_result_err(errbuf, NULL, pg);
			return -EIO;
		}
		if (dr == 1)
			*drp = dr = durable(ctx);
		while ((res = conn_get_result(pg))) {
			ExecStatusType st = PQresultStatus(res);

			if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK && !err)
				err = res;
			else
				PQclear(res);
		}
		if (!err && dr == 0)
			break;
		if ((r = conn_create_failed(pg, err, dr != 0, attempt, errbuf)) != 0)
			return r;
	}
	res = conn_exec(pg, "COMMIT");
	if (PQresultStatus(res) == PGRES_COMMAND_OK && !strcmp(PQcmdStatus(res), "COMMIT")) {
		r = 0;
	} else if (!res || PQstatus(pg) != CONNECTION_OK) {
		conn_result_err(errbuf, res, pg);
		r = -EPROTO;
	} else {
		/* refused at commit (a deferred constraint, ...): rolled back */
		conn_result_err(errbuf, res, pg);
		if (PQresultStatus(res) == PGRES_COMMAND_OK)
			conn_set_err(errbuf, "",
				     "postgresql: the creation transaction was rolled back");
		r = -EIO;
	}
	PQclear(res);
	return r;
}

/*
 * The {{password}} value: the password itself or its SCRAM verifier,
 * computed here (scram.c) for an ASCII password and by libpq otherwise
 * (SASLprep). Either is the same PostgreSQL accepts and stores.
 */
char *conn_password_value(PGconn *pg, const struct dbconf *c, const char *user,
			  const struct secret *pw)
{
	char *v, *copy;

	if (c->pwauth != DBCONF_PW_SCRAM)
		return strdup(secret_str(pw));
	if ((v = scram_verifier_new(secret_str(pw), strlen(secret_str(pw)))))
		return v;
	if (!(v = PQencryptPasswordConn(pg, secret_str(pw), user, "scram-sha-256")))
		return NULL;
	copy = strdup(v);
	secret_wipe(v, strlen(v));
	PQfreemem(v);
	return copy;
}

/*
 * Whether to run an operation again on a new connection: the connection
 * it got from the pool had died (a restart, pg_terminate_backend) before
 * it could commit anything. Once only, and never past the deadline.
 */
static bool conn_again(PGconn *pg, bool reused, int tries, int r)
{
	return r == -EIO && reused && tries == 0 && PQstatus(pg) == CONNECTION_BAD &&
	       !conn_deadline_expired();
}

/* Append stmt and its terminator to the rendered *sqlp (length *lenp), wiping the old copy. */
static int conn_append_stmt(char **sqlp, size_t *lenp, const char *stmt)
{
	size_t add = strlen(stmt), n = *lenp + add + 4;
	char *sql = malloc(n);

	if (!sql)
		return -ENOMEM;
	memcpy(sql, *sqlp, *lenp);
	memcpy(sql + *lenp, stmt, add);
	memcpy(sql + *lenp + add, "\n;\n", 4);
	conn_free_sql(*sqlp, *lenp);
	*sqlp = sql;
	*lenp = n - 1;
	sql[n - 1] = '\0';
	return 0;
}

int conn_create_user(struct conn_pool *p, const struct role *role, const char *username,
		     const struct secret *pw, const char *verifier, int64_t expires_ms,
		     const char *also, conn_durable_fn *durable, void *ctx, char *errbuf)
{
	char expiration[TIMEFMT_LEN];
	struct dbconf *c = conn_pool_conf(p);
	char *pwv = NULL, *sql = NULL, **stmts = NULL;
	size_t len = 0, nstmts = 0;
	struct parse_error perr;
	PGconn *pg = NULL;
	int r, dr = 1;

	if (role->n_creation == 0) {
		conn_set_err(errbuf, "", "role has no creation_statements");
		r = -EIO;
		goto out;
	}
	for (int tries = 0;; tries++) {
		bool reused = false;

		if ((r = conn_checkout(p, &pg, &reused, errbuf)) != 0)
			goto out;
		conn_deadline_start(c->issue_timeout_ms);
		if (!pwv && verifier && c->pwauth == DBCONF_PW_SCRAM)
			pwv = strdup(verifier);
		else if (!pwv)
			pwv = conn_password_value(pg, c, username, pw);
		if (!pwv) {
			conn_set_err(errbuf, "", "cannot encrypt password");
			r = -EIO;
			goto out;
		}
		timefmt_pg(expires_ms + 5000, expiration);
		if (!sql) {
			struct tmpl_var vars[] = {
				{ "name", username, strlen(username) },
				{ "username", username, strlen(username) },
				{ "password", pwv, strlen(pwv) },
				{ "expiration", expiration, strlen(expiration) },
			};
			r = conn_render_stmts("BEGIN;\n", role->creation, role->n_creation, vars, 4,
					      &sql, &len, errbuf);
			if (r == 0 && also && (r = conn_append_stmt(&sql, &len, also)) != 0)
				conn_set_err(errbuf, "", "out of memory");
			/* One statement each, for the pipeline; else the two messages. */
			if (r == 0 && sqlsplit(sql, len, &stmts, &nstmts, &perr) != 0)
				stmts = NULL;
		}
		if (r == 0)
			r = conn_create_tx(pg, sql, stmts, nstmts, durable, ctx, &dr, errbuf);
		if (!conn_again(pg, reused, tries, r))
			break;
		conn_checkin(p, pg);
		pg = NULL;
	}
	conn_mask(errbuf, secret_str(pw));
	conn_mask(errbuf, pwv);
out:
	if (pg)
		conn_checkin(p, pg);
	conn_free_sql(sql, len);
	sqlsplit_free(stmts, nstmts);
	secret_wipe_str(pwv);
	dbconf_unref(c);
	return r;
}

int conn_renew_user(struct conn_pool *p, const struct role *role, const char *username,
		    int64_t expires_ms, char *errbuf)
{
	static char *const def[] = { (char *)CONN_DEFAULT_RENEW, NULL };
	char expiration[TIMEFMT_LEN];
	struct tmpl_var vars[] = {
		{ "name", username, strlen(username) },
		{ "username", username, strlen(username) },
		{ "expiration", expiration, 0 },
	};
	PGconn *pg = NULL;
	int r;

	timefmt_pg(expires_ms + 5000, expiration);
	vars[2].len = strlen(expiration);
	for (int tries = 0;; tries++) {
		bool reused = false;

		if ((r = conn_checkout(p, &pg, &reused, errbuf)) != 0)
			return r;
		if (role->n_renew)
			r = conn_exec_stmts(pg, role->renew, role->n_renew, vars, 3, errbuf);
		else
			r = conn_exec_stmts(pg, def, 1, vars, 3, errbuf);
		if (!conn_again(pg, reused, tries, r))
			break;
		conn_checkin(p, pg);
	}
	conn_checkin(p, pg);
	return r;
}

/* The login's oid, 0 if it does not exist; -EIO on error. */
static int64_t conn_role_oid(PGconn *pg, const char *username, char *errbuf)
{
	const char *params[1] = { username };
	PGresult *res =
		conn_exec_params(pg, "SELECT oid FROM pg_roles WHERE rolname = $1", 1, params);
	int64_t oid = 0;

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		conn_result_err(errbuf, res, pg);
		oid = -EIO;
	} else if (PQntuples(res) == 1) {
		oid = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	}
	PQclear(res);
	return oid;
}

/*
 * The default revocation's first try, in one message and one transaction:
 * the login's oid (*oid, 0 if it is gone), then DROP ROLE. A login that
 * holds no privilege and owns nothing is then revoked, exactly as the
 * full sequence would have revoked it, without touching the database's
 * and schemas' ACL rows that concurrent revocations would fight over
 * ("tuple concurrently updated"). When something depends on the login
 * DROP ROLE fails and rolls back: *fallback says to run the full sequence.
 */
static int conn_lookup_drop(PGconn *pg, const char *username, int64_t *oid, bool *fallback,
			    char *errbuf)
{
	char *lit = PQescapeLiteral(pg, username, strlen(username));
	char *id = PQescapeIdentifier(pg, username, strlen(username));
	char *sql = NULL;
	int r = -ENOMEM;

	*oid = 0;
	*fallback = false;
	if (!lit || !id ||
	    asprintf(&sql, "SELECT oid FROM pg_roles WHERE rolname = %s;\nDROP ROLE IF EXISTS %s;",
		     lit, id) < 0) {
		sql = NULL;
		conn_set_err(errbuf, "", "out of memory");
		goto out;
	}
	for (int attempt = 0;; attempt++) {
		PGresult *res, *err = NULL;
		bool transient;

		r = 0;
		if (!PQsendQuery(pg, sql)) {
			conn_result_err(errbuf, NULL, pg);
			r = -EIO;
			break;
		}
		while ((res = conn_get_result(pg))) {
			ExecStatusType st = PQresultStatus(res);

			if (st == PGRES_TUPLES_OK && PQntuples(res) == 1)
				*oid = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
			if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK && !err)
				err = res;
			else
				PQclear(res);
		}
		if (!err)
			break;
		r = -EIO;
		transient = conn_transient(err);
		if (!transient) {
			const char *state = PQresultErrorField(err, PG_DIAG_SQLSTATE);

			if (state && !strcmp(state, "2BP01")) /* dependent_objects_still_exist */
				*fallback = true;
			else
				conn_result_err(errbuf, err, pg);
		} else if (attempt + 1 >= CONN_RETRIES) {
			conn_result_err(errbuf, err, pg);
		}
		PQclear(err);
		if (!transient || attempt + 1 >= CONN_RETRIES)
			break;
		conn_backoff(attempt);
	}
out:
	PQfreemem(lit);
	PQfreemem(id);
	free(sql);
	return r;
}

static int conn_terminate(PGconn *pg, int64_t oid, char *errbuf)
{
	char oidtext[24];
	const char *params[1] = { oidtext };
	PGresult *res;
	int r = 0;

	snprintf(oidtext, sizeof(oidtext), "%lld", (long long)oid);
	res = conn_exec_params(pg,
			       "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
			       "WHERE usesysid = $1::oid AND pid <> pg_backend_pid()",
			       1, params);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		conn_result_err(errbuf, res, pg);
		r = -EIO;
	}
	PQclear(res);
	return r;
}

/* Append printf output to a growing string; -ENOMEM on failure (*s freed). */
static int conn_appendf(char **s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int conn_appendf(char **s, const char *fmt, ...)
{
	char *add = NULL, *both = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&add, fmt, ap);
	va_end(ap);
	if (n < 0 || asprintf(&both, "%s%s", *s ? *s : "", add) < 0) {
		free(add);
		free(*s);
		*s = NULL;
		return -ENOMEM;
	}
	free(add);
	free(*s);
	*s = both;
	return 0;
}

/*
 * Vault's default revocation (privileges in every schema the login has
 * grants in, public, CONNECT, DROP ROLE), made robust the way its users
 * asked for: objects the login owns are reassigned to the connection's
 * user and the rest of its privileges dropped, so DROP ROLE never wedges.
 */
static int conn_default_revoke(PGconn *pg, const char *username, char *errbuf)
{
	const char *params[1] = { username };
	PGresult *res = NULL;
	char *u = NULL, *db = NULL, *sql = NULL;
	int r = -EIO;

	res = conn_exec_params(
		pg,
		"SELECT DISTINCT table_schema FROM information_schema.role_table_grants "
		"WHERE grantee = $1 AND table_schema <> 'public'",
		1, params);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		conn_result_err(errbuf, res, pg);
		goto out;
	}
	if (!(u = PQescapeIdentifier(pg, username, strlen(username))) ||
	    !(db = PQescapeIdentifier(pg, PQdb(pg), strlen(PQdb(pg))))) {
		conn_result_err(errbuf, NULL, pg);
		goto out;
	}
	r = conn_appendf(&sql, "ALTER ROLE %s NOLOGIN;\n", u);
	for (int i = 0; r == 0 && i < PQntuples(res); i++) {
		const char *schema = PQgetvalue(res, i, 0);
		char *s = PQescapeIdentifier(pg, schema, strlen(schema));

		if (!s) {
			r = -ENOMEM;
			break;
		}
		r = conn_appendf(&sql,
				 "REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA %s FROM %s;\n"
				 "REVOKE USAGE ON SCHEMA %s FROM %s;\n",
				 s, u, s, u);
		PQfreemem(s);
	}
	if (r == 0)
		r = conn_appendf(
			&sql,
			"REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA public FROM %s;\n"
			"REVOKE ALL PRIVILEGES ON ALL SEQUENCES IN SCHEMA public FROM %s;\n"
			"REVOKE USAGE ON SCHEMA public FROM %s;\n"
			"REVOKE CONNECT ON DATABASE %s FROM %s;\n"
			"REASSIGN OWNED BY %s TO CURRENT_USER;\n"
			"DROP OWNED BY %s;\n"
			"DROP ROLE IF EXISTS %s;\n",
			u, u, u, db, u, u, u, u);
	if (r != 0) {
		conn_set_err(errbuf, "", "out of memory");
		goto out;
	}
	PQclear(res);
	res = conn_exec_retry(pg, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		conn_result_err(errbuf, res, pg);
		r = -EIO;
	}
out:
	PQclear(res);
	PQfreemem(u);
	PQfreemem(db);
	free(sql);
	return r;
}

/* The revocation on one connection. */
static int conn_revoke_on(PGconn *pg, const struct role *role, const char *username, char *errbuf)
{
	bool fallback = false;
	int64_t oid = 0;
	int r = 0;

	if (role->n_revocation) {
		struct tmpl_var vars[] = {
			{ "name", username, strlen(username) },
			{ "username", username, strlen(username) },
		};

		/* A login that is already gone counts as revoked: revocation is idempotent. */
		if ((oid = conn_role_oid(pg, username, errbuf)) <= 0) {
			r = oid < 0 ? (int)oid : 1;
			goto out;
		}
		r = conn_exec_stmts(pg, role->revocation, role->n_revocation, vars, 2, errbuf);
	} else {
		r = conn_lookup_drop(pg, username, &oid, &fallback, errbuf);
		if (r == 0 && oid == 0) {
			r = 1; /* already gone */
			goto out;
		}
		if (fallback)
			r = conn_default_revoke(pg, username, errbuf);
	}
	/* After the login is refused or gone, end the sessions it still has. */
	if (r == 0 && role->terminate_sessions)
		r = conn_terminate(pg, oid, errbuf);
out:
	return r;
}

int conn_pool_query_bool(struct conn_pool *p, const char *sql, int n, const char *const *vals,
			 char *errbuf)
{
	PGconn *pg = NULL;
	bool reused = false;
	PGresult *res;
	int r;

	if ((r = conn_checkout(p, &pg, &reused, errbuf)) != 0)
		return r;
	res = conn_exec_params(pg, sql, n, vals);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		conn_result_err(errbuf, res, pg);
		r = PQresultStatus(res) == PGRES_FATAL_ERROR && PQstatus(pg) == CONNECTION_OK &&
				    !conn_deadline_expired()
			    ? -EINVAL
			    : -EIO;
	} else {
		r = PQntuples(res) == 1 && PQnfields(res) >= 1 && !PQgetisnull(res, 0, 0) &&
		    PQgetvalue(res, 0, 0)[0] == 't';
	}
	PQclear(res);
	conn_checkin(p, pg);
	return r;
}

int conn_user_exists(struct conn_pool *p, const char *username, char *errbuf)
{
	PGconn *pg = NULL;
	bool reused = false;
	int64_t oid;
	int r;

	if ((r = conn_checkout(p, &pg, &reused, errbuf)) != 0)
		return r;
	oid = conn_role_oid(pg, username, errbuf);
	conn_checkin(p, pg);
	return oid < 0 ? (int)oid : oid > 0;
}

int conn_revoke_user(struct conn_pool *p, const struct role *role, const char *username,
		     char *errbuf)
{
	PGconn *pg = NULL;
	int r;

	for (int tries = 0;; tries++) {
		bool reused = false;

		if ((r = conn_checkout(p, &pg, &reused, errbuf)) != 0)
			return r;
		r = conn_revoke_on(pg, role, username, errbuf);
		if (!conn_again(pg, reused, tries, r))
			break;
		conn_checkin(p, pg);
	}
	conn_checkin(p, pg);
	return r;
}

int conn_rotate_root(struct conn_pool *p, const struct secret *newpw, struct dbconf **newconf,
		     char *errbuf)
{
	static char *const def[] = { (char *)DBCONF_DEFAULT_ROTATE, NULL };
	struct dbconf *c = conn_pool_conf(p), *nc = NULL;
	struct secret *pw = NULL;
	char *pwv = NULL;
	PGconn *pg = NULL;
	bool reused = false;
	int r = -EINVAL;

	if (!c->username || !c->password) {
		conn_set_err(errbuf, "", "no username/password in configuration");
		goto out;
	}
	r = -ENOMEM;
	if (!(pw = secret_dup(newpw)))
		goto out;
	if ((r = conn_checkout(p, &pg, &reused, errbuf)) != 0)
		goto out;
	if (!(pwv = conn_password_value(pg, c, c->username, pw))) {
		conn_set_err(errbuf, "", "cannot encrypt password");
		r = -EIO;
		goto out;
	}
	{
		struct tmpl_var vars[] = {
			{ "name", c->username, strlen(c->username) },
			{ "username", c->username, strlen(c->username) },
			{ "password", pwv, strlen(pwv) },
		};
		if (c->n_root_rotation)
			r = conn_exec_stmts(pg, c->root_rotation, c->n_root_rotation, vars, 3,
					    errbuf);
		else
			r = conn_exec_stmts(pg, def, 1, vars, 3, errbuf);
	}
	conn_mask(errbuf, secret_str(pw));
	conn_mask(errbuf, pwv);
	if (r != 0)
		goto out;
	if (!(nc = dbconf_with_password(c, pw))) {
		pw = NULL; /* taken, even on failure */
		r = -ENOMEM;
		log_err("connection %s: root password changed but not kept: out of memory",
			c->name);
		goto out;
	}
	pw = NULL; /* transferred */
	pthread_mutex_lock(&p->mu);
	dbconf_unref(p->conf);
	p->conf = dbconf_ref(nc);
	pthread_mutex_unlock(&p->mu);
	*newconf = nc;
	nc = NULL; /* transferred */
out:
	if (pg)
		conn_checkin(p, pg);
	secret_wipe_str(pwv);
	secret_free(pw);
	dbconf_unref(c);
	return r;
}

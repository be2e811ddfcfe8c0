/* SPDX-License-Identifier: MIT */
/*
 * fleet_sql.c - the control connection: connecting with keepalives and
 * deadlines (as conn.c does for pools), the schema, the node's lock, and
 * running one statement within a deadline.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn_i.h"
#include "fleet_i.h"
#include "log.h"

int64_t fleet_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *fleet_sql_text(struct fleet *f, const char *tmpl)
{
	size_t n = 1, ql = strlen(f->qs);
	char *out, *p;

	for (const char *s = tmpl; *s; s++)
		n += *s == '@' ? ql : 1;
	if (!(out = malloc(n)))
		return NULL;
	for (p = out; *tmpl; tmpl++) {
		if (*tmpl == '@') {
			memcpy(p, f->qs, ql);
			p += ql;
		} else {
			*p++ = *tmpl;
		}
	}
	*p = '\0';
	return out;
}

/* Defaults first: anything the conninfo sets wins (libpq: later keywords override). */
static PGconn *fleet_sql_dial(const char *conninfo)
{
	const char *kw[] = { "connect_timeout",	 "keepalives",
			     "keepalives_idle",	 "keepalives_interval",
			     "keepalives_count", "tcp_user_timeout",
			     "application_name", "options",
			     "dbname",		 NULL };
	const char *val[] = {
		"3", "1", "5", "2", "3", "10000", "credfs-fleet",
		/*
		 * The server's side of the control session too: a node cut off
		 * loses its session (and so its node lock, which survivors wait
		 * for before claiming) in about 5 s, not when the server's TCP
		 * gives up (2 h by default). Heartbeats every 2 s keep a
		 * healthy session busy.
		 */
		"-c statement_timeout=10000 -c lock_timeout=5000 -c client_min_messages=warning"
		" -c tcp_keepalives_idle=1 -c tcp_keepalives_interval=1 -c tcp_keepalives_count=3"
		" -c tcp_user_timeout=5000",
		conninfo, NULL
	};

	return PQconnectdbParams(kw, val, 1);
}

static bool fleet_res_ok(const PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);

	return res && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
}

PGresult *fleet_sql(struct fleet *f, const char *tmpl, int n, const char *const *vals)
{
	char *sql = fleet_sql_text(f, tmpl), errbuf[CONN_ERRLEN];
	PGresult *res = NULL;

	if (!sql || !f->pg)
		goto out;
	conn_deadline_start(FLEET_OP_MS);
	res = n ? conn_exec_params(f->pg, sql, n, vals) : conn_exec(f->pg, sql);
	if (fleet_res_ok(res) && !f->rejoining) {
		/* The control session answered: as good as a heartbeat (it holds the node lock). */
		f->hb_ok = fleet_mono();
	} else if (!fleet_res_ok(res)) {
		conn_result_err(errbuf, res, f->pg);
		log_warn("fleet: control store: %s", errbuf);
		PQclear(res);
		res = NULL;
		if (PQstatus(f->pg) == CONNECTION_BAD || conn_deadline_expired()) {
			PQfinish(f->pg);
			f->pg = NULL;
		} else if (PQtransactionStatus(f->pg) != PQTRANS_IDLE) {
			PGresult *rb = conn_exec(f->pg, "ROLLBACK");

			PQclear(rb);
		}
	}
out:
	free(sql);
	return res;
}

char *fleet_json_text(const json_t *j)
{
	size_t n = j ? json_dumpb(j, NULL, 0, JSON_COMPACT) : 0;
	char *s = n ? malloc(n + 1) : NULL;

	if (s) {
		json_dumpb(j, s, n, JSON_COMPACT);
		s[n] = '\0';
	}
	return s;
}

int64_t fleet_i64(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

const char *fleet_str(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/*
 * The schema's version, kept in @.meta (one row): 1 is a schema from
 * before @.meta (no nodes.synced, no leases_revoked). A connect whose
 * binary is newer than the store's runs the whole DDL (idempotent: IF NOT
 * EXISTS throughout) and records its version; one finding the store
 * current (or newer) runs none of it, so takes no lock on the tables (an
 * ALTER TABLE would take an ACCESS EXCLUSIVE one, queueing every node's
 * heartbeat behind any open reader of nodes). Both the look and the DDL
 * are under one transaction advisory lock: nodes starting together
 * upgrade once, one after another.
 */
#define FLEET_SCHEMA_VERSION "3"

static const char fleet_ddl[] =
	"DO $credfs_ddl$ DECLARE v integer; BEGIN"
	" PERFORM pg_advisory_xact_lock(hashtext('credfs-fleet-ddl'));"
	" BEGIN SELECT version INTO v FROM @.meta;"
	" EXCEPTION WHEN undefined_table OR invalid_schema_name THEN v := NULL; END;"
	" IF v >= " FLEET_SCHEMA_VERSION " THEN RETURN; END IF;"
	" CREATE SCHEMA IF NOT EXISTS @;"
	" CREATE TABLE IF NOT EXISTS @.definitions (kind text NOT NULL, name text NOT NULL,"
	" version bigint NOT NULL DEFAULT 1, sealed text, deleted boolean NOT NULL DEFAULT false,"
	" rotating boolean NOT NULL DEFAULT false, node text,"
	" updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (kind, name));"
	" CREATE TABLE IF NOT EXISTS @.nodes (node text PRIMARY KEY, heartbeat timestamptz NOT NULL,"
	" started timestamptz NOT NULL DEFAULT now());"
	" CREATE TABLE IF NOT EXISTS @.leases (id text PRIMARY KEY, node text NOT NULL,"
	" role text NOT NULL, username text NOT NULL, connection text NOT NULL,"
	" connection_version bigint NOT NULL, issued timestamptz NOT NULL,"
	" valid_until timestamptz NOT NULL, ttl_ms bigint NOT NULL, state text NOT NULL,"
	" let_go_at timestamptz, holder jsonb, role_doc jsonb, claimed_by text,"
	" claimed_at timestamptz, revoke_requested boolean NOT NULL DEFAULT false,"
	" attempts integer NOT NULL DEFAULT 0, revoked_at timestamptz,"
	" updated_at timestamptz NOT NULL DEFAULT now());"
	" CREATE INDEX IF NOT EXISTS leases_node ON @.leases (node);"
	" CREATE INDEX IF NOT EXISTS leases_claimed_by ON @.leases (claimed_by);"
	/* Version 2. When the node last dropped the leases claimed from it (fleet_lease_synced). */
	" ALTER TABLE @.nodes ADD COLUMN IF NOT EXISTS synced timestamptz;"
	" CREATE TABLE IF NOT EXISTS @.meta (one boolean PRIMARY KEY DEFAULT true CHECK (one),"
	" version integer NOT NULL);"
	/*
	 * Version 3. Every server a connection has pointed at (its target,
	 * dbconf_target) with that target's last definition, sealed as the
	 * definition is; a lease row names its target.
	 */
	" CREATE TABLE IF NOT EXISTS @.targets (connection text NOT NULL, target text NOT NULL,"
	" sealed text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),"
	" PRIMARY KEY (connection, target));"
	" ALTER TABLE @.leases ADD COLUMN IF NOT EXISTS connection_target text;"
	/*
	 * Also version 3: no index names state (version 2's leases_revoked,
	 * WHERE state = 'revoked', did) and every page keeps half its room,
	 * so that the let-go UPDATE of a row, which changes no indexed column,
	 * stays on the row's page as a heap-only tuple (no index entries, less
	 * WAL). Rows live a TTL or so: the table is twice the size, not more.
	 */
	" DROP INDEX IF EXISTS @.leases_revoked;"
	" CREATE INDEX IF NOT EXISTS leases_revoked_at ON @.leases (revoked_at)"
	" WHERE revoked_at IS NOT NULL;"
	" ALTER TABLE @.leases SET (fillfactor = 50);"
	" INSERT INTO @.meta (version) VALUES (" FLEET_SCHEMA_VERSION ") ON CONFLICT (one)"
	" DO UPDATE SET version = GREATEST(@.meta.version, EXCLUDED.version);"
	" END $credfs_ddl$";

int fleet_sql_connect(struct fleet *f, char *errbuf)
{
	const char *lockv[] = { f->schema, f->node };
	char *listen = NULL;
	PGresult *res = NULL;
	int r = -EIO;

	if (f->pg) {
		PQfinish(f->pg);
		f->pg = NULL;
	}
	f->pg = fleet_sql_dial(f->conninfo);
	if (!f->pg || PQstatus(f->pg) != CONNECTION_OK) {
		conn_set_err(errbuf, "cannot reach the control store: ",
			     f->pg ? PQerrorMessage(f->pg) : "out of memory");
		goto out;
	}
	if (!(res = fleet_sql(f, fleet_ddl, 0, NULL))) {
		snprintf(errbuf, FLEET_ERRLEN, "cannot create the fleet schema %s", f->schema);
		goto out;
	}
	PQclear(res);
	if (!(res = fleet_sql(f, "SELECT pg_try_advisory_lock(hashtext($1 || $2))", 2, lockv))) {
		snprintf(errbuf, FLEET_ERRLEN, "cannot take the lock of node %s", f->node);
		goto out;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		snprintf(errbuf, FLEET_ERRLEN, "node %s is already running (fleet schema %s)",
			 f->node, f->schema);
		r = -EBUSY;
		goto out;
	}
	PQclear(res);
	if (asprintf(&listen, "LISTEN %s", f->qs) < 0)
		listen = NULL;
	if (!listen || !(res = fleet_sql(f, listen, 0, NULL))) {
		snprintf(errbuf, FLEET_ERRLEN, "cannot listen on the control store");
		goto out;
	}
	PQclear(res);
	res = NULL;
	f->session++;
	r = 0;
out:
	PQclear(res);
	free(listen);
	if (r != 0 && f->pg) {
		PQfinish(f->pg);
		f->pg = NULL;
	}
	return r;
}

PGconn *fleet_sql_lock_conn(struct fleet *f, const char *key, bool wait, char *errbuf)
{
	const char *v[] = { f->schema, key };
	PGconn *pg = fleet_sql_dial(f->conninfo);
	PGresult *res;

	if (!pg || PQstatus(pg) != CONNECTION_OK) {
		conn_set_err(errbuf, "cannot reach the control store: ",
			     pg ? PQerrorMessage(pg) : "out of memory");
		PQfinish(pg);
		return NULL;
	}
	/* The rotation itself may take 35 s: wait for another node's a little longer. */
	conn_deadline_start(45000);
	res = conn_exec(pg, "SET statement_timeout = 0; SET lock_timeout = 0");
	PQclear(res);
	res = conn_exec_params(pg,
			       wait ? "SELECT pg_advisory_lock(hashtext($1 || $2))::text, 't'"
				    : "SELECT 'x', pg_try_advisory_lock(hashtext($1 || $2))",
			       2, v);
	if (!fleet_res_ok(res) || strcmp(PQgetvalue(res, 0, 1), "t") != 0) {
		if (fleet_res_ok(res))
			snprintf(errbuf, FLEET_ERRLEN, "held by another node");
		else
			conn_result_err(errbuf, res, pg);
		PQclear(res);
		PQfinish(pg);
		return NULL;
	}
	PQclear(res);
	return pg;
}

PGresult *fleet_query(struct fleet *f, const char *tmpl, int n, const char *const *vals)
{
	PGresult *res;

	pthread_mutex_lock(&f->pmu);
	res = fleet_sql(f, tmpl, n, vals);
	pthread_mutex_unlock(&f->pmu);
	return res;
}

/* SPDX-License-Identifier: MIT */
/*
 * fleet_lease.c - lease rows in the control store: written ahead of the
 * creation transaction, kept up to date from the lease service's records
 * (queued, flushed by the fleet's thread), claimed from dead nodes and
 * revoked by the claimer on the connection's lane; fleet/leases/ and
 * fleet/nodes/.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "fleet_i.h"
#include "log.h"
#include "params.h"
#include "timefmt.h"

#define FLEET_RETRY_MS 5000 /* a failed revocation of a claimed lease is tried again after */

static const char fleet_lease_insert[] =
	"INSERT INTO @.leases (id, node, role, username, connection, connection_version, issued,"
	" valid_until, ttl_ms, state, holder, role_doc, connection_target) VALUES ($1, $2, $3, $4,"
	" $5, $6::bigint, to_timestamp($7::bigint / 1000.0), to_timestamp($8::bigint / 1000.0),"
	" $9::bigint, 'held', $10::jsonb, $11::jsonb, NULLIF($12, '')) ON CONFLICT (id) DO NOTHING";

/* A lease row's values, as text: l's own, this node's, the wall-clock times. */
struct fleet_row {
	char ver[24], issued[24], valid[24], ttl[24], target[DBCONF_TARGET_LEN];
	char *holder, *role; /* malloc'd */
	const char *v[12]; /* fleet_lease_insert's parameters */
};

/* The target of l's connection version (where its login is), or "" if that version is gone. */
static void fleet_lease_target(struct fleet *f, const struct lease *l, char out[DBCONF_TARGET_LEN])
{
	struct conn_pool *p = l->role->db_name
				      ? registry_pool(f->g, l->role->db_name, l->conn_version, NULL)
				      : NULL;
	struct dbconf *c = p ? conn_pool_conf(p) : NULL;

	out[0] = '\0';
	if (c)
		dbconf_target(c, out);
	dbconf_unref(c);
	conn_pool_unref(p);
}

static int fleet_row_make(struct fleet *f, struct lease *l, int64_t valid_wall, struct fleet_row *w)
{
	json_t *hj = lease_holder_json(&l->holder), *rj = role_to_json(l->role);

	w->holder = fleet_json_text(hj);
	w->role = fleet_json_text(rj);
	json_decref(hj);
	json_decref(rj);
	snprintf(w->ver, sizeof(w->ver), "%llu", (unsigned long long)l->conn_version);
	snprintf(w->issued, sizeof(w->issued), "%lld",
		 (long long)(l->issued + leasesvc_wall_off()));
	snprintf(w->valid, sizeof(w->valid), "%lld", (long long)valid_wall);
	snprintf(w->ttl, sizeof(w->ttl), "%lld", (long long)l->ttl_ms);
	w->v[0] = l->id;
	w->v[1] = f->node;
	w->v[2] = l->role->name;
	w->v[3] = l->username;
	w->v[4] = l->role->db_name ? l->role->db_name : "";
	w->v[5] = w->ver;
	w->v[6] = w->issued;
	w->v[7] = w->valid;
	w->v[8] = w->ttl;
	w->v[9] = w->holder;
	w->v[10] = w->role;
	fleet_lease_target(f, l, w->target);
	w->v[11] = w->target;
	return w->holder && w->role ? 0 : -ENOMEM;
}

static void fleet_row_free(struct fleet_row *w)
{
	free(w->holder);
	free(w->role);
}

static int fleet_lease_insert_row(struct fleet *f, struct lease *l, int64_t valid_wall)
{
	struct fleet_row w = { 0 };
	PGresult *res = NULL;

	if (fleet_row_make(f, l, valid_wall, &w) == 0) {
		res = fleet_query(f, fleet_lease_insert, 12, w.v);
	}
	fleet_row_free(&w);
	PQclear(res);
	return res ? 0 : -EIO;
}

int fleet_lease_put(struct fleet *f, struct lease *l, bool inline_row)
{
	if (!f)
		return 0;
	if (!fleet_healthy(f)) {
		log_warn("lease %s: the control store is unreachable: not issued", l->id);
		return -EIO;
	}
	/* Written with the login (fleet_lease_inline): nothing to do here. */
	return inline_row ? 0 : fleet_lease_insert_row(f, l, l->valid_until + leasesvc_wall_off());
}

/* --- the row in the creation transaction ----------------------------------------- */

/*
 * A text as an SQL expression that any client encoding and either setting
 * of standard_conforming_strings read alike: its UTF-8 bytes in hex.
 */
static int fleet_hex_text(char **out, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = strlen(s);
	char *e = malloc(2 * n + 48), *p;

	if (!e)
		return -ENOMEM;
	p = e + sprintf(e, "convert_from(decode('");
	for (size_t i = 0; i < n; i++) {
		*p++ = hex[(unsigned char)s[i] >> 4];
		*p++ = hex[(unsigned char)s[i] & 15];
	}
	strcpy(p, "', 'hex'), 'UTF8')");
	*out = e;
	return 0;
}

/* This node's nodes.started in µs (0: not known yet), read once from the control store. */
static int64_t fleet_started_us(struct fleet *f)
{
	const char *v[] = { f->node };
	int64_t us;
	PGresult *res;

	pthread_mutex_lock(&f->mu);
	us = f->started_us;
	pthread_mutex_unlock(&f->mu);
	if (us)
		return us;
	res = fleet_query(f,
			  "SELECT (extract(epoch FROM started) * 1000000)::bigint FROM @.nodes"
			  " WHERE node = $1",
			  1, v);
	if (res && PQntuples(res) == 1)
		us = fleet_i64(res, 0, 0);
	PQclear(res);
	pthread_mutex_lock(&f->mu);
	f->started_us = us;
	pthread_mutex_unlock(&f->mu);
	return us;
}

/*
 * Whether p's database holds this fleet's control store: its SCHEMA.nodes
 * has this node's row with the very microsecond it started (a row only
 * this store has), and p's login may insert into SCHEMA.leases. Asked
 * once per connection version (cached; an error counts as no).
 */
static bool fleet_same_store(struct fleet *f, struct conn_pool *p, const struct lease *l)
{
	char key[320], us[24], errbuf[CONN_ERRLEN] = "";
	const char *v[] = { f->node, us, NULL };
	json_t *known;
	char *sql = NULL, *qual = NULL;
	int64_t started;
	int r = -EIO;

	snprintf(key, sizeof(key), "%s\n%llu", l->role->db_name ? l->role->db_name : "",
		 (unsigned long long)l->conn_version);
	pthread_mutex_lock(&f->mu);
	known = json_object_get(f->same_store, key);
	r = known ? json_is_true(known) : -1;
	pthread_mutex_unlock(&f->mu);
	if (r >= 0)
		return r == 1;
	if ((started = fleet_started_us(f)) == 0)
		return false; /* no heartbeat yet: ask again later */
	snprintf(us, sizeof(us), "%lld", (long long)started);
	if (!(sql = fleet_sql_text(
		      f, "SELECT has_table_privilege($3, 'INSERT')"
			 " FROM @.nodes WHERE node = $1"
			 " AND (extract(epoch FROM started) * 1000000)::bigint = $2::bigint")) ||
	    !(qual = fleet_sql_text(f, "@.leases"))) {
		free(sql);
		return false;
	}
	v[2] = qual;
	r = conn_pool_query_bool(p, sql, 3, v, errbuf);
	free(sql);
	free(qual);
	if (r < 0 && r != -EINVAL)
		return false; /* unreachable, timed out: not an answer, ask again later */
	if (r < 0) /* no such schema or table here, or not this login's to read */
		r = 0;
	log_info("fleet: connection %s (version %llu): the control store is %s",
		 l->role->db_name ? l->role->db_name : "", (unsigned long long)l->conn_version,
		 r ? "its database: lease rows commit with the logins"
		   : "elsewhere: lease rows are written ahead of the logins");
	pthread_mutex_lock(&f->mu);
	json_object_set_new(f->same_store, key, json_boolean(r == 1));
	pthread_mutex_unlock(&f->mu);
	return r == 1;
}

char *fleet_lease_inline(struct fleet *f, struct conn_pool *p, struct lease *l)
{
	struct fleet_row w = { 0 };
	char *hx[12] = { 0 }, *sql = NULL, *tmpl = NULL;
	bool ok;

	if (!f)
		return NULL;
#ifdef CREDFS_TEST_HOOKS
	{
		const char *sep = getenv("CREDFS_TEST_FLEET_SEPARATE");

		if (sep && *sep && strcmp(sep, "0"))
			return NULL;
	}
#endif
	if (!fleet_same_store(f, p, l))
		return NULL;
	ok = fleet_row_make(f, l, l->valid_until + leasesvc_wall_off(), &w) == 0;
	for (int i = 0; ok && i < 12; i++)
		ok = fleet_hex_text(&hx[i], w.v[i]) == 0;
	if (ok &&
	    asprintf(&tmpl,
		     "INSERT INTO @.leases (id, node, role, username, connection,"
		     " connection_version, issued, valid_until, ttl_ms, state, holder, role_doc,"
		     " connection_target) VALUES (%s, %s, %s, %s, %s, %s::bigint,"
		     " to_timestamp(%s::bigint / 1000.0), to_timestamp(%s::bigint / 1000.0),"
		     " %s::bigint, 'held', %s::jsonb, %s::jsonb, NULLIF(%s, ''))"
		     " ON CONFLICT (id) DO NOTHING",
		     hx[0], hx[1], hx[2], hx[3], hx[4], w.ver, w.issued, w.valid, w.ttl, hx[9],
		     hx[10], hx[11]) < 0)
		tmpl = NULL;
	if (tmpl)
		sql = fleet_sql_text(f, tmpl);
	free(tmpl);
	for (int i = 0; i < 12; i++)
		free(hx[i]);
	fleet_row_free(&w);
	return sql;
}

static void fleet_queue(struct fleet *f, json_t *op)
{
	if (!op)
		return;
	pthread_mutex_lock(&f->mu);
	json_array_append_new(f->queue, op);
	pthread_mutex_unlock(&f->mu);
}

void fleet_lease_gone(struct fleet *f, struct lease *l)
{
	if (f)
		fleet_queue(f, json_pack("{s:s, s:s}", "op", "del", "id", l->id));
}

int fleet_lease_record(struct fleet *f, struct lease *l, enum leasesvc_rec what, int64_t at)
{
	switch (what) {
	case LEASESVC_REC_LET_GO:
		fleet_queue(f, json_pack("{s:s, s:s, s:s, s:I}", "op", "set", "id", l->id, "state",
					 "let-go", "let_go", (json_int_t)at));
		break;
	case LEASESVC_REC_REVOKE:
		fleet_queue(f, json_pack("{s:s, s:s, s:s}", "op", "set", "id", l->id, "state",
					 "revoking"));
		break;
	case LEASESVC_REC_RENEWED:
		fleet_queue(f, json_pack("{s:s, s:s, s:I}", "op", "set", "id", l->id, "valid",
					 (json_int_t)at));
		break;
	case LEASESVC_REC_FAILED:
		fleet_queue(f, json_pack("{s:s, s:s, s:s, s:i}", "op", "set", "id", l->id, "state",
					 "failed", "attempts", l->attempts));
		break;
	case LEASESVC_REC_REVOKED:
		/* Handed over to a claimer (leasesvc_forget): its row is the claimer's now. */
		if (!fleet_tl_applying)
			fleet_queue(f, json_pack("{s:s, s:s}", "op", "del", "id", l->id));
		break;
	}
	return 0;
}

/* One queued change; false when the control store did not take it. */
static bool fleet_flush_one(struct fleet *f, json_t *op)
{
	const char *kind = json_string_value(json_object_get(op, "op"));
	const char *id = json_string_value(json_object_get(op, "id"));
	char a[24] = "", b[24] = "", c[24] = "";
	PGresult *res;

	if (!strcmp(kind, "del")) {
		const char *v[] = { id, f->node };

		res = fleet_sql(f, "DELETE FROM @.leases WHERE id = $1 AND node = $2", 2, v);
	} else if (!strcmp(kind, "revoked") || !strcmp(kind, "tried")) {
		const char *v[] = { id, f->node };

		res = fleet_sql(
			f,
			!strcmp(kind, "revoked")
				? "UPDATE @.leases SET state = 'revoked', revoked_at = now(),"
				  " updated_at = now() WHERE id = $1 AND claimed_by = $2"
				: "UPDATE @.leases SET attempts = attempts + 1, state = 'failed',"
				  " updated_at = now() WHERE id = $1 AND claimed_by = $2",
			2, v);
	} else if (json_object_get(op, "let_go") &&
		   !strcmp(json_string_value(json_object_get(op, "state")), "let-go")) {
		const char *v[] = { id, a };

		snprintf(a, sizeof(a), "%lld",
			 (long long)json_integer_value(json_object_get(op, "let_go")));
		/*
		 * Two adjacent columns and no indexed one (not even updated_at,
		 * after holder and role_doc): on the row's page (fillfactor
		 * 50) the update is heap-only and its WAL record carries little
		 * more than those two columns. It commits without waiting for
		 * its WAL flush (synchronous_commit off for its transaction
		 * alone): one lost with a crash of PostgreSQL leaves the row
		 * held, which a claimer revokes at the node's death + TTL
		 * instead of at let_go_at + TTL: later, never resurrected.
		 */
		res = fleet_sql(
			f,
			"WITH s AS (SELECT set_config('synchronous_commit', 'off', true))"
			" UPDATE @.leases SET state = 'let-go',"
			" let_go_at = to_timestamp($2::bigint / 1000.0)"
			" WHERE id = $1 AND claimed_by IS NULL AND EXISTS (SELECT 1 FROM s)",
			2, v);
	} else {
		json_t *lg = json_object_get(op, "let_go"), *va = json_object_get(op, "valid");
		json_t *at = json_object_get(op, "attempts");
		const char *v[] = { id, json_string_value(json_object_get(op, "state")),
				    lg ? a : NULL, va ? b : NULL, at ? c : NULL };

		snprintf(a, sizeof(a), "%lld", (long long)json_integer_value(lg));
		snprintf(b, sizeof(b), "%lld", (long long)json_integer_value(va));
		snprintf(c, sizeof(c), "%lld", (long long)json_integer_value(at));
		res = fleet_sql(
			f,
			"UPDATE @.leases SET state = COALESCE($2, state),"
			" let_go_at = COALESCE(to_timestamp($3::bigint / 1000.0), let_go_at),"
			" valid_until = COALESCE(to_timestamp($4::bigint / 1000.0),"
			" valid_until), attempts = COALESCE($5::int, attempts),"
			" updated_at = now() WHERE id = $1 AND claimed_by IS NULL",
			5, v);
	}
	PQclear(res);
	return res != NULL;
}

static void fleet_flush(struct fleet *f)
{
	json_t *q;
	size_t i, done = 0;

	pthread_mutex_lock(&f->mu);
	q = f->queue;
	f->queue = json_array();
	pthread_mutex_unlock(&f->mu);
	if (!q)
		return;
	/* One statement per hold of the connection: issues' row inserts go in between. */
	for (i = 0; i < json_array_size(q); i++) {
		bool ok;

		pthread_mutex_lock(&f->pmu);
		ok = fleet_flush_one(f, json_array_get(q, i));
		pthread_mutex_unlock(&f->pmu);
		if (!ok)
			break;
		done++;
	}
	if (done < json_array_size(q)) {
		/* The rest waits for the next tick, before anything queued since. */
		pthread_mutex_lock(&f->mu);
		for (i = done; i < json_array_size(q); i++)
			json_array_insert(f->queue, i - done, json_array_get(q, i));
		pthread_mutex_unlock(&f->mu);
	}
	json_decref(q);
}

/* --- this node's leases: revoke requests, hand-overs, rows missing --------------- */

/*
 * l, claimed by another node, out of the table without a revocation. False
 * while a job of l's runs (a renewal or revocation that passed the health
 * check before the cut, its statement held up by the cut link): it is
 * dropped at a later try, once the job has ended.
 */
static bool fleet_lease_hand_over(struct fleet *f, struct lease *l)
{
	struct lease *still;
	bool out;

	fleet_tl_applying = true;
	out = leasesvc_forget(f->s, l);
	fleet_tl_applying = false;
	if (out) {
		log_warn("lease %s: claimed by another node while this one was away: dropped, "
			 "not revoked",
			 l->id);
		return true;
	}
	still = lease_table_get(leasesvc_table(f->s), l->id);
	out = still != l;
	lease_unref(still);
	if (!out)
		log_info("lease %s: claimed by another node; dropped once its job in flight ends",
			 l->id);
	return out;
}

bool fleet_lease_own(struct fleet *f)
{
	const char *v[] = { f->node };
	struct lease_table *t = leasesvc_table(f->s);
	struct lease **all = NULL;
	json_t *rows = json_object();
	PGresult *res;
	size_t n = 0;
	bool clean = false;

	res = fleet_query(
		f,
		"SELECT id, claimed_by IS NOT NULL AND claimed_by <> $1 OR state = 'revoked',"
		" revoke_requested AND claimed_by IS NULL FROM @.leases WHERE node = $1",
		1, v);
	if (!res || !rows || lease_table_snapshot(t, &all, &n) != 0)
		goto out;
	clean = true;
	for (int i = 0; i < PQntuples(res); i++)
		json_object_set_new(rows, PQgetvalue(res, i, 0),
				    json_pack("{s:b, s:b}", "gone", fleet_str(res, i, 1)[0] == 't',
					      "rm", fleet_str(res, i, 2)[0] == 't'));
	for (size_t i = 0; i < n; i++) {
		json_t *row = json_object_get(rows, all[i]->id);

		if (!row) {
			/* From before this node joined the fleet: the fleet must know it. */
			if (fleet_lease_insert_row(f, all[i],
						   all[i]->valid_until + leasesvc_wall_off()) == 0)
				log_info("lease %s: written to the control store", all[i]->id);
		} else if (json_is_true(json_object_get(row, "gone"))) {
			if (!fleet_lease_hand_over(f, all[i]))
				clean = false;
		} else if (json_is_true(json_object_get(row, "rm"))) {
			const char *w[] = { all[i]->id };

			if (leasesvc_revoke_now(f->s, all[i], true) == 0) {
				log_info("lease %s: revocation requested through the fleet",
					 all[i]->id);
				PQclear(fleet_query(f,
						    "UPDATE @.leases SET revoke_requested = false"
						    " WHERE id = $1",
						    1, w));
			}
		}
		lease_unref(all[i]);
	}
out:
	free(all);
	json_decref(rows);
	PQclear(res);
	f->owns++;
	return clean;
}

int fleet_lease_unclaimed(struct fleet *f, const struct lease *l, char *errbuf)
{
	const char *v[] = { l->id, NULL };
	PGresult *res;
	int r = -EAGAIN;

	if (!f)
		return 0;
	v[1] = f->node;
	res = fleet_query(f,
			  "SELECT claimed_by FROM @.leases WHERE id = $1 AND claimed_by IS NOT NULL"
			  " AND claimed_by <> $2",
			  2, v);
	if (!res)
		snprintf(errbuf, LEASESVC_ERRLEN,
			 "the login is gone; the control store cannot tell whether another node "
			 "revoked it");
	else if (PQntuples(res) > 0)
		snprintf(errbuf, LEASESVC_ERRLEN,
			 "the login is gone: node %s claimed the lease and revoked it",
			 PQgetvalue(res, 0, 0));
	else
		r = 0;
	PQclear(res);
	return r;
}

/* --- dead nodes -------------------------------------------------------------------- */

/*
 * A claimer takes its share of the dead node's leases: ceil(leases of this
 * death / live nodes) less what it has claimed of them already, where the
 * leases of this death are the ones still to claim and those claimed since
 * the dead node's last heartbeat (revoked since, too); but at least
 * ceil(leases still to claim / live nodes), so that a live node that does
 * not claim (one rejoining) leaves nothing unclaimed for long. Survivors
 * so share them (a lone one takes them all in one statement); whatever a
 * share leaves is claimed at later ticks. Live: a heartbeat within the
 * grace (the claimer's own among them). SKIP LOCKED and the row
 * conditions keep each lease to one claimer.
 */
static const char fleet_claim_sql[] =
	"WITH free AS (SELECT pg_try_advisory_xact_lock(hashtext($3 || $2)) AS ok),"
	" dead AS (SELECT heartbeat FROM @.nodes WHERE node = $2"
	" AND heartbeat < now() - make_interval(secs => $4::double precision)),"
	" live AS (SELECT GREATEST(count(*), 1) AS n FROM @.nodes WHERE node <> $2"
	" AND heartbeat >= now() - make_interval(secs => $4::double precision)),"
	" mine AS (SELECT count(*) FILTER (WHERE (l.claimed_by IS NULL OR l.claimed_by = $2)"
	" AND l.state <> 'revoked') AS todo,"
	" count(*) FILTER (WHERE l.claimed_by <> $2 AND l.claimed_at > d.heartbeat) AS taken,"
	" count(*) FILTER (WHERE l.claimed_by = $1 AND l.claimed_at > d.heartbeat) AS own"
	" FROM @.leases l, dead d WHERE l.node = $2 AND (l.claimed_by IS NOT NULL"
	" OR l.state <> 'revoked') OR l.claimed_by = $2 AND l.state <> 'revoked')"
	" UPDATE @.leases SET claimed_by = $1, claimed_at = now(), updated_at = now()"
	" WHERE id IN (SELECT id FROM @.leases WHERE ((node = $2 AND claimed_by IS NULL)"
	" OR claimed_by = $2) AND state <> 'revoked'"
	" LIMIT (SELECT GREATEST(ceil((todo + taken)::numeric / n) - own,"
	" ceil(todo::numeric / n))::bigint"
	" FROM mine, live) FOR UPDATE SKIP LOCKED)"
	" AND (SELECT ok FROM free) AND EXISTS (SELECT 1 FROM dead) RETURNING id";

static void fleet_claim(struct fleet *f)
{
	char grace[24];
	const char *v[] = { f->node, grace };
	PGresult *res, *c;

	snprintf(grace, sizeof(grace), "%.3f", f->grace_ms / 1000.0);
	pthread_mutex_lock(&f->pmu);
	/* Dead nodes first: with none, the lease table is not read at all. */
	res = fleet_sql(f,
			"SELECT n.node FROM @.nodes n WHERE n.node <> $1"
			" AND n.heartbeat < now() - make_interval(secs => $2::double precision)"
			" AND (EXISTS (SELECT 1 FROM @.leases l WHERE l.node = n.node"
			" AND l.claimed_by IS NULL) OR EXISTS (SELECT 1 FROM @.leases l"
			" WHERE l.claimed_by = n.node AND l.state <> 'revoked'))",
			2, v);
	for (int i = 0; res && i < PQntuples(res); i++) {
		const char *w[] = { f->node, PQgetvalue(res, i, 0), f->schema, grace };

		if ((c = fleet_sql(f, fleet_claim_sql, 4, w)) && PQntuples(c) > 0)
			log_warn("fleet: node %s is dead: %d of its lease(s) claimed by %s", w[1],
				 PQntuples(c), f->node);
		PQclear(c);
	}
	pthread_mutex_unlock(&f->pmu);
	PQclear(res);
}

struct fleet_job {
	struct fleet *f;
	char id[LEASE_ID_LEN + 1];
	char username[64];
	char target[DBCONF_TARGET_LEN]; /* "": not recorded (a row from before targets) */
	char *conn;
	char *sealed; /* the target's sealed definition, or NULL */
	json_t *role_doc;
	char *role;
};

static void fleet_job_free(struct fleet_job *j)
{
	pthread_mutex_lock(&j->f->mu);
	json_object_del(j->f->running, j->id);
	pthread_mutex_unlock(&j->f->mu);
	json_decref(j->role_doc);
	free(j->conn);
	free(j->sealed);
	free(j->role);
	free(j);
}

/*
 * The pool to revoke j's login with: the connection's current one while it
 * still points at the lease's target (or the row names none), else one
 * made from the definition the store keeps for that target (the connection
 * moved to another server, or was deleted, after the lease was issued:
 * its login is on the old server). *earlier says which. NULL with errbuf.
 */
static struct conn_pool *fleet_job_pool(struct fleet_job *j, bool *earlier, char *errbuf)
{
	struct conn_pool *p = registry_pool(j->f->g, j->conn, 0, NULL);
	struct dbconf *c = p ? conn_pool_conf(p) : NULL;
	char cur[DBCONF_TARGET_LEN] = "", why[CONN_ERRLEN / 2];
	json_t *doc;

	*earlier = false;
	if (c)
		dbconf_target(c, cur);
	dbconf_unref(c);
	c = NULL;
	if (p && (!j->target[0] || !strcmp(cur, j->target)))
		return p;
	conn_pool_unref(p);
	if (!j->target[0]) {
		snprintf(errbuf, CONN_ERRLEN, "connection %s is not configured", j->conn);
		return NULL;
	}
	if (!j->sealed) {
		snprintf(errbuf, CONN_ERRLEN,
			 "connection %s no longer points at the lease's server, and the control"
			 " store keeps no definition of that server",
			 j->conn);
		return NULL;
	}
	if (!(doc = fleet_unseal(j->f->key, "conn", j->conn, j->sealed))) {
		snprintf(errbuf, CONN_ERRLEN,
			 "the definition of connection %s's earlier server does not open with the"
			 " fleet key",
			 j->conn);
		return NULL;
	}
	if (fleet_doc_conf(j->conn, doc, &c, why, sizeof(why)) != 0) {
		snprintf(errbuf, CONN_ERRLEN, "connection %s's earlier server: %s", j->conn, why);
		json_decref(doc);
		return NULL;
	}
	json_decref(doc);
	dbconf_target(c, cur);
	if (strcmp(cur, j->target) != 0) { /* a row swapped under the key: not that server */
		snprintf(errbuf, CONN_ERRLEN,
			 "the definition kept for connection %s's earlier server names another one",
			 j->conn);
		dbconf_unref(c);
		return NULL;
	}
	p = conn_pool_new(c);
	dbconf_unref(c);
	if (!p)
		snprintf(errbuf, CONN_ERRLEN, "out of memory");
	*earlier = p != NULL;
	return p;
}

static void fleet_job_run(void *arg)
{
	struct fleet_job *j = arg;
	char errbuf[CONN_ERRLEN] = "unknown role", key[64];
	struct parse_error pe = { 0 };
	struct conn_pool *p = NULL;
	struct role *ro = NULL;
	struct lease *l = NULL;
	bool gone = false, earlier = false;
	int r = -EIO;

	if (role_from_params(j->role, j->role_doc, PARAMS_FINAL | PARAMS_RESTORE, &ro, &pe) != 0)
		snprintf(errbuf, sizeof(errbuf), "role %s: %s", j->role, pe.text);
	else if (!(p = fleet_job_pool(j, &earlier, errbuf)))
		; /* errbuf says why */
	else if ((r = conn_user_exists(p, j->username, errbuf)) == 0)
		gone = true; /* its node revoked it before the row said so: once is enough */
	else if (r > 0 && (r = conn_revoke_user(p, ro, j->username, errbuf)) == 1) {
		r = 0;
		gone = true; /* gone between the look and the revocation */
	}
	if (r == 0 && ro && (l = lease_new(ro, j->username, NULL, 0))) {
		/* the audit line names the dead node's lease */
		snprintf(l->id, sizeof(l->id), "%s", j->id);
	}
	if (r == 0) {
		if (gone) {
			log_info("lease %s: %s was already gone%s", j->id, j->username,
				 earlier ? " from its connection's earlier server" : "");
		} else {
			log_info("lease %s: revoked %s for its dead node%s", j->id, j->username,
				 earlier ? ", on its connection's earlier server" : "");
			if (l && j->f->audit)
				j->f->audit(j->f->audit_ctx, "revoke", l, NULL);
		}
		fleet_queue(j->f, json_pack("{s:s, s:s}", "op", "revoked", "id", j->id));
	} else {
		log_warn("lease %s: revocation for a dead node failed: %s", j->id, errbuf);
		fleet_queue(j->f, json_pack("{s:s, s:s}", "op", "tried", "id", j->id));
		snprintf(key, sizeof(key), "%s", j->id);
		pthread_mutex_lock(&j->f->mu);
		json_object_set_new(j->f->retry, key, json_integer(fleet_mono() + FLEET_RETRY_MS));
		pthread_mutex_unlock(&j->f->mu);
	}
	lease_unref(l);
	role_unref(ro);
	conn_pool_unref(p);
	fleet_job_free(j);
}

static void fleet_job_drop(void *arg, int why)
{
	(void)why;
	fleet_job_free(arg);
}

/*
 * Row i: (id, role, username, connection, state, death ms, let-go ms, ttl,
 * rm, role_doc, now, target, the target's sealed definition).
 */
static void fleet_revoke_row(struct fleet *f, PGresult *res, int i)
{
	struct fleet_due d = {
		.state = PQgetvalue(res, i, 4),
		.death_ms = fleet_i64(res, i, 5),
		.let_go_ms = fleet_i64(res, i, 6),
		.ttl_ms = fleet_i64(res, i, 7),
		.revoke_requested = PQgetvalue(res, i, 8)[0] == 't',
	};
	const char *id = PQgetvalue(res, i, 0);
	struct fleet_job *j;
	json_t *retry;
	bool busy;

	if (fleet_due_ms(&d) > fleet_i64(res, i, 10))
		return;
	pthread_mutex_lock(&f->mu);
	retry = json_object_get(f->retry, id);
	busy = json_object_get(f->running, id) ||
	       (retry && json_integer_value(retry) > fleet_mono());
	if (!busy) {
		json_object_set_new(f->running, id, json_true());
		json_object_del(f->retry, id);
	}
	pthread_mutex_unlock(&f->mu);
	if (busy)
		return;
	if (!(j = calloc(1, sizeof(*j))) || !(j->conn = strdup(PQgetvalue(res, i, 3))) ||
	    !(j->role = strdup(PQgetvalue(res, i, 1))) ||
	    !(j->role_doc = json_loads(PQgetvalue(res, i, 9), 0, NULL))) {
		if (j) {
			j->f = f;
			snprintf(j->id, sizeof(j->id), "%s", id);
			fleet_job_free(j);
		}
		return;
	}
	j->f = f;
	snprintf(j->id, sizeof(j->id), "%s", id);
	snprintf(j->username, sizeof(j->username), "%s", PQgetvalue(res, i, 2));
	snprintf(j->target, sizeof(j->target), "%s", PQgetvalue(res, i, 11));
	if (fleet_str(res, i, 12) && !(j->sealed = strdup(fleet_str(res, i, 12)))) {
		fleet_job_free(j);
		return;
	}
	if (lanes_submit(leasesvc_lanes(f->s), j->conn, 0, LANES_URGENT, 0, fleet_job_run,
			 fleet_job_drop, j) != 0)
		fleet_job_free(j);
}

static void fleet_revoke_claimed(struct fleet *f)
{
	const char *v[] = { f->node };
	PGresult *res;

	res = fleet_query(
		f,
		"SELECT l.id, l.role, l.username, l.connection, l.state,"
		" (extract(epoch FROM LEAST(n.heartbeat, l.claimed_at)) * 1000)::bigint,"
		" (extract(epoch FROM l.let_go_at) * 1000)::bigint, l.ttl_ms,"
		" l.revoke_requested, l.role_doc::text, (extract(epoch FROM now()) * 1000)::bigint,"
		" l.connection_target, t.sealed"
		" FROM @.leases l LEFT JOIN @.nodes n ON n.node = l.node"
		" LEFT JOIN @.targets t ON t.connection = l.connection"
		" AND t.target = l.connection_target"
		" WHERE l.claimed_by = $1 AND l.state <> 'revoked'",
		1, v);
	for (int i = 0; res && i < PQntuples(res); i++)
		fleet_revoke_row(f, res, i);
	PQclear(res);
}

/* --- revoked rows ------------------------------------------------------------------- */

void fleet_lease_synced(struct fleet *f)
{
	const char *v[] = { f->node };

	PQclear(fleet_query(f, "UPDATE @.nodes SET synced = now() WHERE node = $1", 1, v));
}

/*
 * A row revoked for a dead node stays for the retention (fleet/ and SQL
 * can tell what became of the lease), and until its node has been back and
 * has dropped the lease (nodes.synced after the claim): a node that came
 * back to find no row would take its lease for one from before it joined
 * the fleet, write it again and revoke it a second time. A node silent for
 * FLEET_GONE_S (or the retention, if longer) no longer holds its rows
 * back. Any healthy node deletes them, a batch per statement, SKIP LOCKED
 * so that nodes do not wait for one another.
 */
static const char fleet_gc_sql[] =
	"DELETE FROM @.leases WHERE id IN (SELECT l.id FROM @.leases l"
	" LEFT JOIN @.nodes n ON n.node = l.node WHERE l.state = 'revoked'"
	" AND l.revoked_at < now() - make_interval(secs => $1::double precision)"
	" AND (n.node IS NULL OR n.synced > l.claimed_at"
	" OR n.heartbeat < now() - make_interval(secs => $2::double precision))"
	" LIMIT $3::int FOR UPDATE OF l SKIP LOCKED)";

static void fleet_gc(struct fleet *f)
{
	char keep[24], gone[24], batch[24];
	const char *v[] = { keep, gone, batch };
	int64_t now = fleet_mono(), every = f->retention_s * 1000 / 2;
	PGresult *res;
	long n = 0;

	if (now < f->gc_at)
		return;
	snprintf(keep, sizeof(keep), "%lld", (long long)f->retention_s);
	snprintf(gone, sizeof(gone), "%lld",
		 (long long)(f->retention_s > FLEET_GONE_S ? f->retention_s : FLEET_GONE_S));
	snprintf(batch, sizeof(batch), "%d", FLEET_GC_BATCH);
	res = fleet_query(f, fleet_gc_sql, 3, v);
	if (res)
		n = strtol(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	if (n > 0)
		log_info("fleet: %ld revoked lease row(s) past the retention deleted", n);
	/* A full batch: there may be more, at the next tick. */
	f->gc_at = n >= FLEET_GC_BATCH ? 0 : now + (every < FLEET_GC_MS ? every : FLEET_GC_MS);
}

/*
 * A target's definition goes once the connection points elsewhere (a newer
 * target) or is deleted, FLEET_TARGET_KEEP_S after it was last written
 * (a node that has not applied the move yet may still issue there), and
 * no lease row not yet revoked names it.
 */
static const char fleet_target_gc_sql[] =
	"DELETE FROM @.targets t WHERE t.updated_at < now() - make_interval(secs => $1::int)"
	" AND (EXISTS (SELECT 1 FROM @.targets n WHERE n.connection = t.connection"
	" AND n.updated_at > t.updated_at) OR EXISTS (SELECT 1 FROM @.definitions d"
	" WHERE d.kind = 'conn' AND d.name = t.connection AND d.deleted))"
	" AND NOT EXISTS (SELECT 1 FROM @.leases l WHERE l.connection = t.connection"
	" AND l.connection_target = t.target AND l.state <> 'revoked')";

static void fleet_target_gc(struct fleet *f)
{
	char keep[24];
	const char *v[] = { keep };
	int64_t now = fleet_mono();
	PGresult *res;

	if (now < f->target_gc_at)
		return;
	f->target_gc_at = now + FLEET_TARGET_GC_MS;
	snprintf(keep, sizeof(keep), "%d", FLEET_TARGET_KEEP_S);
	res = fleet_query(f, fleet_target_gc_sql, 1, v);
	if (res && strtol(PQcmdTuples(res), NULL, 10) > 0)
		log_info("fleet: %s superseded connection target(s) forgotten", PQcmdTuples(res));
	PQclear(res);
}

void fleet_lease_tick(struct fleet *f)
{
	fleet_flush(f);
	if (!fleet_healthy(f))
		return;
	fleet_lease_own(f);
	fleet_claim(f);
	fleet_revoke_claimed(f);
	fleet_gc(f);
	fleet_target_gc(f);
	/* fleet/leases' cache is not refreshed here: a read of fleet/ does (fleet_tree.c). */
}

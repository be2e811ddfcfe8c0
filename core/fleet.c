/* SPDX-License-Identifier: MIT */
/*
 * fleet.c - opening the fleet, its thread (notifications, heartbeat,
 * resync), definitions to and from the control store, and the fleet-wide
 * root rotation lock. Lease rows are in fleet_lease.c.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fleet_i.h"
#include "log.h"
#include "params.h"
#include "store.h"

__thread bool fleet_tl_applying;

/*
 * A definition, and for a connection its target's row in the same
 * statement ($9: the target, NULL for other kinds and tombstones).
 */
static const char fleet_def_upsert[] =
	"WITH t AS (INSERT INTO @.targets AS t (connection, target, sealed)"
	" SELECT $2, $9::text, $3 WHERE $9::text IS NOT NULL ON CONFLICT (connection, target)"
	" DO UPDATE SET sealed = EXCLUDED.sealed, updated_at = now()),"
	" w AS (INSERT INTO @.definitions AS d (kind, name, version, sealed, deleted, rotating,"
	" node) VALUES ($1, $2, 1, $3, $4::boolean, $5::boolean, $6) ON CONFLICT (kind, name) DO"
	" UPDATE SET version = d.version + CASE WHEN $7::boolean THEN 1 ELSE 0 END,"
	" sealed = EXCLUDED.sealed, deleted = EXCLUDED.deleted, rotating = EXCLUDED.rotating,"
	" node = EXCLUDED.node, updated_at = now() RETURNING version)"
	" SELECT w.version, pg_notify($8, 'defs') FROM w";

static void fleet_seen_set(struct fleet *f, const char *kind, const char *name, int64_t v)
{
	char key[300];

	snprintf(key, sizeof(key), "%s/%s", kind, name);
	pthread_mutex_lock(&f->mu);
	if (v < 0)
		json_object_del(f->seen, key);
	else
		json_object_set_new(f->seen, key, json_integer(v));
	pthread_mutex_unlock(&f->mu);
}

static int64_t fleet_seen_get(struct fleet *f, const char *kind, const char *name)
{
	char key[300];
	int64_t v;

	snprintf(key, sizeof(key), "%s/%s", kind, name);
	pthread_mutex_lock(&f->mu);
	v = json_is_integer(json_object_get(f->seen, key))
		    ? json_integer_value(json_object_get(f->seen, key))
		    : -1;
	pthread_mutex_unlock(&f->mu);
	return v;
}

/*
 * One definition to the store in one statement (and NOTIFY at commit):
 * doc (borrowed) sealed, or a tombstone when doc is NULL. bump: a new
 * version (every change but a rotation's intent). 0 or -EIO.
 */
static int fleet_def_put(struct fleet *f, const char *kind, const char *name, const json_t *doc,
			 bool rotating, bool bump)
{
	char *sealed = doc ? fleet_seal(f->key, kind, name, doc) : NULL;
	char target[DBCONF_TARGET_LEN];
	const char *v[] = { kind,
			    name,
			    sealed,
			    doc ? "f" : "t",
			    rotating ? "t" : "f",
			    f->node,
			    bump ? "t" : "f",
			    f->schema,
			    NULL };
	PGresult *res = NULL;
	int r = -EIO;

	if (doc && !sealed)
		return -ENOMEM;
	if (doc && !strcmp(kind, "conn")) {
		json_t *conf = json_object_get(doc, "conf");

		dbconf_target_of(json_string_value(json_object_get(conf, "connection_url")),
				 json_string_value(json_object_get(conf, "username")), target);
		v[8] = target;
	}
	res = fleet_query(f, fleet_def_upsert, 9, v);
	if (res && PQntuples(res) == 1) {
		fleet_seen_set(f, kind, name, fleet_i64(res, 0, 0));
		r = 0;
	} else {
		log_err("fleet: %s/%s not written to the control store", kind, name);
	}
	PQclear(res);
	free(sealed);
	return r;
}

/* {"conf": the definition with its password, "pending": a rotation's password}: new. */
static json_t *fleet_conf_doc(const struct dbconf *c, const struct secret *pending)
{
	json_t *conf = dbconf_to_json(c), *doc;

	if (conf && c->password)
		json_object_set_new(conf, "password", json_string(secret_str(c->password)));
	doc = json_pack("{s:o?}", "conf", conf);
	if (doc && pending)
		json_object_set_new(doc, "pending", json_string(secret_str(pending)));
	return doc;
}

/* --- the registry's observer: the fleet first, then the journal ------------------ */

static int fleet_obs_conn_put(void *ctx, const char *name, uint64_t version, const struct dbconf *c,
			      const struct secret *pending)
{
	struct fleet *f = ctx;
	json_t *doc;
	int r = 0;

	if (!fleet_tl_applying) {
		if (!(doc = fleet_conf_doc(c, pending)))
			return -ENOMEM;
		r = fleet_def_put(f, "conn", name, doc, pending != NULL, true);
		json_decref(doc);
	}
	if (r == 0 && f->rnext.conn_put &&
	    (r = f->rnext.conn_put(f->rnext.ctx, name, version, c, pending)) != 0)
		fleet_seen_set(f, "conn", name, -1); /* not here yet: a resync applies it */
	return r;
}

static int fleet_obs_role_put(void *ctx, const struct role *ro)
{
	struct fleet *f = ctx;
	json_t *doc;
	int r = 0;

	if (!fleet_tl_applying) {
		if (!(doc = json_pack("{s:o?}", "role", role_to_json(ro))))
			return -ENOMEM;
		r = fleet_def_put(f, "role", ro->name, doc, false, true);
		json_decref(doc);
	}
	if (r == 0 && f->rnext.role_put && (r = f->rnext.role_put(f->rnext.ctx, ro)) != 0)
		fleet_seen_set(f, "role", ro->name, -1);
	return r;
}

static int fleet_obs_deleted(void *ctx, enum registry_kind kind, const char *name)
{
	struct fleet *f = ctx;
	const char *k = kind == REGISTRY_CONN ? "conn" : "role";
	int r = 0;

	if (!fleet_tl_applying)
		r = fleet_def_put(f, k, name, NULL, false, true);
	if (r == 0 && f->rnext.deleted && (r = f->rnext.deleted(f->rnext.ctx, kind, name)) != 0)
		fleet_seen_set(f, k, name, -1);
	return r;
}

/* Before ALTER ROLE: the sealed new password is pending in the store (no new version). */
static int fleet_obs_rotate_intent(void *ctx, const char *name, const struct secret *pw)
{
	struct fleet *f = ctx;
	struct dbconf *c = registry_conf(f->g, name);
	json_t *doc = c ? fleet_conf_doc(c, pw) : NULL;
	int r = doc ? fleet_def_put(f, "conn", name, doc, true, false) : -ENOMEM;

	json_decref(doc);
	dbconf_unref(c);
	if (r == 0 && f->rnext.rotate_intent)
		r = f->rnext.rotate_intent(f->rnext.ctx, name, pw);
	return r;
}

static int fleet_obs_lease(void *ctx, struct lease *l, enum leasesvc_rec what, int64_t at)
{
	struct fleet *f = ctx;

	fleet_lease_record(f, l, what, at);
	return f->lnext.record ? f->lnext.record(f->lnext.ctx, l, what, at) : 0;
}

/* --- applying what the store holds ------------------------------------------------ */

int fleet_doc_conf(const char *name, json_t *doc, struct dbconf **out, char *errbuf, size_t len)
{
	struct parse_error pe = { 0 };

	*out = NULL;
	if (dbconf_from_params(name, json_object_get(doc, "conf"), PARAMS_FINAL | PARAMS_RESTORE,
			       out, &pe) != 0) {
		snprintf(errbuf, len, "%s", pe.text);
		return -EINVAL;
	}
	(*out)->verify_connection = false; /* the writing node verified it */
	return 0;
}

static int fleet_apply_conn(struct fleet *f, const char *name, json_t *doc, char *errbuf)
{
	struct dbconf *c;
	int r = fleet_doc_conf(name, doc, &c, errbuf, REGISTRY_ERRLEN);

	return r != 0 ? r : registry_conn_write(f->g, c, errbuf);
}

static int fleet_apply_role(struct fleet *f, const char *name, json_t *doc, char *errbuf)
{
	struct parse_error pe = { 0 };
	struct role *ro = NULL;

	if (role_from_params(name, json_object_get(doc, "role"), PARAMS_FINAL | PARAMS_RESTORE, &ro,
			     &pe) != 0) {
		snprintf(errbuf, REGISTRY_ERRLEN, "%s", pe.text);
		return -EINVAL;
	}
	return registry_role_write(f->g, ro, errbuf);
}

bool fleet_applying(void)
{
	return fleet_tl_applying;
}

/* The directory a kind is written in, for the log. */
static const char *fleet_kind_dir(const char *kind)
{
	return !strcmp(kind, "conn")	  ? "config"
	       : !strcmp(kind, "role")	  ? "roles"
	       : !strcmp(kind, "static")  ? "static-roles"
	       : !strcmp(kind, "rootrot") ? "root rotation of config"
					  : kind;
}

/* Row i of res (kind, name, version, sealed, deleted) into the registry (or the engine). */
static void fleet_apply_row(struct fleet *f, PGresult *res, int i)
{
	const char *kind = PQgetvalue(res, i, 0), *name = PQgetvalue(res, i, 1);
	const char *sealed = fleet_str(res, i, 3);
	bool conn = !strcmp(kind, "conn"), role = !strcmp(kind, "role");
	bool deleted = !strcmp(PQgetvalue(res, i, 4), "t");
	enum registry_kind rk = conn ? REGISTRY_CONN : REGISTRY_ROLE;
	int64_t v = fleet_i64(res, i, 2);
	char errbuf[REGISTRY_ERRLEN] = "";
	json_t *doc = NULL;
	int r = 0;

	if (fleet_seen_get(f, kind, name) == v)
		return;
	if (!conn && !role && !f->extra.apply)
		return; /* a kind this node does not keep */
	fleet_tl_applying = true;
	if (deleted && (conn || role)) {
		if (registry_exists(f->g, rk, name))
			r = registry_delete(f->g, rk, name, errbuf);
	} else if (deleted) {
		r = f->extra.apply(f->extra.ctx, kind, name, NULL, errbuf);
	} else if (!sealed || !(doc = fleet_unseal(f->key, kind, name, sealed))) {
		snprintf(errbuf, sizeof(errbuf), "does not open with the fleet key");
		r = -EINVAL;
	} else {
		r = conn   ? fleet_apply_conn(f, name, doc, errbuf)
		    : role ? fleet_apply_role(f, name, doc, errbuf)
			   : f->extra.apply(f->extra.ctx, kind, name, doc, errbuf);
	}
	fleet_tl_applying = false;
	json_decref(doc);
	if (r == 0) {
		fleet_seen_set(f, kind, name, v);
		log_info("fleet: %s/%s %s (version %lld)", fleet_kind_dir(kind), name,
			 deleted ? "deleted" : "applied", (long long)v);
	} else {
		log_warn("fleet: %s/%s version %lld not applied: %s", fleet_kind_dir(kind), name,
			 (long long)v, errbuf);
	}
}

int fleet_def_write(struct fleet *f, const char *kind, const char *name, const json_t *doc)
{
	return f ? fleet_def_put(f, kind, name, doc, false, true) : 0;
}

static void fleet_collect_conn(void *ctx, const char *name, uint64_t version, bool current,
			       const struct dbconf *c, const struct secret *pending)
{
	(void)version, (void)c, (void)pending;
	if (current)
		json_array_append_new(json_object_get(ctx, "conn"), json_string(name));
}

static void fleet_collect_role(void *ctx, const struct role *ro)
{
	json_array_append_new(json_object_get(ctx, "role"), json_string(ro->name));
}

/* Definitions this node has and the store never had: the first node seeds the fleet. */
static void fleet_push_local(struct fleet *f, json_t *known)
{
	json_t *mine = json_pack("{s:[], s:[]}", "conn", "role"), *v;
	const char *key_of;
	char key[300];
	size_t i;

	if (!mine)
		return;
	registry_foreach(f->g, fleet_collect_conn, fleet_collect_role, mine);
	json_array_foreach(json_object_get(mine, "conn"), i, v)
	{
		struct dbconf *c = registry_conf(f->g, json_string_value(v));
		json_t *doc = c ? fleet_conf_doc(c, NULL) : NULL;

		snprintf(key, sizeof(key), "conn/%s", json_string_value(v));
		if (doc && !json_object_get(known, key) &&
		    fleet_def_put(f, "conn", c->name, doc, false, true) == 0)
			log_info("fleet: config/%s pushed to the fleet", c->name);
		json_decref(doc);
		dbconf_unref(c);
	}
	json_array_foreach(json_object_get(mine, "role"), i, v)
	{
		struct role *ro = registry_role(f->g, json_string_value(v));
		json_t *doc = ro ? json_pack("{s:o?}", "role", role_to_json(ro)) : NULL;

		snprintf(key, sizeof(key), "role/%s", json_string_value(v));
		if (doc && !json_object_get(known, key) &&
		    fleet_def_put(f, "role", ro->name, doc, false, true) == 0)
			log_info("fleet: roles/%s pushed to the fleet", ro->name);
		json_decref(doc);
		role_unref(ro);
	}
	json_decref(mine);
	mine = f->extra.collect ? f->extra.collect(f->extra.ctx) : NULL;
	json_object_foreach(mine, key_of, v)
	{
		const char *slash = strchr(key_of, '/');
		char kind[32];

		if (!slash || json_object_get(known, key_of) ||
		    (size_t)(slash - key_of) >= sizeof(kind))
			continue;
		snprintf(kind, sizeof(kind), "%.*s", (int)(slash - key_of), key_of);
		if (fleet_def_put(f, kind, slash + 1, v, false, true) == 0)
			log_info("fleet: %s/%s pushed to the fleet", fleet_kind_dir(kind),
				 slash + 1);
	}
	json_decref(mine);
}

void fleet_defs_sync(struct fleet *f, bool push_local)
{
	json_t *known = json_object();
	PGresult *res;
	char key[300];

	/* Connections first: a role applied before its connection would still work, but read oddly. */
	res = fleet_query(f,
			  "SELECT kind, name, version, sealed, deleted FROM @.definitions"
			  " ORDER BY kind, name",
			  0, NULL);
	if (!res || !known) {
		PQclear(res);
		json_decref(known);
		return;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		snprintf(key, sizeof(key), "%s/%s", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
		json_object_set_new(known, key, json_true());
		fleet_apply_row(f, res, i);
	}
	PQclear(res);
	if (push_local)
		fleet_push_local(f, known);
	json_decref(known);
}

/* --- root rotation ----------------------------------------------------------------- */

int fleet_rotate_begin(struct fleet *f, const char *name, void **lock, char *errbuf)
{
	char key[300];
	PGconn *pg;

	snprintf(key, sizeof(key), ":rotate:%s", name);
	if (!(pg = fleet_sql_lock_conn(f, key, true, errbuf)))
		return -EIO;
	/* Another node may have rotated just now: start from the fleet's password. */
	fleet_defs_sync(f, false);
	*lock = pg;
	return 0;
}

void fleet_rotate_end(struct fleet *f, void *lock)
{
	(void)f;
	PQfinish(lock); /* ends the session: the lock goes with it */
}

/*
 * A rotation a crash left pending (its node died between its intent and
 * its end): whoever gets the lock asks PostgreSQL which password it
 * accepts, as registry_resolve_pending does, and writes that one.
 */
static void fleet_resolve_one(struct fleet *f, const char *name, const char *sealed)
{
	char key[300], errbuf[CONN_ERRLEN] = "";
	json_t *doc = fleet_unseal(f->key, "conn", name, sealed);
	struct dbconf *c = NULL, *nc = NULL;
	const char *pending;
	PGconn *pg = NULL;
	bool took = false;

	snprintf(key, sizeof(key), ":rotate:%s", name);
	if (!doc || !(pending = json_string_value(json_object_get(doc, "pending"))) ||
	    fleet_doc_conf(name, doc, &c, errbuf, sizeof(errbuf)) != 0 ||
	    !(pg = fleet_sql_lock_conn(f, key, false, errbuf)))
		goto out;
	nc = dbconf_with_password(c, secret_new(pending, strlen(pending)));
	if (nc && conn_verify(nc, errbuf) == 0)
		took = true;
	else if (conn_verify(c, errbuf) != 0) {
		log_warn("fleet: config/%s: cannot tell which root password is current yet: %s",
			 name, errbuf);
		goto out;
	}
	{
		json_t *now = fleet_conf_doc(took ? nc : c, NULL);

		if (now && fleet_def_put(f, "conn", name, now, false, true) == 0) {
			log_info("fleet: config/%s: the interrupted root rotation %s", name,
				 took ? "took effect" : "did not happen");
			/* This node too takes it from the store, as every other node does. */
			fleet_seen_set(f, "conn", name, -1);
			f->wake = true;
		}
		json_decref(now);
	}
out:
	PQfinish(pg);
	dbconf_unref(nc);
	dbconf_unref(c);
	json_decref(doc);
}

static void fleet_resolve_pending(struct fleet *f)
{
	PGresult *res;

	res = fleet_query(f,
			  "SELECT name, sealed FROM @.definitions WHERE kind = 'conn' AND rotating"
			  " AND NOT deleted AND updated_at < now() - interval '5 seconds'",
			  0, NULL);
	for (int i = 0; res && i < PQntuples(res); i++)
		if (fleet_str(res, i, 1))
			fleet_resolve_one(f, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
	PQclear(res);
}

/* --- the thread -------------------------------------------------------------------- */

static bool fleet_heartbeat(struct fleet *f)
{
	const char *v[] = { f->node };
	PGresult *res;

	res = fleet_query(f,
			  "INSERT INTO @.nodes (node, heartbeat) VALUES ($1, now())"
			  " ON CONFLICT (node) DO UPDATE SET heartbeat = now()",
			  1, v);
	PQclear(res);
	return res != NULL;
}

void fleet_set_audit(struct fleet *f, fleet_audit_fn *fn, void *ctx)
{
	f->audit = fn;
	f->audit_ctx = ctx;
}

bool fleet_healthy(struct fleet *f)
{
	/*
	 * Rejoining: leases claimed while this node was away (or down) may
	 * still be in its table; whatever has been answered since, nothing is
	 * renewed or revoked before fleet_lease_own has dropped them.
	 */
	return !f || (!f->rejoining && fleet_mono() - f->hb_ok <= f->grace_ms / 2);
}

#ifdef CREDFS_TEST_HOOKS
void fleet_test_stuck(struct fleet *f)
{
	const char *e = getenv("CREDFS_TEST_FLEET_STUCK_MS");
	int64_t ms = e ? strtoll(e, NULL, 10) : 0, until;
	uint64_t session, owns;

	if (!f || ms <= 0)
		return;
	session = f->session;
	usleep((useconds_t)ms * 1000);
	if (fleet_healthy(f))
		return;
	/* Cut off meanwhile: the statement arrives once the node is back and has looked. */
	until = fleet_mono() + 60000;
	while (f->session == session && fleet_mono() < until && !f->stop)
		usleep(20000);
	owns = f->owns;
	while (f->owns == owns && fleet_mono() < until && !f->stop)
		usleep(20000);
	log_info("test hook: a job held up by the cut goes on");
}
#endif

/* Wait up to ms for the control connection to have something; true when notified. */
static bool fleet_listen(struct fleet *f, int ms)
{
	struct pollfd pfd = { .fd = -1, .events = POLLIN };
	PGnotify *n;
	bool got = false;

	pthread_mutex_lock(&f->pmu);
	pfd.fd = f->pg ? PQsocket(f->pg) : -1;
	pthread_mutex_unlock(&f->pmu);
	if (pfd.fd < 0 || poll(&pfd, 1, ms) < 0)
		usleep(ms * 1000);
	pthread_mutex_lock(&f->pmu);
	if (f->pg && PQconsumeInput(f->pg)) {
		while ((n = PQnotifies(f->pg))) {
			got = true;
			PQfreemem(n);
		}
	}
	pthread_mutex_unlock(&f->pmu);
	return got;
}

static void fleet_reconnect(struct fleet *f)
{
	char errbuf[FLEET_ERRLEN] = "";
	int r;

	pthread_mutex_lock(&f->pmu);
	if (!f->pg)
		f->rejoining = true; /* before its statements count as heartbeats */
	r = f->pg ? 0 : fleet_sql_connect(f, errbuf);
	pthread_mutex_unlock(&f->pmu);
	if (r != 0)
		log_warn("fleet: %s", errbuf);
	else if (errbuf[0] == '\0' && r == 0)
		f->wake = true;
}

/*
 * A heartbeat; starting, or back after a cut: first drop the leases
 * survivors claimed meanwhile, then count as healthy (renewals and
 * revocations wait for it), so none is renewed or revoked twice. One whose
 * job is still in flight keeps the node rejoining until a later beat drops
 * it. Healthy from before the beat (now): survivors count from its now().
 * True when the node has just become healthy.
 */
static bool fleet_beat(struct fleet *f, int64_t now)
{
	if (!fleet_heartbeat(f) || !f->rejoining || !fleet_lease_own(f))
		return false;
	fleet_lease_synced(f);
	f->rejoining = false;
	f->hb_ok = now;
	return true;
}

static void *fleet_thread(void *arg)
{
	struct fleet *f = arg;
	int64_t next_tick = 0, next_hb = 0, next_sync = fleet_mono() + FLEET_RESYNC_MS, now;
	/*
	 * The node counts as healthy for grace/2 after a heartbeat: beat at
	 * least every grace/4, so a short grace (under 4 s, below the 2 s
	 * tick) does not leave gaps in which issues and renewals are refused.
	 */
	int64_t hb_every = f->grace_ms / 4 < FLEET_TICK_MS ? f->grace_ms / 4 : FLEET_TICK_MS;
	bool was_down = false, away = false;

	while (!f->stop) {
		bool down;

		pthread_mutex_lock(&f->pmu);
		down = f->pg == NULL;
		pthread_mutex_unlock(&f->pmu);
		if (down) {
			was_down = away = true;
			fleet_reconnect(f);
		}
		if (fleet_listen(f, 200))
			f->wake = true;
		now = fleet_mono();
		if (f->wake || now >= next_sync || was_down) {
			f->wake = false;
			was_down = false;
			next_sync = now + FLEET_RESYNC_MS;
			fleet_defs_sync(f, false);
		}
		if (now >= next_tick || now >= next_hb) {
			bool tick = now >= next_tick;

			next_hb = now + hb_every;
			if (tick)
				next_tick = now + FLEET_TICK_MS;
			if (fleet_beat(f, now)) {
				log_info("fleet: node %s is %s", f->node,
					 away ? "back in the fleet" : "in the fleet");
				away = false;
			}
			if (tick) {
				fleet_resolve_pending(f);
				fleet_lease_tick(f);
			}
		}
	}
	return NULL;
}

/* --- life -------------------------------------------------------------------------- */

static int fleet_init(struct fleet *f, const struct fleet_opts *o, char *errbuf)
{
	char host[256] = "";
	PGconn *tmp;

	if (!o->node || !*o->node) {
		if (gethostname(host, sizeof(host) - 1) != 0 || !*host)
			snprintf(host, sizeof(host), "localhost");
	}
	f->grace_ms = (int64_t)(o->grace_s > 0 ? o->grace_s : 10) * 1000;
	f->retention_s = o->retention_s > 0 ? o->retention_s : FLEET_RETENTION_S;
	pthread_mutex_init(&f->pmu, NULL);
	pthread_mutex_init(&f->mu, NULL);
	if (!(f->node = strdup(o->node && *o->node ? o->node : host)) ||
	    !(f->schema = strdup(o->schema && *o->schema ? o->schema : FLEET_DEFAULT_NAME)) ||
	    !(f->conninfo = strdup(o->conninfo)) || !(f->seen = json_object()) ||
	    !(f->queue = json_array()) || !(f->leases = json_object()) ||
	    !(f->running = json_object()) || !(f->retry = json_object()) ||
	    !(f->same_store = json_object())) {
		snprintf(errbuf, FLEET_ERRLEN, "out of memory");
		return -ENOMEM;
	}
	/* PQescapeIdentifier needs a connection; a dead one serves (it only quotes). */
	tmp = PQconnectStart("");
	f->qs = tmp ? PQescapeIdentifier(tmp, f->schema, strlen(f->schema)) : NULL;
	if (f->qs) {
		char *q = strdup(f->qs);

		PQfreemem(f->qs);
		f->qs = q;
	}
	PQfinish(tmp);
	if (!f->qs) {
		snprintf(errbuf, FLEET_ERRLEN, "bad fleet schema name");
		return -EINVAL;
	}
	return store_key_load(o->key_file, false, &f->key, errbuf);
}

int fleet_open(const struct fleet_opts *o, struct registry *g, struct leasesvc *s,
	       struct fleet **out, char *errbuf)
{
	struct fleet *f = calloc(1, sizeof(*f));
	int r = -ENOMEM;

	if (!f) {
		snprintf(errbuf, FLEET_ERRLEN, "out of memory");
		return r;
	}
	f->g = g;
	f->s = s;
	if (o->extra)
		f->extra = *o->extra;
	if ((r = fleet_init(f, o, errbuf)) != 0 || (r = fleet_sql_connect(f, errbuf)) != 0)
		goto out;
	if (fleet_heartbeat(f))
		f->hb_ok = fleet_mono();
	/*
	 * Its journal may hold leases that survivors claimed while it was
	 * down: healthy once fleet_start (or a later beat) has dropped them.
	 */
	f->rejoining = true;
	registry_get_observer(g, &f->rnext);
	leasesvc_get_observer(s, &f->lnext);
	/* The fleet's definitions win over the journal's; ours seed a new fleet. */
	fleet_defs_sync(f, true);
	registry_set_observer(g,
			      &(struct registry_observer){ .conn_put = fleet_obs_conn_put,
							   .role_put = fleet_obs_role_put,
							   .deleted = fleet_obs_deleted,
							   .rotate_intent = fleet_obs_rotate_intent,
							   .ctx = f });
	leasesvc_set_observer(s,
			      &(struct leasesvc_observer){ .record = fleet_obs_lease, .ctx = f });
	log_info("fleet: node %s joined (schema %s)", f->node, f->schema);
	*out = f;
	f = NULL; /* transferred */
	r = 0;
out:
	fleet_free(f);
	return r;
}

int fleet_start(struct fleet *f)
{
	int r;

	if (!f || f->started)
		return 0;
	/* Before the lease service's timer and the first request: issues need it. */
	if (fleet_beat(f, fleet_mono()))
		log_info("fleet: node %s is in the fleet", f->node);
	if ((r = -pthread_create(&f->th, NULL, fleet_thread, f)) == 0)
		f->started = true;
	return r;
}

void fleet_stop(struct fleet *f)
{
	if (!f || !f->started)
		return;
	f->stop = true;
	pthread_join(f->th, NULL);
	f->started = false;
}

void fleet_free(struct fleet *f)
{
	if (!f)
		return;
	fleet_stop(f);
	if (f->pg)
		PQfinish(f->pg);
	secret_free(f->key);
	json_decref(f->seen);
	json_decref(f->queue);
	json_decref(f->leases);
	json_decref(f->running);
	json_decref(f->retry);
	json_decref(f->same_store);
	free(f->node);
	free(f->schema);
	free(f->qs);
	free(f->conninfo);
	pthread_mutex_destroy(&f->pmu);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

/* SPDX-License-Identifier: MIT */
/*
 * engine_state.c - what the engine keeps on disk, and how it comes back.
 *
 * Records (JSON, encrypted by store.c):
 *   conf      {name, doc, password}   a connection as written (and rotated)
 *   conf-del  {name}
 *   role      {name, v, doc}          version v of a role, now current
 *   rolev     {name, v, doc}          an older version still used by leases
 *   role-del  {name}
 *   lease     ["lease", id, role, v, user, issued, ttl, max, valid,
 *              pid, start, uid, gid, comm, exe, cgroup]
 *             written durably BEFORE the login is created: a crash at any
 *             later instant leaves a lease to revoke, never an orphan login.
 *             An array, not an object: a restart parses one per live lease,
 *             and arrays parse in half the time (the object form, {id, role,
 *             v, user, issued, ttl, max, valid, holder}, is still read)
 *   renew     {id, valid}             after PostgreSQL accepted a renewal
 *   gone      {id}                    after PostgreSQL confirmed the revocation
 *                                     (or the creation failed and rolled back)
 *   rotate    {name, password}        durably BEFORE ALTER ROLE ... PASSWORD
 *   rotate-abort {name}
 * Issued passwords are never recorded: revocation does not need them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crash.h"
#include "engine_i.h"
#include "holder.h"
#include "log.h"
#include "params.h"
#include "timefmt.h"

struct engine_restore {
	json_t *confs; /* name -> {doc, password} */
	json_t *roles; /* name -> version (current) */
	json_t *versions; /* "name\nv" -> doc */
	json_t *leases; /* id -> lease record */
	json_t *rotates; /* name -> password */
	uint64_t max_version;
};

/* The positions in a lease record (an array). */
enum {
	LREC_T,
	LREC_ID,
	LREC_ROLE,
	LREC_V,
	LREC_USER,
	LREC_ISSUED,
	LREC_TTL,
	LREC_MAX,
	LREC_VALID,
	LREC_PID,
	LREC_START,
	LREC_UID,
	LREC_GID,
	LREC_COMM,
	LREC_EXE,
	LREC_CGROUP,
	LREC_N
};

static void engine_version_key(const char *name, uint64_t v, char *key, size_t n)
{
	snprintf(key, n, "%s\n%llu", name, (unsigned long long)v);
}

static void engine_replay(void *ctx, json_t *rec)
{
	struct engine_restore *rs = ctx;
	const char *t, *name, *id;
	char key[128];

	if (json_is_array(rec)) {
		/* only leases are arrays */
		t = json_string_value(json_array_get(rec, LREC_T));
		id = json_string_value(json_array_get(rec, LREC_ID));
		if (t && !strcmp(t, "lease") && id && json_array_size(rec) == LREC_N)
			json_object_set(rs->leases, id, rec); /* the record is ours: no copy */
		return;
	}
	t = json_string_value(json_object_get(rec, "t"));
	name = json_string_value(json_object_get(rec, "name"));
	id = json_string_value(json_object_get(rec, "id"));
	if (!t)
		return;
	if (!strcmp(t, "conf") && name) {
		json_object_set(rs->confs, name, rec);
		json_object_del(rs->rotates, name);
	} else if (!strcmp(t, "conf-del") && name) {
		json_object_del(rs->confs, name);
	} else if ((!strcmp(t, "role") || !strcmp(t, "rolev")) && name) {
		uint64_t v = json_integer_value(json_object_get(rec, "v"));

		engine_version_key(name, v, key, sizeof(key));
		json_object_set(rs->versions, key, json_object_get(rec, "doc"));
		if (!strcmp(t, "role"))
			json_object_set_new(rs->roles, name, json_integer(v));
		if (v > rs->max_version)
			rs->max_version = v;
	} else if (!strcmp(t, "role-del") && name) {
		json_object_del(rs->roles, name);
	} else if (!strcmp(t, "lease") && id) {
		json_object_set(rs->leases, id, rec); /* the record is ours: no copy */
	} else if (!strcmp(t, "renew") && id) {
		json_t *l = json_object_get(rs->leases, id);

		if (json_is_array(l))
			json_array_set(l, LREC_VALID, json_object_get(rec, "valid"));
		else if (l)
			json_object_set(l, "valid", json_object_get(rec, "valid"));
	} else if (!strcmp(t, "gone") && id) {
		json_object_del(rs->leases, id);
	} else if (!strcmp(t, "rotate") && name) {
		json_object_set(rs->rotates, name, json_object_get(rec, "password"));
	} else if (!strcmp(t, "rotate-abort") && name) {
		json_object_del(rs->rotates, name);
	}
}

/* --- records ------------------------------------------------------------- */

static int engine_put(struct engine *e, json_t *rec, bool durable)
{
	int r;

	if (!rec)
		return -ENOMEM;
	r = e->store ? store_append(e->store, rec, durable) : 0;
	json_decref(rec);
	return r;
}

static json_t *engine_conf_rec(struct dbconf *c)
{
	json_t *doc = dbconf_to_json(c);

	if (doc && c->password)
		json_object_set_new(doc, "password", json_string(secret_str(c->password)));
	return json_pack("{s:s, s:s, s:o?}", "t", "conf", "name", c->name, "doc", doc);
}

static json_t *engine_role_rec(const char *t, struct role *ro)
{
	return json_pack("{s:s, s:s, s:I, s:o?}", "t", t, "name", ro->name, "v",
			 (json_int_t)ro->version, "doc", role_to_json(ro));
}

int engine_state_record_def(struct engine *e, struct engine_def *d)
{
	if (!e->store)
		return 0;
	if (d->kind == ENGINE_CONFIG) {
		struct dbconf *c = conn_pool_conf(d->pool);
		int r = engine_put(e, engine_conf_rec(c), true);

		dbconf_unref(c);
		return r;
	}
	return engine_put(e, engine_role_rec("role", d->role), true);
}

int engine_state_record_del(struct engine *e, enum engine_kind kind, const char *name)
{
	if (!e->store)
		return 0;
	return engine_put(e,
			  json_pack("{s:s, s:s}", "t",
				    kind == ENGINE_CONFIG ? "conf-del" : "role-del", "name", name),
			  true);
}

static json_t *engine_lease_rec(struct lease *l, int64_t valid)
{
	const struct lease_holder *h = &l->holder;

	return json_pack("[s, s, s, I, s, I, I, I, I, i, I, i, i, s, s, s]", "lease", l->id,
			 l->role->name, (json_int_t)l->role->version, l->username,
			 (json_int_t)l->issued, (json_int_t)l->ttl_ms, (json_int_t)l->max_expires,
			 (json_int_t)valid, (int)h->pid, (json_int_t)h->start_time, (int)h->uid,
			 (int)h->gid, h->comm, h->exe ? h->exe : "", h->cgroup ? h->cgroup : "");
}

/*
 * A field of a lease record, array or (as older daemons wrote it) object;
 * holder fields live in the object form's "holder".
 */
static json_t *engine_lease_field(json_t *rec, int pos, const char *key)
{
	static const char *const holder_keys[] = { "pid",  "start", "uid",   "gid",
						   "comm", "exe",   "cgroup" };

	if (json_is_array(rec))
		return json_array_get(rec, (size_t)pos);
	if (pos >= LREC_PID)
		return json_object_get(json_object_get(rec, "holder"), holder_keys[pos - LREC_PID]);
	return json_object_get(rec, key);
}

int engine_state_record_lease(struct engine *e, struct lease *l)
{
	return e->store ? engine_put(e, engine_lease_rec(l, l->valid_until), true) : 0;
}

void engine_state_record_renew(struct engine *e, struct lease *l)
{
	int64_t valid;

	if (!e->store)
		return;
	valid = l->valid_until; /* a racy read is fine: a later renew record follows */
	if (engine_put(e,
		       json_pack("{s:s, s:s, s:I}", "t", "renew", "id", l->id, "valid",
				 (json_int_t)valid),
		       false) != 0)
		log_warn("lease %s: renewal not recorded", l->id);
}

void engine_state_record_gone(struct engine *e, struct lease *l)
{
	if (e->store && engine_put(e, json_pack("{s:s, s:s}", "t", "gone", "id", l->id), false))
		log_warn("lease %s: revocation not recorded", l->id);
}

int engine_state_record_rotate(struct engine *e, const char *name, const struct secret *pw)
{
	if (!e->store)
		return 0;
	return engine_put(e,
			  json_pack("{s:s, s:s, s:s}", "t", "rotate", "name", name, "password",
				    secret_str(pw)),
			  true);
}

void engine_state_record_rotate_abort(struct engine *e, const char *name)
{
	if (e->store)
		(void)engine_put(e, json_pack("{s:s, s:s}", "t", "rotate-abort", "name", name),
				 false);
}

/* --- compaction ---------------------------------------------------------- */

struct engine_dump {
	struct engine *e;
	struct store *s;
	store_emit_fn *emit;
	json_t *seen; /* role versions written */
	int r;
};

static void engine_dump_emit(struct engine_dump *d, json_t *rec)
{
	if (!rec) {
		d->r = -ENOMEM;
		return;
	}
	if (d->r == 0)
		d->r = d->emit(d->s, rec);
	json_decref(rec);
}

static void engine_dump_lease(struct engine_dump *d, struct lease *l)
{
	char key[128];

	/* A lease can be both in flight and in the table: written once. */
	snprintf(key, sizeof(key), "lease:%s", l->id);
	if (json_object_get(d->seen, key))
		return;
	json_object_set_new(d->seen, key, json_true());
	engine_version_key(l->role->name, l->role->version, key, sizeof(key));
	if (!json_object_get(d->seen, key)) {
		json_object_set_new(d->seen, key, json_true());
		engine_dump_emit(d, engine_role_rec("rolev", l->role));
	}
	engine_dump_emit(d, engine_lease_rec(l, l->valid_until));
}

static int engine_dump_all(void *ctx, struct store *s, store_emit_fn *emit)
{
	struct engine_dump d = { .e = ctx, .s = s, .emit = emit, .seen = json_object() };
	struct engine *e = d.e;
	struct lease **inflight = NULL;
	size_t i, n_inflight = 0;
	json_t *ids;
	json_t *v;

	pthread_mutex_lock(&e->mu);
	for (struct engine_def *def = e->defs; def && d.r == 0; def = def->next) {
		if (def->kind == ENGINE_CONFIG) {
			struct dbconf *c = conn_pool_conf(def->pool);

			engine_dump_emit(&d, engine_conf_rec(c));
			dbconf_unref(c);
			if (def->pending_pw)
				engine_dump_emit(&d, json_pack("{s:s, s:s, s:s}", "t", "rotate",
							       "name", def->name, "password",
							       secret_str(def->pending_pw)));
		} else {
			/* "rolev" first: a version a lease uses is written once */
			engine_dump_emit(&d, engine_role_rec("role", def->role));
		}
	}
	pthread_mutex_unlock(&e->mu);
	/*
	 * Leases in flight first, then the table: an issue adds its lease to
	 * the table before it leaves the in-flight list, so a lease that moves
	 * between the two snapshots is in the second one.
	 */
	pthread_mutex_lock(&e->imu);
	if (e->n_inflight && !(inflight = calloc(e->n_inflight, sizeof(*inflight))))
		d.r = -ENOMEM;
	for (i = 0; inflight && i < e->n_inflight; i++)
		inflight[n_inflight++] = lease_ref(e->inflight[i]);
	pthread_mutex_unlock(&e->imu);
	ids = lease_table_ids(e->leases, NULL);
	if (!ids)
		d.r = -ENOMEM;
	for (i = 0; i < n_inflight; i++) {
		engine_dump_lease(&d, inflight[i]);
		lease_unref(inflight[i]);
	}
	free(inflight);
	json_array_foreach(ids, i, v)
	{
		struct lease *l = lease_table_get(e->leases, json_string_value(v));

		if (l) {
			engine_dump_lease(&d, l);
			lease_unref(l);
		}
	}
	json_decref(ids);
	json_decref(d.seen);
	return d.r;
}

void engine_state_maybe_compact(struct engine *e)
{
	if (!e->store || !store_wants_compaction(e->store))
		return;
	pthread_mutex_lock(&e->dmu);
	if (store_compact(e->store, engine_dump_all, e) != 0)
		log_warn("compaction failed; the journal keeps growing");
	pthread_mutex_unlock(&e->dmu);
}

/* --- restoring ----------------------------------------------------------- */

static int engine_restore_confs(struct engine *e, struct engine_restore *rs)
{
	const char *name;
	json_t *rec;

	json_object_foreach(rs->confs, name, rec)
	{
		struct parse_error pe = { 0 };
		struct engine_def *d = calloc(1, sizeof(*d));
		struct dbconf *c = NULL;
		json_t *pw = json_object_get(rs->rotates, name);

		if (!d || dbconf_from_params(name, json_object_get(rec, "doc"), true, &c, &pe) ||
		    !(d->name = strdup(name)) || !(d->pool = conn_pool_new(c))) {
			log_err("state: connection %s cannot be restored: %s", name, pe.text);
			dbconf_unref(c);
			engine_def_free(d);
			return -EINVAL;
		}
		d->kind = ENGINE_CONFIG;
		d->conf = c;
		if (pw)
			d->pending_pw = secret_new(json_string_value(pw), json_string_length(pw));
		d->next = e->defs;
		e->defs = d;
	}
	return 0;
}

/* A role object for version v of name: shared by every lease that uses it. */
static struct role *engine_restore_role(struct engine_restore *rs, json_t *cache, const char *name,
					uint64_t v)
{
	struct parse_error pe = { 0 };
	struct role *ro = NULL;
	char key[128];
	json_t *doc, *hit;

	engine_version_key(name, v, key, sizeof(key));
	if ((hit = json_object_get(cache, key)))
		return role_ref((struct role *)(uintptr_t)json_integer_value(hit));
	if (!(doc = json_object_get(rs->versions, key)) ||
	    role_from_params(name, doc, true, &ro, &pe) != 0) {
		log_err("state: role %s version %llu cannot be restored: %s", name,
			(unsigned long long)v, doc ? pe.text : "missing");
		return NULL;
	}
	ro->version = v;
	json_object_set_new(cache, key, json_integer((json_int_t)(uintptr_t)role_ref(ro)));
	return ro;
}

static int engine_restore_roles(struct engine *e, struct engine_restore *rs, json_t *cache)
{
	const char *name;
	json_t *v;

	json_object_foreach(rs->roles, name, v)
	{
		struct engine_def *d = calloc(1, sizeof(*d));

		if (!d || !(d->name = strdup(name)) ||
		    !(d->role = engine_restore_role(rs, cache, name, json_integer_value(v)))) {
			engine_def_free(d);
			return -EINVAL;
		}
		d->kind = ENGINE_ROLE;
		d->next = e->defs;
		e->defs = d;
	}
	return 0;
}

static void engine_restore_holder(json_t *rec, struct holder_buf *b)
{
	struct lease_holder *out = &b->h;

	memset(b, 0, sizeof(*b));
	out->exe = b->exe;
	out->cgroup = b->cgroup;
	out->pid = json_integer_value(engine_lease_field(rec, LREC_PID, NULL));
	out->start_time = json_integer_value(engine_lease_field(rec, LREC_START, NULL));
	out->uid = json_integer_value(engine_lease_field(rec, LREC_UID, NULL));
	out->gid = json_integer_value(engine_lease_field(rec, LREC_GID, NULL));
	snprintf(out->comm, sizeof(out->comm), "%s",
		 json_string_value(engine_lease_field(rec, LREC_COMM, NULL)) ?: "");
	snprintf(b->exe, sizeof(b->exe), "%s",
		 json_string_value(engine_lease_field(rec, LREC_EXE, NULL)) ?: "");
	snprintf(b->cgroup, sizeof(b->cgroup), "%s",
		 json_string_value(engine_lease_field(rec, LREC_CGROUP, NULL)) ?: "");
}

/*
 * A lease from the old daemon: revoked at once if it expired; held again if
 * it is bound to a process that still runs (same pid and start time); else
 * its open file died with the old daemon, so it counts as let go now.
 */
static int engine_restore_lease(struct engine *e, struct engine_restore *rs, json_t *cache,
				const char *id, json_t *rec, int64_t now)
{
	struct holder_buf h;
	struct role *ro;
	struct lease *l;
	int r;

	ro = engine_restore_role(
		rs, cache, json_string_value(engine_lease_field(rec, LREC_ROLE, "role")) ?: "",
		json_integer_value(engine_lease_field(rec, LREC_V, "v")));
	if (!ro)
		return -EINVAL;
	engine_restore_holder(rec, &h);
	l = lease_restore(ro, id,
			  json_string_value(engine_lease_field(rec, LREC_USER, "user")) ?: "", &h.h,
			  json_integer_value(engine_lease_field(rec, LREC_ISSUED, "issued")),
			  json_integer_value(engine_lease_field(rec, LREC_TTL, "ttl")),
			  json_integer_value(engine_lease_field(rec, LREC_MAX, "max")),
			  json_integer_value(engine_lease_field(rec, LREC_VALID, "valid")));
	role_unref(ro);
	if (!l || (r = lease_table_add(e->leases, l)) != 0) {
		lease_unref(l);
		return -ENOMEM;
	}
	if (now >= l->valid_until || now >= l->max_expires) {
		lease_table_revoke_now(e->leases, l, now);
	} else if (l->role->binding == ROLE_BIND_PROCESS && h.h.pid > 0 &&
		   holder_start_time("/proc", h.h.pid) == h.h.start_time) {
		engine_watch(e, l);
		log_info("lease %s: opener %d still runs, held again", l->id, (int)h.h.pid);
	} else {
		lease_table_exited(e->leases, l, now);
	}
	lease_unref(l);
	return 0;
}

static void engine_restore_cache_free(json_t *cache)
{
	const char *k;
	json_t *v;

	json_object_foreach(cache, k, v)
		role_unref((struct role *)(uintptr_t)json_integer_value(v));
	json_decref(cache);
}

/* A rotation the old daemon may or may not have finished: keep what PostgreSQL accepts. */
static void engine_restore_rotations(struct engine *e)
{
	for (struct engine_def *d = e->defs; d; d = d->next) {
		char errbuf[CONN_ERRLEN];
		struct dbconf *c, *nc;

		if (d->kind != ENGINE_CONFIG || !d->pending_pw)
			continue;
		c = conn_pool_conf(d->pool);
		nc = dbconf_with_password(c, secret_dup(d->pending_pw));
		if (nc && conn_verify(nc, errbuf) == 0) {
			log_info("connection %s: the interrupted root rotation took effect",
				 d->name);
			conn_pool_unref(d->pool);
			d->pool = conn_pool_new(nc);
			dbconf_unref(d->conf);
			d->conf = dbconf_ref(nc);
			secret_free(d->pending_pw);
			d->pending_pw = NULL;
			(void)engine_state_record_def(e, d);
		} else if (conn_verify(c, errbuf) == 0) {
			log_info("connection %s: the interrupted root rotation did not happen",
				 d->name);
			secret_free(d->pending_pw);
			d->pending_pw = NULL;
			engine_state_record_rotate_abort(e, d->name);
		} else {
			log_warn(
				"connection %s: cannot tell which root password is current yet: %s",
				d->name, errbuf);
		}
		dbconf_unref(nc);
		dbconf_unref(c);
	}
}

int engine_open_state(struct engine *e, const char *dir, const char *key_file, char *errbuf)
{
	struct engine_restore rs = { json_object(), json_object(), json_object(),
				     json_object(), json_object(), 0 };
	json_t *cache = json_object(), *rec;
	int64_t now = timefmt_now_ms();
	const char *id;
	size_t n = 0;
	int r;

	if ((r = store_key_load(key_file, !store_exists(dir), &e->key, errbuf)) != 0)
		goto out;
	if ((r = store_open(dir, e->key, engine_replay, &rs, &e->store, errbuf)) != 0)
		goto out;
	e->role_version = rs.max_version;
	if ((r = engine_restore_confs(e, &rs)) != 0 ||
	    (r = engine_restore_roles(e, &rs, cache)) != 0) {
		snprintf(errbuf, STORE_ERRLEN, "state in %s holds a definition credfs cannot read",
			 dir);
		goto out;
	}
	json_object_foreach(rs.leases, id, rec)
	{
		if ((r = engine_restore_lease(e, &rs, cache, id, rec, now)) != 0) {
			snprintf(errbuf, STORE_ERRLEN, "state in %s: lease %s cannot be restored",
				 dir, id);
			goto out;
		}
		n++;
	}
	engine_restore_rotations(e);
	log_info("state %s: %zu connection(s), %zu role(s), %zu lease(s) restored", dir,
		 json_object_size(rs.confs), json_object_size(rs.roles), n);
out:
	engine_restore_cache_free(cache);
	json_decref(rs.confs);
	json_decref(rs.roles);
	json_decref(rs.versions);
	json_decref(rs.leases);
	json_decref(rs.rotates);
	return r;
}

/* SPDX-License-Identifier: MIT */
/*
 * engine.c - the facade fs/ calls: definitions, leases/, errors, and the
 * wiring of the registry, the lease service and the journal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "engine_i.h"
#include "log.h"
#include "params.h"
#include "pwpool.h"
#include "timefmt.h"

#define ENGINE_RESOLVE_MS 10000 /* how often pending rotations are looked at */

static const char *engine_dir(enum engine_kind k)
{
	return k == ENGINE_CONFIG ? "config" : k == ENGINE_ROLE ? "roles" : "static-roles";
}

static enum registry_kind engine_rkind(enum engine_kind k)
{
	return k == ENGINE_CONFIG ? REGISTRY_CONN : REGISTRY_ROLE;
}

int engine_audit(struct engine *e, const char *action, const char *path, uid_t uid,
		 const struct lease *l, const struct lease_holder *holder, const struct secret *pw,
		 const char *err)
{
	struct audit_event ev = {
		.action = action,
		.result = err ? "error" : "ok",
		.error = err,
		.path = path,
		.lease = l,
		.holder = holder,
		.uid = uid,
		.password = pw,
	};

	return audit_event(e->audit, &ev);
}

static const char *engine_action(const char *dir, const char *what)
{
	static const char *const names[][3] = {
		{ "config", "config-write", "config-delete" },
		{ "roles", "role-write", "role-delete" },
		{ "rotate-root", "rotate-root", "rotate-root" },
		{ "static-roles", "static-role-write", "static-role-delete" },
		{ "rotate-role", "rotate-role", "rotate-role" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(dir, names[i][0]))
			return names[i][!strcmp(what, "delete") ? 2 : 1];
	return what;
}

static void engine_fail(struct engine *e, uid_t uid, const char *dir, const char *name,
			char *errbuf, const char *reason)
{
	char path[160];

	if (errbuf != reason)
		snprintf(errbuf, ENGINE_ERRLEN, "%s", reason);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	errlog_add(e->errlog, timefmt_now_ms(), uid, path, errbuf);
	engine_audit(e, engine_action(dir, "write"), path, uid, NULL, NULL, NULL, errbuf);
	log_info("%s: %s", path, errbuf);
}

void engine_fail_issue(struct engine *e, const char *name, const struct lease_holder *holder,
		       const char *reason)
{
	char path[160];

	snprintf(path, sizeof(path), "creds/%s", name);
	errlog_add(e->errlog, timefmt_now_ms(), holder ? holder->uid : 0, path, reason);
	engine_audit(e, "issue", path, 0, NULL, holder, NULL, reason);
	log_info("%s: %s", path, reason);
}

static void engine_audit_ok(struct engine *e, const char *dir, const char *what, const char *name,
			    uid_t uid)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	engine_audit(e, engine_action(dir, what), path, uid, NULL, NULL, NULL, NULL);
}

/* --- the lease service's backend ------------------------------------------------ */

static struct conn_pool *engine_lease_pool(struct engine *e, struct lease *l, char *errbuf)
{
	struct conn_pool *p = registry_pool(e->reg, l->role->db_name, l->conn_version, NULL);

	if (!p)
		snprintf(errbuf, LEASESVC_ERRLEN,
			 "connection \"%s\" version %llu is not configured",
			 l->role->db_name ? l->role->db_name : "",
			 (unsigned long long)l->conn_version);
	return p;
}

static int engine_be_renew(void *ctx, struct lease *l, int64_t until_wall, char *errbuf)
{
	struct engine *e = ctx;
	struct conn_pool *p;

	/* Cut off from the fleet: survivors may claim it, so let VALID UNTIL run out. */
	if (e->fleet && !fleet_healthy(e->fleet)) {
		snprintf(errbuf, LEASESVC_ERRLEN,
			 "not in the fleet: its control store is unreachable, or this"
			 " node is back and has leases claimed meanwhile to drop");
		return -EAGAIN;
	}
#ifdef CREDFS_TEST_HOOKS
	fleet_test_stuck(e->fleet);
#endif
	p = engine_lease_pool(ctx, l, errbuf);
	int r = p ? conn_renew_user(p, l->role, l->username, until_wall, errbuf) : -EIO;

	conn_pool_unref(p);
	return r;
}

static int engine_be_revoke(void *ctx, struct lease *l, char *errbuf)
{
	struct engine *e = ctx;
	struct conn_pool *p;
	int r;

	/*
	 * Cut off from the fleet: a survivor may have claimed it and revoked
	 * it already; back in the fleet, this node first drops what was
	 * claimed (fleet.c), so a login is revoked once.
	 */
	if (e->fleet && !fleet_healthy(e->fleet)) {
		snprintf(errbuf, LEASESVC_ERRLEN,
			 "not in the fleet: its control store is unreachable, or this"
			 " node is back and has leases claimed meanwhile to drop");
		return -EAGAIN;
	}
#ifdef CREDFS_TEST_HOOKS
	fleet_test_stuck(e->fleet);
#endif
	p = engine_lease_pool(ctx, l, errbuf);
	r = p ? conn_revoke_user(p, l->role, l->username, errbuf) : -EIO;

	conn_pool_unref(p);
	/*
	 * Already gone: revoked, unless another node claimed the lease and
	 * revoked it, this node's statement having been held up by a cut
	 * across the claim: that revocation is the claimer's (fleet_lease_own
	 * drops the lease here), not a second one.
	 */
	if (r == 1)
		r = fleet_lease_unclaimed(e->fleet, l, errbuf);
	return r;
}

static void engine_be_audit(void *ctx, const char *action, struct lease *l, const char *err)
{
	engine_metrics_job(ctx, action, l, err);
	engine_audit(ctx, action, NULL, 0, l, &l->holder, NULL, err);
}

static void engine_be_poll(void *ctx, void *handle)
{
	struct engine *e = ctx;

	if (e->poll_fn)
		e->poll_fn(handle);
}

static void engine_be_gone(void *ctx, struct lease *l)
{
	struct engine *e = ctx;

	registry_retire(e->reg, l->role->db_name, l->conn_version);
}

/* Pending rotations are resolved on a lane of their own: a database that does not answer holds it, never the timer. */
#define ENGINE_RESOLVE_LANE "/pending-rotations" /* no connection name has a '/' */

static void engine_resolve_run(void *arg)
{
	struct engine *e = arg;

	registry_resolve_pending(e->reg);
	e->resolving = false;
}

static void engine_resolve_drop(void *arg, int why)
{
	struct engine *e = arg;

	(void)why;
	e->resolving = false;
}

static int64_t engine_be_idle(void *ctx)
{
	struct engine *e = ctx;
	int64_t now = leasesvc_now();

	int64_t sync;

	journal_maybe_compact(e->journal);
	if (now >= e->resolve_at && registry_has_pending(e->reg) && !e->resolving) {
		e->resolve_at = now + ENGINE_RESOLVE_MS;
		e->resolving = true;
		if (lanes_submit(leasesvc_lanes(e->svc), ENGINE_RESOLVE_LANE, 1, LANES_URGENT, 0,
				 engine_resolve_run, engine_resolve_drop, e) != 0)
			e->resolving = false;
	}
	sync = journal_sync_due(e->journal);
	{
		int64_t st = engine_static_tick(e);

		if (st >= 0 && (sync < 0 || st < sync))
			sync = st;
	}
	/* A rotation to resolve: come back in time for it. */
	if (registry_has_pending(e->reg) && (sync < 0 || e->resolve_at - now < sync))
		sync = e->resolve_at > now ? e->resolve_at - now : 0;
	return sync;
}

static size_t engine_count(void *ctx, const char *name, uint64_t version)
{
	struct engine *e = ctx;

	return leasesvc_count_conn(e->svc, name, version);
}

/* --- life ------------------------------------------------------------------------- */

struct engine *engine_new(void)
{
	struct engine *e = calloc(1, sizeof(*e));
	struct leasesvc_backend b = {
		.renew = engine_be_renew,
		.revoke = engine_be_revoke,
		.audit = engine_be_audit,
		.poll = engine_be_poll,
		.gone = engine_be_gone,
		.idle = engine_be_idle,
		.ctx = e,
	};

	if (!e)
		return NULL;
	engine_static_init(e);
	if (!(e->svc = leasesvc_new(&b)) || !(e->reg = registry_new(engine_count, e)) ||
	    !(e->errlog = errlog_new()) || !(e->quota = quota_new()) ||
	    !(e->metrics = metrics_new())) {
		engine_free(e);
		return NULL;
	}
	return e;
}

int engine_open_state(struct engine *e, const char *dir, const char *key_file, char *errbuf)
{
	int r = journal_open(dir, key_file, e->reg, e->svc, &e->journal, errbuf);

	if (r == 0) {
		registry_resolve_pending(e->reg); /* a rotation a crash interrupted */
		engine_static_restore(e); /* resolved on the lanes once started */
		e->resolve_at = leasesvc_now() + ENGINE_RESOLVE_MS;
	}
	return r;
}

int engine_check_state(const char *dir, const char *key_file, FILE *out, char *errbuf)
{
	return journal_check(dir, key_file, out, errbuf);
}

int engine_open_audit(struct engine *e, const char *path)
{
	const struct secret *key = journal_key(e->journal);
	struct secret *k = key ? audit_key_derive(key) : NULL;
	int r = audit_open(path, k, &e->audit);

	secret_free(k);
	return r;
}

int engine_start(struct engine *e)
{
	/* without it issues compute their own verifiers: slower, not wrong */
	if (!(e->pwpool = pwpool_new(ENGINE_PWPOOL, SECRET_PASSWORD_LEN)))
		log_warn("no password pool: verifiers are computed at issue");
	/*
	 * The fleet first: a starting node drops the leases survivors claimed
	 * while it was down before the timer could renew or revoke them.
	 */
	return fleet_start(e->fleet) ?: leasesvc_start(e->svc, LANES_DEFAULT_WIDTH);
}

void engine_stop(struct engine *e)
{
	if (!e)
		return;
	e->stopping = true;
	leasesvc_inflight_wait(e->svc);
	fleet_stop(e->fleet);
	leasesvc_stop(e->svc);
}

void engine_free(struct engine *e)
{
	if (!e)
		return;
	engine_stop(e);
	pwpool_free(e->pwpool);
	leasesvc_free(e->svc);
	fleet_free(e->fleet);
	engine_static_fini(e);
	registry_free(e->reg);
	journal_close(e->journal);
	audit_close(e->audit);
	errlog_free(e->errlog);
	quota_free(e->quota);
	metrics_free(e->metrics);
	free(e);
}

/* --- definitions ------------------------------------------------------------------ */

static void engine_perr_text(const struct parse_error *pe, char *errbuf)
{
	if (pe->line > 0)
		snprintf(errbuf, ENGINE_ERRLEN, "line %d: %s", pe->line, pe->text);
	else
		snprintf(errbuf, ENGINE_ERRLEN, "%s", pe->text);
}

int engine_def_write(struct engine *e, enum engine_kind kind, const char *name, const char *buf,
		     size_t len, bool apply, uid_t uid, char *errbuf)
{
	struct parse_error pe = { 0 };
	struct static_role *sr = NULL;
	struct dbconf *c = NULL;
	struct role *ro = NULL;
	json_t *params = NULL;
	int r;

	r = params_parse(buf, len, apply, &params, &pe);
	if (r == 1 && !params)
		return 1;
	if (r >= 0) {
		unsigned flags = apply ? PARAMS_FINAL : 0;
		int r2 = kind == ENGINE_CONFIG ? dbconf_from_params(name, params, flags, &c, &pe)
			 : kind == ENGINE_ROLE
				 ? role_from_params(name, params, flags, &ro, &pe)
				 : static_role_from_params(name, params, flags, &sr, &pe);
		if (r2 < 0)
			r = r2;
	}
	json_decref(params);
	if (r < 0) {
		engine_perr_text(&pe, errbuf);
		engine_fail(e, uid, engine_dir(kind), name, errbuf, errbuf);
		return r;
	}
	if (!apply) {
		dbconf_unref(c);
		role_unref(ro);
		static_role_unref(sr);
		return r;
	}
	if (kind == ENGINE_ROLE && engine_def_exists(e, ENGINE_STATIC, name)) {
		snprintf(errbuf, ENGINE_ERRLEN,
			 "static-roles/%s exists: role and static role names must be unique", name);
		role_unref(ro);
		ro = NULL;
		r = -EINVAL;
	} else if (kind == ENGINE_STATIC) {
		r = engine_static_put(e, sr, errbuf);
	} else {
		r = kind == ENGINE_CONFIG ? registry_conn_write(e->reg, c, errbuf)
					  : registry_role_write(e->reg, ro, errbuf);
	}
	if (r < 0) {
		engine_fail(e, uid, engine_dir(kind), name, errbuf, errbuf);
	} else {
		if (kind != ENGINE_CONFIG)
			log_info("%s/%s: written", engine_dir(kind), name);
		engine_audit_ok(e, engine_dir(kind), "write", name, uid);
	}
	return r;
}

int engine_dump(json_t *j, char **out, size_t *len)
{
	size_t n;
	char *buf;

	if (!j)
		return -ENOMEM;
	n = json_dumpb(j, NULL, 0, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (!(buf = malloc(n + 1))) {
		json_decref(j);
		return -ENOMEM;
	}
	json_dumpb(j, buf, n, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	buf[n] = '\n';
	json_decref(j);
	*out = buf;
	*len = n + 1;
	return 0;
}

int engine_def_read(struct engine *e, enum engine_kind kind, const char *name, char **out,
		    size_t *len)
{
	json_t *j = NULL;

	if (kind == ENGINE_CONFIG) {
		struct dbconf *c = registry_conf(e->reg, name);

		if (!c)
			return -ENOENT;
		if ((j = dbconf_to_json(c)))
			engine_root_json(e, c, j);
		dbconf_unref(c);
	} else if (kind == ENGINE_STATIC) {
		if (!(j = engine_static_json(e, name)))
			return -ENOENT;
	} else {
		struct role *ro = registry_role(e->reg, name);

		if (!ro)
			return -ENOENT;
		j = role_to_json(ro);
		role_unref(ro);
	}
	return engine_dump(j, out, len);
}

bool engine_def_exists(struct engine *e, enum engine_kind kind, const char *name)
{
	struct static_role *sr;

	if (kind != ENGINE_STATIC)
		return registry_exists(e->reg, engine_rkind(kind), name);
	sr = engine_static_get(e, name);
	static_role_unref(sr);
	return sr != NULL;
}

int engine_def_delete(struct engine *e, enum engine_kind kind, const char *name, uid_t uid,
		      char *errbuf)
{
	int r = kind == ENGINE_STATIC ? engine_static_delete(e, name)
				      : registry_delete(e->reg, engine_rkind(kind), name, errbuf);

	if (r == -EIO && kind == ENGINE_STATIC)
		engine_record_err(e, "the change", errbuf);
	if (r == -ENOENT)
		return r;
	if (r != 0) {
		engine_fail(e, uid, engine_dir(kind), name, errbuf, errbuf);
		return r;
	}
	log_info("%s/%s: deleted", engine_dir(kind), name);
	engine_audit_ok(e, engine_dir(kind), "delete", name, uid);
	return 0;
}

json_t *engine_def_names(struct engine *e, enum engine_kind kind)
{
	if (kind == ENGINE_STATIC)
		return engine_static_names(e);
	return registry_names(e->reg, engine_rkind(kind));
}

struct role *engine_role_get(struct engine *e, const char *name)
{
	return registry_role(e->reg, name);
}

int engine_rotate_root(struct engine *e, const char *name, uid_t uid, char *errbuf)
{
	void *lock = NULL;
	int r = 0;

	/* One rotation of a connection at a time in the whole fleet, from its latest password. */
	if (e->fleet && (r = fleet_rotate_begin(e->fleet, name, &lock, errbuf)) != 0)
		r = -EIO;
	if (r == 0)
		r = registry_rotate_root(e->reg, name, errbuf);
	/* Its time in the store before the lock goes (a node whose schedule is due finds it done). */
	if (r == 0)
		engine_root_rotated(e, name);
	if (lock)
		fleet_rotate_end(e->fleet, lock);

	if (r != 0)
		engine_fail(e, uid, "rotate-root", name, errbuf, errbuf);
	else
		engine_audit_ok(e, "rotate-root", "write", name, uid);
	return r;
}

int engine_static_rotate(struct engine *e, const char *name, uid_t uid, char *errbuf)
{
	int r = engine_static_rotate_now(e, name, errbuf);

	if (r == -ENOENT)
		return r;
	if (r != 0)
		engine_fail(e, uid, "rotate-role", name, errbuf, errbuf);
	else
		engine_audit_ok(e, "rotate-role", "write", name, uid);
	return r;
}

/* --- leases/ ---------------------------------------------------------------------- */

static struct lease *engine_lease_find(struct engine *e, const char *role, const char *id)
{
	struct lease *l = lease_table_get(leasesvc_table(e->svc), id);

	if (l && strcmp(l->role->name, role) != 0) {
		lease_unref(l);
		return NULL;
	}
	return l;
}

int engine_lease_read(struct engine *e, const char *role, const char *id, char **out, size_t *len)
{
	struct lease *l = engine_lease_find(e, role, id);
	int r;

	if (!l)
		return -ENOENT;
	r = engine_dump(
		lease_table_to_json(leasesvc_table(e->svc), l, leasesvc_wall_off(), leasesvc_now()),
		out, len);
	lease_unref(l);
	return r;
}

int engine_lease_revoke(struct engine *e, const char *role, const char *id, uid_t uid)
{
	struct lease *l = engine_lease_find(e, role, id);
	int r;

	if (!l)
		return -ENOENT;
	/* Durable before it takes effect: a restart still revokes it. */
	if ((r = leasesvc_revoke_now(e->svc, l, true)) != 0) {
		char path[200];

		snprintf(path, sizeof(path), "leases/%s/%s", role, id);
		errlog_add(e->errlog, timefmt_now_ms(), uid, path,
			   "cannot record the revocation in the state directory");
		r = -EIO;
	} else {
		log_info("lease %s: revocation requested", l->id);
		engine_audit(e, "revoke-request", NULL, uid, l, NULL, NULL, NULL);
	}
	lease_unref(l);
	return r;
}

json_t *engine_lease_ids(struct engine *e, const char *role)
{
	struct lease_table *t = leasesvc_table(e->svc);

	return role ? lease_table_ids(t, role) : lease_table_roles(t);
}

int engine_errors(struct engine *e, uid_t uid, char **out, size_t *len)
{
	return errlog_render(e->errlog, uid, uid == 0 || uid == getuid(), out, len);
}

void engine_note_error(struct engine *e, uid_t uid, const char *path, const char *reason)
{
	errlog_add(e->errlog, timefmt_now_ms(), uid, path, reason);
	log_info("%s: %s", path, reason);
}

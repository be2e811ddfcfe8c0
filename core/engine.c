/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "conn.h"
#include "crash.h"
#include "dbconf.h"
#include "engine.h"
#include "errlog.h"
#include "holder.h"
#include "log.h"
#include "params.h"
#include "pwpool.h"
#include "timefmt.h"
#include "uname.h"
#include "utmpl.h"

#include "engine_i.h"

static const char *engine_dir(enum engine_kind k)
{
	return k == ENGINE_CONFIG ? "config" : "roles";
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

static void engine_audit_ok(struct engine *e, const char *dir, const char *what, const char *name,
			    uid_t uid)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	engine_audit(e, engine_action(dir, what), path, uid, NULL, NULL, NULL, NULL);
}

void engine_wake(struct engine *e)
{
	uint64_t one = 1;

	if (e->evfd >= 0 && write(e->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("cannot wake the timer: %s", strerror(errno));
}

/* --- definitions --------------------------------------------------------- */

static struct engine_def *engine_find_locked(struct engine *e, enum engine_kind k, const char *name)
{
	struct engine_def *d;

	for (d = e->defs; d; d = d->next)
		if (d->kind == k && !strcmp(d->name, name))
			return d;
	return NULL;
}

void engine_def_free(struct engine_def *d)
{
	if (!d)
		return;
	free(d->name);
	secret_free(d->pending_pw);
	dbconf_unref(d->conf);
	conn_pool_unref(d->pool);
	role_unref(d->role);
	free(d);
}

/* Put d in place of the definition of the same name; the old one is returned. */
static struct engine_def *engine_swap_locked(struct engine *e, struct engine_def *d)
{
	struct engine_def **pp, *old;

	for (pp = &e->defs; *pp; pp = &(*pp)->next) {
		if ((*pp)->kind == d->kind && !strcmp((*pp)->name, d->name)) {
			old = *pp;
			d->next = old->next;
			*pp = d;
			old->next = NULL;
			return old;
		}
	}
	d->next = e->defs;
	e->defs = d;
	return NULL;
}

static void engine_perr_text(const struct parse_error *pe, char *errbuf)
{
	if (pe->line > 0)
		snprintf(errbuf, ENGINE_ERRLEN, "line %d: %s", pe->line, pe->text);
	else
		snprintf(errbuf, ENGINE_ERRLEN, "%s", pe->text);
}

/*
 * A rewrite of config/NAME that leaves out the password keeps the current
 * one (same user): `jq` edits of a read-back definition, which never
 * carries the password, must not lock credfs out after a root rotation.
 */
static struct dbconf *engine_keep_password(struct engine *e, struct dbconf *c)
{
	struct engine_def *old;
	struct dbconf *nc = c;
	struct secret *pw = NULL;

	if (c->password)
		return c;
	pthread_mutex_lock(&e->mu);
	old = engine_find_locked(e, ENGINE_CONFIG, c->name);
	if (old && old->pool) {
		struct dbconf *cur = conn_pool_conf(old->pool);

		if (cur->password && cur->username && c->username &&
		    !strcmp(cur->username, c->username))
			pw = secret_dup(cur->password);
		dbconf_unref(cur);
	}
	pthread_mutex_unlock(&e->mu);
	if (pw && (nc = dbconf_with_password(c, pw)))
		dbconf_unref(c);
	return nc ? nc : c;
}

/* Record d durably, then put it in place: the caller holds dmu. */
static int engine_commit_def(struct engine *e, struct engine_def *d, char *errbuf)
{
	struct engine_def *old;
	int r;

	if ((r = engine_state_record_def(e, d)) != 0) {
		snprintf(errbuf, ENGINE_ERRLEN, "cannot record the change in the state directory");
		engine_def_free(d);
		return -EIO;
	}
	pthread_mutex_lock(&e->mu);
	old = engine_swap_locked(e, d);
	pthread_mutex_unlock(&e->mu);
	engine_def_free(old);
	return 0;
}

static int engine_apply_config(struct engine *e, struct dbconf *c, char *errbuf)
{
	struct engine_def *d = NULL;
	int r = -ENOMEM;

	/* dmu across keep-password, verify and commit: a rotation cannot slip in between. */
	pthread_mutex_lock(&e->dmu);
	c = engine_keep_password(e, c);
	if (c->verify_connection && (r = conn_verify(c, errbuf)) != 0)
		goto out;
	r = -ENOMEM;
	if (!(d = calloc(1, sizeof(*d))) || !(d->name = strdup(c->name)) ||
	    !(d->pool = conn_pool_new(c))) {
		engine_def_free(d);
		snprintf(errbuf, ENGINE_ERRLEN, "out of memory");
		goto out;
	}
	d->kind = ENGINE_CONFIG;
	d->conf = c;
	c = NULL; /* transferred */
	if ((r = engine_commit_def(e, d, errbuf)) == 0)
		log_info("config/%s: written", d->name);
out:
	pthread_mutex_unlock(&e->dmu);
	dbconf_unref(c);
	return r;
}

static int engine_apply_role(struct engine *e, struct role *ro, char *errbuf)
{
	struct engine_def *d = NULL;
	int r;

	if (!(d = calloc(1, sizeof(*d))) || !(d->name = strdup(ro->name))) {
		free(d);
		role_unref(ro);
		snprintf(errbuf, ENGINE_ERRLEN, "out of memory");
		return -ENOMEM;
	}
	d->kind = ENGINE_ROLE;
	d->role = ro; /* transferred */
	pthread_mutex_lock(&e->dmu);
	ro->version = ++e->role_version;
	if ((r = engine_commit_def(e, d, errbuf)) == 0)
		log_info("roles/%s: written", ro->name);
	pthread_mutex_unlock(&e->dmu);
	return r;
}

int engine_def_write(struct engine *e, enum engine_kind kind, const char *name, const char *buf,
		     size_t len, bool apply, uid_t uid, char *errbuf)
{
	struct parse_error pe = { 0 };
	struct dbconf *c = NULL;
	struct role *ro = NULL;
	json_t *params = NULL;
	int r;

	r = params_parse(buf, len, apply, &params, &pe);
	if (r == 1 && !params)
		return 1;
	if (r >= 0) {
		int r2 = kind == ENGINE_CONFIG ? dbconf_from_params(name, params, apply, &c, &pe)
					       : role_from_params(name, params, apply, &ro, &pe);
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
		return r;
	}
	r = kind == ENGINE_CONFIG ? engine_apply_config(e, c, errbuf)
				  : engine_apply_role(e, ro, errbuf);
	if (r < 0)
		engine_fail(e, uid, engine_dir(kind), name, errbuf, errbuf);
	else
		engine_audit_ok(e, engine_dir(kind), "write", name, uid);
	return r;
}

static int engine_dump(json_t *j, char **out, size_t *len)
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
	struct engine_def *d;
	struct dbconf *c = NULL;
	json_t *j = NULL;

	pthread_mutex_lock(&e->mu);
	d = engine_find_locked(e, kind, name);
	if (d && kind == ENGINE_CONFIG)
		c = conn_pool_conf(d->pool);
	else if (d)
		j = role_to_json(d->role);
	pthread_mutex_unlock(&e->mu);
	if (!d)
		return -ENOENT;
	if (c) {
		j = dbconf_to_json(c);
		dbconf_unref(c);
	}
	return engine_dump(j, out, len);
}

bool engine_def_exists(struct engine *e, enum engine_kind kind, const char *name)
{
	bool yes;

	pthread_mutex_lock(&e->mu);
	yes = engine_find_locked(e, kind, name) != NULL;
	pthread_mutex_unlock(&e->mu);
	return yes;
}

int engine_def_delete(struct engine *e, enum engine_kind kind, const char *name, uid_t uid,
		      char *errbuf)
{
	struct engine_def **pp, *d = NULL;
	size_t live = kind == ENGINE_CONFIG ? lease_table_count_db(e->leases, name) : 0;

	if (live) {
		snprintf(errbuf, ENGINE_ERRLEN,
			 "%zu live lease(s) still need this connection to be revoked", live);
		engine_fail(e, uid, engine_dir(kind), name, errbuf, errbuf);
		return -EBUSY;
	}
	pthread_mutex_lock(&e->dmu);
	if (!engine_def_exists(e, kind, name)) {
		pthread_mutex_unlock(&e->dmu);
		return -ENOENT;
	}
	if (engine_state_record_del(e, kind, name) != 0) {
		pthread_mutex_unlock(&e->dmu);
		engine_fail(e, uid, engine_dir(kind), name, errbuf,
			    "cannot record the change in the state directory");
		return -EIO;
	}
	pthread_mutex_lock(&e->mu);
	for (pp = &e->defs; *pp; pp = &(*pp)->next) {
		if ((*pp)->kind == kind && !strcmp((*pp)->name, name)) {
			d = *pp;
			*pp = d->next;
			break;
		}
	}
	pthread_mutex_unlock(&e->mu);
	pthread_mutex_unlock(&e->dmu);
	if (!d)
		return -ENOENT;
	log_info("%s/%s: deleted", engine_dir(kind), name);
	engine_audit_ok(e, engine_dir(kind), "delete", name, uid);
	engine_def_free(d);
	return 0;
}

json_t *engine_def_names(struct engine *e, enum engine_kind kind)
{
	json_t *a = json_array();

	pthread_mutex_lock(&e->mu);
	for (struct engine_def *d = e->defs; a && d; d = d->next)
		if (d->kind == kind)
			json_array_append_new(a, json_string(d->name));
	pthread_mutex_unlock(&e->mu);
	return a;
}

struct role *engine_role_get(struct engine *e, const char *name)
{
	struct engine_def *d;
	struct role *ro = NULL;

	pthread_mutex_lock(&e->mu);
	if ((d = engine_find_locked(e, ENGINE_ROLE, name)))
		ro = role_ref(d->role);
	pthread_mutex_unlock(&e->mu);
	return ro;
}

struct conn_pool *engine_pool_get(struct engine *e, const char *db)
{
	struct engine_def *d;
	struct conn_pool *p = NULL;

	pthread_mutex_lock(&e->mu);
	if (db && (d = engine_find_locked(e, ENGINE_CONFIG, db)))
		p = conn_pool_ref(d->pool);
	pthread_mutex_unlock(&e->mu);
	return p;
}

/*
 * The new root password is durable before ALTER ROLE runs: after a crash
 * in between, the restarted daemon tries it and keeps whichever password
 * PostgreSQL accepts (engine_state.c).
 */
int engine_rotate_root(struct engine *e, const char *name, uid_t uid, char *errbuf)
{
	struct conn_pool *p = NULL;
	struct dbconf *c = NULL, *nc = NULL;
	struct secret *pw = NULL;
	int r;

	pthread_mutex_lock(&e->dmu);
	if (!(p = engine_pool_get(e, name))) {
		snprintf(errbuf, ENGINE_ERRLEN, "no such connection");
		r = -ENOENT;
		goto out;
	}
	c = conn_pool_conf(p);
	r = -ENOMEM;
	snprintf(errbuf, ENGINE_ERRLEN, "out of memory");
	if (!(pw = secret_password(c->password_length)))
		goto out;
	if ((r = engine_state_record_rotate(e, name, pw)) != 0) {
		snprintf(errbuf, ENGINE_ERRLEN,
			 "cannot record the rotation in the state directory");
		r = -EIO;
		goto out;
	}
	crash_point("rotate-after-intent");
	if ((r = conn_rotate_root(p, pw, &nc, errbuf)) != 0) {
		engine_state_record_rotate_abort(e, name);
		r = r == -EINVAL ? -EINVAL : -EIO;
		goto out;
	}
	crash_point("rotate-after-alter");
	pthread_mutex_lock(&e->mu);
	for (struct engine_def *d = e->defs; d; d = d->next) {
		if (d->pool == p) {
			dbconf_unref(d->conf);
			d->conf = dbconf_ref(nc);
		}
	}
	pthread_mutex_unlock(&e->mu);
	{
		struct engine_def tmp = { .kind = ENGINE_CONFIG, .pool = p };

		if (engine_state_record_def(e, &tmp) != 0)
			log_err("rotate-root/%s: rotated, but the new password is only in the "
				"rotation record",
				name);
	}
	log_info("rotate-root/%s: root password rotated", name);
	engine_audit_ok(e, "rotate-root", "write", name, uid);
	r = 0;
out:
	pthread_mutex_unlock(&e->dmu);
	if (r != 0)
		engine_fail(e, uid, "rotate-root", name, errbuf, errbuf);
	secret_free(pw);
	dbconf_unref(nc);
	dbconf_unref(c);
	conn_pool_unref(p);
	return r;
}

/* --- issuing ------------------------------------------------------------- */

static struct secret *engine_body(struct lease *l, const struct secret *pw)
{
	char lid[160], maxe[TIMEFMT_LEN];
	struct secret *body = NULL;
	json_t *j;
	size_t n;

	snprintf(lid, sizeof(lid), "database/creds/%s/%s", l->role->name, l->id);
	timefmt_rfc3339(l->max_expires, maxe);
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

/* Add l to (or remove it from) the leases recorded but not yet in the table. */
static int engine_inflight(struct engine *e, struct lease *l, bool add)
{
	int r = 0;

	pthread_mutex_lock(&e->imu);
	if (add) {
		if (e->n_inflight == e->cap_inflight) {
			size_t cap = e->cap_inflight ? e->cap_inflight * 2 : 16;
			struct lease **n = realloc(e->inflight, cap * sizeof(*n));

			if (!n) {
				r = -ENOMEM;
				goto out;
			}
			e->inflight = n;
			e->cap_inflight = cap;
		}
		e->inflight[e->n_inflight++] = lease_ref(l);
		goto out;
	}
	for (size_t i = 0; i < e->n_inflight; i++) {
		if (e->inflight[i] == l) {
			e->inflight[i] = e->inflight[--e->n_inflight];
			lease_unref(l);
			break;
		}
	}
out:
	pthread_mutex_unlock(&e->imu);
	return r;
}

/* Resolve role name to role, pool and an allowed connection. */
static int engine_issue_prepare(struct engine *e, const char *name, struct role **rop,
				struct conn_pool **poolp, char *errbuf)
{
	struct role *ro = engine_role_get(e, name);
	struct conn_pool *p = NULL;
	struct dbconf *c = NULL;

	if (!ro) {
		snprintf(errbuf, ENGINE_ERRLEN, "unknown role");
		return -ENOENT;
	}
	if (!(p = engine_pool_get(e, ro->db_name))) {
		snprintf(errbuf, ENGINE_ERRLEN, "connection \"%s\" is not configured", ro->db_name);
		role_unref(ro);
		return -EIO;
	}
	c = conn_pool_conf(p);
	if (!dbconf_role_allowed(c, ro->name)) {
		snprintf(errbuf, ENGINE_ERRLEN,
			 "\"%s\" is not an allowed role of connection \"%s\"", ro->name, c->name);
		dbconf_unref(c);
		conn_pool_unref(p);
		role_unref(ro);
		return -EACCES;
	}
	dbconf_unref(c);
	*rop = ro;
	*poolp = p;
	return 0;
}

/* The write-ahead record of an issue, made while its creation statements run. */
struct engine_wal {
	struct engine *e;
	struct lease *l;
	bool asked;
	int r;
};

static int engine_issue_record(void *ctx)
{
	struct engine_wal *w = ctx;

	w->asked = true;
	if ((w->r = engine_state_record_lease(w->e, w->l)) == 0)
		crash_point("issue-after-record");
	return w->r;
}

int engine_issue(struct engine *e, const char *name, const struct lease_holder *holder,
		 struct lease **out, struct secret **bodyp, char *errbuf)
{
	struct engine_wal wal = { .e = e };
	char username[UNAME_MAX + 1];
	struct conn_pool *p = NULL;
	struct role *ro = NULL;
	struct secret *pw = NULL, *body = NULL;
	struct lease *l = NULL;
	struct dbconf *c = NULL;
	char *verifier = NULL;
	int64_t now = timefmt_now_ms();
	int r;

	if ((r = engine_issue_prepare(e, name, &ro, &p, errbuf)) != 0)
		goto out;
	c = conn_pool_conf(p);
	if (c->username_template) {
		const struct utmpl_data d = { holder ? holder->comm : NULL, ro->name, now };
		struct parse_error pe = { 0 };

		if ((r = utmpl_render(c->username_template, &d, username, sizeof(username), &pe))) {
			snprintf(errbuf, ENGINE_ERRLEN, "connection \"%s\": username_template: %s",
				 c->name, pe.text);
			r = r == -ENOMEM ? -ENOMEM : -EIO;
			goto out;
		}
	} else {
		uname_generate(holder ? holder->comm : NULL, ro->name, now / 1000, username);
	}
	r = -ENOMEM;
	snprintf(errbuf, ENGINE_ERRLEN, "out of memory");
	/* A pair made ahead by the pool, or a password made now. */
	if (c->pwauth != DBCONF_PW_SCRAM ||
	    pwpool_take(e->pwpool, c->password_length, &pw, &verifier) != 0)
		pw = secret_password(c->password_length);
	if (!pw || !(l = lease_new(ro, username, holder, now)))
		goto out;
	wal.l = l;
	if ((r = engine_inflight(e, l, true)) != 0)
		goto out;
	/* Write-ahead: the lease is durable before the login can commit. */
	r = conn_create_user(p, ro, username, pw, verifier, l->valid_until, engine_issue_record,
			     &wal, errbuf);
	if (r == -EPROTO) {
		/* Lost at COMMIT: the login may exist, so revoke it like any other. */
		if (lease_table_add(e->leases, l) == 0)
			lease_table_revoke_now(e->leases, l, now);
		else
			log_err("lease %s: login %s may exist, revoked at restart", l->id,
				username);
		engine_inflight(e, l, false);
		engine_wake(e);
		r = -EIO;
		goto out;
	}
	if (r != 0) {
		if (wal.asked && wal.r == 0)
			engine_state_record_gone(e, l); /* the transaction rolled back */
		engine_inflight(e, l, false);
		if (wal.asked && wal.r != 0) {
			snprintf(errbuf, ENGINE_ERRLEN,
				 "cannot record the lease in the state directory");
			r = wal.r;
		}
		r = r == -ENOMEM ? -ENOMEM : -EIO;
		goto out;
	}
	crash_point("issue-after-create");
	r = lease_table_add(e->leases, l);
	engine_inflight(e, l, false);
	if (r != 0 || !(body = engine_body(l, pw))) {
		/* The login exists: revoke it rather than leave it behind. */
		if (r == 0)
			lease_table_revoke_now(e->leases, l, now);
		else
			log_err("lease %s: login %s created but not tracked until restart", l->id,
				username);
		engine_wake(e);
		r = -ENOMEM;
		goto out;
	}
	/* Audited before the credential is handed out, or not handed out. */
	if (engine_audit(e, "issue", NULL, 0, l, holder, pw, NULL) != 0) {
		lease_table_revoke_now(e->leases, l, now);
		engine_wake(e);
		snprintf(errbuf, ENGINE_ERRLEN, "cannot write the audit log");
		r = -EIO;
		goto out;
	}
	crash_point("issue-before-reply");
	engine_watch(e, l);
	engine_wake(e);
	log_info("lease %s: issued %s for role %s to pid %d", l->id, username, ro->name,
		 holder ? (int)holder->pid : 0);
	*out = l;
	l = NULL; /* transferred */
	*bodyp = body;
	body = NULL; /* transferred */
	r = 0;
out:
	if (r != 0) {
		char path[160];

		snprintf(path, sizeof(path), "creds/%s", name);
		errlog_add(e->errlog, now, holder ? holder->uid : 0, path, errbuf);
		engine_audit(e, "issue", path, 0, NULL, holder, NULL, errbuf);
		log_info("%s: %s", path, errbuf);
	}
	lease_unref(l);
	secret_free(pw);
	secret_wipe_str(verifier);
	secret_free(body);
	dbconf_unref(c);
	conn_pool_unref(p);
	role_unref(ro);
	return r;
}

void engine_set_poll_fn(struct engine *e, engine_poll_fn *fn)
{
	e->poll_fn = fn;
}

/* Wake whoever polls l if l is ending. Never called under a core lock. */
void engine_poll_check(struct engine *e, struct lease *l)
{
	void *ph;

	if (!e->poll_fn || !lease_table_is_ending(e->leases, l))
		return;
	if ((ph = lease_table_swap_poll(e->leases, l, NULL)))
		e->poll_fn(ph);
}

bool engine_poll(struct engine *e, struct lease *l, void *poll, void **old)
{
	*old = poll ? lease_table_swap_poll(e->leases, l, poll) : NULL;
	if (poll)
		engine_poll_check(e, l);
	return lease_table_is_ending(e->leases, l);
}

void *engine_poll_take(struct engine *e, struct lease *l)
{
	return lease_table_swap_poll(e->leases, l, NULL);
}

void engine_closed(struct engine *e, struct lease *l)
{
	if (lease_table_closed(e->leases, l, timefmt_now_ms()))
		engine_audit(e, "let-go-close", NULL, 0, l, &l->holder, NULL, NULL);
	engine_wake(e);
}

/* --- leases/ ------------------------------------------------------------- */

static struct lease *engine_lease_find(struct engine *e, const char *role, const char *id)
{
	struct lease *l = lease_table_get(e->leases, id);

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
	r = engine_dump(lease_table_to_json(e->leases, l), out, len);
	lease_unref(l);
	return r;
}

int engine_lease_revoke(struct engine *e, const char *role, const char *id, uid_t uid)
{
	struct lease *l = engine_lease_find(e, role, id);

	if (!l)
		return -ENOENT;
	log_info("lease %s: revocation requested", l->id);
	engine_audit(e, "revoke-request", NULL, uid, l, NULL, NULL, NULL);
	lease_table_revoke_now(e->leases, l, timefmt_now_ms());
	engine_poll_check(e, l);
	lease_unref(l);
	engine_wake(e);
	return 0;
}

json_t *engine_lease_ids(struct engine *e, const char *role)
{
	return role ? lease_table_ids(e->leases, role) : lease_table_roles(e->leases);
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

int engine_open_audit(struct engine *e, const char *path)
{
	struct secret *k = e->key ? audit_key_derive(e->key) : NULL;
	int r = audit_open(path, k, &e->audit);

	secret_free(k);
	return r;
}

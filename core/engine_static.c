/* SPDX-License-Identifier: MIT */
/*
 * engine_static.c - static roles: credfs owns the password of an existing
 * PostgreSQL user and rotates it on a schedule or on request.
 *
 * A rotation is write-ahead, like root rotation (registry.c): the new
 * password is recorded (spend, durable) before ALTER ROLE, and becomes the
 * current one (spw) after PostgreSQL accepted it. A rotation that may or
 * may not have happened (a crash, a connection lost at the ALTER) is
 * resolved by logging in as the user: the pending password works (it
 * happened), or the server refuses it (it did not: cleared, the current
 * one stays). Until PostgreSQL answers, the pending password is kept and
 * no new rotation starts, so credfs never forgets a password the user may
 * have. Every rotation runs on its connection's lane as an urgent job;
 * failures are retried with backoff (engine_backoff_ms).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "crash.h"
#include "engine_i.h"
#include "log.h"
#include "params.h"
#include "static.h"
#include "engine_static_i.h"
#include "timefmt.h"

struct es_job {
	struct engine *e;
	char *name;
	char db[256];
};

struct estatic *es_find_locked(struct engine *e, const char *name)
{
	for (struct estatic *s = e->statics; s; s = s->next_s)
		if (!strcmp(s->name, name))
			return s;
	return NULL;
}

void es_free(struct estatic *s)
{
	if (!s)
		return;
	free(s->name);
	static_role_unref(s->def);
	secret_free(s->password);
	secret_free(s->pending);
	free(s);
}

int64_t engine_wall(void)
{
	return leasesvc_now() + leasesvc_wall_off();
}

int64_t engine_backoff_ms(int n)
{
	int64_t ms = 1000;

	while (n-- > 1 && ms < 300000)
		ms *= 2;
	return ms < 300000 ? ms : 300000;
}

/* When s is due next after its last rotation (or creation), seen at now (wall ms). */
int64_t es_next(const struct estatic *s, int64_t now)
{
	int64_t base = (s->last ? s->last : s->created) / 1000, t;

	t = rsched_next(&s->def->sched, base, now / 1000);
	return t == INT64_MAX ? INT64_MAX : t * 1000;
}

void es_wake(struct engine *e)
{
	e->stick_at = 0;
	leasesvc_wake(e->svc);
}

void engine_static_init(struct engine *e)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&e->smu, NULL);
	pthread_mutex_init(&e->swmu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->scv, &ca);
	pthread_condattr_destroy(&ca);
}

void engine_static_fini(struct engine *e)
{
	for (struct estatic *s = e->statics, *n; s; s = n) {
		n = s->next_s;
		es_free(s);
	}
	for (struct espoll *p = e->spolls, *n; p; p = n) {
		n = p->next;
		free(p->name);
		free(p); /* the handle: fs_ctx_free destroys it with its file */
	}
	engine_roots_free(e);
	pthread_cond_destroy(&e->scv);
	pthread_mutex_destroy(&e->swmu);
	pthread_mutex_destroy(&e->smu);
}

/* --- records ------------------------------------------------------------------- */

json_t *es_def_rec(const struct estatic *s)
{
	return json_pack("{s:s, s:s, s:o, s:I}", "t", "sdef", "name", s->name, "doc",
			 static_role_to_json(s->def), "at", (json_int_t)s->created);
}

json_t *es_pw_rec(const char *t, const char *name, const struct secret *pw, int64_t at)
{
	json_t *rec =
		json_pack("{s:s, s:s, s:s}", "t", t, "name", name, "password", secret_str(pw));

	if (rec && at)
		json_object_set_new(rec, "at", json_integer(at));
	return rec;
}

int engine_static_dump(void *ctx, journal_emit_fn *emit, void *ectx)
{
	struct engine *e = ctx;
	int r = 0;

	pthread_mutex_lock(&e->smu);
	for (struct estatic *s = e->statics; s && r == 0; s = s->next_s) {
		json_t *recs[3] = { es_def_rec(s), NULL, NULL };

		if (s->password)
			recs[1] = es_pw_rec("spw", s->name, s->password, s->last);
		if (s->pending)
			recs[2] = es_pw_rec("spend", s->name, s->pending, 0);
		for (int i = 0; i < 3; i++) {
			if (r == 0 && (i == 0 || (i == 1 && s->password) || (i == 2 && s->pending)))
				r = recs[i] ? emit(ectx, recs[i]) : -ENOMEM;
			json_decref(recs[i]);
		}
	}
	pthread_mutex_unlock(&e->smu);
	return r ? r : engine_root_dump(e, emit, ectx);
}

json_t *es_state_locked(const struct estatic *s)
{
	json_t *o = json_object();

	if (!o || !s)
		return o;
	json_object_set_new(o, "doc", static_role_to_json(s->def));
	json_object_set_new(o, "at", json_integer(s->created));
	if (s->password) {
		json_object_set_new(o, "password", json_string(secret_str(s->password)));
		json_object_set_new(o, "last", json_integer(s->last));
	}
	if (s->pending)
		json_object_set_new(o, "pending", json_string(secret_str(s->pending)));
	return o;
}

int es_from_state(const char *name, json_t *o, int64_t now, struct estatic **out, char *errbuf)
{
	struct parse_error pe = { 0 };
	struct estatic *s = calloc(1, sizeof(*s));
	json_t *pw = json_object_get(o, "password"), *pend = json_object_get(o, "pending");

	*out = NULL;
	if (!s || !(s->name = strdup(name))) {
		snprintf(errbuf, ENGINE_ERRLEN, "out of memory");
		es_free(s);
		return -ENOMEM;
	}
	if (static_role_from_params(name, json_object_get(o, "doc"), PARAMS_FINAL | PARAMS_RESTORE,
				    &s->def, &pe) != 0) {
		snprintf(errbuf, ENGINE_ERRLEN, "%s", pe.text);
		es_free(s);
		return -EINVAL;
	}
	s->created = json_integer_value(json_object_get(o, "at"));
	s->last = json_integer_value(json_object_get(o, "last"));
	if (json_is_string(pw))
		s->password = secret_new(json_string_value(pw), json_string_length(pw));
	if (json_is_string(pend))
		s->pending = secret_new(json_string_value(pend), json_string_length(pend));
	/* A rotation a crash interrupted is resolved at once. */
	s->next = s->pending ? now : es_next(s, now);
	*out = s;
	return 0;
}

static void es_hold(void *ctx, bool on)
{
	struct engine *e = ctx;

	if (on)
		pthread_mutex_lock(&e->swmu);
	else
		pthread_mutex_unlock(&e->swmu);
}

void engine_static_restore(struct engine *e)
{
	json_t *x = journal_take_extra(e->journal), *o, *v;
	int64_t now = engine_wall();
	const char *name;

	journal_set_extra(
		e->journal,
		&(struct journal_extra){ .hold = es_hold, .dump = engine_static_dump, .ctx = e });
	json_object_foreach(json_object_get(x, "root"), name, v)
		engine_root_restore(e, name, json_integer_value(v));
	json_object_foreach(json_object_get(x, "static"), name, o)
	{
		char err[ENGINE_ERRLEN];
		struct estatic *s;

		if (!json_object_get(o, "doc"))
			continue; /* records of a rotation that ended after its rm */
		if (es_from_state(name, o, now, &s, err) != 0) {
			log_err("static-roles/%s: cannot be restored: %s", name, err);
			continue;
		}
		s->next_s = e->statics;
		e->statics = s;
		log_info("static-roles/%s: restored%s", name,
			 s->pending ? ", with a rotation to resolve" : "");
	}
	json_decref(x);
}

/* --- the rotation job ---------------------------------------------------------- */

/*
 * The fleet's copy of rec's static role: its state with rec applied, or a
 * tombstone for sdel (swmu held).
 */
static int es_fleet_put(struct engine *e, const json_t *rec)
{
	const char *t = json_string_value(json_object_get(rec, "t"));
	const char *name = json_string_value(json_object_get(rec, "name"));
	json_t *o = NULL;
	int r;

	if (!t || !name)
		return -EINVAL;
	if (strcmp(t, "sdel") != 0) {
		pthread_mutex_lock(&e->smu);
		o = es_state_locked(es_find_locked(e, name));
		pthread_mutex_unlock(&e->smu);
		if (!o)
			return -ENOMEM;
		static_state_fold(o, t, rec);
	}
	r = fleet_def_write(e->fleet, "static", name, o);
	json_decref(o);
	return r;
}

/*
 * Under swmu: record rec (taken) durably, then apply. With a fleet, the
 * control store first (every node sees it, a survivor resolves a pending
 * rotation), unless rec applies what another node wrote.
 */
int es_record(struct engine *e, json_t *rec)
{
	int r;

	if (!rec)
		return -ENOMEM;
	if (e->fleet && !fleet_applying() && (r = es_fleet_put(e, rec)) != 0) {
		json_decref(rec);
		return -EIO;
	}
	return journal_put(e->journal, rec, true);
}

void es_fire_polls(struct engine *e, const char *name)
{
	struct espoll *fire = NULL, **pp, *p;

	pthread_mutex_lock(&e->smu);
	for (pp = &e->spolls; (p = *pp);) {
		if (strcmp(p->name, name) != 0) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		p->next = fire;
		fire = p;
	}
	pthread_mutex_unlock(&e->smu);
	for (p = fire; p; p = fire) {
		fire = p->next;
		if (e->poll_fn)
			e->poll_fn(p->ph);
		free(p->name);
		free(p);
	}
}

/* pw (taken) is now name's password, set at now. */
static int es_adopt(struct engine *e, const char *name, struct secret *pw, int64_t now)
{
	struct estatic *s;
	int r;

	pthread_mutex_lock(&e->swmu);
	if ((r = es_record(e, es_pw_rec("spw", name, pw, now))) == 0) {
		pthread_mutex_lock(&e->smu);
		if ((s = es_find_locked(e, name))) {
			secret_free(s->password);
			s->password = pw;
			pw = NULL; /* transferred */
			secret_free(s->pending);
			s->pending = NULL;
			s->last = now;
			s->next = es_next(s, now);
			s->gen++;
			s->attempts = 0;
			s->err[0] = '\0';
		}
		pthread_mutex_unlock(&e->smu);
	}
	pthread_mutex_unlock(&e->swmu);
	secret_free(pw);
	if (r == 0)
		es_fire_polls(e, name);
	return r;
}

void engine_record_err(const struct engine *e, const char *what, char *errbuf)
{
	snprintf(errbuf, ENGINE_ERRLEN, "cannot record %s in the state directory%s", what,
		 e->fleet ? " and the fleet's control store" : "");
}

int es_lock(struct engine *e, const char *name, void **lock, char *errbuf)
{
	char key[300];

	snprintf(key, sizeof(key), "static/%s", name);
	return fleet_rotate_begin(e->fleet, key, lock, errbuf) == 0 ? 0 : -EIO;
}

/* The pending rotation did not happen. */
static int es_clear(struct engine *e, const char *name)
{
	struct estatic *s;
	int r;

	pthread_mutex_lock(&e->swmu);
	if ((r = es_record(e, json_pack("{s:s, s:s}", "t", "sclear", "name", name))) == 0) {
		pthread_mutex_lock(&e->smu);
		if ((s = es_find_locked(e, name))) {
			secret_free(s->pending);
			s->pending = NULL;
		}
		pthread_mutex_unlock(&e->smu);
	}
	pthread_mutex_unlock(&e->swmu);
	return r;
}

/*
 * Which password does PostgreSQL accept: pending (borrowed) or cur (may be
 * NULL)? 0 once known (kept or cleared), -EIO while it cannot tell.
 */
static int es_resolve(struct engine *e, const char *name, const struct dbconf *c, const char *user,
		      const struct secret *pending, const struct secret *cur, char *errbuf)
{
	int rp = conn_login_check(c, user, pending, errbuf), rc;

	if (rp == 0) {
		log_info("static-roles/%s: the pending password took effect", name);
		return es_adopt(e, name, secret_dup(pending), engine_wall()) == 0 ? 0 : -EIO;
	}
	rc = cur ? conn_login_check(c, user, cur, errbuf) : -EINVAL;
	/* The server refused the pending one: it was never set (a NOLOGIN user is rotated again). */
	if (rc == 0 || (rp == -EINVAL && rc == -EINVAL)) {
		log_info("static-roles/%s: the pending rotation did not happen", name);
		return es_clear(e, name) == 0 ? 0 : -EIO;
	}
	snprintf(errbuf, ENGINE_ERRLEN, "%s",
		 "cannot tell yet which password PostgreSQL accepts for the user");
	return -EIO;
}

/* Record pw (borrowed) as pending, then set it. 0: it is the user's password now. */
static int es_set(struct engine *e, const char *name, struct conn_pool *pool,
		  const struct dbconf *c, const struct static_role *def, const struct secret *pw,
		  const struct secret *cur, char *errbuf)
{
	struct estatic *s;
	int r;

	crash_point("static-before-intent");
	pthread_mutex_lock(&e->swmu);
	if ((r = es_record(e, es_pw_rec("spend", name, pw, 0))) == 0) {
		pthread_mutex_lock(&e->smu);
		if ((s = es_find_locked(e, name))) {
			secret_free(s->pending);
			s->pending = secret_dup(pw);
		}
		pthread_mutex_unlock(&e->smu);
	}
	pthread_mutex_unlock(&e->swmu);
	if (r != 0) {
		engine_record_err(e, "the rotation", errbuf);
		return -EIO;
	}
	crash_point("static-after-intent");
	r = conn_static_set_password(pool, def->username, def->rotation, def->n_rotation, pw,
				     errbuf);
	if (r != 0) {
		char rbuf[ENGINE_ERRLEN];

		/* It may or may not have happened: ask PostgreSQL. */
		if (es_resolve(e, name, c, def->username, pw, cur, rbuf) == 0) {
			pthread_mutex_lock(&e->smu);
			s = es_find_locked(e, name);
			r = s && s->password && secret_eq(s->password, pw) ? 0 : r;
			pthread_mutex_unlock(&e->smu);
		}
		return r == 0 ? 0 : r == -EINVAL ? -EINVAL : -EIO;
	}
	crash_point("static-after-alter");
	if (es_adopt(e, name, secret_dup(pw), engine_wall()) != 0)
		log_err("static-roles/%s: rotated, but the new password is only in the rotation "
			"record",
			name);
	return 0;
}

/* One look at name: resolve a pending rotation, then rotate when asked or due. */
static int es_rotate_once(struct engine *e, const char *name, char *errbuf)
{
	struct secret *pending = NULL, *cur = NULL, *pw = NULL;
	struct static_role *def = NULL;
	struct conn_pool *pool = NULL;
	struct dbconf *c = NULL;
	bool force = false, due = false;
	struct estatic *s;
	void *lock = NULL;
	int r = -ENOENT;

	/*
	 * One rotation of a static role at a time in the whole fleet, from
	 * its latest state: a node that rotated it just now (or a schedule
	 * every node follows) leaves it not due any more.
	 */
	if (e->fleet && es_lock(e, name, &lock, errbuf) != 0) {
		r = -EIO;
		goto out;
	}
	pthread_mutex_lock(&e->smu);
	if ((s = es_find_locked(e, name))) {
		def = static_role_ref(s->def);
		pending = secret_dup(s->pending);
		cur = secret_dup(s->password);
		force = s->want > s->done && !s->check_only;
	}
	pthread_mutex_unlock(&e->smu);
	if (!def) {
		snprintf(errbuf, ENGINE_ERRLEN, "no such static role");
		goto out;
	}
	if (!(pool = registry_pool(e->reg, def->db_name, 0, NULL))) {
		snprintf(errbuf, ENGINE_ERRLEN, "connection \"%s\" is not configured",
			 def->db_name);
		r = -EINVAL;
		goto out;
	}
	c = conn_pool_conf(pool);
	if ((r = conn_static_exists(pool, def->username, errbuf)) != 0) {
		if (r == -ENOENT)
			snprintf(errbuf, ENGINE_ERRLEN, "PostgreSQL has no role \"%s\"",
				 def->username);
		r = r == -ENOENT ? -EINVAL : -EIO;
		goto out;
	}
	if (pending && (r = es_resolve(e, name, c, def->username, pending, cur, errbuf)) != 0)
		goto out;
	pthread_mutex_lock(&e->smu);
	if ((s = es_find_locked(e, name))) {
		due = engine_wall() >= s->next;
		secret_free(cur);
		cur = secret_dup(s->password);
	}
	pthread_mutex_unlock(&e->smu);
	r = 0;
	if (!s || (!force && !due))
		goto out;
	r = -ENOMEM;
	snprintf(errbuf, ENGINE_ERRLEN, "out of memory");
	if ((pw = secret_password(c->password_length)))
		r = es_set(e, name, pool, c, def, pw, cur, errbuf);
	if (r == 0)
		log_info("static-roles/%s: password of %s rotated", name, def->username);
out:
	if (lock)
		fleet_rotate_end(e->fleet, lock);
	secret_free(pw);
	secret_free(pending);
	secret_free(cur);
	dbconf_unref(c);
	conn_pool_unref(pool);
	static_role_unref(def);
	return r;
}

/* The job's end: answer the tickets it served; retry later on failure. */
static void es_end(struct engine *e, const char *name, uint64_t ticket, int r, const char *err)
{
	bool again = false;
	struct estatic *s;

	pthread_mutex_lock(&e->smu);
	if ((s = es_find_locked(e, name))) {
		s->busy = false;
		s->check_only = false;
		if (r != 0) {
			s->attempts++;
			s->next = engine_wall() + engine_backoff_ms(s->attempts);
			snprintf(s->err, sizeof(s->err), "%s", err);
			log_warn("static-roles/%s: rotation failed (attempt %d): %s", name,
				 s->attempts, err);
		}
		if (ticket > s->done) {
			s->done = ticket;
			s->result = r;
		}
		again = s->want > s->done;
	}
	pthread_cond_broadcast(&e->scv);
	pthread_mutex_unlock(&e->smu);
	if (again && es_submit(e, name) != 0)
		log_warn("static-roles/%s: cannot queue the rotation", name);
	es_wake(e);
}

static void es_run(void *arg)
{
	struct es_job *j = arg;
	char errbuf[ENGINE_ERRLEN] = "";
	uint64_t ticket = 0;
	struct estatic *s;
	int r;

	pthread_mutex_lock(&j->e->smu);
	if ((s = es_find_locked(j->e, j->name)))
		ticket = s->want;
	pthread_mutex_unlock(&j->e->smu);
	r = es_rotate_once(j->e, j->name, errbuf);
	es_end(j->e, j->name, ticket, r, errbuf);
	free(j->name);
	free(j);
}

static void es_drop(void *arg, int why)
{
	struct es_job *j = arg;
	struct estatic *s;

	pthread_mutex_lock(&j->e->smu);
	if ((s = es_find_locked(j->e, j->name))) {
		s->busy = false;
		s->done = s->want;
		s->result = why;
	}
	pthread_cond_broadcast(&j->e->scv);
	pthread_mutex_unlock(&j->e->smu);
	free(j->name);
	free(j);
}

/* Queue a look at name on its connection's lane, unless one is queued or running. */
int es_submit(struct engine *e, const char *name)
{
	struct es_job *j = calloc(1, sizeof(*j));
	struct estatic *s;
	bool go = false;
	int r;

	if (!j || !(j->name = strdup(name))) {
		free(j);
		return -ENOMEM;
	}
	j->e = e;
	pthread_mutex_lock(&e->smu);
	if ((s = es_find_locked(e, name)) && !s->busy) {
		s->busy = go = true;
		snprintf(j->db, sizeof(j->db), "%s", s->def->db_name);
	}
	pthread_mutex_unlock(&e->smu);
	if (!go) {
		free(j->name);
		free(j);
		return 0;
	}
	r = lanes_submit(leasesvc_lanes(e->svc), j->db, 0, LANES_URGENT, 0, es_run, es_drop, j);
	if (r != 0) {
		es_drop(j, r);
		return r;
	}
	return 0;
}

/* Ask for a rotation (check_only: only look) of name and wait for its answer. */
int es_request(struct engine *e, const char *name, bool check_only, char *errbuf)
{
	struct timespec until;
	struct estatic *s;
	uint64_t t = 0;
	int r;

	pthread_mutex_lock(&e->smu);
	if ((s = es_find_locked(e, name))) {
		t = s->want = ++e->sseq;
		s->check_only = check_only;
	}
	pthread_mutex_unlock(&e->smu);
	if (!s)
		return -ENOENT;
	if ((r = es_submit(e, name)) != 0) {
		snprintf(errbuf, ENGINE_ERRLEN, "cannot queue the rotation");
		return -EIO;
	}
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ENGINE_ROTATE_WAIT_MS / 1000;
	pthread_mutex_lock(&e->smu);
	while ((s = es_find_locked(e, name)) && s->done < t)
		if (pthread_cond_timedwait(&e->scv, &e->smu, &until) != 0)
			break;
	r = !s ? -ENOENT : s->done < t ? -ETIMEDOUT : s->result;
	if (r != 0)
		snprintf(errbuf, ENGINE_ERRLEN, "%s",
			 r == -ETIMEDOUT  ? "no answer yet: the rotation goes on in the background"
			 : s && s->err[0] ? s->err
					  : "cannot rotate now");
	pthread_mutex_unlock(&e->smu);
	return r == -ETIMEDOUT || r == -ESHUTDOWN ? -EIO : r;
}

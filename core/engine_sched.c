/* SPDX-License-Identifier: MIT */
/*
 * engine_sched.c - scheduled root rotation (config/NAME's rotation_period
 * or rotation_schedule, unless disable_automated_rotation) and reset/NAME.
 *
 * The time of each root rotation (scheduled or rotate-root/) is recorded
 * (rootrot), so a restart keeps the period. A connection never rotated
 * counts from when credfs first saw its schedule. Rotations run on the
 * connection's lane (registry_rotate_root, write-ahead); a failure is
 * retried with backoff and shown in the read-back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "engine_i.h"
#include "log.h"
#include "timefmt.h"

struct eroot {
	char *name;
	int64_t last; /* wall ms of the last rotation, 0: none seen */
	int64_t seen; /* wall ms: when its schedule was first seen */
	int64_t retry; /* wall ms: no attempt before (after a failure) */
	int64_t next; /* wall ms: as last computed, for the read-back */
	int attempts;
	bool busy;
	char err[ENGINE_ERRLEN];
	struct eroot *next_r;
};

struct er_job {
	struct engine *e;
	char name[256];
};

/* name's entry (smu held), made when missing and make. */
static struct eroot *er_find_locked(struct engine *e, const char *name, bool make)
{
	struct eroot *r;

	for (r = e->roots; r; r = r->next_r)
		if (!strcmp(r->name, name))
			return r;
	if (!make || !(r = calloc(1, sizeof(*r))))
		return NULL;
	if (!(r->name = strdup(name))) {
		free(r);
		return NULL;
	}
	r->seen = engine_wall();
	r->next_r = e->roots;
	e->roots = r;
	return r;
}

void engine_roots_free(struct engine *e)
{
	for (struct eroot *r = e->roots, *n; r; r = n) {
		n = r->next_r;
		free(r->name);
		free(r);
	}
	e->roots = NULL;
}

void engine_root_restore(struct engine *e, const char *name, int64_t at)
{
	struct eroot *r;

	pthread_mutex_lock(&e->smu);
	if ((r = er_find_locked(e, name, true)))
		r->last = at;
	pthread_mutex_unlock(&e->smu);
}

int engine_root_dump(struct engine *e, journal_emit_fn *emit, void *ectx)
{
	int rc = 0;

	pthread_mutex_lock(&e->smu);
	for (struct eroot *r = e->roots; r && rc == 0; r = r->next_r) {
		json_t *rec;

		if (!r->last)
			continue;
		rec = json_pack("{s:s, s:s, s:I}", "t", "rootrot", "name", r->name, "at",
				(json_int_t)r->last);
		rc = rec ? emit(ectx, rec) : -ENOMEM;
		json_decref(rec);
	}
	pthread_mutex_unlock(&e->smu);
	return rc;
}

/* name's root password was rotated at wall ms at: recorded (and, unless applying, told to the fleet). */
static int er_rotated_at(struct engine *e, const char *name, int64_t at)
{
	json_t *doc = NULL;
	struct eroot *r;
	int rc;

	pthread_mutex_lock(&e->swmu);
	rc = journal_put(
		e->journal,
		json_pack("{s:s, s:s, s:I}", "t", "rootrot", "name", name, "at", (json_int_t)at),
		false);
	if (rc != 0)
		log_warn("config/%s: the time of the root rotation is not recorded", name);
	pthread_mutex_lock(&e->smu);
	if ((r = er_find_locked(e, name, true)) && at > r->last) {
		r->last = at;
		r->attempts = 0;
		r->retry = 0;
		r->err[0] = '\0';
	}
	pthread_mutex_unlock(&e->smu);
	pthread_mutex_unlock(&e->swmu);
	/* Every node's schedule counts from it: one rotation per period in the fleet. */
	if (e->fleet && !fleet_applying() &&
	    (!(doc = json_pack("{s:I}", "at", (json_int_t)at)) ||
	     fleet_def_write(e->fleet, "rootrot", name, doc) != 0))
		log_warn("config/%s: the time of the root rotation is not in the control store",
			 name);
	json_decref(doc);
	return rc;
}

void engine_root_rotated(struct engine *e, const char *name)
{
	(void)er_rotated_at(e, name, engine_wall());
}

int engine_root_apply(struct engine *e, const char *name, int64_t at, char *errbuf)
{
	if (at <= 0) {
		snprintf(errbuf, ENGINE_ERRLEN, "no rotation time");
		return -EINVAL;
	}
	if (er_rotated_at(e, name, at) != 0) {
		snprintf(errbuf, ENGINE_ERRLEN, "cannot record it in the state directory");
		return -EIO;
	}
	return 0;
}

void engine_root_collect(struct engine *e, json_t *all)
{
	char key[300];

	pthread_mutex_lock(&e->smu);
	for (struct eroot *r = e->roots; all && r; r = r->next_r) {
		if (!r->last)
			continue;
		snprintf(key, sizeof(key), "rootrot/%s", r->name);
		json_object_set_new(all, key, json_pack("{s:I}", "at", (json_int_t)r->last));
	}
	pthread_mutex_unlock(&e->smu);
}

/* When c's root password is due (wall ms), given its entry (smu held). */
static int64_t er_due_locked(const struct eroot *r, const struct dbconf *c, int64_t now)
{
	int64_t t;

	if (!rsched_is_set(&c->rotation) || c->no_auto_rotation)
		return INT64_MAX;
	t = rsched_next(&c->rotation, (r->last ? r->last : r->seen) / 1000, now / 1000);
	t = t == INT64_MAX ? t : t * 1000;
	return r->retry > t ? r->retry : t;
}

/* Whether name's root rotation is still due (another fleet node may have just done it). */
static bool er_still_due(struct engine *e, const char *name)
{
	struct dbconf *c = registry_conf(e->reg, name);
	int64_t now = engine_wall();
	struct eroot *r;
	bool due;

	pthread_mutex_lock(&e->smu);
	due = c && (r = er_find_locked(e, name, false)) && now >= er_due_locked(r, c, now);
	pthread_mutex_unlock(&e->smu);
	dbconf_unref(c);
	return due;
}

static void er_run(void *arg)
{
	struct er_job *j = arg;
	char errbuf[REGISTRY_ERRLEN] = "";
	struct eroot *r;
	bool skipped = false;
	void *lock = NULL;
	int rc = 0;

	/* In a fleet: one rotation at a time, and only if no node did it meanwhile. */
	if (j->e->fleet && fleet_rotate_begin(j->e->fleet, j->name, &lock, errbuf) != 0)
		rc = -EIO;
	if (rc == 0 && lock && (skipped = !er_still_due(j->e, j->name)))
		log_info("config/%s: the scheduled root rotation was done by another node",
			 j->name);
	else if (rc == 0 && (rc = registry_rotate_root(j->e->reg, j->name, errbuf)) == 0)
		log_info("config/%s: scheduled root rotation done", j->name);
	/* Its time in the store before the lock goes: the next node to take it finds it done. */
	if (rc == 0 && !skipped)
		engine_root_rotated(j->e, j->name);
	if (lock)
		fleet_rotate_end(j->e->fleet, lock);
	pthread_mutex_lock(&j->e->smu);
	if ((r = er_find_locked(j->e, j->name, false))) {
		r->busy = false;
		if (rc != 0) {
			r->attempts++;
			r->retry = engine_wall() + engine_backoff_ms(r->attempts);
			snprintf(r->err, sizeof(r->err), "%s", errbuf);
			log_warn("config/%s: scheduled root rotation failed (attempt %d): %s",
				 j->name, r->attempts, errbuf);
		}
	}
	pthread_mutex_unlock(&j->e->smu);
	free(j);
}

static void er_drop(void *arg, int why)
{
	struct er_job *j = arg;
	struct eroot *r;

	(void)why;
	pthread_mutex_lock(&j->e->smu);
	if ((r = er_find_locked(j->e, j->name, false)))
		r->busy = false;
	pthread_mutex_unlock(&j->e->smu);
	free(j);
}

void engine_root_tick(struct engine *e, int64_t now)
{
	json_t *names = registry_names(e->reg, REGISTRY_CONN), *v;
	size_t i;

	json_array_foreach(names, i, v)
	{
		const char *name = json_string_value(v);
		struct dbconf *c = registry_conf(e->reg, name);
		struct er_job *j = NULL;
		struct eroot *r;

		if (!c)
			continue;
		pthread_mutex_lock(&e->smu);
		if ((rsched_is_set(&c->rotation) && (r = er_find_locked(e, name, true)))) {
			r->next = er_due_locked(r, c, now);
			if (!r->busy && now >= r->next && (j = calloc(1, sizeof(*j)))) {
				r->busy = true;
				j->e = e;
				snprintf(j->name, sizeof(j->name), "%s", name);
			}
		}
		pthread_mutex_unlock(&e->smu);
		dbconf_unref(c);
		if (j && lanes_submit(leasesvc_lanes(e->svc), j->name, 0, LANES_URGENT, 0, er_run,
				      er_drop, j) != 0)
			er_drop(j, -EAGAIN);
	}
	json_decref(names);
}

static json_t *er_time(int64_t ms)
{
	char buf[TIMEFMT_LEN];

	if (!ms || ms == INT64_MAX)
		return json_null();
	timefmt_rfc3339(ms, buf);
	return json_string(buf);
}

void engine_root_json(struct engine *e, const struct dbconf *c, json_t *j)
{
	int64_t now = engine_wall(), next = INT64_MAX, last = 0;
	struct eroot *r;

	pthread_mutex_lock(&e->smu);
	/* A schedule not looked at yet counts from now. */
	if ((r = er_find_locked(e, c->name, rsched_is_set(&c->rotation)))) {
		last = r->last;
		next = er_due_locked(r, c, now);
		json_object_set_new(j, "last_rotation_error",
				    r->err[0] ? json_string(r->err) : json_null());
	} else {
		json_object_set_new(j, "last_rotation_error", json_null());
	}
	pthread_mutex_unlock(&e->smu);
	json_object_set_new(j, "last_rotation", er_time(last));
	json_object_set_new(j, "next_rotation", er_time(next));
}

/* --- reset/ ------------------------------------------------------------------------ */

int engine_reset(struct engine *e, const char *name, uid_t uid, char *errbuf)
{
	struct conn_pool *p = registry_pool(e->reg, name, 0, NULL);
	struct dbconf *c = p ? conn_pool_conf(p) : NULL;
	char path[300];
	int r = -ENOENT, n = 0;

	snprintf(path, sizeof(path), "reset/%s", name);
	if (p && (n = conn_pool_reset(p)) < 0)
		r = n;
	else if (p)
		r = conn_verify(c, errbuf);
	if (r == 0) {
		log_info("%s: %d idle connection(s) closed, connected again", path, n);
		engine_audit(e, "reset", path, uid, NULL, NULL, NULL, NULL);
	} else if (r != -ENOENT) {
		if (r == -ENOMEM)
			snprintf(errbuf, ENGINE_ERRLEN, "out of memory");
		engine_note_error(e, uid, path, errbuf);
		engine_audit(e, "reset", path, uid, NULL, NULL, NULL, errbuf);
		r = r == -ENOMEM ? r : -EIO;
	}
	dbconf_unref(c);
	conn_pool_unref(p);
	return r;
}

/* SPDX-License-Identifier: MIT */
/*
 * engine_static_api.c - what fs/ calls for static-roles/, static-creds/
 * and rotate-role/, and the timer's look at static schedules.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_static_i.h"
#include "log.h"
#include "timefmt.h"

#define ES_TICK_MS 1000 /* schedules are looked at at least this often */

int64_t engine_static_tick(struct engine *e)
{
	int64_t mono = leasesvc_now(), now, min = INT64_MAX, wait;
	json_t *due = json_array();
	size_t i;
	json_t *v;

	if (mono < e->stick_at || !due) {
		json_decref(due);
		return e->stick_at - mono;
	}
	now = engine_wall();
	pthread_mutex_lock(&e->smu);
	for (struct estatic *s = e->statics; s; s = s->next_s) {
		if (!s->busy && now >= s->next)
			json_array_append_new(due, json_string(s->name));
		else if (!s->busy && s->next < min)
			min = s->next;
	}
	pthread_mutex_unlock(&e->smu);
	json_array_foreach(due, i, v) if (es_submit(e, json_string_value(v)) != 0)
		log_warn("static-roles/%s: cannot queue the rotation", json_string_value(v));
	json_decref(due);
	engine_root_tick(e, now);
	wait = min == INT64_MAX || min - now > ES_TICK_MS ? ES_TICK_MS : min - now;
	wait = wait < 0 ? 0 : wait;
	e->stick_at = mono + wait;
	return wait;
}

/* --- static-roles/ ---------------------------------------------------------------- */

/* Replace or add name's definition (def taken); *created says whether it is new. */
static int es_put(struct engine *e, struct static_role *def, bool *created, char *errbuf)
{
	struct estatic *s, tmp = { 0 };
	int r = 0;

	pthread_mutex_lock(&e->swmu);
	pthread_mutex_lock(&e->smu);
	s = es_find_locked(e, def->name);
	pthread_mutex_unlock(&e->smu);
	*created = !s;
	if (s && strcmp(s->def->username, def->username) != 0) {
		snprintf(errbuf, ENGINE_ERRLEN, "username cannot be changed (it is \"%s\")",
			 s->def->username);
		r = -EINVAL;
		goto out;
	}
	tmp.name = def->name;
	tmp.def = def;
	tmp.created = s ? s->created : engine_wall();
	if (es_record(e, es_def_rec(&tmp)) != 0) {
		engine_record_err(e, "the change", errbuf);
		r = -EIO;
		goto out;
	}
	if (!s && (!(s = calloc(1, sizeof(*s))) || !(s->name = strdup(def->name)))) {
		free(s);
		snprintf(errbuf, ENGINE_ERRLEN, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	pthread_mutex_lock(&e->smu);
	static_role_unref(s->def);
	s->def = def;
	def = NULL; /* transferred */
	s->created = tmp.created;
	/* A new one is looked at by its creator's request (es_request), not by the timer. */
	s->next = *created ? INT64_MAX : es_next(s, engine_wall());
	if (*created) {
		s->next_s = e->statics;
		e->statics = s;
	}
	pthread_mutex_unlock(&e->smu);
out:
	pthread_mutex_unlock(&e->swmu);
	static_role_unref(def);
	return r;
}

int es_remove(struct engine *e, const char *name)
{
	struct estatic **pp, *s = NULL;
	int r = -ENOENT;

	pthread_mutex_lock(&e->swmu);
	pthread_mutex_lock(&e->smu);
	for (pp = &e->statics; *pp && strcmp((*pp)->name, name) != 0; pp = &(*pp)->next_s)
		;
	pthread_mutex_unlock(&e->smu);
	if (*pp && (r = es_record(e, json_pack("{s:s, s:s}", "t", "sdel", "name", name))) == 0) {
		pthread_mutex_lock(&e->smu);
		s = *pp;
		*pp = s->next_s;
		pthread_cond_broadcast(&e->scv);
		pthread_mutex_unlock(&e->smu);
	}
	pthread_mutex_unlock(&e->swmu);
	es_free(s);
	return r;
}

int engine_static_put(struct engine *e, struct static_role *def, char *errbuf)
{
	char name[256];
	bool created, pending;
	struct estatic *s;
	void *lock = NULL;
	int r;

	snprintf(name, sizeof(name), "%s", def->name);
	if (!registry_exists(e->reg, REGISTRY_CONN, def->db_name)) {
		snprintf(errbuf, ENGINE_ERRLEN, "connection \"%s\" is not configured",
			 def->db_name);
		static_role_unref(def);
		return -EINVAL;
	}
	if (registry_exists(e->reg, REGISTRY_ROLE, name)) {
		snprintf(errbuf, ENGINE_ERRLEN, "%s",
			 "roles/ has that name: role and static role names must be unique");
		static_role_unref(def);
		return -EINVAL;
	}
	/*
	 * In a fleet, under the static role's lock from its latest state: the
	 * store holds the whole state, so a write racing another node's
	 * rotation would undo one or the other.
	 */
	if (e->fleet && es_lock(e, name, &lock, errbuf) != 0) {
		static_role_unref(def);
		return -EIO;
	}
	r = es_put(e, def, &created, errbuf);
	if (lock)
		fleet_rotate_end(e->fleet, lock);
	if (r != 0 || !created) {
		es_wake(e);
		return r;
	}
	/* New: check the user and (unless skip_import_rotation) rotate at once. */
	pthread_mutex_lock(&e->smu);
	s = es_find_locked(e, name);
	pthread_mutex_unlock(&e->smu);
	r = es_request(e, name, s && s->def->skip_import_rotation, errbuf);
	if (r != 0) {
		pthread_mutex_lock(&e->smu);
		pending = (s = es_find_locked(e, name)) && s->pending;
		pthread_mutex_unlock(&e->smu);
		/* Never forget a password the user may have now. */
		if (!pending && es_remove(e, name) != 0)
			log_warn("static-roles/%s: kept: its removal cannot be recorded", name);
		return r == -EINVAL || r == -ENOENT ? -EINVAL : -EIO;
	}
	pthread_mutex_lock(&e->smu);
	if ((s = es_find_locked(e, name)) && s->next == INT64_MAX)
		s->next = es_next(s, engine_wall());
	pthread_mutex_unlock(&e->smu);
	es_wake(e);
	return 0;
}

int engine_static_delete(struct engine *e, const char *name)
{
	char errbuf[ENGINE_ERRLEN];
	void *lock = NULL;
	int r;

	if (e->fleet && es_lock(e, name, &lock, errbuf) != 0) {
		log_warn("static-roles/%s: not removed: %s", name, errbuf);
		return -EIO;
	}
	r = es_remove(e, name);
	if (lock)
		fleet_rotate_end(e->fleet, lock);

	if (r == 0)
		log_info("static-roles/%s: no longer managed (the user stays)", name);
	return r == -ENOENT ? r : r ? -EIO : 0;
}

#define ES_PENDING_WAIT_MS 5000 /* another node's pending rotation is looked at after */

int engine_static_apply(struct engine *e, const char *name, json_t *o, char *errbuf)
{
	struct estatic *n = NULL, *s;
	bool changed = false;
	int r;

	if (!o) {
		if ((r = es_remove(e, name)) == 0)
			log_info("static-roles/%s: removed by another node", name);
		if (r == -EIO)
			snprintf(errbuf, ENGINE_ERRLEN, "cannot record the removal");
		return r == -ENOENT ? 0 : r;
	}
	if ((r = es_from_state(name, o, engine_wall(), &n, errbuf)) != 0)
		return r;
	/*
	 * Its node is rotating it (or died doing so): the rotation lock tells
	 * which, so this node looks once the rotation had time to end.
	 */
	if (n->pending)
		n->next = engine_wall() + ES_PENDING_WAIT_MS;
	pthread_mutex_lock(&e->swmu);
	r = es_record(e, es_def_rec(n));
	if (r == 0 && n->password)
		r = es_record(e, es_pw_rec("spw", name, n->password, n->last));
	if (r == 0)
		r = es_record(e, n->pending ? es_pw_rec("spend", name, n->pending, 0)
					    : json_pack("{s:s, s:s}", "t", "sclear", "name", name));
	if (r != 0) {
		snprintf(errbuf, ENGINE_ERRLEN, "cannot record it in the state directory");
		goto out;
	}
	pthread_mutex_lock(&e->smu);
	if ((s = es_find_locked(e, name))) {
		static_role_unref(s->def);
		s->def = n->def;
		n->def = NULL;
		s->created = n->created;
		if (n->password && (!s->password || !secret_eq(s->password, n->password))) {
			secret_free(s->password);
			s->password = n->password;
			n->password = NULL;
			s->gen++;
			s->attempts = 0;
			s->err[0] = '\0';
			changed = true;
		}
		s->last = n->last ? n->last : s->last;
		secret_free(s->pending);
		s->pending = n->pending;
		n->pending = NULL;
		s->next = n->next;
	} else {
		n->next_s = e->statics;
		e->statics = n;
		n = NULL; /* transferred */
	}
	pthread_cond_broadcast(&e->scv);
	pthread_mutex_unlock(&e->smu);
out:
	pthread_mutex_unlock(&e->swmu);
	es_free(n);
	if (changed)
		es_fire_polls(e, name);
	es_wake(e);
	return r;
}

json_t *engine_static_collect(struct engine *e)
{
	json_t *all = json_object();
	char key[300];

	pthread_mutex_lock(&e->smu);
	for (struct estatic *s = e->statics; all && s; s = s->next_s) {
		snprintf(key, sizeof(key), "static/%s", s->name);
		json_object_set_new(all, key, es_state_locked(s));
	}
	pthread_mutex_unlock(&e->smu);
	return all;
}

static json_t *es_time(int64_t ms)
{
	char buf[TIMEFMT_LEN];

	if (!ms || ms == INT64_MAX)
		return json_null();
	timefmt_rfc3339(ms, buf);
	return json_string(buf);
}

json_t *engine_static_json(struct engine *e, const char *name)
{
	struct estatic *s;
	json_t *j = NULL;

	pthread_mutex_lock(&e->smu);
	if ((s = es_find_locked(e, name)) && (j = static_role_to_json(s->def))) {
		json_object_set_new(j, "last_vault_rotation", es_time(s->last));
		json_object_set_new(j, "next_rotation", es_time(s->next));
		json_object_set_new(j, "last_error", s->err[0] ? json_string(s->err) : json_null());
	}
	pthread_mutex_unlock(&e->smu);
	return j;
}

json_t *engine_static_names(struct engine *e)
{
	json_t *a = json_array();

	pthread_mutex_lock(&e->smu);
	for (struct estatic *s = e->statics; a && s; s = s->next_s)
		json_array_append_new(a, json_string(s->name));
	pthread_mutex_unlock(&e->smu);
	return a;
}

struct static_role *engine_static_get(struct engine *e, const char *name)
{
	struct static_role *def = NULL;
	struct estatic *s;

	pthread_mutex_lock(&e->smu);
	if ((s = es_find_locked(e, name)))
		def = static_role_ref(s->def);
	pthread_mutex_unlock(&e->smu);
	return def;
}

/* --- static-creds/, rotate-role/ ------------------------------------------------------ */

int engine_static_creds(struct engine *e, const char *name, struct secret **body, uint64_t *gen)
{
	int64_t now = engine_wall(), ttl;
	struct estatic *s;
	json_t *j = NULL, *d;
	int r = -ENOENT;

	pthread_mutex_lock(&e->smu);
	if ((s = es_find_locked(e, name))) {
		r = -ENOMEM;
		ttl = s->next == INT64_MAX ? 0 : (s->next - now) / 1000;
		d = json_pack("{s:s, s:s?, s:o}", "username", s->def->username, "password",
			      s->password ? secret_str(s->password) : NULL, "last_vault_rotation",
			      es_time(s->last));
		if (d) {
			rsched_to_json(&s->def->sched, d);
			json_object_set_new(d, "ttl", json_integer(ttl > 0 ? ttl : 0));
		}
		j = json_pack("{s:s, s:s, s:b, s:i, s:o?}", "request_id", "", "lease_id", "",
			      "renewable", 0, "lease_duration", 0, "data", d);
		*gen = s->gen;
	}
	pthread_mutex_unlock(&e->smu);
	/* Straight into guarded memory: no other copy of the password. */
	if (j) {
		size_t n = json_dumpb(j, NULL, 0, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

		if (n && (*body = secret_alloc(n + 1))) {
			json_dumpb(j, secret_buf(*body), n, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
			secret_buf(*body)[n] = '\n';
			r = 0;
		}
	}
	json_decref(j);
	return r;
}

int engine_static_rotate_now(struct engine *e, const char *name, char *errbuf)
{
	int r = es_request(e, name, false, errbuf);

	return r == -EINVAL || r == -ENOENT ? r : r ? -EIO : 0;
}

bool engine_static_poll(struct engine *e, const char *name, uint64_t gen, void *key, void *ph,
			void **old)
{
	struct espoll *p = NULL;
	struct estatic *s;
	bool changed;

	*old = NULL;
	pthread_mutex_lock(&e->smu);
	s = es_find_locked(e, name);
	changed = !s || s->gen != gen;
	if (!changed && ph) {
		for (p = e->spolls; p && p->key != key; p = p->next)
			;
		if (p) {
			*old = p->ph;
			p->ph = ph;
		} else if ((p = calloc(1, sizeof(*p))) && (p->name = strdup(name))) {
			p->key = key;
			p->ph = ph;
			p->next = e->spolls;
			e->spolls = p;
		} else {
			free(p);
			*old = ph; /* cannot keep it: the caller frees it */
		}
	}
	pthread_mutex_unlock(&e->smu);
	return changed;
}

void *engine_static_poll_take(struct engine *e, void *key)
{
	struct espoll **pp, *p;
	void *ph = NULL;

	pthread_mutex_lock(&e->smu);
	for (pp = &e->spolls; (p = *pp) && p->key != key; pp = &p->next)
		;
	if (p) {
		*pp = p->next;
		ph = p->ph;
		free(p->name);
		free(p);
	}
	pthread_mutex_unlock(&e->smu);
	return ph;
}

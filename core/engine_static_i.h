/* SPDX-License-Identifier: MIT */
/*
 * engine_static_i.h - static roles' insides, shared by engine_static.c
 * (records, the rotation job) and engine_static_api.c (what fs/ calls,
 * the schedule's timer look).
 */
#ifndef CREDFS_ENGINE_STATIC_I_H
#define CREDFS_ENGINE_STATIC_I_H

#include "engine_i.h"
#include "static.h"

struct estatic {
	char *name;
	struct static_role *def; /* the current definition */
	struct secret *password; /* NULL: not known (skip_import_rotation, not rotated yet) */
	struct secret *pending; /* a rotation not known to have happened */
	int64_t created, last, next; /* wall ms; last 0: never rotated by credfs */
	uint64_t gen; /* password changes (static-creds/ pollers) */
	uint64_t want, done; /* rotation tickets asked for, answered */
	int result; /* of the rotation that answered done */
	int attempts; /* failures in a row */
	bool busy; /* a job is queued or running */
	bool check_only; /* the asked-for look only checks the user (skip_import_rotation) */
	char err[ENGINE_ERRLEN]; /* the last failure, "" after a success */
	struct estatic *next_s;
};

struct espoll {
	void *key;
	char *name;
	void *ph;
	struct espoll *next;
};

/* es_find_locked - static role name (smu held), or NULL. */
struct estatic *es_find_locked(struct engine *e, const char *name);
void es_free(struct estatic *s);
/* es_next - when s is due after its last rotation (or creation), at wall ms now. */
int64_t es_next(const struct estatic *s, int64_t now);
/* es_wake - make the timer look at schedules now. */
void es_wake(struct engine *e);
/* es_def_rec - the sdef record of s (new). */
json_t *es_def_rec(const struct estatic *s);
/* es_state_locked - s's state as journal_take_extra gives it (new; empty for NULL s; smu held). */
json_t *es_state_locked(const struct estatic *s);
/*
 * es_from_state - a new estatic from that state (borrowed), due at now
 * when a rotation is pending. 0, -EINVAL or -ENOMEM with errbuf.
 */
int es_from_state(const char *name, json_t *o, int64_t now, struct estatic **out, char *errbuf);
/* es_pw_rec - a password record (spw, spend) of name (new). */
json_t *es_pw_rec(const char *t, const char *name, const struct secret *pw, int64_t at);
/* es_remove - forget name (recorded): 0, -ENOENT, -EIO. */
int es_remove(struct engine *e, const char *name);
/*
 * es_lock - with a fleet: take name's fleet-wide lock (waits) with every
 * definition brought up to date; fleet_rotate_end releases. 0 or -EIO.
 */
int es_lock(struct engine *e, const char *name, void **lock, char *errbuf);
/* es_record - rec (taken) durably; swmu held. */
int es_record(struct engine *e, json_t *rec);
/* es_submit - queue a look at name on its lane unless one is queued or running. */
int es_submit(struct engine *e, const char *name);
/* es_request - ask for a rotation (check_only: a look) and wait for its answer. */
int es_request(struct engine *e, const char *name, bool check_only, char *errbuf);
/* es_fire_polls - wake the pollers of static-creds/name. */
void es_fire_polls(struct engine *e, const char *name);

#endif

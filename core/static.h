/* SPDX-License-Identifier: MIT */
/*
 * static.h - a static role definition (static-roles/NAME): an existing
 * PostgreSQL user whose password credfs owns and rotates (Vault's static
 * roles). Pure: parsing and read-back only; the rotation itself is
 * engine_static.c's.
 *
 * Immutable once built and shared by reference count, like role.h.
 */
#ifndef CREDFS_STATIC_H
#define CREDFS_STATIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "perr.h"
#include "rsched.h"

#define STATIC_MIN_PERIOD	5 /* s: Vault's minimum rotation_period (its queue tick) */
#define STATIC_DEFAULT_ROTATION "ALTER ROLE \"{{name}}\" WITH PASSWORD '{{password}}'"

struct static_role {
	int refs; /* atomic */
	char *name;
	char *db_name;
	char *username; /* the existing PostgreSQL user */
	struct rsched sched;
	char **rotation; /* statements, NULL-terminated; empty: STATIC_DEFAULT_ROTATION */
	size_t n_rotation;
	bool skip_import_rotation;
	uid_t creds_uid; /* owner of static-creds/NAME, (uid_t)-1 = the daemon's */
	gid_t creds_gid;
	unsigned creds_mode; /* 0400 unless creds_mode */
};

/*
 * static_role_from_params - validate params (borrowed) and build a new
 * static role. Without PARAMS_FINAL missing required keys (db_name,
 * username, a schedule) are not checked. The read-back fields
 * (last_vault_rotation, next_rotation, last_error, ...) are taken and
 * ignored, so an edited read-back can be written again. 0 and *out (new),
 * -EINVAL with err set, or -ENOMEM.
 */
int static_role_from_params(const char *name, json_t *params, unsigned flags,
			    struct static_role **out, struct parse_error *err)
	__attribute__((warn_unused_result));

/* static_role_to_json - a new JSON object of the definition (no state, no password). */
json_t *static_role_to_json(const struct static_role *s);

/*
 * static_state_fold - apply a static role record (rec, borrowed: sdef,
 * spend, spw, sclear; type t) to o, one static role's state as the
 * journal replays it and the fleet stores it ({doc, at, password?, last?,
 * pending?}). Other types: nothing.
 */
void static_state_fold(json_t *o, const char *t, const json_t *rec);

struct static_role *static_role_ref(struct static_role *s);
/* static_role_unref - the last reference frees (NULL-safe). */
void static_role_unref(struct static_role *s);

#endif

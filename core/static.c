/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "params.h"
#include "role.h"
#include "sqlsplit.h"
#include "static.h"
#include "tmpl.h"

static const char *const static_keys[] = {
	"db_name",
	"username",
	"rotation_period",
	"rotation_schedule",
	"rotation_window",
	"rotation_statements",
	"skip_import_rotation",
	"credential_type",
	"creds_owner",
	"creds_group",
	"creds_mode",
	/* read-back only: ignored */
	"last_vault_rotation",
	"next_rotation",
	"last_error",
	"ttl",
	NULL,
};

static const char *const static_vars[] = { "name", "username", "password", NULL };

struct static_role *static_role_ref(struct static_role *s)
{
	if (s)
		__atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
	return s;
}

void static_role_unref(struct static_role *s)
{
	if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	free(s->name);
	free(s->db_name);
	free(s->username);
	params_strv_free(s->rotation);
	free(s);
}

static int static_str(json_t *p, const char *key, bool final, char **out, struct parse_error *err)
{
	const char *s;
	int r;

	if ((r = params_get_str(p, key, &s, err)) < 0)
		return r;
	if (r == 1 || !*s) {
		if (!final)
			return 0;
		perr_set(err, 0, 0, "%s: required", key);
		return -EINVAL;
	}
	return (*out = strdup(s)) ? 0 : -ENOMEM;
}

static int static_stmts(struct static_role *s, json_t *p, unsigned flags, struct parse_error *err)
{
	int r;

	if ((r = params_get_stmts(p, "rotation_statements", &s->rotation, &s->n_rotation, err)) < 0)
		return r;
	for (size_t i = 0; i < s->n_rotation; i++) {
		if ((r = tmpl_check(s->rotation[i], static_vars, err)) != 0) {
			perr_prefix(err, "rotation_statements");
			return r;
		}
	}
	if ((flags & PARAMS_FINAL) && !(flags & PARAMS_RESTORE) &&
	    (r = sqlsplit_check_txn_control(s->rotation, s->n_rotation, "rotation_statements",
					    err)) != 0)
		return r;
	return 0;
}

int static_role_from_params(const char *name, json_t *p, unsigned flags, struct static_role **out,
			    struct parse_error *err)
{
	bool final = flags & PARAMS_FINAL;
	struct static_role *s = NULL;
	const char *type;
	int r;

	if ((r = params_name_valid(name, err)) != 0 ||
	    (r = params_check_keys(p, static_keys, err)) != 0)
		return r;
	r = -ENOMEM;
	if (!(s = calloc(1, sizeof(*s))) || !(s->name = strdup(name)))
		goto out;
	s->refs = 1;
	s->creds_uid = (uid_t)-1;
	s->creds_gid = (gid_t)-1;
	s->creds_mode = 0400;
	if ((r = static_str(p, "db_name", final, &s->db_name, err)) != 0 ||
	    (r = static_str(p, "username", final, &s->username, err)) != 0 ||
	    (r = rsched_from_params(p, STATIC_MIN_PERIOD, &s->sched, err)) != 0 ||
	    (r = static_stmts(s, p, flags, err)) != 0 ||
	    (r = params_get_bool(p, "skip_import_rotation", &s->skip_import_rotation, err)) < 0 ||
	    (r = role_creds_options(p, &s->creds_uid, &s->creds_gid, &s->creds_mode, err)) != 0)
		goto out;
	if ((r = params_get_str(p, "credential_type", &type, err)) < 0)
		goto out;
	if (r == 0 && strcmp(type, "password") != 0) {
		perr_set(err, 0, 0, "credential_type: only \"password\" is supported");
		r = -EINVAL;
		goto out;
	}
	if (final && !rsched_is_set(&s->sched)) {
		perr_set(err, 0, 0, "rotation_period or rotation_schedule: required");
		r = -EINVAL;
		goto out;
	}
	if (s->username && strlen(s->username) > 63) {
		perr_set(err, 0, 0, "username: longer than PostgreSQL's 63 bytes");
		r = -EINVAL;
		goto out;
	}
	*out = s;
	s = NULL; /* transferred */
	r = 0;
out:
	if (r == -ENOMEM)
		perr_set(err, 0, 0, "out of memory");
	static_role_unref(s);
	return r;
}

json_t *static_role_to_json(const struct static_role *s)
{
	json_t *j = json_pack("{s:s?, s:s?, s:o, s:b, s:s}", "db_name", s->db_name, "username",
			      s->username, "rotation_statements",
			      params_strv_json(s->rotation, s->n_rotation), "skip_import_rotation",
			      s->skip_import_rotation, "credential_type", "password");
	char mode[8];

	if (!j)
		return NULL;
	rsched_to_json(&s->sched, j);
	if (s->creds_uid != (uid_t)-1)
		json_object_set_new(j, "creds_owner", json_sprintf("%u", (unsigned)s->creds_uid));
	if (s->creds_gid != (gid_t)-1)
		json_object_set_new(j, "creds_group", json_sprintf("%u", (unsigned)s->creds_gid));
	snprintf(mode, sizeof(mode), "%04o", s->creds_mode);
	json_object_set_new(j, "creds_mode", json_string(mode));
	return j;
}

void static_state_fold(json_t *o, const char *t, const json_t *rec)
{
	if (!strcmp(t, "sdef")) {
		json_object_set(o, "doc", json_object_get(rec, "doc"));
		json_object_set(o, "at", json_object_get(rec, "at"));
	} else if (!strcmp(t, "spend")) {
		json_object_set(o, "pending", json_object_get(rec, "password"));
	} else if (!strcmp(t, "spw")) {
		json_object_set(o, "password", json_object_get(rec, "password"));
		json_object_set(o, "last", json_object_get(rec, "at"));
		json_object_del(o, "pending");
	} else if (!strcmp(t, "sclear")) {
		json_object_del(o, "pending");
	}
}

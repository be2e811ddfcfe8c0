/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "credfmt.h"
#include "log.h"
#include "params.h"
#include "role.h"
#include "sqlsplit.h"
#include "tmpl.h"

static const char *const role_keys[] = {
	"db_name",
	"creation_statements",
	"revocation_statements",
	"renew_statements",
	"rollback_statements",
	"default_ttl",
	"max_ttl",
	"credential_type",
	"credential_config",
	"lease_binding",
	"terminate_sessions",
	"creds_owner",
	"creds_group",
	"creds_mode",
	"max_leases",
	"max_leases_per_uid",
	"issue_rate",
	NULL,
};

static const char *const role_create_vars[] = { "name", "username", "password", "expiration",
						NULL };
static const char *const role_renew_vars[] = { "name", "username", "expiration", NULL };
static const char *const role_revoke_vars[] = { "name", "username", NULL };

static int role_stmts(json_t *p, const char *key, const char *const *vars, char ***out, size_t *n,
		      unsigned flags, bool *txn, struct parse_error *err)
{
	int r;

	if ((r = params_get_stmts(p, key, out, n, err)) < 0)
		return r;
	for (size_t i = 0; i < *n; i++) {
		if ((r = tmpl_check((*out)[i], vars, err)) != 0) {
			perr_prefix(err, key);
			return r;
		}
	}
	/*
	 * Only on the complete document: a value cut between two writes can end
	 * in a word that is transaction control ("END" of "ENDORSE").
	 */
	if (!(flags & PARAMS_FINAL))
		return 0;
	if ((r = sqlsplit_check_txn_control(*out, *n, key, err)) != 0 && (flags & PARAMS_RESTORE)) {
		/* Written before credfs refused it: kept, so its leases can be revoked. */
		log_warn("role: %s", err->text);
		*txn = true;
		r = 0;
	}
	return r;
}

static int role_all_stmts(struct role *ro, json_t *p, unsigned flags, struct parse_error *err)
{
	bool ignored = false;
	int r;

	if ((r = role_stmts(p, "creation_statements", role_create_vars, &ro->creation,
			    &ro->n_creation, flags, &ro->txn_control, err)) != 0 ||
	    (r = role_stmts(p, "revocation_statements", role_revoke_vars, &ro->revocation,
			    &ro->n_revocation, flags, &ignored, err)) != 0 ||
	    (r = role_stmts(p, "renew_statements", role_renew_vars, &ro->renew, &ro->n_renew, flags,
			    &ignored, err)) != 0 ||
	    (r = role_stmts(p, "rollback_statements", role_revoke_vars, &ro->rollback,
			    &ro->n_rollback, flags, &ignored, err)) != 0)
		return r;
	return 0;
}

static int role_ttls(struct role *ro, json_t *p, struct parse_error *err)
{
	int r;

	if ((r = params_get_dur(p, "default_ttl", &ro->default_ttl, err)) < 0 ||
	    (r = params_get_dur(p, "max_ttl", &ro->max_ttl, err)) < 0)
		return r;
	if (ro->default_ttl > ROLE_SYSTEM_MAX_TTL || ro->max_ttl > ROLE_SYSTEM_MAX_TTL) {
		perr_set(err, 0, 0, "default_ttl and max_ttl may not exceed %lldh",
			 ROLE_SYSTEM_MAX_TTL / 3600);
		return -EINVAL;
	}
	if (ro->max_ttl > 0 && ro->default_ttl > ro->max_ttl) {
		perr_set(err, 0, 0, "default_ttl may not be greater than max_ttl");
		return -EINVAL;
	}
	return 0;
}

/*
 * Vault's credential_config for the password type holds only
 * password_policy: {} and an empty policy are accepted, a policy is
 * refused (credfs generates passwords itself), anything else is unknown.
 */
static int role_credential_config(json_t *p, struct parse_error *err)
{
	json_t *cc = json_object_get(p, "credential_config"), *v;
	const char *key;
	int r;

	if (!cc || json_is_null(cc))
		return 0;
	if (!json_is_object(cc)) {
		perr_set(err, 0, 0, "credential_config: expected an object");
		return -EINVAL;
	}
	json_object_foreach(cc, key, v)
	{
		if (strcmp(key, "password_policy") != 0) {
			perr_set(err, 0, 0, "credential_config: unknown key \"%.64s\"", key);
			return -EINVAL;
		}
	}
	if ((r = params_get_str(cc, "password_policy", &key, err)) < 0) {
		perr_prefix(err, "credential_config");
		return r;
	}
	if (r == 0 && *key) {
		perr_set(
			err, 0, 0,
			"credential_config: password_policy is not supported: credfs generates "
			"passwords itself; set their length with the connection's password_length");
		return -EINVAL;
	}
	return 0;
}

static int role_lookup_owner(const char *s, bool group, unsigned *out, struct parse_error *err)
{
	char *end;
	unsigned long long v;

	if (*s >= '0' && *s <= '9') {
		errno = 0;
		v = strtoull(s, &end, 10);
		/* (uid_t)-1 means "the daemon's": refuse it and anything wider */
		if (errno || *end || v >= 0xffffffffULL) {
			perr_set(err, 0, 0, "%s: id out of range",
				 group ? "creds_group" : "creds_owner");
			return -EINVAL;
		}
		*out = (unsigned)v;
		return 0;
	}
	if (group) {
		struct group *g = getgrnam(s);
		if (g) {
			*out = g->gr_gid;
			return 0;
		}
	} else {
		struct passwd *pw = getpwnam(s);
		if (pw) {
			*out = pw->pw_uid;
			return 0;
		}
	}
	perr_set(err, 0, 0, "%s: unknown %s \"%.64s\"", group ? "creds_group" : "creds_owner",
		 group ? "group" : "user", s);
	return -EINVAL;
}

int role_creds_options(json_t *p, uid_t *uid, gid_t *gid, unsigned *mode, struct parse_error *err)
{
	const char *s;
	unsigned id;
	int r;

	if ((r = params_get_str(p, "creds_owner", &s, err)) < 0 ||
	    (r == 0 && (r = role_lookup_owner(s, false, &id, err)) != 0))
		return r;
	if (r == 0 && json_object_get(p, "creds_owner"))
		*uid = id;
	if ((r = params_get_str(p, "creds_group", &s, err)) < 0 ||
	    (r == 0 && (r = role_lookup_owner(s, true, &id, err)) != 0))
		return r;
	if (r == 0 && json_object_get(p, "creds_group"))
		*gid = id;
	if ((r = params_get_str(p, "creds_mode", &s, err)) < 0)
		return r;
	if (r == 0) {
		char *end;
		unsigned long m = strtoul(s, &end, 8);
		if (!*s || *end || m > 0777 || (m & 0333)) {
			perr_set(err, 0, 0,
				 "creds_mode: expected octal read permissions such as 0440");
			return -EINVAL;
		}
		*mode = m;
	}
	return 0;
}

static int role_options(struct role *ro, json_t *p, struct parse_error *err)
{
	const char *s;
	int r;

	if ((r = params_get_str(p, "credential_type", &s, err)) < 0)
		return r;
	if (r == 0 && strcmp(s, "password") != 0) {
		perr_set(err, 0, 0, "credential_type: only \"password\" is supported");
		return -EINVAL;
	}
	if ((r = role_credential_config(p, err)) != 0)
		return r;
	if ((r = params_get_str(p, "lease_binding", &s, err)) < 0)
		return r;
	if (r == 0) {
		if (!strcmp(s, "handle")) {
			ro->binding = ROLE_BIND_HANDLE;
		} else if (!strcmp(s, "process")) {
			ro->binding = ROLE_BIND_PROCESS;
		} else {
			perr_set(err, 0, 0, "lease_binding: expected \"handle\" or \"process\"");
			return -EINVAL;
		}
	}
	if ((r = params_get_bool(p, "terminate_sessions", &ro->terminate_sessions, err)) < 0)
		return r;
	return role_creds_options(p, &ro->creds_uid, &ro->creds_gid, &ro->creds_mode, err);
}

/* "N/s", "N/m" or "N/h" with N in [1, ROLE_RATE_MAX]. */
static int role_parse_rate(const char *s, struct role_rate *out, struct parse_error *err)
{
	static const struct {
		char unit;
		int64_t ms;
	} units[] = { { 's', 1000 }, { 'm', 60 * 1000 }, { 'h', 3600 * 1000 } };
	int64_t n = 0;
	const char *q = s;

	for (; *q >= '0' && *q <= '9'; q++)
		if (n <= ROLE_RATE_MAX) /* past it, only "too large" matters */
			n = n * 10 + (*q - '0');
	if (q == s || q[0] != '/' || !q[1] || q[2])
		goto bad;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (q[1] != units[i].unit)
			continue;
		if (n < 1 || n > ROLE_RATE_MAX) {
			perr_set(err, 0, 0, "issue_rate: N must be from 1 to %d, got \"%.64s\"",
				 ROLE_RATE_MAX, s);
			return -EINVAL;
		}
		out->n = n;
		out->per_ms = units[i].ms;
		return 0;
	}
bad:
	perr_set(err, 0, 0, "issue_rate: expected N/s, N/m or N/h, got \"%.64s\"", s);
	return -EINVAL;
}

static int role_limits(struct role *ro, json_t *p, struct parse_error *err)
{
	const char *s;
	json_t *v;
	int r;

	if ((r = params_get_int(p, "max_leases", 0, INT32_MAX, &ro->max_leases, err)) < 0 ||
	    (r = params_get_int(p, "max_leases_per_uid", 0, INT32_MAX, &ro->max_leases_per_uid,
				err)) < 0)
		return r;
	v = json_object_get(p, "issue_rate");
	if (json_is_integer(v) && json_integer_value(v) == 0)
		return 0; /* unlimited, like an absent key */
	if (json_is_integer(v)) {
		perr_set(err, 0, 0, "issue_rate: expected N/s, N/m or N/h, got %lld",
			 (long long)json_integer_value(v));
		return -EINVAL;
	}
	if ((r = params_get_str(p, "issue_rate", &s, err)) < 0)
		return r;
	/* "" or "0" is unlimited, like an absent key */
	if (r == 0 && *s && strcmp(s, "0") != 0)
		return role_parse_rate(s, &ro->issue_rate, err);
	return 0;
}

void role_rate_str(const struct role_rate *rate, char *buf, size_t len)
{
	char u = rate->per_ms == 1000 ? 's' : rate->per_ms == 60 * 1000 ? 'm' : 'h';

	snprintf(buf, len, "%lld/%c", (long long)rate->n, u);
}

static struct role *role_alloc(const char *name)
{
	struct role *ro = calloc(1, sizeof(*ro));

	if (!ro)
		return NULL;
	ro->refs = 1;
	ro->terminate_sessions = true;
	ro->creds_uid = (uid_t)-1;
	ro->creds_gid = (gid_t)-1;
	ro->creds_mode = 0400;
	ro->binding = ROLE_BIND_HANDLE;
	if (!(ro->name = strdup(name))) {
		free(ro);
		return NULL;
	}
	return ro;
}

/* Absent statement lists become empty vectors, so users never see NULL. */
static int role_fill_empty(struct role *ro)
{
	char ***v[] = { &ro->creation, &ro->revocation, &ro->renew, &ro->rollback };

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if (!*v[i] && !(*v[i] = calloc(1, sizeof(char *))))
			return -ENOMEM;
	return 0;
}

int role_name_valid(const char *name, struct parse_error *err)
{
	int r;

	if ((r = params_name_valid(name, err)) != 0)
		return r;
	if (credfmt_role_name_clashes(name)) {
		perr_set(err, 0, 0,
			 "role name \"%s\" ends in .env, .uri, .service, .pgpass or .d, which "
			 "creds/ reads as a file of another role: choose another name",
			 name);
		return -EINVAL;
	}
	return 0;
}

int role_from_params(const char *name, json_t *params, unsigned flags, struct role **out,
		     struct parse_error *err)
{
	struct role *ro = NULL;
	const char *db = NULL;
	int r;

	if ((r = (flags & PARAMS_RESTORE) ? params_name_valid(name, err)
					  : role_name_valid(name, err)) != 0 ||
	    (r = params_check_keys(params, role_keys, err)) != 0)
		return r;
	if (!(ro = role_alloc(name)))
		return -ENOMEM;
	if ((r = params_get_str(params, "db_name", &db, err)) < 0)
		goto out;
	if (r == 1 && (flags & PARAMS_FINAL)) {
		perr_set(err, 0, 0, "db_name is required");
		r = -EINVAL;
		goto out;
	}
	if (db && (r = params_name_valid(db, err)) != 0) {
		perr_prefix(err, "db_name");
		goto out;
	}
	r = -ENOMEM;
	if (db && !(ro->db_name = strdup(db)))
		goto out;
	if ((r = role_all_stmts(ro, params, flags, err)) != 0 ||
	    (r = role_ttls(ro, params, err)) != 0 || (r = role_options(ro, params, err)) != 0 ||
	    (r = role_limits(ro, params, err)) != 0 || (r = role_fill_empty(ro)) != 0)
		goto out;
	*out = ro;
	ro = NULL; /* transferred */
	r = 0;
out:
	if (r == -ENOMEM)
		perr_set(err, 0, 0, "out of memory");
	role_unref(ro);
	return r;
}

json_t *role_to_json(const struct role *ro)
{
	json_t *j = json_pack(
		"{s:s?, s:o, s:o, s:o, s:o, s:I, s:I, s:s, s:s, s:b}", "db_name", ro->db_name,
		"creation_statements", params_strv_json(ro->creation, ro->n_creation),
		"revocation_statements", params_strv_json(ro->revocation, ro->n_revocation),
		"renew_statements", params_strv_json(ro->renew, ro->n_renew), "rollback_statements",
		params_strv_json(ro->rollback, ro->n_rollback), "default_ttl",
		(json_int_t)ro->default_ttl, "max_ttl", (json_int_t)ro->max_ttl, "credential_type",
		"password", "lease_binding",
		ro->binding == ROLE_BIND_PROCESS ? "process" : "handle", "terminate_sessions",
		ro->terminate_sessions);
	char mode[8], rate[32];

	if (!j)
		return NULL;
	if (ro->creds_uid != (uid_t)-1)
		json_object_set_new(j, "creds_owner", json_sprintf("%u", (unsigned)ro->creds_uid));
	if (ro->creds_gid != (gid_t)-1)
		json_object_set_new(j, "creds_group", json_sprintf("%u", (unsigned)ro->creds_gid));
	snprintf(mode, sizeof(mode), "%04o", ro->creds_mode);
	json_object_set_new(j, "creds_mode", json_string(mode));
	json_object_set_new(j, "max_leases", json_integer(ro->max_leases));
	json_object_set_new(j, "max_leases_per_uid", json_integer(ro->max_leases_per_uid));
	if (ro->issue_rate.n > 0) {
		role_rate_str(&ro->issue_rate, rate, sizeof(rate));
		json_object_set_new(j, "issue_rate", json_string(rate));
	}
	return j;
}

int64_t role_max_ttl(const struct role *ro)
{
	return ro->max_ttl > 0 ? ro->max_ttl : ROLE_SYSTEM_MAX_TTL;
}

int64_t role_ttl(const struct role *ro)
{
	int64_t ttl = ro->default_ttl > 0 ? ro->default_ttl : ROLE_SYSTEM_MAX_TTL;

	return ttl < role_max_ttl(ro) ? ttl : role_max_ttl(ro);
}

struct role *role_ref(struct role *ro)
{
	__atomic_add_fetch(&ro->refs, 1, __ATOMIC_RELAXED);
	return ro;
}

void role_unref(struct role *ro)
{
	if (!ro || __atomic_sub_fetch(&ro->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	free(ro->name);
	free(ro->db_name);
	params_strv_free(ro->creation);
	params_strv_free(ro->revocation);
	params_strv_free(ro->renew);
	params_strv_free(ro->rollback);
	free(ro);
}

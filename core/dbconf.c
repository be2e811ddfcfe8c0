/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "dbconf.h"
#include "dur.h"
#include "log.h"
#include "params.h"
#include "sqlsplit.h"
#include "tmpl.h"
#include "utmpl.h"

static const char *const dbconf_keys[] = {
	"plugin_name",
	"plugin_version",
	"connection_url",
	"username",
	"password",
	"allowed_roles",
	"verify_connection",
	"max_open_connections",
	"max_idle_connections",
	"max_connection_lifetime",
	"pool_timeout",
	"issue_timeout",
	"password_authentication",
	"root_rotation_statements",
	"password_length",
	"username_template",
	/* Vault's, see dbconf_vault_params */
	"root_credentials_rotate_statements",
	"disable_escaping",
	"password_policy",
	"connection_details",
	/* scheduled root rotation (Vault Enterprise's names) */
	"rotation_period",
	"rotation_schedule",
	"rotation_window",
	"disable_automated_rotation",
	/* read-back only: ignored */
	"last_rotation",
	"next_rotation",
	"last_rotation_error",
	NULL,
};

static const char *const dbconf_url_vars[] = { "username", "password", NULL };
static const char *const dbconf_rot_vars[] = { "name", "username", "password", NULL };

static int dbconf_strings(struct dbconf *c, json_t *p, unsigned flags, struct parse_error *err)
{
	const char *s = NULL;
	int r;

	if ((r = params_get_str(p, "plugin_name", &s, err)) < 0)
		return r;
	if (r == 0 && strcmp(s, DBCONF_PLUGIN) != 0) {
		perr_set(err, 0, 0, "plugin_name: only \"%s\" is supported", DBCONF_PLUGIN);
		return -EINVAL;
	}
	if (r == 1 && (flags & PARAMS_FINAL)) {
		perr_set(err, 0, 0, "plugin_name is required");
		return -EINVAL;
	}
	if ((r = params_get_str(p, "plugin_version", &s, err)) < 0)
		return r;
	s = NULL;
	if ((r = params_get_str(p, "connection_url", &s, err)) < 0)
		return r;
	if (r == 1 && (flags & PARAMS_FINAL)) {
		perr_set(err, 0, 0, "connection_url is required");
		return -EINVAL;
	}
	if (s) {
		if ((r = tmpl_check(s, dbconf_url_vars, err)) != 0) {
			perr_prefix(err, "connection_url");
			return r;
		}
		if (!(c->connection_url = strdup(s)))
			return -ENOMEM;
	}
	s = NULL;
	if ((r = params_get_str(p, "username_template", &s, err)) < 0)
		return r;
	if (s && *s) {
		if ((r = utmpl_check(s, err)) != 0) {
			perr_prefix(err, "username_template");
			return r;
		}
		if (!(c->username_template = strdup(s)))
			return -ENOMEM;
	}
	s = NULL;
	if ((r = params_get_str(p, "username", &s, err)) < 0)
		return r;
	if (s && !(c->username = strdup(s)))
		return -ENOMEM;
	s = NULL;
	if ((r = params_get_str(p, "password", &s, err)) < 0)
		return r;
	if (s && !(c->password = secret_new(s, strlen(s))))
		return -ENOMEM;
	if ((c->username &&
	     (strstr(c->username, "{{username}}") || strstr(c->username, "{{password}}"))) ||
	    (s && (strstr(s, "{{username}}") || strstr(s, "{{password}}")))) {
		perr_set(err, 0, 0,
			 "username and password must not contain {{username}} or {{password}}");
		return -EINVAL;
	}
	return 0;
}

static int dbconf_numbers(struct dbconf *c, json_t *p, struct parse_error *err)
{
	int64_t v;
	int r;

	if ((r = params_get_bool(p, "verify_connection", &c->verify_connection, err)) < 0)
		return r;
	if ((r = params_get_int(p, "max_open_connections", 1, 1000, &v, err)) < 0)
		return r;
	c->max_open = r == 0 ? (int)v : DBCONF_DEFAULT_MAX_OPEN;
	/* Vault: 0 means "as many as max_open", negative disables idle connections. */
	if ((r = params_get_int(p, "max_idle_connections", -1000, 1000, &v, err)) < 0)
		return r;
	c->max_idle = r == 1 || v == 0 ? c->max_open : v < 0 ? 0 : (int)v;
	if (c->max_idle > c->max_open)
		c->max_idle = c->max_open;
	if ((r = params_get_dur(p, "max_connection_lifetime", &c->max_lifetime, err)) < 0)
		return r;
	c->pool_timeout_ms = DBCONF_DEFAULT_POOL_TIMEOUT * 1000;
	if ((r = params_get_dur(p, "pool_timeout", &v, err)) < 0)
		return r;
	if (r == 0 && v > 3600) {
		perr_set(err, 0, 0, "pool_timeout: at most 1h");
		return -EINVAL;
	}
	if (r == 0)
		c->pool_timeout_ms = v * 1000;
	c->issue_timeout_ms = DBCONF_DEFAULT_ISSUE_TIMEOUT * 1000;
	if ((r = params_get_dur(p, "issue_timeout", &v, err)) < 0)
		return r;
	if (r == 0 && (v < 1 || v > 3600)) {
		perr_set(err, 0, 0, "issue_timeout: between 1s and 1h");
		return -EINVAL;
	}
	if (r == 0)
		c->issue_timeout_ms = v * 1000;
	c->op_timeout_ms = DBCONF_OP_TIMEOUT_MS;
	if ((r = params_get_int(p, "password_length", 8, 100, &v, err)) < 0)
		return r;
	c->password_length = r == 0 ? (int)v : SECRET_PASSWORD_LEN;
	return 0;
}

static int dbconf_lists(struct dbconf *c, json_t *p, unsigned flags, struct parse_error *err)
{
	const char *s;
	int r;

	if ((r = params_get_str(p, "password_authentication", &s, err)) < 0)
		return r;
	if (r == 0) {
		if (!strcmp(s, "password")) {
			c->pwauth = DBCONF_PW_PASSWORD;
		} else if (!strcmp(s, "scram-sha-256")) {
			c->pwauth = DBCONF_PW_SCRAM;
		} else {
			perr_set(
				err, 0, 0,
				"password_authentication: expected \"password\" or \"scram-sha-256\"");
			return -EINVAL;
		}
	}
	char **v = NULL;
	size_t n = 0;

	if ((r = params_get_list(p, "allowed_roles", &v, &n, err)) < 0)
		return r;
	if (r == 0) {
		params_strv_free(c->allowed_roles);
		c->allowed_roles = v;
		c->n_allowed_roles = n;
	}
	json_t *rot = NULL, *tmp = NULL;

	if ((r = dbconf_vault_params(p, &rot, err)) != 0)
		return r;
	/* either name of the same list, read by the usual getter */
	if (rot && !(tmp = json_pack("{s:O}", "root_rotation_statements", rot)))
		return -ENOMEM;
	r = tmp ? params_get_stmts(tmp, "root_rotation_statements", &v, &n, err) : 1;
	json_decref(tmp);
	if (r < 0)
		return r;
	if (r == 0) {
		params_strv_free(c->root_rotation);
		c->root_rotation = v;
		c->n_root_rotation = n;
	}
	for (size_t i = 0; i < c->n_root_rotation; i++) {
		if ((r = tmpl_check(c->root_rotation[i], dbconf_rot_vars, err)) != 0) {
			perr_prefix(err, "root_rotation_statements");
			return r;
		}
	}
	/* Only on the complete document: a value cut between writes may end in "END". */
	if (!(flags & PARAMS_FINAL))
		return 0;
	r = sqlsplit_check_txn_control(c->root_rotation, c->n_root_rotation,
				       "root_rotation_statements", err);
	/* Written before credfs refused it: one message, one implicit transaction. */
	if (r != 0 && (flags & PARAMS_RESTORE)) {
		log_warn("config/%s: %s", c->name, err->text);
		r = 0;
	}
	return r;
}

static struct dbconf *dbconf_alloc(const char *name)
{
	struct dbconf *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->refs = 1;
	c->verify_connection = true;
	/* Only a SCRAM verifier reaches PostgreSQL: no plaintext in its logs. */
	c->pwauth = DBCONF_PW_SCRAM;
	if (!(c->name = strdup(name)) || !(c->allowed_roles = calloc(1, sizeof(char *))) ||
	    !(c->root_rotation = calloc(1, sizeof(char *)))) {
		dbconf_unref(c);
		return NULL;
	}
	return c;
}

int dbconf_from_params(const char *name, json_t *params, unsigned flags, struct dbconf **out,
		       struct parse_error *err)
{
	struct dbconf *c = NULL;
	int r;

	if ((r = params_name_valid(name, err)) != 0)
		return r;
	if ((r = params_check_keys(params, dbconf_keys, err)) != 0)
		return r;
	if (!(c = dbconf_alloc(name)))
		return -ENOMEM;
	if ((r = dbconf_strings(c, params, flags, err)) != 0 ||
	    (r = dbconf_numbers(c, params, err)) != 0 ||
	    (r = dbconf_lists(c, params, flags, err)) != 0 ||
	    (r = rsched_from_params(params, DBCONF_MIN_ROTATION, &c->rotation, err)) != 0 ||
	    (r = params_get_bool(params, "disable_automated_rotation", &c->no_auto_rotation, err)) <
		    0) {
		if (r == -ENOMEM)
			perr_set(err, 0, 0, "out of memory");
		dbconf_unref(c);
		return r;
	}
	*out = c;
	return 0;
}

static char **dbconf_strv_dup(char *const *v, size_t n)
{
	char **d = calloc(n + 1, sizeof(*d));

	for (size_t i = 0; d && i < n; i++) {
		if (!(d[i] = strdup(v[i]))) {
			params_strv_free(d);
			return NULL;
		}
	}
	return d;
}

struct dbconf *dbconf_with_password(const struct dbconf *c, struct secret *pw)
{
	struct dbconf *d = calloc(1, sizeof(*d));

	if (!d) {
		secret_free(pw);
		return NULL;
	}
	*d = *c;
	d->refs = 1;
	d->password = pw; /* transferred */
	d->name = strdup(c->name);
	d->connection_url = c->connection_url ? strdup(c->connection_url) : NULL;
	d->username = c->username ? strdup(c->username) : NULL;
	d->username_template = c->username_template ? strdup(c->username_template) : NULL;
	d->allowed_roles = dbconf_strv_dup(c->allowed_roles, c->n_allowed_roles);
	d->root_rotation = dbconf_strv_dup(c->root_rotation, c->n_root_rotation);
	if (!d->name || (c->connection_url && !d->connection_url) ||
	    (c->username && !d->username) || (c->username_template && !d->username_template) ||
	    !d->allowed_roles || !d->root_rotation) {
		dbconf_unref(d);
		return NULL;
	}
	return d;
}

bool dbconf_role_allowed(const struct dbconf *c, const char *role)
{
	for (size_t i = 0; i < c->n_allowed_roles; i++)
		if (fnmatch(c->allowed_roles[i], role, 0) == 0)
			return true;
	return false;
}

struct dbconf *dbconf_ref(struct dbconf *c)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
	return c;
}

void dbconf_unref(struct dbconf *c)
{
	if (!c || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	free(c->name);
	free(c->connection_url);
	free(c->username);
	free(c->username_template);
	secret_free(c->password);
	params_strv_free(c->allowed_roles);
	params_strv_free(c->root_rotation);
	free(c);
}

void dbconf_target_of(const char *url, const char *username, char out[DBCONF_TARGET_LEN])
{
	unsigned char h[16];
	crypto_generichash_state st;

	/* Each part with its presence and a terminator: ("a", NULL) and ("a", "") differ. */
	crypto_generichash_init(&st, NULL, 0, sizeof(h));
	crypto_generichash_update(&st, (const unsigned char *)(url ? "u" : "-"), 1);
	if (url)
		crypto_generichash_update(&st, (const unsigned char *)url, strlen(url) + 1);
	crypto_generichash_update(&st, (const unsigned char *)(username ? "u" : "-"), 1);
	if (username)
		crypto_generichash_update(&st, (const unsigned char *)username,
					  strlen(username) + 1);
	crypto_generichash_final(&st, h, sizeof(h));
	sodium_bin2hex(out, DBCONF_TARGET_LEN, h, sizeof(h));
}

void dbconf_target(const struct dbconf *c, char out[DBCONF_TARGET_LEN])
{
	dbconf_target_of(c->connection_url, c->username, out);
}

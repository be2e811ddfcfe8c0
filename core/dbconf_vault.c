/* SPDX-License-Identifier: MIT */
/*
 * dbconf_vault.c - the parts of config/NAME that exist for Vault's sake:
 * parameters Vault accepts that credfs accepts, ignores or refuses with a
 * reason, and the read-back shape of `vault read database/config/NAME`.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dbconf.h"
#include "params.h"

#define DBCONF_REDACTED "xxxxx" /* what Go's url.Redacted puts for a password */

/* Append n bytes of s to the growing string *out (len *len); -ENOMEM. */
static int dv_add(char **out, size_t *len, const char *s, size_t n)
{
	char *p = realloc(*out, *len + n + 1);

	if (!p)
		return -ENOMEM;
	memcpy(p + *len, s, n);
	*len += n;
	p[*len] = '\0';
	*out = p;
	return 0;
}

/* A value that is only the {{password}} template hides nothing: keep it. */
static bool dv_is_template(const char *s, size_t n)
{
	return n == 12 && !memcmp(s, "{{password}}", 12);
}

/* URI form: userinfo's password and a password= query parameter. */
static int dv_redact_uri(const char *url, char **out, size_t *len)
{
	const char *auth = strstr(url, "://") + 3, *end = auth + strcspn(auth, "/?#");
	const char *at = NULL, *colon, *q, *p;
	int r;

	for (p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
	if (colon && !dv_is_template(colon + 1, (size_t)(at - colon - 1))) {
		if ((r = dv_add(out, len, url, (size_t)(colon + 1 - url))) != 0 ||
		    (r = dv_add(out, len, DBCONF_REDACTED, strlen(DBCONF_REDACTED))) != 0)
			return r;
		url = at;
	}
	if (!(q = strchr(end, '?')))
		return dv_add(out, len, url, strlen(url));
	for (p = q + 1; *p;) {
		size_t n = strcspn(p, "&#");

		if (n > 9 && !strncmp(p, "password=", 9) && !dv_is_template(p + 9, n - 9)) {
			if ((r = dv_add(out, len, url, (size_t)(p + 9 - url))) != 0 ||
			    (r = dv_add(out, len, DBCONF_REDACTED, strlen(DBCONF_REDACTED))) != 0)
				return r;
			url = p + n;
		}
		if (p[n] != '&')
			break;
		p += n + 1;
	}
	return dv_add(out, len, url, strlen(url));
}

/* key=value conninfo: the value of every password keyword, quoted or not. */
static int dv_redact_conninfo(const char *s, char **out, size_t *len)
{
	const char *p = s;
	int r;

	while (*p) {
		const char *key = p, *v;
		size_t klen = strcspn(p, " \t\n=");

		p += klen;
		p += strspn(p, " \t\n");
		if (*p != '=') {
			p += strspn(p, " \t\n") + (*p ? 1 : 0);
			continue;
		}
		p++;
		p += strspn(p, " \t\n");
		v = p;
		if (*p == '\'') {
			for (p++; *p && *p != '\''; p++)
				if (*p == '\\' && p[1])
					p++;
			if (*p)
				p++;
		} else {
			p += strcspn(p, " \t\n");
		}
		if (klen == 8 && !strncmp(key, "password", 8) &&
		    !dv_is_template(v, (size_t)(p - v))) {
			if ((r = dv_add(out, len, s, (size_t)(v - s))) != 0 ||
			    (r = dv_add(out, len, DBCONF_REDACTED, strlen(DBCONF_REDACTED))) != 0)
				return r;
			s = p;
		}
		p += strspn(p, " \t\n");
	}
	return dv_add(out, len, s, strlen(s));
}

char *dbconf_redact_url(const char *url)
{
	char *out = NULL;
	size_t len = 0;
	int r;

	if (!strncmp(url, "postgresql://", 13) || !strncmp(url, "postgres://", 11))
		r = dv_redact_uri(url, &out, &len);
	else
		r = dv_redact_conninfo(url, &out, &len);
	if (r != 0) {
		free(out);
		return NULL;
	}
	return out;
}

int dbconf_vault_params(json_t *p, json_t **rotation_key, struct parse_error *err)
{
	json_t *a = json_object_get(p, "root_rotation_statements");
	json_t *b = json_object_get(p, "root_credentials_rotate_statements");
	json_t *d = json_object_get(p, "connection_details");
	const char *s = NULL;
	bool escaping = false;
	int r;

	if ((r = params_get_bool(p, "disable_escaping", &escaping, err)) < 0)
		return r;
	if (r == 0 && escaping) {
		perr_set(err, 0, 0,
			 "disable_escaping: true is not supported (false is): credfs never "
			 "escapes username or password, it puts them into connection_url after "
			 "libpq has parsed it, so any byte is safe");
		return -EINVAL;
	}
	if ((r = params_get_str(p, "password_policy", &s, err)) < 0)
		return r;
	if (r == 0 && *s) {
		perr_set(
			err, 0, 0,
			"password_policy is not supported: credfs generates passwords itself "
			"([A-Za-z0-9-], one of each class); set their length with password_length");
		return -EINVAL;
	}
	if ((r = params_get_str(p, "plugin_version", &s, err)) < 0)
		return r;
	if (d && !json_is_object(d) && !json_is_null(d)) {
		perr_set(err, 0, 0, "connection_details: expected an object");
		return -EINVAL;
	}
	if (a && !json_is_null(a) && b && !json_is_null(b) && !json_equal(a, b)) {
		perr_set(err, 0, 0,
			 "root_rotation_statements and root_credentials_rotate_statements "
			 "(its read-back name) differ: give one");
		return -EINVAL;
	}
	*rotation_key = a && !json_is_null(a) ? a : b;
	return 0;
}

/* connection_details as Vault shows it: what was written, the password left out. */
static json_t *dv_details(const struct dbconf *c)
{
	char *url = c->connection_url ? dbconf_redact_url(c->connection_url) : NULL;
	json_t *d;

	if (c->connection_url && !url)
		return NULL;
	d = json_pack("{s:s?, s:s?, s:i, s:i, s:I, s:s, s:s*, s:b}", "connection_url", url,
		      "username", c->username, "max_open_connections", c->max_open,
		      "max_idle_connections", c->max_idle, "max_connection_lifetime",
		      (json_int_t)c->max_lifetime, "password_authentication",
		      c->pwauth == DBCONF_PW_SCRAM ? "scram-sha-256" : "password",
		      "username_template", c->username_template, "disable_escaping", false);
	free(url);
	return d;
}

json_t *dbconf_to_json(const struct dbconf *c)
{
	json_t *j = json_pack(
		"{s:s, s:s, s:s?, s:s?, s:o, s:b, s:i, s:i, s:I, s:I, s:I, s:s, s:o, s:i, s:s*, s:s, "
		"s:o}",
		"plugin_name", DBCONF_PLUGIN, "plugin_version", "", "connection_url",
		c->connection_url, "username", c->username, "allowed_roles",
		params_strv_json(c->allowed_roles, c->n_allowed_roles), "verify_connection",
		c->verify_connection, "max_open_connections", c->max_open, "max_idle_connections",
		c->max_idle, "max_connection_lifetime", (json_int_t)c->max_lifetime, "pool_timeout",
		(json_int_t)(c->pool_timeout_ms / 1000), "issue_timeout",
		(json_int_t)(c->issue_timeout_ms / 1000), "password_authentication",
		c->pwauth == DBCONF_PW_SCRAM ? "scram-sha-256" : "password",
		"root_credentials_rotate_statements",
		params_strv_json(c->root_rotation, c->n_root_rotation), "password_length",
		c->password_length, "username_template", c->username_template, "password_policy",
		"", "connection_details", dv_details(c));

	if (j && rsched_is_set(&c->rotation))
		rsched_to_json(&c->rotation, j);
	if (j)
		json_object_set_new(j, "disable_automated_rotation",
				    json_boolean(c->no_auto_rotation));
	return j;
}

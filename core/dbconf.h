/* SPDX-License-Identifier: MIT */
/*
 * dbconf.h - a connection definition (config/NAME), with Vault's parameters.
 *
 * A dbconf is immutable once built and shared by reference count: a write
 * to config/NAME builds a new one and swaps it in, so a reader sees the old
 * definition or the new one. The root password is a struct secret and never
 * appears in dbconf_to_json().
 */
#ifndef CREDFS_DBCONF_H
#define CREDFS_DBCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "perr.h"
#include "rsched.h"
#include "secret.h"

#define DBCONF_PLUGIN		     "postgresql-database-plugin"
#define DBCONF_DEFAULT_MAX_OPEN	     4
#define DBCONF_DEFAULT_POOL_TIMEOUT  5 /* s: wait for a worker and a pooled connection */
#define DBCONF_DEFAULT_ISSUE_TIMEOUT 10 /* s: PostgreSQL's answers to one issue */
#define DBCONF_OP_TIMEOUT_MS	     35000 /* renew, revoke, rotate: statement_timeout + 5 s */
#define DBCONF_MIN_ROTATION	     5 /* s: shortest rotation_period of the root password */
#define DBCONF_DEFAULT_ROTATE	     "ALTER ROLE \"{{name}}\" WITH PASSWORD '{{password}}'"

enum dbconf_pwauth {
	DBCONF_PW_PASSWORD,
	DBCONF_PW_SCRAM,
};

struct dbconf {
	int refs; /* atomic */
	char *name;
	char *connection_url; /* may contain {{username}} and {{password}} */
	char *username; /* NULL when absent */
	struct secret *password; /* NULL when absent */
	char **allowed_roles; /* globs; NULL-terminated */
	size_t n_allowed_roles;
	bool verify_connection;
	int max_open; /* >= 1 */
	int max_idle; /* 0 .. max_open */
	int64_t max_lifetime; /* seconds, 0 = forever */
	int64_t pool_timeout_ms; /* pool_timeout: longest wait for a worker and a connection */
	int64_t issue_timeout_ms; /* issue_timeout: client deadline on an issue's statements */
	int64_t op_timeout_ms; /* client deadline on any other operation */
	enum dbconf_pwauth pwauth;
	char **root_rotation; /* statements, NULL-terminated */
	size_t n_root_rotation;
	int password_length; /* generated passwords */
	char *username_template; /* NULL: Vault's default shape (uname.c); else utmpl.h */
	struct rsched rotation; /* scheduled root rotation; unset: none */
	bool no_auto_rotation; /* disable_automated_rotation */
};

/*
 * dbconf_from_params - validate params (borrowed) and build a new dbconf
 * named name. flags (params.h): without PARAMS_FINAL missing required keys
 * are not checked (the writer may still be writing); with PARAMS_RESTORE
 * transaction control in root_rotation_statements only warns. Returns 0 and *out (new, refs 1), or
 * -EINVAL with err set, or -ENOMEM.
 */
int dbconf_from_params(const char *name, json_t *params, unsigned flags, struct dbconf **out,
		       struct parse_error *err) __attribute__((warn_unused_result));

/* dbconf_with_password - a new copy of c whose root password is pw (taken). NULL on ENOMEM. */
struct dbconf *dbconf_with_password(const struct dbconf *c, struct secret *pw);

/*
 * dbconf_to_json - a new JSON object of the definition, without the
 * password: credfs's flat fields (what a rewrite takes back) and Vault's
 * read-back fields (plugin_version "", password_policy "",
 * root_credentials_rotate_statements, and connection_details with
 * connection_url redacted by dbconf_redact_url). NULL on ENOMEM.
 */
json_t *dbconf_to_json(const struct dbconf *c);

/*
 * dbconf_redact_url - a new copy of a connection_url (URI or key=value
 * conninfo) whose passwords (userinfo, password= parameters) read "xxxxx",
 * as Go's url.Redacted shows them; "{{password}}" is kept. NULL on ENOMEM.
 */
char *dbconf_redact_url(const char *url);

/*
 * dbconf_vault_params - check the parameters credfs takes for Vault's
 * sake (dbconf_vault.c): disable_escaping (false only), password_policy
 * ("" only), plugin_version (ignored), connection_details (Vault's
 * read-back; an object, ignored: the flat keys count) and
 * root_credentials_rotate_statements (the read-back name of
 * root_rotation_statements; both may be given if equal). *rotation_key is
 * the list to use (borrowed from p, NULL when neither is given). 0 or
 * -EINVAL with err set.
 */
int dbconf_vault_params(json_t *p, json_t **rotation_key, struct parse_error *err)
	__attribute__((warn_unused_result));

/* dbconf_role_allowed - whether role matches allowed_roles (globs, "*" = all). */
bool dbconf_role_allowed(const struct dbconf *c, const char *role);

/*
 * The server a definition logs in to, as a name that holds no secret:
 * 32 hex digits of a keyless BLAKE2b hash of connection_url and username
 * (what makes a rewrite a new connection version, registry.h). The fleet
 * records each target's definition, and a lease its target, so that a
 * lease is revoked where it was issued after config/NAME moved.
 */
#define DBCONF_TARGET_LEN 33

/* dbconf_target_of - the target of url and username (either may be NULL) in out. */
void dbconf_target_of(const char *url, const char *username, char out[DBCONF_TARGET_LEN]);

/* dbconf_target - c's target in out. */
void dbconf_target(const struct dbconf *c, char out[DBCONF_TARGET_LEN]);

struct dbconf *dbconf_ref(struct dbconf *c);
/* dbconf_unref - drop a reference; the last one wipes and frees (NULL-safe). */
void dbconf_unref(struct dbconf *c);

#endif

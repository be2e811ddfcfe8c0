/* SPDX-License-Identifier: MIT */
/*
 * credfmt.h - one lease, rendered for clients other than jq: the files
 * creds/ROLE.env, ROLE.uri, ROLE.service, ROLE.pgpass and the per-key files
 * of creds/ROLE.d/ (README.md, "Credential formats", is the contract).
 *
 * Pure: no FUSE, no libpq, no clock. The server a client should reach
 * (host, port, database, TLS settings) comes from the connection's
 * connection_url, parsed here the way libpq parses it; the root's user and
 * password, and credfs's own connection tuning, never reach the output.
 * Everything is thread-safe (no shared state).
 */
#ifndef CREDFS_CREDFMT_H
#define CREDFS_CREDFMT_H

#include <stdbool.h>
#include <stddef.h>

#include "secret.h"

#define CREDFMT_ERRLEN	 256
#define CREDFMT_ROLE_MAX 65 /* a role name (1 to 64 bytes) and its NUL */

enum credfmt {
	CREDFMT_JSON, /* creds/ROLE: Vault's JSON, rendered elsewhere */
	CREDFMT_ENV, /* creds/ROLE.env */
	CREDFMT_URI, /* creds/ROLE.uri */
	CREDFMT_SERVICE, /* creds/ROLE.service */
	CREDFMT_PGPASS, /* creds/ROLE.pgpass */
	CREDFMT_KEY_USERNAME, /* creds/ROLE.d/username */
	CREDFMT_KEY_PASSWORD, /* creds/ROLE.d/password */
	CREDFMT_KEY_HOST, /* creds/ROLE.d/host */
	CREDFMT_KEY_PORT, /* creds/ROLE.d/port */
	CREDFMT_KEY_DATABASE, /* creds/ROLE.d/database */
};

/*
 * credfmt_from_name - the role and format of a file name in creds/.
 *
 * A name ending in ".env", ".uri", ".service" or ".pgpass" (exactly, case
 * included) always means that format of the role named by the rest, with
 * one suffix stripped: "app.v2.env" is role "app.v2", format ENV. Any other
 * name is the JSON file of the role of that whole name. The rule does not
 * depend on which roles exist, so creating a role never changes what an
 * existing path means; the price is that a role literally named "x.env" has
 * no JSON file ("creds/x.env" is role x's env file), only "x.env.env",
 * "x.env.uri", ... and "x.env.d/"; see credfmt_role_name_clashes().
 *
 * Returns 0 and writes role_out (NUL-terminated) and *fmt; -EISDIR for
 * "ROLE.d" (a directory: credfmt_dir_from_name()); -ENOENT when the role
 * part is not a valid role name (params_name_valid); -ENAMETOOLONG when it
 * does not fit role_size. Out-params are written only on success.
 */
int credfmt_from_name(const char *filename, char *role_out, size_t role_size, enum credfmt *fmt)
	__attribute__((warn_unused_result));

/* credfmt_dir_from_name - "ROLE.d" → 0 and role_out; -ENOENT or -ENAMETOOLONG as above. */
int credfmt_dir_from_name(const char *dirname, char *role_out, size_t role_size)
	__attribute__((warn_unused_result));

/* credfmt_key_from_name - an entry of ROLE.d/ ("username", ...) → 0 and *fmt; else -ENOENT. */
int credfmt_key_from_name(const char *name, enum credfmt *fmt) __attribute__((warn_unused_result));

/*
 * credfmt_name - the file name of format f for role (".env" appended, the
 * key's name for ROLE.d/ entries) into out; -ENAMETOOLONG when it does not
 * fit, -EINVAL for an unknown f.
 */
int credfmt_name(enum credfmt f, const char *role, char *out, size_t size)
	__attribute__((warn_unused_result));

/*
 * credfmt_role_name_clashes - whether role ends in a suffix of creds/
 * (".env", ".uri", ".service", ".pgpass", ".d"), so that its JSON file or
 * its ROLE.d/ would be taken for another role's. For roles/ to refuse new
 * such names.
 */
bool credfmt_role_name_clashes(const char *role);

/*
 * The client-side connection parameters credfs passes on, besides host,
 * hostaddr, port and dbname: how to reach and trust the server. Client
 * certificates (sslcert, sslkey, sslpassword), authentication choices
 * (require_auth, user, password, passfile) and credfs's own tuning
 * (connect_timeout, keepalives*, tcp_user_timeout, application_name,
 * options, ...) are the root's or credfs's, never the client's.
 */
enum credfmt_param {
	CREDFMT_P_SSLMODE,
	CREDFMT_P_SSLNEGOTIATION,
	CREDFMT_P_SSLROOTCERT,
	CREDFMT_P_SSLCRL,
	CREDFMT_P_SSLCRLDIR,
	CREDFMT_P_SSLSNI,
	CREDFMT_P_SSL_MIN_PROTOCOL_VERSION,
	CREDFMT_P_SSL_MAX_PROTOCOL_VERSION,
	CREDFMT_P_GSSENCMODE,
	CREDFMT_P_KRBSRVNAME,
	CREDFMT_P_CHANNEL_BINDING,
	CREDFMT_P_REQUIREPEER,
	CREDFMT_P_TARGET_SESSION_ATTRS,
	CREDFMT_P_LOAD_BALANCE_HOSTS,
	CREDFMT_NPARAM,
};

/*
 * credfmt_target - where clients of a connection go. Every field is NULL
 * when connection_url leaves it to libpq's default (an empty value counts
 * as absent, as in libpq): host → the client's compiled-in unix socket
 * directory, port → 5432, dbname → the user name. Lists are kept as libpq
 * takes them: host "h1,h2", port "5432" (all hosts) or "5432,5433" (one
 * per host). Not secret: plain malloc. Owned by the struct.
 */
struct credfmt_target {
	char *host;
	char *hostaddr;
	char *port;
	char *dbname;
	char *param[CREDFMT_NPARAM];
};

/* credfmt_param_keyword - libpq's keyword of p ("sslmode"); credfmt_param_env - its variable ("PGSSLMODE"). */
const char *credfmt_param_keyword(enum credfmt_param p);
const char *credfmt_param_env(enum credfmt_param p);

/*
 * credfmt_target - parse connection_url (borrowed; a postgresql:// or
 * postgres:// URI or key=value conninfo, as libpq's PQconninfoParse reads
 * it) into *out. Unknown and dropped keywords are ignored (libpq already
 * checked them when the connection was written).
 *
 * Returns 0 and *out (the caller calls credfmt_target_clear), or -EINVAL
 * with errbuf (CREDFMT_ERRLEN bytes, never a value of the URL) set: bad
 * syntax, a kept value containing {{username}} or {{password}}, "service="
 * (the host would be in a service file of the daemon's), port and host
 * lists of different lengths; or -ENOMEM. Transient copies of the URL's
 * values (a literal root password among them) are wiped.
 */
int credfmt_target(const char *connection_url, struct credfmt_target *out, char *errbuf)
	__attribute__((warn_unused_result));

/* credfmt_target_clear - free the fields of t and set them to NULL (NULL-safe). */
void credfmt_target_clear(struct credfmt_target *t);

/*
 * credfmt_render - the exact bytes of format f (not CREDFMT_JSON) of the
 * lease username/password (borrowed) for target t (borrowed) and role
 * (the service name in ROLE.service).
 *
 * Returns a new secret (caller secret_free()s it). NULL with errno set on
 * failure: EINVAL when a value cannot be represented in f (a newline in a
 * service file, a NUL byte anywhere, a bad role name) or f is JSON, ENOMEM.
 * The password is written straight into the secret: no other copy is made.
 */
struct secret *credfmt_render(enum credfmt f, const struct credfmt_target *t, const char *role,
			      const char *username, const struct secret *password);

#endif

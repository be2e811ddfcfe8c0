/* SPDX-License-Identifier: MIT */
/*
 * conn.h - PostgreSQL: a pool of libpq connections per connection
 * definition (conn.c), and the SQL of every credential operation
 * (conn_sql.c). Only conn*.c include <libpq-fe.h>.
 *
 * Every operation takes an errbuf of CONN_ERRLEN bytes that receives a
 * readable reason on failure: PostgreSQL's primary message, with any
 * secret the operation used masked as "(hidden)" and no SQL text. All
 * return 0 or a negative errno: -EIO when PostgreSQL refused a statement or
 * could not be reached (connect_timeout bounds the wait), -EINVAL for a
 * definition PostgreSQL cannot use (a connection_url libpq cannot parse, a
 * login the server refuses), -ENOMEM.
 *
 * Thread-safety: a pool may be used from any number of threads; each
 * PGconn is used by one thread at a time (libpq's rule), at most
 * max_open_connections at once.
 */
#ifndef CREDFS_CONN_H
#define CREDFS_CONN_H

#include <stdint.h>

#include "dbconf.h"
#include "role.h"
#include "secret.h"

#define CONN_ERRLEN	     256
#define CONN_CONNECT_TIMEOUT "3" /* seconds, unless connection_url sets one */

struct conn_pool;

/* conn_pool_new - a pool for c (a new reference is taken); NULL on ENOMEM. */
struct conn_pool *conn_pool_new(struct dbconf *c);
struct conn_pool *conn_pool_ref(struct conn_pool *p);
/* conn_pool_unref - the last reference closes every connection (NULL-safe). */
void conn_pool_unref(struct conn_pool *p);

/* conn_pool_conf - a new reference to the pool's current definition. */
struct dbconf *conn_pool_conf(struct conn_pool *p);

/* What a pool holds now, and how often a checkout had to wait (or gave up). */
struct conn_pool_stat {
	int open, idle, max_open;
	uint64_t waits, wait_timeouts;
};
void conn_pool_stats(struct conn_pool *p, struct conn_pool_stat *st);

/* conn_verify - connect once with c and check the server answers. */
int conn_verify(const struct dbconf *c, char *errbuf);

/*
 * conn_login_check - log in as user with pw (borrowed) through c's
 * connection_url (its user and password replaced) and SELECT 1: 0 when
 * PostgreSQL accepts the password, -EINVAL when the server answered and
 * refused it, -EIO when it could not be reached.
 */
int conn_login_check(const struct dbconf *c, const char *user, const struct secret *pw,
		     char *errbuf);

/*
 * conn_pool_reset - close the pool's idle connections now and those in use
 * when they come back: later checkouts connect anew. The number closed
 * now, or -ENOMEM.
 */
int conn_pool_reset(struct conn_pool *p);

/*
 * conn_static_exists - whether PostgreSQL has a role named username:
 * 0 yes, -ENOENT no, else -EIO with errbuf.
 */
int conn_static_exists(struct conn_pool *p, const char *username, char *errbuf);

/*
 * conn_static_set_password - run stmts (n 0: STATIC_DEFAULT_ROTATION) with
 * {{name}}/{{username}} = username and {{password}} = pw (or its SCRAM
 * verifier) in one transaction. pw is borrowed; the caller made it durable.
 */
int conn_static_set_password(struct conn_pool *p, const char *username, char *const *stmts,
			     size_t n, const struct secret *pw, char *errbuf);

/* Called once the creation statements are on their way; 0 lets them commit. */
typedef int conn_durable_fn(void *ctx);

/*
 * conn_create_user - run role's creation statements in one transaction
 * with {{name}}/{{username}} = username, {{password}} = pw (or its SCRAM
 * verifier: verifier when the caller has it ready, else computed here),
 * {{expiration}} = expires_ms + 5 s. durable(ctx) runs while PostgreSQL
 * executes them, before COMMIT is sent; it is not called when nothing was
 * sent. also (NULL: none; no secret in it) is one more statement sent after
 * them in the same message, so it commits or rolls back with the login
 * (the fleet's lease row, fleet_lease_inline). 0: committed. On failure
 * nothing stays: -EIO (errbuf says why),
 * -ECANCELED (durable() failed); except -EPROTO: the connection broke at
 * COMMIT, so the login may exist and must be revoked.
 */
int conn_create_user(struct conn_pool *p, const struct role *role, const char *username,
		     const struct secret *pw, const char *verifier, int64_t expires_ms,
		     const char *also, conn_durable_fn *durable, void *ctx, char *errbuf);

/* conn_renew_user - run the renew statements (default ALTER ROLE ... VALID UNTIL). */
int conn_renew_user(struct conn_pool *p, const struct role *role, const char *username,
		    int64_t expires_ms, char *errbuf);

/*
 * conn_revoke_user - end the login: the role's revocation statements, or
 * the default (NOLOGIN, revoke privileges as Vault does, reassign and drop
 * owned objects, DROP ROLE); then, if the role says so, terminate the
 * login's sessions. 0: revoked; 1: the login no longer existed (counts as
 * revoked: revocation is idempotent); -errno.
 */
int conn_revoke_user(struct conn_pool *p, const struct role *role, const char *username,
		     char *errbuf);

/*
 * conn_pool_query_bool - run sql (n text parameters, no secret) on one of
 * p's connections: 1 when it returns one row whose first field is true, 0
 * for any other answer, -EINVAL when PostgreSQL answered with an error,
 * -EIO when it could not answer (errbuf either way).
 */
int conn_pool_query_bool(struct conn_pool *p, const char *sql, int n, const char *const *vals,
			 char *errbuf);

/* conn_user_exists - 1 if login username exists, 0 if not, or -errno (errbuf). */
int conn_user_exists(struct conn_pool *p, const char *username, char *errbuf);

/*
 * conn_rotate_root - set the root password to pw (borrowed; the caller
 * made it durable first) with the rotation statements; on success the
 * pool's definition carries it (*newconf, a new reference, for the caller
 * to store).
 */
int conn_rotate_root(struct conn_pool *p, const struct secret *pw, struct dbconf **newconf,
		     char *errbuf);

#endif

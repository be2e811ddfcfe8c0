/* SPDX-License-Identifier: MIT */
/*
 * registry.h - the definitions: connections (config/NAME) and roles
 * (roles/NAME), with their versions.
 *
 * A connection has a version that changes only when a rewrite points it at
 * another server (connection_url or username differ). A lease is issued on
 * one version and is renewed and revoked on that version's server with that
 * version's root credentials; a rewrite that changes the server keeps the
 * old version (its pool and root password) alive, retired, until its last
 * lease is gone. A rewrite that keeps the server keeps the version, and
 * leases follow the new definition (a rotated root password included).
 *
 * Every change is shown to an observer (the journal) BEFORE it takes effect,
 * and does not take effect if the observer refuses it. Roles are versioned
 * too (every write is a new version), and a lease keeps the role version
 * it was issued under, so a role may be deleted while its leases live.
 *
 * Thread-safety: every function may be called from any thread. Definition
 * changes, rotations and journal snapshots are serialized (registry_hold).
 */
#ifndef CREDFS_REGISTRY_H
#define CREDFS_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "conn.h"
#include "dbconf.h"
#include "role.h"
#include "secret.h"

#define REGISTRY_ERRLEN 256

enum registry_kind {
	REGISTRY_CONN,
	REGISTRY_ROLE,
};

/* The observer: each returns 0 to let the change happen, or -errno. */
struct registry_observer {
	/* connection name at version is now c (borrowed); pending: a rotation not known to have happened */
	int (*conn_put)(void *ctx, const char *name, uint64_t version, const struct dbconf *c,
			const struct secret *pending);
	/* role ro (borrowed) is the current version */
	int (*role_put)(void *ctx, const struct role *ro);
	int (*deleted)(void *ctx, enum registry_kind kind, const char *name);
	/* before ALTER ROLE: pw (borrowed) may become the root password of name */
	int (*rotate_intent)(void *ctx, const char *name, const struct secret *pw);
	void *ctx;
};

/* How many live leases use a connection version (0: every version of name). */
typedef size_t registry_count_fn(void *ctx, const char *name, uint64_t version);

struct registry;

/* registry_new - no definitions; count tells which versions leases use. NULL on ENOMEM. */
struct registry *registry_new(registry_count_fn *count, void *ctx);

/* registry_free - NULL-safe. */
void registry_free(struct registry *g);

/* registry_set_observer - o copied; before any change. */
void registry_set_observer(struct registry *g, const struct registry_observer *o);

/* registry_get_observer - a copy of the observer in *o (a fan-out puts itself in front). */
void registry_get_observer(struct registry *g, struct registry_observer *o);

/*
 * registry_conn_write - make c (taken, on every path) the definition of
 * connection c->name: keeps the root password when c has none (same
 * username), connects first when c->verify_connection, records, swaps.
 * Returns 0, or -EINVAL (PostgreSQL refused), -EIO, -ENOMEM with errbuf.
 */
int registry_conn_write(struct registry *g, struct dbconf *c, char *errbuf)
	__attribute__((warn_unused_result));

/* registry_role_write - make ro (taken, on every path) the current version of role ro->name. */
int registry_role_write(struct registry *g, struct role *ro, char *errbuf)
	__attribute__((warn_unused_result));

/* registry_delete - -ENOENT, or -EBUSY for a connection live leases still use. */
int registry_delete(struct registry *g, enum registry_kind kind, const char *name, char *errbuf)
	__attribute__((warn_unused_result));

/* registry_exists - whether name is defined. */
bool registry_exists(struct registry *g, enum registry_kind kind, const char *name);

/* registry_names - the names of one kind, as a new JSON array. */
json_t *registry_names(struct registry *g, enum registry_kind kind);

/* registry_role - a new reference to the current role name, or NULL. */
struct role *registry_role(struct registry *g, const char *name);

/* registry_conf - a new reference to connection name's current definition, or NULL. */
struct dbconf *registry_conf(struct registry *g, const char *name);

/*
 * registry_pool - a new reference to the pool of connection name at
 * version (0: the current one; *version_out, may be NULL, says which), or
 * NULL when there is none.
 */
struct conn_pool *registry_pool(struct registry *g, const char *name, uint64_t version,
				uint64_t *version_out);

/*
 * registry_rotate_root - a new root password for connection name: recorded
 * (rotate_intent) before ALTER ROLE, then the definition carries it.
 */
int registry_rotate_root(struct registry *g, const char *name, char *errbuf)
	__attribute__((warn_unused_result));

/* registry_retire - drop retired version of name if no lease uses it any more. */
void registry_retire(struct registry *g, const char *name, uint64_t version);

/*
 * registry_resolve_pending - for every rotation not known to have happened
 * (a crash between its record and its end), find out which password
 * PostgreSQL accepts and keep it. Connects: never under a lock.
 */
void registry_resolve_pending(struct registry *g);

/* registry_has_pending - whether a rotation is still to be resolved. */
bool registry_has_pending(struct registry *g);

/* registry_hold - hold (true) or release definition changes (journal snapshots). */
void registry_hold(struct registry *g, bool hold);

/* Enumeration for journal snapshots; the callbacks get borrowed values. */
typedef void registry_conn_fn(void *ctx, const char *name, uint64_t version, bool current,
			      const struct dbconf *c, const struct secret *pending);
typedef void registry_role_fn(void *ctx, const struct role *ro);
void registry_foreach(struct registry *g, registry_conn_fn *cf, registry_role_fn *rf, void *ctx);

/* --- restoring (before anything else uses the registry) ---------------------- */

/*
 * registry_restore_conn - connection name at version, c and pending taken
 * (pending may be NULL); current=false adds a retired version.
 */
int registry_restore_conn(struct registry *g, const char *name, uint64_t version, bool current,
			  struct dbconf *c, struct secret *pending)
	__attribute__((warn_unused_result));

/* registry_restore_role - ro (taken) is the current version of its role. */
int registry_restore_role(struct registry *g, struct role *ro) __attribute__((warn_unused_result));

/* registry_restore_done - the highest role version seen; retire unused versions. */
void registry_restore_done(struct registry *g, uint64_t max_role_version);

#endif

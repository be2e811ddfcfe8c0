/* SPDX-License-Identifier: MIT */
/*
 * fleet.h - several credfs hosts sharing definitions, root secrets and
 * leases through a schema in a PostgreSQL database (the control store);
 * README "Several hosts". No consensus of its own: transactions,
 * LISTEN/NOTIFY, advisory locks and SKIP LOCKED.
 *
 * The fleet observes the registry and the lease service (it sits in front
 * of the journal: both observers see every change), writes definitions
 * (sealed under the fleet key, fleet_seal.h) and lease rows to the store,
 * and applies what other nodes wrote. One thread (fleet_start) listens
 * for notifications, heartbeats, resyncs, and claims and revokes the
 * leases of dead nodes on the connections' lanes.
 *
 * Thread-safety: every function may be called from any thread;
 * fleet_open/fleet_start/fleet_stop/fleet_free belong to the owner.
 */
#ifndef CREDFS_FLEET_H
#define CREDFS_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lease.h"
#include "leasesvc.h"
#include "registry.h"

#define FLEET_ERRLEN 256

/*
 * What the engine keeps besides connections and roles (static roles,
 * root rotation times), shared through the control store as definitions
 * of other kinds ("static", "rootrot"): apply() takes a row another node
 * wrote (doc borrowed; NULL: deleted; 0 or -errno with errbuf,
 * REGISTRY_ERRLEN), called from whichever thread syncs with
 * fleet_applying() true; collect() gives this node's own as a new
 * {"KIND/NAME": doc} to seed a fleet that has none of them.
 */
struct fleet_extra {
	int (*apply)(void *ctx, const char *kind, const char *name, json_t *doc, char *errbuf);
	json_t *(*collect)(void *ctx);
	void *ctx;
};

/* The command line's fleet options (borrowed strings). */
struct fleet_opts {
	const char *conninfo; /* libpq URI or key=value conninfo */
	const char *key_file; /* 32 bytes, 0600, must exist */
	const char *node; /* this node's name (NULL: the host name) */
	const char *schema; /* NULL: "credfs" */
	int grace_s; /* <= 0: 10 */
	int retention_s; /* revoked lease rows kept this long; <= 0: FLEET_RETENTION_S */
	const struct fleet_extra *extra; /* copied; NULL: none */
};

#define FLEET_RETENTION_S 86400 /* a day: fleet/ and SQL can still tell what became of a lease */

struct fleet;

/* How the fleet writes an audit line for a lease it revoked for a dead node (err NULL: ok). */
typedef void fleet_audit_fn(void *ctx, const char *action, const struct lease *l, const char *err);

/*
 * fleet_open - connect to the control store, create the schema (idempotent),
 * take the node's lock (-EBUSY: another process runs this node), load the
 * fleet's definitions into g (they win over the journal's; local ones the
 * fleet lacks are pushed) and observe g and s from now on (in front of
 * their current observers). 0 and *out, or -errno with errbuf.
 */
int fleet_open(const struct fleet_opts *o, struct registry *g, struct leasesvc *s,
	       struct fleet **out, char *errbuf) __attribute__((warn_unused_result));

/*
 * fleet_start - a first heartbeat, the node's leases against their rows
 * (those survivors claimed while it was down are dropped), then the
 * fleet's thread (after daemonizing, before the lease service's timer);
 * 0 or -errno.
 */
int fleet_start(struct fleet *f) __attribute__((warn_unused_result));

/* fleet_stop - join the thread (idempotent, NULL-safe). */
void fleet_stop(struct fleet *f);

/* fleet_free - stop, close the control connection (releases the node lock). NULL-safe. */
void fleet_free(struct fleet *f);

/*
 * fleet_healthy - whether the last heartbeat succeeded within grace/2 and
 * the node is not rejoining (starting, or back from a cut, with leases
 * that survivors claimed meanwhile not yet dropped). Renewals and
 * revocations need it.
 */
bool fleet_healthy(struct fleet *f);

#ifdef CREDFS_TEST_HOOKS
/*
 * fleet_test_stuck - CREDFS_TEST_FLEET_STUCK_MS=N: a renewal or revocation
 * that passed the health check waits N ms before it reaches PostgreSQL and, if the
 * node was cut off meanwhile, until it is back and has looked at its
 * leases once: a statement sent into a cut link arrives after the link is
 * back.
 */
void fleet_test_stuck(struct fleet *f);
#endif

/* fleet_set_audit - the audit hook; before fleet_start. */
void fleet_set_audit(struct fleet *f, fleet_audit_fn *fn, void *ctx);

/*
 * fleet_lease_put - write-ahead row of l (issued on this node), in its own
 * short transaction, before the creation transaction commits; inline_row:
 * the creation transaction carries it (fleet_lease_inline), so only the
 * store's health is checked. 0 or -EIO.
 */
int fleet_lease_put(struct fleet *f, struct lease *l, bool inline_row)
	__attribute__((warn_unused_result));

struct conn_pool;

/*
 * fleet_lease_inline - when p (l's connection, at l's version) reaches the
 * control store's own database, the INSERT of l's row (the columns and
 * values fleet_lease_put writes, no secret; a new string) to run in l's
 * creation transaction, so that the row commits or rolls back with the
 * login. NULL otherwise (or with no fleet): fleet_lease_put writes it.
 * Whether p is asked once per connection version. CREDFS_TEST_HOOKS:
 * CREDFS_TEST_FLEET_SEPARATE=1 always gives NULL.
 */
char *fleet_lease_inline(struct fleet *f, struct conn_pool *p, struct lease *l);

/*
 * fleet_lease_unclaimed - l's login turned out to be gone when this node
 * revoked it: 0 when no other node has claimed l (the revocation counts as
 * this node's), -EAGAIN (errbuf, LEASESVC_ERRLEN) when one has, so the
 * revocation was the claimer's and fleet_lease_own drops l here, or when
 * the control store cannot tell yet. 0 with no fleet.
 */
int fleet_lease_unclaimed(struct fleet *f, const struct lease *l, char *errbuf);

/* fleet_lease_gone - l's creation rolled back: its row goes (queued). */
void fleet_lease_gone(struct fleet *f, struct lease *l);

/*
 * fleet_rotate_begin - take name's fleet-wide rotation lock (on a
 * connection of its own; waits) and bring every definition up to date
 * from the store; fleet_rotate_end releases it. name: a connection's, or
 * "static/NAME" for a static role's password. 0 or -EIO with errbuf.
 */
int fleet_rotate_begin(struct fleet *f, const char *name, void **lock, char *errbuf)
	__attribute__((warn_unused_result));
void fleet_rotate_end(struct fleet *f, void *lock);

/*
 * fleet_def_write - kind/name's doc (borrowed; NULL: deleted) to the
 * control store, sealed, as a new version, notifying every node: for the
 * kinds of struct fleet_extra. 0 or -EIO.
 */
int fleet_def_write(struct fleet *f, const char *kind, const char *name, const json_t *doc)
	__attribute__((warn_unused_result));

/* fleet_applying - whether this thread is applying what another node wrote. */
bool fleet_applying(void);

/* fleet/leases/ and fleet/nodes/ --------------------------------------------------- */

/* fleet_lease_roles / fleet_lease_ids - names in fleet/leases/, fleet/leases/ROLE/ (new arrays). */
json_t *fleet_lease_roles(struct fleet *f);
json_t *fleet_lease_ids(struct fleet *f, const char *role);

/* fleet_lease_json - fleet/leases/ROLE/ID (new), or NULL. */
json_t *fleet_lease_json(struct fleet *f, const char *role, const char *id);

/*
 * fleet_lease_revoke - rm fleet/leases/ROLE/ID: *local set when it is this
 * node's own lease (the caller revokes it through the lease service);
 * otherwise the row is marked revoke_requested for its owner (or its
 * claimer). 0, -ENOENT, -EIO.
 */
int fleet_lease_revoke(struct fleet *f, const char *role, const char *id, bool *local);

/* fleet_node_names - fleet/nodes/ (new array); fleet_node_json - fleet/nodes/NAME (new) or NULL. */
json_t *fleet_node_names(struct fleet *f);
json_t *fleet_node_json(struct fleet *f, const char *name);

#endif

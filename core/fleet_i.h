/* SPDX-License-Identifier: MIT */
/*
 * fleet_i.h - the fleet's insides, shared by fleet.c (opening, the
 * thread, definitions, rotation), fleet_lease.c (lease rows, claims,
 * fleet/) and fleet_sql.c (the control connection). Like conn_i.h, it
 * brings <libpq-fe.h> to these files only.
 */
#ifndef CREDFS_FLEET_I_H
#define CREDFS_FLEET_I_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "fleet.h"
#include "fleet_seal.h"

#define FLEET_TICK_MS	    2000 /* heartbeat, lease rows, dead nodes */
#define FLEET_RESYNC_MS	    10000 /* full resync of definitions */
#define FLEET_OP_MS	    10000 /* client-side deadline of one control store exchange */
#define FLEET_GC_MS	    60000 /* revoked rows past the retention are looked for (at most) */
#define FLEET_GC_BATCH	    1000 /* rows deleted by one statement */
#define FLEET_GONE_S	    (7 * 86400) /* a node silent this long no longer holds its rows back */
#define FLEET_TARGET_KEEP_S 3600 /* a superseded target's definition is kept at least */
#define FLEET_TARGET_GC_MS  (10 * 60000) /* superseded targets are looked for (at most) */
#define FLEET_DEFAULT_NAME  "credfs"

struct fleet {
	char *node, *schema, *conninfo; /* immutable */
	char *qs; /* immutable: the schema as a quoted identifier */
	int64_t grace_ms; /* immutable */
	int64_t retention_s; /* immutable: revoked rows are kept this long */
	struct secret *key; /* immutable */
	struct registry *g; /* borrowed */
	struct leasesvc *s; /* borrowed */
	struct registry_observer rnext; /* immutable: the observer behind the fleet (the journal) */
	struct leasesvc_observer lnext; /* immutable */
	struct fleet_extra extra; /* immutable: static roles, root rotation times (the engine's) */

	pthread_mutex_t pmu; /* the control connection */
	PGconn *pg; /* protected by pmu; NULL while disconnected */

	pthread_mutex_t mu; /* the fields below */
	json_t *seen; /* protected by mu: "conn/NAME", "role/NAME" -> version applied or written */
	json_t *queue; /* protected by mu: lease row changes waiting for the thread */
	json_t *leases; /* protected by mu: fleet/leases cache, id -> row */
	int64_t leases_at; /* protected by mu: monotonic ms of the cache */
	json_t *running; /* protected by mu: claimed leases being revoked, id -> true */
	json_t *retry; /* protected by mu: claimed lease id -> monotonic ms of the next try */
	json_t *same_store; /* protected by mu: "CONN\nVERSION" -> whether it is the control store's database */
	int64_t started_us; /* protected by mu: this node's nodes.started (µs since the epoch), 0: not read yet */

	fleet_audit_fn *audit; /* set before start */
	void *audit_ctx;
	_Atomic int64_t hb_ok; /* monotonic ms the control session last answered */
	_Atomic bool
		rejoining; /* starting or reconnected: healthy only after a clean fleet_lease_own */
	_Atomic uint64_t session; /* control sessions opened so far */
	_Atomic uint64_t owns; /* fleet_lease_own runs so far (a test hook waits for one) */
	int64_t gc_at; /* the thread's: monotonic ms of the next garbage collection */
	int64_t target_gc_at; /* the thread's: ... of superseded targets' definitions */
	_Atomic bool stop;
	_Atomic bool wake; /* a notification came: resync now */
	bool started;
	pthread_t th;
};

/* Applying what the fleet wrote: the fleet's observer lets it through without writing back. */
extern __thread bool fleet_tl_applying;

/* fleet_mono - monotonic ms. */
int64_t fleet_mono(void);

/*
 * fleet_tick_ms - how often the heartbeat and the lease work run:
 * FLEET_TICK_MS, or a quarter of the grace when that is shorter (healthy
 * means a heartbeat within grace/2: two chances at least), 250 ms at least.
 */
static inline int64_t fleet_tick_ms(const struct fleet *f)
{
	int64_t t = f->grace_ms / 4;

	return t >= FLEET_TICK_MS ? FLEET_TICK_MS : t < 250 ? 250 : t;
}

/* --- fleet_sql.c: the control connection (pmu held unless said) ----------------- */

/*
 * fleet_sql_connect - connect (keepalives, timeouts), create the schema,
 * take the node's lock, LISTEN. pmu not needed before the thread starts.
 * -EBUSY when another process holds the node; -EIO otherwise (errbuf).
 */
int fleet_sql_connect(struct fleet *f, char *errbuf);

/* fleet_sql_text - tmpl with every '@' replaced by the quoted schema (new string). */
char *fleet_sql_text(struct fleet *f, const char *tmpl);

/*
 * fleet_sql - run tmpl (see fleet_sql_text) with n text parameters within
 * FLEET_OP_MS. NULL on failure (logged; a broken connection is closed and
 * set to NULL for the thread to reconnect); else a result to PQclear.
 */
PGresult *fleet_sql(struct fleet *f, const char *tmpl, int n, const char *const *vals);
/*
 * fleet_doc_conf - the connection definition in an unsealed "conn" doc
 * (its "conf"), as the store holds it: not verified again (the writing
 * node did). 0 and *out (new), or -EINVAL with errbuf (len bytes).
 */
int fleet_doc_conf(const char *name, json_t *doc, struct dbconf **out, char *errbuf, size_t len)
	__attribute__((warn_unused_result));

/* fleet_query - fleet_sql, one statement under the control session's lock (pmu). */
PGresult *fleet_query(struct fleet *f, const char *tmpl, int n, const char *const *vals);

/*
 * fleet_sql_lock_conn - a connection of its own holding the session lock
 * key (waiting for it, or not: NULL when held elsewhere). PQfinish releases.
 */
PGconn *fleet_sql_lock_conn(struct fleet *f, const char *key, bool wait, char *errbuf);

/* fleet_json_text - j (borrowed, may be NULL) as compact text: malloc'd, NULL on failure. */
char *fleet_json_text(const json_t *j);

/* fleet_i64 / fleet_str - a field of res (0 / NULL when null). */
int64_t fleet_i64(const PGresult *res, int row, int col);
const char *fleet_str(const PGresult *res, int row, int col);

/* --- fleet.c ---------------------------------------------------------------- */

/* fleet_defs_sync - apply every definition newer than seen (pmu not held). */
void fleet_defs_sync(struct fleet *f, bool push_local);

/* --- fleet_lease.c ---------------------------------------------------------- */

/* fleet_lease_record - the lease service's observer (queues a row change). */
int fleet_lease_record(struct fleet *f, struct lease *l, enum leasesvc_rec what, int64_t at);

/*
 * fleet_lease_own - this node's leases against their rows: those another
 * node claimed are dropped without revoking, revoke requests are served,
 * rows missing are written (pmu not held). True when the rows were read
 * and every lease another node claimed is out of the table: a node back
 * from a cut counts as healthy only then (a claimed lease with a job in
 * flight stays until that job ends, and must not be revoked by it).
 */
bool fleet_lease_own(struct fleet *f);

/*
 * fleet_lease_synced - record that this node has just dropped every lease
 * claimed from it (a clean fleet_lease_own): rows claimed before may go
 * (pmu not held).
 */
void fleet_lease_synced(struct fleet *f);

/* fleet_lease_tick - flush queued row changes, claim dead nodes' leases, revoke what is due, delete old revoked rows (pmu not held). */
void fleet_lease_tick(struct fleet *f);

/* fleet_lease_refresh - reload the fleet/leases cache if older than max_age_ms (pmu not held). */
void fleet_lease_refresh(struct fleet *f, int64_t max_age_ms);

#endif

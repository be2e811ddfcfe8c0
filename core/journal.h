/* SPDX-License-Identifier: MIT */
/*
 * journal.h - what credfs keeps on disk (store.h: encrypted, append-only,
 * compacted), and how it comes back. The journal observes the definition
 * registry and the lease service through their observer interfaces and
 * writes one record per change; at start it replays the records into both.
 *
 * Records (JSON, encrypted by store.c); times are wall-clock ms:
 *   conf      {name, v, doc, pending?}  connection name at version v is now
 *                                       doc (with its root password); pending:
 *                                       a rotation not known to have happened.
 *                                       A conf of another version retires the
 *                                       previous one while leases need it
 *   confv     {name, v, doc}            a retired version (snapshots only)
 *   conf-del  {name}
 *   role      {name, v, doc}            version v of a role, now current
 *   rolev     {name, v, doc}            an older version still used by leases
 *   role-del  {name}
 *   lease     ["lease", id, role, v, user, issued, ttl, max, valid, pid,
 *              start, uid, gid, comm, exe, cgroup, boot, conn_v, let_go,
 *              revoke, attempts, ns_pid, ns_mnt, ns_user]
 *                                       durable BEFORE the login can commit
 *   renew     {id, valid}               durable, after PostgreSQL accepted it
 *   letgo     {id, at}                  before renewals stop; on disk with the
 *                                       next durable record or within
 *                                       JOURNAL_SYNC_MS
 *   revoke    {id, at}                  durable, BEFORE rm leases/... returns
 *   fail      {id, n}                   after a failed revocation attempt
 *   gone      {id}                      after PostgreSQL confirmed the
 *                                       revocation (or the creation rolled back)
 *   rotate    {name, password}          durable BEFORE ALTER ROLE ... PASSWORD
 *   sdef      {name, doc, at}           static role name is now doc (at: created)
 *   sdel      {name}                    static role name is no longer managed
 *   spend     {name, password}          durable BEFORE its ALTER ROLE: the
 *                                       static role's password may become it
 *   spw       {name, password, at}      the static role's password is this,
 *                                       set at at (its rotation ended)
 *   sclear    {name}                    the pending password did not take effect
 *   rootrot   {name, at}                connection name's root password was
 *                                       rotated at at (for rotation_period)
 *   start     {boot, at, held}          durable, at each start: every lease
 *                                       not in held (ids held again) and not
 *                                       yet let go or revoked is let go at at
 * Older records (lease arrays of 16 or 21 fields or objects, conf without v,
 * rotate-abort) are still read. Issued passwords are never recorded.
 *
 * Restore: a lease's deadline is what it was. Revoked at once when it was
 * due (asked for, past max_ttl, or its VALID UNTIL passed while let go);
 * let go at its journaled let-go time; held again when it is bound to a
 * process that still runs (same pid, start time and boot id), with its
 * journaled VALID UNTIL as a lower bound; otherwise its open file died with
 * the old daemon: let go now, and that let-go is journaled (by the start
 * record) so later restarts do not postpone it again.
 */
#ifndef CREDFS_JOURNAL_H
#define CREDFS_JOURNAL_H

#include <stdio.h>

#include "lease.h"
#include "leasesvc.h"
#include "registry.h"
#include "secret.h"

#define JOURNAL_ERRLEN 256

struct journal;

/*
 * journal_open - load the key in key_file (created 0600 when neither it
 * nor the state exists), open the state in dir, restore it into g and s
 * (empty, not started), and observe both from now on. Refuses damaged
 * state, a wrong key or a key others can read (errbuf says why).
 */
int journal_open(const char *dir, const char *key_file, struct registry *g, struct leasesvc *s,
		 struct journal **out, char *errbuf) __attribute__((warn_unused_result));

/*
 * journal_check - what journal_open would restore from dir, as JSON on
 * out, without writing anything. 0, or -errno with errbuf (a start would
 * refuse).
 */
int journal_check(const char *dir, const char *key_file, FILE *out, char *errbuf)
	__attribute__((warn_unused_result));

/* journal_key - the state key (borrowed, valid until journal_close). */
const struct secret *journal_key(struct journal *j);

/* journal_lease - the write-ahead record of a new lease (durable). NULL j: 0. */
int journal_lease(struct journal *j, struct lease *l) __attribute__((warn_unused_result));

/* journal_gone - l's creation rolled back (not durable). NULL j: no-op. */
void journal_gone(struct journal *j, struct lease *l);

/*
 * journal_sync_due - records written without waiting for the disk (a
 * let-go) are made durable with the next durable record, or by this call
 * once JOURNAL_SYNC_MS old. Returns -1 when none is left, else the ms
 * until the next call should be made. NULL-safe.
 */
#define JOURNAL_SYNC_MS 100
int64_t journal_sync_due(struct journal *j);

/* journal_maybe_compact - compact when the journal has grown enough. NULL-safe. */
void journal_maybe_compact(struct journal *j);

/* journal_put - another part's record rec (taken; see above); durable: on disk before it returns. NULL j: 0. */
int journal_put(struct journal *j, json_t *rec, bool durable) __attribute__((warn_unused_result));

/* journal_emit_fn - write rec (borrowed) into the journal being compacted. */
typedef int journal_emit_fn(void *ectx, json_t *rec);

/*
 * Another part that keeps records (static roles, root rotation times):
 * hold(true) stops its changes for a compaction and hold(false) lets them
 * go on; dump() emits its whole state as records.
 */
struct journal_extra {
	void (*hold)(void *ctx, bool on);
	int (*dump)(void *ctx, journal_emit_fn *emit, void *ectx);
	void *ctx;
};

/* journal_set_extra - x copied; NULL-safe j. */
void journal_set_extra(struct journal *j, const struct journal_extra *x);

/*
 * journal_take_extra - what journal_open replayed of those records, once:
 * a new {"static": {name: {doc, at, password?, last?, pending?}},
 * "root": {name: at}}, or NULL.
 */
json_t *journal_take_extra(struct journal *j);

/* journal_close - flush and close (NULL-safe); call after g and s stopped changing. */
void journal_close(struct journal *j);

/* journal_stats - see store_stats; zeros for NULL (no state directory). */
void journal_stats(struct journal *j, size_t *bytes, uint64_t *compactions, int64_t *compacted_at);

#endif

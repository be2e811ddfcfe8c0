/* SPDX-License-Identifier: MIT */
/*
 * leasesvc.h - the lease service: the lease table (lease.h), its timer
 * thread, the workers that run due renewals and revocations, and the
 * watches on openers (watch.h). It knows nothing of files, definitions or
 * SQL: PostgreSQL is reached through a backend, and every state change is
 * shown to an observer (the journal) through one function.
 *
 * Time: deadlines are on CLOCK_MONOTONIC (timefmt_mono_ms), so a step of
 * the wall clock moves none; wall time (timefmt_now_ms) is used only for
 * VALID UNTIL, display and the journal, converted with leasesvc_wall_off().
 *
 * Durability: the observer's record() is called BEFORE a let-go or an
 * administrator's revocation takes effect (the revocation is refused, the
 * let-go taken again at the next restart, when it fails), and after
 * PostgreSQL accepted a renewal or a revocation (a lost renewal record is
 * harmless: the journaled VALID UNTIL is a lower bound; a lost revocation
 * record only makes a restart revoke a login that is gone, which counts as
 * revoked).
 *
 * Thread-safety: every function may be called from any thread, except
 * that leasesvc_start/leasesvc_stop/leasesvc_free belong to the owner.
 */
#ifndef CREDFS_LEASESVC_H
#define CREDFS_LEASESVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lanes.h"
#include "lease.h"
#include "watch.h"

#define LEASESVC_ERRLEN 256

/* What an observer is told. */
enum leasesvc_rec {
	LEASESVC_REC_LET_GO, /* before: renewals stop, revocation one TTL after at */
	LEASESVC_REC_REVOKE, /* before: an administrator asked for revocation now */
	LEASESVC_REC_RENEWED, /* after: PostgreSQL's VALID UNTIL is l->valid_until */
	LEASESVC_REC_FAILED, /* after: a revocation attempt failed (l->attempts) */
	LEASESVC_REC_REVOKED, /* after: PostgreSQL confirmed the revocation */
};

/* The backend: how jobs reach PostgreSQL, and what the owner hears. */
struct leasesvc_backend {
	/* renew l so that PostgreSQL's VALID UNTIL is until_wall (+ slack); 0 or -errno */
	int (*renew)(void *ctx, struct lease *l, int64_t until_wall, char *errbuf);
	/* revoke l's login; 0 or -errno (errbuf LEASESVC_ERRLEN, no secret) */
	int (*revoke)(void *ctx, struct lease *l, char *errbuf);
	/* one audit line: action ("renew", "revoke", "let-go-exit", ...), err NULL for success */
	void (*audit)(void *ctx, const char *action, struct lease *l, const char *err);
	/* wake the poller behind handle (taken) */
	void (*poll)(void *ctx, void *handle);
	/* l was revoked and left the table */
	void (*gone)(void *ctx, struct lease *l);
	/*
	 * the timer has nothing due: housekeeping (journal sync, compaction,
	 * pending rotations); returns in how many ms it wants to run again, or -1
	 */
	int64_t (*idle)(void *ctx);
	void *ctx;
};

/* The observer: record() returns 0 or -errno (at is wall ms). */
struct leasesvc_observer {
	int (*record)(void *ctx, struct lease *l, enum leasesvc_rec what, int64_t at);
	void *ctx;
};

struct leasesvc;

/* leasesvc_new - an idle service (b copied); NULL on ENOMEM. */
struct leasesvc *leasesvc_new(const struct leasesvc_backend *b);

/* leasesvc_set_observer - o copied; before leasesvc_start. */
void leasesvc_set_observer(struct leasesvc *s, const struct leasesvc_observer *o);

/* leasesvc_get_observer - a copy of the observer in *o (a fan-out puts itself in front). */
void leasesvc_get_observer(struct leasesvc *s, struct leasesvc_observer *o);

/*
 * leasesvc_forget - drop l from the table WITHOUT revoking it (another
 * node took it over): recorded as revoked, its watch left, its poller
 * woken (POLLPRI). false when l is not in the table or a job runs for it.
 */
bool leasesvc_forget(struct leasesvc *s, struct lease *l);

/*
 * leasesvc_start - the timer; renewals and revocations run on their
 * connection's lane (lanes.h) as urgent jobs, on at most width + 1 threads
 * per connection until an issue sets the lane's width.
 */
int leasesvc_start(struct leasesvc *s, int width) __attribute__((warn_unused_result));

/* leasesvc_lanes - the lanes jobs run on (borrowed): issues use them too. */
struct lanes *leasesvc_lanes(struct leasesvc *s);

/* leasesvc_stop - let running jobs finish, then join every thread (idempotent). */
void leasesvc_stop(struct leasesvc *s);

/* leasesvc_free - stop, then drop every lease from memory (not from PostgreSQL). NULL-safe. */
void leasesvc_free(struct leasesvc *s);

/* leasesvc_table - the table (borrowed, for reads), valid until leasesvc_free. */
struct lease_table *leasesvc_table(struct leasesvc *s);

/* leasesvc_clock_fn - a clock in ms. */
typedef int64_t leasesvc_clock_fn(void);

/*
 * leasesvc_set_clock - unit tests: the monotonic and wall clocks every
 * service of the process reads (NULL: the real ones). Before any service
 * exists. The timer still sleeps in real time: wake it after moving the
 * clock (leasesvc_wake).
 */
void leasesvc_set_clock(leasesvc_clock_fn *mono, leasesvc_clock_fn *wall);

/* leasesvc_now - the service's clock (monotonic ms). */
int64_t leasesvc_now(void);

/* leasesvc_wall_off - wall ms minus monotonic ms, now: wall = mono + off. */
int64_t leasesvc_wall_off(void);

/* --- issuing -------------------------------------------------------------- */

/* leasesvc_watch_prepare - see watchset_prepare: before the login is created. */
int leasesvc_watch_prepare(struct leasesvc *s, const struct lease_holder *h, struct watch **w,
			   char *errbuf) __attribute__((warn_unused_result));

/* leasesvc_watch_cancel - the issue failed: drop the prepared watch (taken). */
void leasesvc_watch_cancel(struct leasesvc *s, struct watch *w);

/*
 * leasesvc_inflight_add - track l (recorded, its login maybe being
 * created) so that a snapshot of the journal includes it; _del stops.
 */
int leasesvc_inflight_add(struct leasesvc *s, struct lease *l) __attribute__((warn_unused_result));
void leasesvc_inflight_del(struct leasesvc *s, struct lease *l);

/*
 * leasesvc_add - l's login exists: put it in the table (a reference is
 * taken) and under the prepared watch w (taken, NULL-safe). Returns 0 or
 * -ENOMEM: l is then not tracked until a restart, which revokes it (its
 * record is in the journal); the caller says so.
 */
int leasesvc_add(struct leasesvc *s, struct lease *l, struct watch *w);

/*
 * leasesvc_revoke_now - l (in the table) is due for revocation now,
 * recorded first. must_record: when the record fails nothing changes and
 * -errno is returned (an administrator's request); otherwise it is revoked
 * anyway (credfs's own decision, which a restart takes again).
 */
int leasesvc_revoke_now(struct leasesvc *s, struct lease *l, bool must_record);

/* leasesvc_closed - the open file of l saw its last release. */
void leasesvc_closed(struct leasesvc *s, struct lease *l);

/* leasesvc_poll - see engine_poll. */
bool leasesvc_poll(struct leasesvc *s, struct lease *l, void *handle, void **old);

/* leasesvc_poll_take - take back l's poll handle (NULL if none). */
void *leasesvc_poll_take(struct leasesvc *s, struct lease *l);

/*
 * leasesvc_count_conn - leases in flight or in the table issued on
 * version of connection db (version 0: any version).
 */
size_t leasesvc_count_conn(struct leasesvc *s, const char *db, uint64_t version);

/*
 * leasesvc_count_role - leases of role (by name) in flight or in the
 * table in *all, those held by uid in *of_uid; each lease counted once.
 */
void leasesvc_count_role(struct leasesvc *s, const char *role, uid_t uid, size_t *all,
			 size_t *of_uid);

/* leasesvc_snapshot - leases in flight and in the table (see lease_table_snapshot). */
int leasesvc_snapshot(struct leasesvc *s, struct lease ***out, size_t *n)
	__attribute__((warn_unused_result));

/*
 * leasesvc_gate - hold (true) or release state changes between their
 * record and their effect: the journal's compaction holds them while it
 * takes its snapshot. Never call a leasesvc function while holding it.
 */
void leasesvc_gate(struct leasesvc *s, bool hold);

/* leasesvc_inflight_wait - wait until no issue is in flight (shutdown). */
void leasesvc_inflight_wait(struct leasesvc *s);

/* --- restoring ------------------------------------------------------------ */

enum leasesvc_restore {
	LEASESVC_RESTORE_HELD, /* the opener still runs: held, watched */
	LEASESVC_RESTORE_LET_GO, /* let go at `at` (monotonic ms, may be past) */
	LEASESVC_RESTORE_REVOKE, /* due for revocation now */
};

/*
 * leasesvc_restore - add a lease rebuilt from the journal (a reference is
 * taken) in the given state. Before leasesvc_start.
 */
int leasesvc_restore(struct leasesvc *s, struct lease *l, enum leasesvc_restore how, int64_t at)
	__attribute__((warn_unused_result));

/* leasesvc_wake - make the timer look at deadlines again. */
void leasesvc_wake(struct leasesvc *s);

#endif

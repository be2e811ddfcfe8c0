/* SPDX-License-Identifier: MIT */
/*
 * lease.h - the lease table: every issued credential, its lifecycle and
 * its deadlines. Pure logic: time is always a parameter (`now`, milliseconds
 * on one clock that never steps: the lease service passes CLOCK_MONOTONIC
 * and converts to wall time only for VALID UNTIL, display and the journal),
 * PostgreSQL is reached by whoever runs the jobs this module hands out, so
 * the whole state machine is unit-tested with a fake clock.
 *
 * Lifecycle of a lease (DESIGN.md "Leases"):
 *
 *   HELD --(last close [handle binding] / opener exit)--> LET_GO
 *   HELD: renewed about two-thirds into each TTL, never past max_expires;
 *         at max_expires it is revoked even while held.
 *   LET_GO: revoked at min(let-go + ttl, max_expires).
 *   REVOKING --ok--> removed;  --error--> FAILED, retried with backoff
 *   (1 s doubling to 5 min), never dropped.
 *
 * Thread-safety: all lease_table_* functions lock the table; struct lease
 * fields marked "protected" are read through lease_table_* or under
 * lease_table_lock().
 */
#ifndef CREDFS_LEASE_H
#define CREDFS_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "role.h"

#define LEASE_ID_LEN	     24
#define LEASE_VALID_SLACK_MS 5000 /* VALID UNTIL = expiry + 5 s, as Vault does */
#define LEASE_BACKOFF_MIN_MS 1000
#define LEASE_BACKOFF_MAX_MS (300 * 1000)

enum lease_state {
	LEASE_HELD,
	LEASE_LET_GO,
	LEASE_REVOKING,
	LEASE_FAILED,
	LEASE_REVOKED,
};

struct lease_holder {
	pid_t pid; /* tgid as the daemon sees it; 0 if unknown */
	uint64_t start_time; /* /proc/PID/stat field 22, against pid reuse */
	uid_t uid;
	gid_t gid;
	char comm[17];
	/* inode numbers of /proc/PID/ns/{pid,mnt,user}; 0 if unknown */
	uint64_t ns_pid, ns_mnt, ns_user;
	/*
	 * NULL or "" when unknown. A lease keeps its own copies, sized to fit,
	 * right behind it (a lease is small: 100,000 of them are ~100 MB less
	 * than with fixed 256-byte buffers); a holder being filled points
	 * them into a struct holder_buf.
	 */
	const char *exe;
	const char *cgroup;
};

/* A holder and room for its strings, for filling one (holder_from_tid, restore). */
struct holder_buf {
	struct lease_holder h;
	char exe[256];
	char cgroup[512];
};

struct lease {
	/* immutable after lease_new */
	char id[LEASE_ID_LEN + 1];
	struct role *role; /* reference; the role as it was at issue */
	char username[64];
	int64_t issued; /* ms */
	int64_t ttl_ms; /* lease duration */
	int64_t max_expires; /* ms: issued + max_ttl */
	uint64_t conn_version; /* the version of connection role->db_name it was issued on */
	struct lease_holder holder;

	/* protected by the table's lock */
	int refs;
	enum lease_state state;
	bool closed; /* the open file saw its last release */
	bool exited; /* the opener exited */
	bool let_go_noted; /* its let-go is journaled, or being journaled (once) */
	bool busy; /* a job for it is running */
	bool want_renew; /* one more VALID UNTIL update wanted (let-go past it) */
	int64_t expires; /* ms: revocation due at (LET_GO) or lease end (HELD) */
	int64_t valid_until; /* ms: VALID UNTIL in PostgreSQL, without the slack */
	int64_t last_renew; /* ms */
	int64_t let_go_at; /* ms, 0 while held */
	int64_t retry_at; /* ms, FAILED/renew retry */
	int attempts; /* failed revocation attempts */
	char *last_error; /* malloc'd, NULL if none */
	size_t heap_idx; /* position in the deadline heap */
	void *watch; /* the watch on the opener (watch.c), protected by its set's lock */
	void *poll; /* a waiter's poll handle, owned by whoever takes it */
	struct lease *hnext; /* hash chain */
	char strings[]; /* holder.exe and holder.cgroup point here */
};

enum lease_action {
	LEASE_JOB_RENEW,
	LEASE_JOB_REVOKE,
};

struct lease_job {
	struct lease *lease; /* a reference, released by lease_table_job_done */
	enum lease_action action;
	int64_t expires; /* RENEW: the new expiry (ms), VALID UNTIL adds the slack */
};

struct lease_table;

/*
 * lease_new - a new lease (refs 1, not in any table) for username under
 * role (a new reference is taken), issued at now with the role's TTL.
 * holder is copied (may be NULL). NULL on ENOMEM.
 */
struct lease *lease_new(struct role *role, const char *username, const struct lease_holder *holder,
			int64_t now);

/*
 * lease_restore - a lease as recorded by an earlier daemon: HELD, with
 * PostgreSQL's VALID UNTIL at valid_until (ms, without the slack). The
 * caller then lets it go, revokes it or keeps it held. NULL on ENOMEM.
 */
struct lease *lease_restore(struct role *role, const char *id, const char *username,
			    const struct lease_holder *holder, int64_t issued, int64_t ttl_ms,
			    int64_t max_expires, int64_t valid_until);

struct lease *lease_ref(struct lease *l);
/* lease_unref - the last reference frees the lease (NULL-safe). */
void lease_unref(struct lease *l);

/* lease_table_new - an empty table; NULL on ENOMEM. */
struct lease_table *lease_table_new(void);
/* lease_table_free - drop every lease (NULL-safe). */
void lease_table_free(struct lease_table *t);

/* lease_table_add - insert l (the table takes its own reference). */
int lease_table_add(struct lease_table *t, struct lease *l) __attribute__((warn_unused_result));

/*
 * lease_table_drop - take l out of the table as revoked without a job
 * (another node revokes it); false when it is not there or busy.
 */
bool lease_table_drop(struct lease_table *t, struct lease *l);

/* lease_table_get - a new reference to the live lease id, or NULL. */
struct lease *lease_table_get(struct lease_table *t, const char *id);

/* lease_table_closed - the lease's open file saw its last release; true if that let it go. */
bool lease_table_closed(struct lease_table *t, struct lease *l, int64_t now);

/*
 * lease_table_close_lets_go - whether lease_table_closed would let l go
 * now: the caller journals the let-go before it takes effect.
 */
bool lease_table_close_lets_go(struct lease_table *t, struct lease *l);

/*
 * lease_table_let_go_at - let a HELD l go as of at (<= now; a restored
 * let-go keeps its original time): revoked at min(at + ttl, max_expires).
 * True if it was held.
 */
bool lease_table_let_go_at(struct lease_table *t, struct lease *l, int64_t at);

/*
 * lease_table_hold_restored - keep a restored l HELD at now. Its recorded
 * VALID UNTIL is a lower bound (a renewal may have reached PostgreSQL and
 * not the journal): when it has passed or is near, a renewal is due at
 * once and the lease ends a third of a TTL later unless one succeeds.
 */
void lease_table_hold_restored(struct lease_table *t, struct lease *l, int64_t now);

/* lease_table_set_attempts - restore the failed-attempt count (display and backoff). */
void lease_table_set_attempts(struct lease_table *t, struct lease *l, int attempts);

/* lease_table_exited - the lease's opener exited; true if that let it go. */
bool lease_table_exited(struct lease_table *t, struct lease *l, int64_t now);

/* lease_table_revoke_now - make l due for revocation now (rm leases/...). */
void lease_table_revoke_now(struct lease_table *t, struct lease *l, int64_t now);

/* lease_table_next_deadline - the earliest time a job is due (INT64_MAX if none). */
int64_t lease_table_next_deadline(struct lease_table *t);

/*
 * lease_table_due - hand out up to max jobs due at now; each job's lease
 * is marked busy until lease_table_job_done. Returns the number of jobs.
 */
size_t lease_table_due(struct lease_table *t, int64_t now, struct lease_job *jobs, size_t max);

/*
 * lease_table_job_done - record the outcome of a job (r = 0 or -errno,
 * errmsg borrowed, may be NULL, never secret) and release job->lease.
 * A revoked lease leaves the table.
 */
void lease_table_job_done(struct lease_table *t, struct lease_job *job, int r, const char *errmsg,
			  int64_t now);

/*
 * lease_table_retry_db - failed leases of connection db are due again now
 * (PostgreSQL answered again), instead of at the end of their backoff.
 */
void lease_table_retry_db(struct lease_table *t, const char *db, int64_t now);

/*
 * lease_table_renew_held_now - every held lease that can be renewed is
 * due for a renewal now (the wall clock stepped: VALID UNTIL, which is
 * wall time, is sent again from the new clock). Returns how many.
 */
size_t lease_table_renew_held_now(struct lease_table *t, int64_t now);

/* lease_table_count - live leases in total. */
size_t lease_table_count(struct lease_table *t);

/* lease_table_count_db - live leases whose role uses connection db. */
size_t lease_table_count_db(struct lease_table *t, const char *db);

/* lease_table_count_conn - live leases issued on version version of connection db. */
size_t lease_table_count_conn(struct lease_table *t, const char *db, uint64_t version);

/*
 * lease_table_count_role - live leases of role (by name, any version of
 * it) in *all, and those of them whose holder uid is uid in *of_uid.
 */
void lease_table_count_role(struct lease_table *t, const char *role, uid_t uid, size_t *all,
			    size_t *of_uid);

/*
 * lease_table_snapshot - new references to every live lease (*out, a new
 * array of *n; free each with lease_unref and the array with free).
 */
int lease_table_snapshot(struct lease_table *t, struct lease ***out, size_t *n);

/*
 * lease_table_ids - the ids of the live leases of role (all roles when
 * NULL), as a new JSON array of strings; NULL on ENOMEM.
 */
json_t *lease_table_ids(struct lease_table *t, const char *role);

/* lease_table_roles - names of roles with live leases, as a new JSON array. */
json_t *lease_table_roles(struct lease_table *t);

/*
 * lease_holder_json - a new JSON object of h: pid, uid, gid, command,
 * executable, cgroup; container {id, runtime, pod_uid} when the cgroup names
 * one (cgroup.h) and namespaces {pid, mnt, user} when known.
 */
json_t *lease_holder_json(const struct lease_holder *h);

/*
 * lease_table_to_json - a new JSON description of l (never a secret) at
 * the table's time now; wall_off turns the table's clock into wall time
 * (wall = t + wall_off). credfs's fields, and beside them Vault's
 * sys/leases/lookup fields: id (the full lease id, as lease_id),
 * issue_time, expire_time (= issued, expires), last_renewal (null until
 * a renewal), renewable and ttl (seconds until expire_time, at least 0;
 * the lease's duration is lease_duration).
 */
json_t *lease_table_to_json(struct lease_table *t, struct lease *l, int64_t wall_off, int64_t now);

/*
 * lease_table_is_ending - whether l will not be renewed any further: it
 * reached max_ttl (it ends at max_expires), was let go, or is being
 * revoked. A holder that must keep access should open creds/ again.
 */
bool lease_table_is_ending(struct lease_table *t, struct lease *l);

/*
 * lease_table_swap_poll - store poll (may be NULL) in l and return what was
 * there; the caller owns the returned pointer.
 */
void *lease_table_swap_poll(struct lease_table *t, struct lease *l, void *poll);

/* What the journal keeps of a lease's state (times on the table's clock). */
struct lease_fate {
	int64_t valid_until; /* PostgreSQL's VALID UNTIL, without the slack */
	int64_t let_go_at; /* 0 while held */
	bool revoke; /* due for revocation (asked for, past its end, or failing) */
	int attempts;
};

/* lease_table_fate - l's state as the journal keeps it, at now. */
void lease_table_fate(struct lease_table *t, struct lease *l, int64_t now, struct lease_fate *f);

/* lease_table_is_held - whether l is HELD (an exit or close would let it go). */
bool lease_table_is_held(struct lease_table *t, struct lease *l);

/*
 * lease_table_note_let_go - whether the caller is to journal l's let-go:
 * true when an exit (exited) or a close would let l go now and no other
 * caller was told so before. The release and the opener's exit often come
 * at once (cat closes and exits); both would see l HELD while the other
 * journals, and the let-go would be recorded twice.
 */
bool lease_table_note_let_go(struct lease_table *t, struct lease *l, bool exited);

/* lease_state_name - "held", "let go", "revoking", "failed", "revoked". */
const char *lease_state_name(enum lease_state s);

#endif

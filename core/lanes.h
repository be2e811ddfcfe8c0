/* SPDX-License-Identifier: MIT */
/*
 * lanes.h - one lane of work per connection: its own queues and its own
 * threads, so that a database that stops answering holds only its own
 * lane's threads, never another connection's renewals or issues, and
 * never a FUSE thread.
 *
 * A lane has two queues: urgent jobs (renewals and revocations: a missed
 * deadline is a login left alive or a credential cut short) and normal
 * jobs (issues). At most `width` threads run normal jobs at once (the
 * connection's max_open_connections: more would only wait for the pool);
 * one more thread may run urgent jobs, so renewals never wait behind a
 * lane full of issues. Threads are started when work waits and leave
 * after LANES_IDLE_MS without any.
 *
 * A normal job may wait in its queue at most wait_ms; past that it is
 * dropped (drop(arg, -ETIMEDOUT)) by the lanes' reaper without waiting
 * for a thread to come free. A full normal queue refuses new jobs
 * (-EAGAIN). Urgent queues are unbounded (the lease table bounds them).
 *
 * Thread-safety: every function may be called from any thread; lanes_stop
 * and lanes_free belong to the owner.
 */
#ifndef CREDFS_LANES_H
#define CREDFS_LANES_H

#include <stddef.h>
#include <stdint.h>

#define LANES_QUEUE_MAX	    1024 /* normal jobs waiting in one lane */
#define LANES_IDLE_MS	    30000 /* an idle thread leaves after this */
#define LANES_DEFAULT_WIDTH 4

enum lanes_prio {
	LANES_URGENT,
	LANES_NORMAL,
};

/* lanes_run_fn - run the job on a lane thread. */
typedef void lanes_run_fn(void *arg);
/* lanes_drop_fn - the job will never run: -ETIMEDOUT (waited too long) or -ESHUTDOWN. */
typedef void lanes_drop_fn(void *arg, int why);

struct lanes;

/* lanes_new - no lane yet; width is a new lane's width until lanes_submit sets one. NULL: ENOMEM. */
struct lanes *lanes_new(int width);

/* lanes_set_width - the width of lanes created from now on (> 0). */
void lanes_set_width(struct lanes *ls, int width);

/*
 * lanes_submit - queue a job on lane key (created on first use). width > 0
 * sets the lane's width; wait_ms > 0 bounds a normal job's wait. Returns 0
 * (run or drop will be called exactly once), or -EAGAIN (queue full),
 * -ESHUTDOWN (stopped) or -ENOMEM, and then neither is called.
 */
int lanes_submit(struct lanes *ls, const char *key, int width, enum lanes_prio prio,
		 int64_t wait_ms, lanes_run_fn *run, lanes_drop_fn *drop, void *arg)
	__attribute__((warn_unused_result));

/* What a lane is doing, for metrics. */
struct lanes_stat {
	char key[256];
	int width, threads, busy; /* busy: running a job */
	size_t urgent, normal; /* waiting */
	uint64_t ran, expired, refused; /* jobs run, dropped for waiting too long, refused (full) */
};

/* lanes_stats - every lane (*out malloc'd, *n entries); 0 or -ENOMEM. */
int lanes_stats(struct lanes *ls, struct lanes_stat **out, size_t *n);

/*
 * lanes_stop - refuse new jobs, drop the queued ones (drop(-ESHUTDOWN)),
 * let running jobs finish and wait for every thread. Idempotent.
 */
void lanes_stop(struct lanes *ls);

/* lanes_free - stop, then free (NULL-safe). */
void lanes_free(struct lanes *ls);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * engine_i.h - the engine's insides, shared by engine.c (definitions and
 * issuing), engine_run.c (timer, workers, opener watches) and
 * engine_state.c (durable state). Not for fs/.
 */
#ifndef CREDFS_ENGINE_I_H
#define CREDFS_ENGINE_I_H

#include <pthread.h>
#include <stdbool.h>

#include "conn.h"
#include "dbconf.h"
#include "engine.h"
#include "errlog.h"
#include "lease.h"
#include "store.h"
#include "audit.h"

#define ENGINE_WORKERS	 8
#define ENGINE_PWPOOL	 32 /* SCRAM pairs kept ready */
#define ENGINE_DUE_BATCH 256

struct engine_def {
	enum engine_kind kind;
	struct secret *pending_pw; /* ENGINE_CONFIG: a rotation not known to have happened */
	char *name;
	struct dbconf *conf; /* ENGINE_CONFIG */
	struct conn_pool *pool; /* ENGINE_CONFIG */
	struct role *role; /* ENGINE_ROLE */
	struct engine_def *next;
};

/* One watched opener (pid + start time); shared by all the leases it opened. */
struct engine_watch {
	pid_t pid;
	unsigned long long start_time;
	int pidfd;
	bool dead; /* protected by e->wmu */
	struct lease **leases; /* protected by e->wmu; references */
	size_t n, cap; /* protected by e->wmu */
	struct engine_watch *next;
};

struct engine_qjob {
	struct lease_job job;
	struct engine_qjob *next;
};

struct engine {
	pthread_mutex_t mu;
	struct engine_def *defs; /* protected by mu */
	struct lease_table *leases;
	struct errlog *errlog;

	pthread_mutex_t wmu;
	struct engine_watch *watches; /* protected by wmu */

	int epfd, evfd;
	pthread_t timer;
	bool started;
	_Atomic bool stop;

	pthread_mutex_t qmu;
	pthread_cond_t qcv;
	struct engine_qjob *qhead, *qtail; /* protected by qmu */
	pthread_t workers[ENGINE_WORKERS];
	engine_poll_fn *poll_fn; /* set before start */

	struct audit *audit; /* NULL without --audit-log */

	struct pwpool *pwpool; /* SCRAM pairs made ahead; NULL before engine_start */
	/* durable state (engine_state.c); store is NULL without --state */
	struct store *store;
	struct secret *key;
	pthread_mutex_t dmu; /* serializes definition changes, rotations, compaction */
	uint64_t role_version; /* protected by dmu */
	pthread_mutex_t imu;
	struct lease **inflight; /* protected by imu: recorded, not yet in the table */
	size_t n_inflight, cap_inflight; /* protected by imu */
};

/*
 * engine_audit - one audit line; 0 or -EIO. action e.g. "issue"; err NULL
 * for success; lease, holder, pw may be NULL.
 */
int engine_audit(struct engine *e, const char *action, const char *path, uid_t uid,
		 const struct lease *l, const struct lease_holder *holder, const struct secret *pw,
		 const char *err);

/* engine_wake - make the timer thread look at deadlines again. */
void engine_wake(struct engine *e);

/* engine_watch - watch l's opener for exit (no-op without a pid). */
void engine_watch(struct engine *e, struct lease *l);

/* engine_watch_fired - timer thread: the opener behind w exited. */
void engine_watch_fired(struct engine *e, struct engine_watch *w);

/* engine_watch_free - drop a watch and its lease references. */
void engine_watch_free(struct engine_watch *w);

/* engine_poll_check - wake a poller of l if l is ending. */
void engine_poll_check(struct engine *e, struct lease *l);

/* engine_pool_get - a new reference to connection db's pool, or NULL. */
struct conn_pool *engine_pool_get(struct engine *e, const char *db);

/* engine_def_free - free a definition node (NULL-safe). */
void engine_def_free(struct engine_def *d);

/* engine_run_start / engine_run_stop - the timer thread and the workers. */
int engine_run_start(struct engine *e);
void engine_run_stop(struct engine *e);

/* engine_state_* - durable state (engine_state.c); no-ops without --state. */
int engine_state_record_def(struct engine *e, struct engine_def *d);
int engine_state_record_del(struct engine *e, enum engine_kind kind, const char *name);
int engine_state_record_lease(struct engine *e, struct lease *l);
void engine_state_record_renew(struct engine *e, struct lease *l);
void engine_state_record_gone(struct engine *e, struct lease *l);
int engine_state_record_rotate(struct engine *e, const char *name, const struct secret *pw);
void engine_state_record_rotate_abort(struct engine *e, const char *name);
void engine_state_maybe_compact(struct engine *e);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * engine_i.h - the engine facade's state, shared by engine.c (definitions,
 * leases/, errors, wiring) and engine_issue.c (creds/). The engine owns
 * three parts and wires them: the definition registry (registry.h), the
 * lease service (leasesvc.h) and the journal (journal.h), which observes
 * the other two.
 */
#ifndef CREDFS_ENGINE_I_H
#define CREDFS_ENGINE_I_H

#include <pthread.h>

#include "audit.h"
#include "engine.h"
#include "errlog.h"
#include "fleet.h"
#include "journal.h"
#include "leasesvc.h"
#include "metrics.h"
#include "quota.h"
#include "registry.h"
#include "static.h"

#define ENGINE_PWPOOL 32 /* SCRAM pairs kept ready */

struct engine {
	struct registry *reg;
	struct leasesvc *svc;
	struct journal *journal; /* NULL with --state none */
	struct fleet *fleet; /* NULL without --fleet */
	struct errlog *errlog;
	struct audit *audit; /* NULL without --audit-log */
	struct quota *quota; /* issue_rate buckets */
	struct metrics *metrics; /* counters of the metrics file; NULL on ENOMEM at start */
	struct pwpool *pwpool; /* SCRAM pairs made ahead; NULL before engine_start */
	engine_poll_fn *poll_fn; /* set before start */
	_Atomic bool stopping; /* no new issue once set */
	_Atomic int64_t resolve_at; /* monotonic ms: next look at pending rotations */
	_Atomic bool resolving; /* a look at pending rotations is queued or running */
	/* static roles and scheduled root rotation (engine_static.c, engine_sched.c) */
	pthread_mutex_t smu; /* the lists below and their entries */
	pthread_mutex_t swmu; /* a record and its effect; held by a compaction (smu inside) */
	pthread_cond_t scv; /* a rotation ended (rotate-role waits) */
	struct estatic *statics; /* protected by smu */
	struct espoll *spolls; /* protected by smu: pollers of static-creds/ */
	struct eroot *roots; /* protected by smu */
	uint64_t sseq; /* protected by smu: rotation tickets */
	_Atomic int64_t stick_at; /* monotonic ms: the next look at schedules */
};

/* engine_wall - the wall clock in ms, as the lease service sees it. */
int64_t engine_wall(void);

/* engine_static_init / engine_static_fini - the locks and lists (fini: after the lanes stopped). */
void engine_static_init(struct engine *e);
void engine_static_fini(struct engine *e);

/* engine_static_restore - the static roles and root rotation times the journal replayed. */
void engine_static_restore(struct engine *e);

/* engine_static_tick - the timer's look at schedules: submits what is due; ms until the next look. */
int64_t engine_static_tick(struct engine *e);

/* engine_static_dump - emit static roles and root rotation times (compaction; swmu held). */
int engine_static_dump(void *ctx, journal_emit_fn *emit, void *ectx);

/* engine_root_tick - scheduled root rotations due at wall ms now: submitted. (smu not held) */
void engine_root_tick(struct engine *e, int64_t now);

/* engine_root_rotated - connection name's root password was rotated now (record, read-back). */
void engine_root_rotated(struct engine *e, const char *name);

/* engine_root_json - add last_rotation, next_rotation, last_rotation_error of c to j. */
void engine_root_json(struct engine *e, const struct dbconf *c, json_t *j);

/* engine_root_restore - name's last root rotation at wall ms at. */
void engine_root_restore(struct engine *e, const char *name, int64_t at);

/* engine_root_dump - emit the root rotation times (swmu held). */
int engine_root_dump(struct engine *e, journal_emit_fn *emit, void *ectx);

/* engine_roots_free - drop the root rotation times (at the end). */
void engine_roots_free(struct engine *e);

/* engine_static_put - static-roles/NAME written (def taken); see engine.h. */
int engine_static_put(struct engine *e, struct static_role *def, char *errbuf);
/* engine_static_delete - stop managing name: 0, -ENOENT, -EIO. */
int engine_static_delete(struct engine *e, const char *name);
/* engine_static_json - the read-back of name (new), or NULL. */
json_t *engine_static_json(struct engine *e, const char *name);
/* engine_static_names - the names (new array). */
json_t *engine_static_names(struct engine *e);
/*
 * engine_static_apply - static role name as another fleet node wrote it:
 * o (borrowed) its state as journal_take_extra gives it, NULL: removed.
 * 0 or -errno with errbuf.
 */
int engine_static_apply(struct engine *e, const char *name, json_t *o, char *errbuf);
/* engine_static_collect - {"static/NAME": state} of every static role (new). */
json_t *engine_static_collect(struct engine *e);
/* engine_root_apply - another fleet node rotated name's root password at wall ms at. */
int engine_root_apply(struct engine *e, const char *name, int64_t at, char *errbuf);
/* engine_root_collect - add {"rootrot/NAME": {"at": ms}} of every rotation known to all. */
void engine_root_collect(struct engine *e, json_t *all);
/*
 * engine_record_err - errbuf: "cannot record WHAT in the state directory"
 * (and, with a fleet, "and the fleet's control store"), for a static role's
 * record that did not take.
 */
void engine_record_err(const struct engine *e, const char *what, char *errbuf);
/* engine_static_rotate_now - rotate name now and wait (bounded). */
int engine_static_rotate_now(struct engine *e, const char *name, char *errbuf);

/* engine_backoff_ms - the wait before retry n (1 s doubling to 5 min). */
int64_t engine_backoff_ms(int n);

/* engine_body - Vault's JSON of lease l with password pw, as a new secret; NULL on ENOMEM. */
struct secret *engine_body(struct lease *l, const struct secret *pw);

/*
 * engine_render - the bodies of the formats in fmts other than JSON into
 * cr->body (new secrets) for username and pw on connection c, made before
 * the login exists: a connection_url or a value a format cannot hold
 * gives -EINVAL (errbuf set) and nothing is created. Bodies already made
 * stay in cr for the caller to clear.
 */
int engine_render(const struct dbconf *c, const struct role *ro, const char *username,
		  const struct secret *pw, unsigned fmts, struct engine_creds *cr, char *errbuf)
	__attribute__((warn_unused_result));

/* engine_dump - j (taken; NULL: -ENOMEM) as indented JSON text with a newline (*out malloc'd). */
int engine_dump(json_t *j, char **out, size_t *len);

/* engine_audit - one audit line; 0 or -EIO (lease, holder, pw may be NULL; err NULL: ok). */
int engine_audit(struct engine *e, const char *action, const char *path, uid_t uid,
		 const struct lease *l, const struct lease_holder *holder, const struct secret *pw,
		 const char *err);

/* engine_fail_issue - record why creds/NAME failed for holder (errlog, audit, log). */
void engine_fail_issue(struct engine *e, const char *name, const struct lease_holder *holder,
		       const char *reason);

/*
 * engine_metrics_issue - one open of creds/ROLE ended (r as engine_issue;
 * result: the label, NULL to derive it from r), ms after it began.
 */
void engine_metrics_issue(struct engine *e, const char *role, const char *conn, int r,
			  const char *result, int64_t ms);
/* engine_metrics_job - a renewal or revocation attempt ended (err NULL: ok). */
void engine_metrics_job(struct engine *e, const char *action, const struct lease *l,
			const char *err);
/* engine_metrics_refused - an open refused by a role's limit. */
void engine_metrics_refused(struct engine *e, const char *role, const char *limit);

#endif

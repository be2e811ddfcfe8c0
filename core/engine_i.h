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

#include "audit.h"
#include "engine.h"
#include "errlog.h"
#include "journal.h"
#include "leasesvc.h"
#include "metrics.h"
#include "quota.h"
#include "registry.h"

#define ENGINE_PWPOOL 32 /* SCRAM pairs kept ready */

struct engine {
	struct registry *reg;
	struct leasesvc *svc;
	struct journal *journal; /* NULL with --state none */
	struct errlog *errlog;
	struct audit *audit; /* NULL without --audit-log */
	struct quota *quota; /* issue_rate buckets */
	struct metrics *metrics; /* counters of the metrics file; NULL on ENOMEM at start */
	struct pwpool *pwpool; /* SCRAM pairs made ahead; NULL before engine_start */
	engine_poll_fn *poll_fn; /* set before start */
	_Atomic bool stopping; /* no new issue once set */
	_Atomic int64_t resolve_at; /* monotonic ms: next look at pending rotations */
	_Atomic bool resolving; /* a look at pending rotations is queued or running */
};

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

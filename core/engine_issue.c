/* SPDX-License-Identifier: MIT */
/*
 * engine_issue.c - creds/NAME: issuing a credential, write-ahead, and what
 * its holder does with the open file (poll, close).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "crash.h"
#include "engine_i.h"
#include "log.h"
#include "pwpool.h"
#include "timefmt.h"
#include "uname.h"
#include "utmpl.h"

/* l's login exists but must not be handed out: revoke it. */
static void engine_revoke_now(struct engine *e, struct lease *l)
{
	(void)leasesvc_revoke_now(e->svc, l, false);
}

/* Resolve role name to role, the current version of its connection and its pool. */
static int engine_issue_prepare(struct engine *e, const char *name, struct role **rop,
				struct conn_pool **poolp, uint64_t *version, char *errbuf)
{
	struct role *ro = registry_role(e->reg, name);
	struct conn_pool *p = NULL;
	struct dbconf *c = NULL;

	if (!ro) {
		snprintf(errbuf, ENGINE_ERRLEN, "unknown role");
		return -ENOENT;
	}
	if (ro->txn_control) {
		snprintf(errbuf, ENGINE_ERRLEN,
			 "creation_statements contain transaction control, which credfs now "
			 "refuses: write roles/%s again",
			 ro->name);
		role_unref(ro);
		return -EIO;
	}
	if (!(p = registry_pool(e->reg, ro->db_name, 0, version))) {
		snprintf(errbuf, ENGINE_ERRLEN, "connection \"%s\" is not configured", ro->db_name);
		role_unref(ro);
		return -EIO;
	}
	c = conn_pool_conf(p);
	if (!dbconf_role_allowed(c, ro->name)) {
		snprintf(errbuf, ENGINE_ERRLEN,
			 "\"%s\" is not an allowed role of connection \"%s\"", ro->name, c->name);
		dbconf_unref(c);
		conn_pool_unref(p);
		role_unref(ro);
		return -EACCES;
	}
	dbconf_unref(c);
	*rop = ro;
	*poolp = p;
	return 0;
}

/*
 * A role's lease counts: max_leases and max_leases_per_uid (EDQUOT).
 * Counted only when a limit is set; checked when the open arrives and
 * again when its lane runs it, so opens queued behind a slow database do
 * not all pass on a count taken before any of them issued.
 *
 * The counts are a soft limit: two opens that pass the check at once both
 * issue, so a limit is exceeded by at most the opens running between the
 * check and the lease's in-flight record (the watch, the username and the
 * password: well under a millisecond with a ready SCRAM pair), at most the
 * lane's width. Closing it would serialize the issues of limited roles; a
 * quota is a guard against runaway clients, not an exact budget.
 */
static int engine_issue_counts(struct engine *e, const struct role *ro,
			       const struct lease_holder *holder, char *errbuf)
{
	uid_t uid = holder ? holder->uid : 0;
	size_t all = 0, mine = 0;

	if (ro->max_leases <= 0 && ro->max_leases_per_uid <= 0)
		return 0;
	leasesvc_count_role(e->svc, ro->name, uid, &all, &mine);
	if (ro->max_leases > 0 && all >= (size_t)ro->max_leases) {
		snprintf(errbuf, ENGINE_ERRLEN,
			 "max_leases (%lld) reached: %zu live leases of role %s",
			 (long long)ro->max_leases, all, ro->name);
		engine_metrics_refused(e, ro->name, "max_leases");
		return -EDQUOT;
	}
	if (ro->max_leases_per_uid > 0 && mine >= (size_t)ro->max_leases_per_uid) {
		snprintf(errbuf, ENGINE_ERRLEN,
			 "max_leases_per_uid (%lld) reached for uid %u: %zu live leases of role %s",
			 (long long)ro->max_leases_per_uid, (unsigned)uid, mine, ro->name);
		engine_metrics_refused(e, ro->name, "max_leases_per_uid");
		return -EDQUOT;
	}
	return 0;
}

/* The counts, then issue_rate (EAGAIN), so a refused count takes no token. */
static int engine_issue_limits(struct engine *e, const struct role *ro,
			       const struct lease_holder *holder, char *errbuf)
{
	uid_t uid = holder ? holder->uid : 0;
	char rate[32];
	int r;

	if ((r = engine_issue_counts(e, ro, holder, errbuf)) != 0 || ro->issue_rate.n <= 0)
		return r;
	if ((r = quota_take(e->quota, ro->name, uid, leasesvc_now(), &ro->issue_rate)) != 0) {
		role_rate_str(&ro->issue_rate, rate, sizeof(rate));
		if (r == -EAGAIN) {
			snprintf(errbuf, ENGINE_ERRLEN, "issue_rate (%s) exceeded for uid %u", rate,
				 (unsigned)uid);
			engine_metrics_refused(e, ro->name, "issue_rate");
		} else {
			snprintf(errbuf, ENGINE_ERRLEN, "out of memory");
		}
		return r;
	}
	return 0;
}

static int engine_username(const struct dbconf *c, const struct role *ro,
			   const struct lease_holder *holder, char *username, char *errbuf)
{
	const struct utmpl_data d = { holder ? holder->comm : NULL, ro->name, timefmt_now_ms() };
	struct parse_error pe = { 0 };
	int r;

	if (!c->username_template) {
		uname_generate(holder ? holder->comm : NULL, ro->name, d.now_ms / 1000, username);
		return 0;
	}
	if ((r = utmpl_render(c->username_template, &d, username, UNAME_MAX + 1, &pe)) != 0) {
		snprintf(errbuf, ENGINE_ERRLEN, "connection \"%s\": username_template: %s", c->name,
			 pe.text);
		return r == -ENOMEM ? -ENOMEM : -EIO;
	}
	return 0;
}

/* The write-ahead record of an issue, made while its creation statements run. */
struct engine_wal {
	struct engine *e;
	struct lease *l;
	bool inline_row; /* the fleet's row is in the creation transaction */
	bool asked;
	bool fleet_failed; /* the fleet's row, not the journal, failed */
	int r;
};

static int engine_issue_record(void *ctx)
{
	struct engine_wal *w = ctx;

	w->asked = true;
	/*
	 * The fleet's row first: a survivor must know the login if this node
	 * dies. Unless it commits with the login (then it cannot outlive a
	 * rolled-back creation, nor miss a committed one). The journal's
	 * record stays durable either way: this node's restart restores its
	 * leases from the journal alone, never from the fleet's rows.
	 */
	if ((w->r = fleet_lease_put(w->e->fleet, w->l, w->inline_row)) != 0)
		w->fleet_failed = true;
	else if ((w->r = journal_lease(w->e->journal, w->l)) != 0 && !w->inline_row)
		fleet_lease_gone(w->e->fleet, w->l);
	if (w->r == 0)
		crash_point("issue-after-record");
	return w->r;
}

/* Create the login (write-ahead) and put the lease in the service; w is taken. */
static int engine_create(struct engine *e, struct conn_pool *p, struct lease *l,
			 const struct secret *pw, const char *verifier, struct watch *w,
			 char *errbuf)
{
	struct engine_wal wal = { .e = e, .l = l };
	int r;

	struct conn_pool *still = NULL;
	char *row = NULL;

	if ((r = leasesvc_inflight_add(e->svc, l)) != 0) {
		leasesvc_watch_cancel(e->svc, w);
		return r;
	}
	/* Counted from now on: a rewrite keeps this version for it. Was it kept until now? */
	if (!(still = registry_pool(e->reg, l->role->db_name, l->conn_version, NULL))) {
		snprintf(errbuf, ENGINE_ERRLEN, "connection \"%s\" was rewritten meanwhile",
			 l->role->db_name);
		leasesvc_inflight_del(e->svc, l);
		leasesvc_watch_cancel(e->svc, w);
		return -EAGAIN;
	}
	conn_pool_unref(still);
	row = fleet_lease_inline(e->fleet, p, l);
	wal.inline_row = row != NULL;
	r = conn_create_user(p, l->role, l->username, pw, verifier,
			     l->valid_until + leasesvc_wall_off(), row, engine_issue_record, &wal,
			     errbuf);
	free(row);
	if (r == -EPROTO) {
		/* Lost at COMMIT: the login may exist, so revoke it like any other. */
		if (leasesvc_add(e->svc, l, w) == 0)
			engine_revoke_now(e, l);
		else
			log_err("lease %s: login %s may exist, revoked at restart", l->id,
				l->username);
		r = -EIO;
	} else if (r != 0) {
		if (wal.asked && wal.r == 0) {
			journal_gone(e->journal, l); /* the transaction rolled back */
			if (!wal.inline_row) /* else its row rolled back with it */
				fleet_lease_gone(e->fleet, l);
		}
		leasesvc_watch_cancel(e->svc, w);
		if (wal.asked && wal.r != 0)
			snprintf(errbuf, ENGINE_ERRLEN, "%s",
				 wal.fleet_failed
					 ? "cannot record the lease in the fleet's control store"
					 : "cannot record the lease in the state directory");
		r = r == -ENOMEM || r == -EAGAIN ? r : -EIO;
	} else {
		crash_point("issue-after-create");
		if ((r = leasesvc_add(e->svc, l, w)) != 0) {
			log_err("lease %s: login %s created but not tracked until restart", l->id,
				l->username);
			snprintf(errbuf, ENGINE_ERRLEN, "out of memory");
		}
	}
	leasesvc_inflight_del(e->svc, l);
	return r;
}

/*
 * The part of an issue that waits on nothing: refused at once when
 * shutting down, for an unknown or unusable role, or over a limit.
 */
static int engine_issue_front(struct engine *e, const char *name, const struct lease_holder *holder,
			      struct role **ro, struct conn_pool **p, uint64_t *version,
			      bool *limited, char *errbuf)
{
	int r;

	if (e->stopping) {
		snprintf(errbuf, ENGINE_ERRLEN, "credfs is shutting down");
		return -ESHUTDOWN;
	}
	if ((r = engine_issue_prepare(e, name, ro, p, version, errbuf)) != 0)
		return r;
	if ((r = engine_issue_limits(e, *ro, holder, errbuf)) != 0) {
		*limited = true;
		role_unref(*ro);
		conn_pool_unref(*p);
		*ro = NULL;
		*p = NULL;
	}
	return r;
}

/* The part that talks to PostgreSQL, on the connection's lane; ro and p are taken. */
static int engine_issue_back(struct engine *e, struct role *ro, struct conn_pool *p,
			     uint64_t version, const struct lease_holder *holder, unsigned fmts,
			     struct engine_creds *out, char *errbuf)
{
	struct engine_creds cr = { 0 };
	char username[UNAME_MAX + 1];
	struct secret *pw = NULL;
	struct lease *l = NULL;
	struct dbconf *c = NULL;
	struct watch *w = NULL;
	char *verifier = NULL;
	int r;

	if (e->stopping) {
		snprintf(errbuf, ENGINE_ERRLEN, "credfs is shutting down");
		r = -ESHUTDOWN;
		goto out;
	}
	if ((r = engine_issue_counts(e, ro, holder, errbuf)) != 0)
		goto out;
	/* Before the login is created: an opener that cannot be watched gets nothing. */
	if ((r = leasesvc_watch_prepare(e->svc, holder, &w, errbuf)) != 0)
		goto out;
	c = conn_pool_conf(p);
	if ((r = engine_username(c, ro, holder, username, errbuf)) != 0)
		goto out;
	r = -ENOMEM;
	snprintf(errbuf, ENGINE_ERRLEN, "out of memory");
	/* A pair made ahead by the pool, or a password made now. */
	if (c->pwauth != DBCONF_PW_SCRAM ||
	    pwpool_take(e->pwpool, c->password_length, &pw, &verifier) != 0)
		pw = secret_password(c->password_length);
	if (!pw || !(l = lease_new(ro, username, holder, leasesvc_now())))
		goto out;
	l->conn_version = version;
	if ((r = engine_render(c, ro, username, pw, fmts, &cr, errbuf)) != 0)
		goto out;
	r = engine_create(e, p, l, pw, verifier, w, errbuf);
	w = NULL; /* transferred */
	if (r != 0)
		goto out;
	r = -ENOMEM;
	if ((fmts & ENGINE_FMT(CREDFMT_JSON)) && !(cr.body[CREDFMT_JSON] = engine_body(l, pw))) {
		engine_revoke_now(e, l); /* the login exists: never leave it behind */
		goto out;
	}
	/* Audited before the credential is handed out, or not handed out. */
	if (engine_audit(e, "issue", NULL, 0, l, holder, pw, NULL) != 0) {
		engine_revoke_now(e, l);
		snprintf(errbuf, ENGINE_ERRLEN, "cannot write the audit log");
		r = -EIO;
		goto out;
	}
	crash_point("issue-before-reply");
	log_info("lease %s: issued %s for role %s to pid %d", l->id, username, ro->name,
		 holder ? (int)holder->pid : 0);
	cr.lease = l;
	l = NULL; /* transferred */
	*out = cr;
	memset(&cr, 0, sizeof(cr)); /* transferred */
	r = 0;
out:
	leasesvc_watch_cancel(e->svc, w);
	lease_unref(l);
	secret_free(pw);
	secret_wipe_str(verifier);
	engine_creds_clear(&cr);
	dbconf_unref(c);
	conn_pool_unref(p);
	role_unref(ro);
	return r;
}

/* An issue waiting for, or running on, its connection's lane. */
struct engine_job {
	struct engine *e;
	char name[256];
	struct holder_buf holder;
	bool has_holder;
	struct role *ro;
	struct conn_pool *p;
	uint64_t version;
	int64_t queued; /* monotonic ms */
	int64_t pool_timeout_ms;
	bool limited; /* refused by a role's limit */
	unsigned fmts; /* ENGINE_FMT bits */
	char file[CREDFMT_ROLE_MAX + 16]; /* the creds/ file, for errors */
	engine_issue_done_fn *done; /* JSON only (engine_issue_async) */
	engine_issue_fmt_done_fn *done_fmt; /* or this */
	void *arg;
};

static void engine_holder_copy(struct holder_buf *dst, const struct lease_holder *src)
{
	dst->h = *src;
	snprintf(dst->exe, sizeof(dst->exe), "%s", src->exe ? src->exe : "");
	snprintf(dst->cgroup, sizeof(dst->cgroup), "%s", src->cgroup ? src->cgroup : "");
	dst->h.exe = dst->exe;
	dst->h.cgroup = dst->cgroup;
}

/* cr: what the issue made (NULL: nothing), handed to done. */
static void engine_job_end(struct engine_job *j, int r, struct engine_creds *cr, const char *errbuf)
{
	const struct lease_holder *h = j->has_holder ? &j->holder.h : NULL;
	struct engine_creds none = { 0 };

	if (!cr)
		cr = &none;
	if (r != 0)
		engine_fail_issue(j->e, j->file, h, errbuf);
	engine_metrics_issue(j->e, j->name, j->ro ? j->ro->db_name : NULL, r,
			     j->limited ? "limit" : NULL, leasesvc_now() - j->queued);
	if (j->done_fmt) {
		j->done_fmt(j->arg, r, cr, errbuf);
	} else {
		j->done(j->arg, r, cr->lease, cr->body[CREDFMT_JSON], errbuf);
		cr->lease = NULL; /* transferred */
		cr->body[CREDFMT_JSON] = NULL; /* transferred */
	}
	engine_creds_clear(cr); /* whatever the callee left */
	role_unref(j->ro);
	conn_pool_unref(j->p);
	free(j);
}

static void engine_job_run(void *arg)
{
	struct engine_job *j = arg;
	char errbuf[ENGINE_ERRLEN] = "";
	struct engine_creds cr = { 0 };
	int r;

	r = engine_issue_back(j->e, role_ref(j->ro), conn_pool_ref(j->p), j->version,
			      j->has_holder ? &j->holder.h : NULL, j->fmts, &cr, errbuf);
	engine_job_end(j, r, &cr, errbuf);
}

static void engine_job_drop(void *arg, int why)
{
	struct engine_job *j = arg;
	char errbuf[ENGINE_ERRLEN];

	if (why == -ESHUTDOWN)
		snprintf(errbuf, ENGINE_ERRLEN, "credfs is shutting down");
	else
		snprintf(errbuf, ENGINE_ERRLEN,
			 "connection \"%s\" is busy: no worker within pool_timeout (%lld ms)",
			 j->ro->db_name, (long long)j->pool_timeout_ms);
	engine_job_end(j, why == -ESHUTDOWN ? -ESHUTDOWN : -EAGAIN, NULL, errbuf);
}

/* Queue the issue of job j (its done, fmts and file set) on its connection's lane. */
static void engine_job_submit(struct engine *e, struct engine_job *j, const char *name,
			      const struct lease_holder *holder)
{
	char errbuf[ENGINE_ERRLEN] = "";
	struct dbconf *c;
	int r;

	j->e = e;
	j->queued = leasesvc_now();
	snprintf(j->name, sizeof(j->name), "%s", name);
	if (!j->file[0])
		snprintf(j->file, sizeof(j->file), "%.*s", (int)sizeof(j->file) - 1, name);
	if (holder) {
		engine_holder_copy(&j->holder, holder);
		j->has_holder = true;
	}
	if ((r = engine_issue_front(e, name, holder, &j->ro, &j->p, &j->version, &j->limited,
				    errbuf)) != 0) {
		engine_job_end(j, r, NULL, errbuf);
		return;
	}
	c = conn_pool_conf(j->p);
	j->pool_timeout_ms = c->pool_timeout_ms;
	r = lanes_submit(leasesvc_lanes(e->svc), j->ro->db_name, c->max_open, LANES_NORMAL,
			 c->pool_timeout_ms > 0 ? c->pool_timeout_ms : 1, engine_job_run,
			 engine_job_drop, j);
	dbconf_unref(c);
	if (r == -EAGAIN)
		snprintf(errbuf, ENGINE_ERRLEN,
			 "connection \"%s\" is busy: %d opens already wait for it", j->ro->db_name,
			 LANES_QUEUE_MAX);
	else if (r == -ESHUTDOWN)
		snprintf(errbuf, ENGINE_ERRLEN, "credfs is shutting down");
	else if (r != 0)
		snprintf(errbuf, ENGINE_ERRLEN, "out of memory");
	if (r != 0)
		engine_job_end(j, r, NULL, errbuf);
}

void engine_issue_async(struct engine *e, const char *name, const struct lease_holder *holder,
			engine_issue_done_fn *done, void *arg)
{
	struct engine_job *j = calloc(1, sizeof(*j));

	if (!j) {
		done(arg, -ENOMEM, NULL, NULL, "out of memory");
		return;
	}
	j->done = done;
	j->arg = arg;
	j->fmts = ENGINE_FMT(CREDFMT_JSON);
	engine_job_submit(e, j, name, holder);
}

void engine_issue_fmt_async(struct engine *e, const char *name, unsigned fmts, const char *file,
			    const struct lease_holder *holder, engine_issue_fmt_done_fn *done,
			    void *arg)
{
	struct engine_job *j = calloc(1, sizeof(*j));
	struct engine_creds none = { 0 };

	if (!j) {
		done(arg, -ENOMEM, &none, "out of memory");
		return;
	}
	j->done_fmt = done;
	j->arg = arg;
	j->fmts = fmts ? fmts : ENGINE_FMT(CREDFMT_JSON);
	snprintf(j->file, sizeof(j->file), "%s", file ? file : "");
	engine_job_submit(e, j, name, holder);
}

/* engine_issue: the same, waiting for the lane. */
struct engine_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	int r;
	struct lease *l;
	struct secret *body;
	char *errbuf;
};

static void engine_wait_done(void *arg, int r, struct lease *l, struct secret *body,
			     const char *errbuf)
{
	struct engine_wait *w = arg;

	pthread_mutex_lock(&w->mu);
	w->r = r;
	w->l = l;
	w->body = body;
	snprintf(w->errbuf, ENGINE_ERRLEN, "%s", errbuf ? errbuf : "");
	w->done = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

int engine_issue(struct engine *e, const char *name, const struct lease_holder *holder,
		 struct lease **out, struct secret **bodyp, char *errbuf)
{
	struct engine_wait w = { .errbuf = errbuf };

	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	engine_issue_async(e, name, holder, engine_wait_done, &w);
	pthread_mutex_lock(&w.mu);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
	*out = w.l;
	*bodyp = w.body;
	return w.r;
}

void engine_set_poll_fn(struct engine *e, engine_poll_fn *fn)
{
	e->poll_fn = fn;
}

bool engine_poll(struct engine *e, struct lease *l, void *poll, void **old)
{
	return leasesvc_poll(e->svc, l, poll, old);
}

void *engine_poll_take(struct engine *e, struct lease *l)
{
	return leasesvc_poll_take(e->svc, l);
}

void engine_closed(struct engine *e, struct lease *l)
{
	leasesvc_closed(e->svc, l);
}

/* SPDX-License-Identifier: MIT */
/*
 * engine_issue.c - creds/NAME: issuing a credential, write-ahead, and what
 * its holder does with the open file (poll, close).
 */
#include <errno.h>
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

static struct secret *engine_body(struct lease *l, const struct secret *pw)
{
	char lid[160], maxe[TIMEFMT_LEN];
	struct secret *body = NULL;
	json_t *j;
	size_t n;

	snprintf(lid, sizeof(lid), "database/creds/%s/%s", l->role->name, l->id);
	timefmt_rfc3339(l->max_expires + leasesvc_wall_off(), maxe);
	j = json_pack("{s:s, s:I, s:b, s:s, s:{s:s, s:s}}", "lease_id", lid, "lease_duration",
		      (json_int_t)(l->ttl_ms / 1000), "renewable", l->valid_until < l->max_expires,
		      "max_expires", maxe, "data", "username", l->username, "password",
		      secret_str(pw));
	if (!j)
		return NULL;
	n = json_dumpb(j, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (n && (body = secret_alloc(n + 1))) {
		json_dumpb(j, secret_buf(body), n, JSON_COMPACT | JSON_PRESERVE_ORDER);
		secret_buf(body)[n] = '\n';
	}
	json_decref(j); /* the wiping allocator clears the password copy */
	return body;
}

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
 * A role's limits, before anything is made for the opener: max_leases and
 * max_leases_per_uid (EDQUOT), then issue_rate (EAGAIN), so a refused count
 * takes no token. Leases are counted only when a limit is set.
 *
 * The counts are a soft limit: two opens that pass the check at once both
 * issue, so a limit is exceeded by at most the opens in flight between the
 * check and the lease's in-flight record (the watch, the username and the
 * password: well under a millisecond with a ready SCRAM pair). Closing it
 * would serialize the issues of limited roles; a quota is a guard against
 * runaway clients, not an exact budget, so it is left soft.
 */
static int engine_issue_limits(struct engine *e, const struct role *ro,
			       const struct lease_holder *holder, char *errbuf)
{
	uid_t uid = holder ? holder->uid : 0;
	size_t all = 0, mine = 0;
	char rate[32];
	int r;

	if (ro->max_leases > 0 || ro->max_leases_per_uid > 0)
		leasesvc_count_role(e->svc, ro->name, uid, &all, &mine);
	if (ro->max_leases > 0 && all >= (size_t)ro->max_leases) {
		snprintf(errbuf, ENGINE_ERRLEN,
			 "max_leases (%lld) reached: %zu live leases of role %s",
			 (long long)ro->max_leases, all, ro->name);
		return -EDQUOT;
	}
	if (ro->max_leases_per_uid > 0 && mine >= (size_t)ro->max_leases_per_uid) {
		snprintf(errbuf, ENGINE_ERRLEN,
			 "max_leases_per_uid (%lld) reached for uid %u: %zu live leases of role %s",
			 (long long)ro->max_leases_per_uid, (unsigned)uid, mine, ro->name);
		return -EDQUOT;
	}
	if (ro->issue_rate.n <= 0)
		return 0;
	if ((r = quota_take(e->quota, ro->name, uid, leasesvc_now(), &ro->issue_rate)) != 0) {
		role_rate_str(&ro->issue_rate, rate, sizeof(rate));
		if (r == -EAGAIN)
			snprintf(errbuf, ENGINE_ERRLEN, "issue_rate (%s) exceeded for uid %u", rate,
				 (unsigned)uid);
		else
			snprintf(errbuf, ENGINE_ERRLEN, "out of memory");
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
	bool asked;
	int r;
};

static int engine_issue_record(void *ctx)
{
	struct engine_wal *w = ctx;

	w->asked = true;
	if ((w->r = journal_lease(w->e->journal, w->l)) == 0)
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
	r = conn_create_user(p, l->role, l->username, pw, verifier,
			     l->valid_until + leasesvc_wall_off(), engine_issue_record, &wal,
			     errbuf);
	if (r == -EPROTO) {
		/* Lost at COMMIT: the login may exist, so revoke it like any other. */
		if (leasesvc_add(e->svc, l, w) == 0)
			engine_revoke_now(e, l);
		else
			log_err("lease %s: login %s may exist, revoked at restart", l->id,
				l->username);
		r = -EIO;
	} else if (r != 0) {
		if (wal.asked && wal.r == 0)
			journal_gone(e->journal, l); /* the transaction rolled back */
		leasesvc_watch_cancel(e->svc, w);
		if (wal.asked && wal.r != 0)
			snprintf(errbuf, ENGINE_ERRLEN,
				 "cannot record the lease in the state directory");
		r = r == -ENOMEM ? -ENOMEM : -EIO;
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

int engine_issue(struct engine *e, const char *name, const struct lease_holder *holder,
		 struct lease **out, struct secret **bodyp, char *errbuf)
{
	char username[UNAME_MAX + 1];
	struct conn_pool *p = NULL;
	struct role *ro = NULL;
	struct secret *pw = NULL, *body = NULL;
	struct lease *l = NULL;
	struct dbconf *c = NULL;
	struct watch *w = NULL;
	char *verifier = NULL;
	uint64_t version = 0;
	int r;

	if (e->stopping) {
		snprintf(errbuf, ENGINE_ERRLEN, "credfs is shutting down");
		r = -ESHUTDOWN;
		goto out;
	}
	if ((r = engine_issue_prepare(e, name, &ro, &p, &version, errbuf)) != 0 ||
	    (r = engine_issue_limits(e, ro, holder, errbuf)) != 0)
		goto out;
	/* Before the login exists: an opener that cannot be watched gets nothing. */
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
	r = engine_create(e, p, l, pw, verifier, w, errbuf);
	w = NULL; /* transferred */
	if (r != 0)
		goto out;
	r = -ENOMEM;
	if (!(body = engine_body(l, pw))) {
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
	*out = l;
	l = NULL; /* transferred */
	*bodyp = body;
	body = NULL; /* transferred */
	r = 0;
out:
	if (r != 0)
		engine_fail_issue(e, name, holder, errbuf);
	leasesvc_watch_cancel(e->svc, w);
	lease_unref(l);
	secret_free(pw);
	secret_wipe_str(verifier);
	secret_free(body);
	dbconf_unref(c);
	conn_pool_unref(p);
	role_unref(ro);
	return r;
}

void engine_issue_async(struct engine *e, const char *role, const struct lease_holder *holder,
			engine_issue_done_fn *done, void *arg)
{
	char errbuf[ENGINE_ERRLEN] = "";
	struct secret *body = NULL;
	struct lease *l = NULL;
	int r;

	/* For now on the caller's thread; per-connection workers come next. */
	r = engine_issue(e, role, holder, &l, &body, errbuf);
	done(arg, r, l, body, errbuf);
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

/* SPDX-License-Identifier: MIT */
/*
 * test_lease.c - the lease table: lifecycle, deadlines, jobs, backoff and
 * the deadline heap, all driven by a fake clock (no sleeps, no database).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lease.h"
#include "role.h"
#include "secret.h"
#include "test.h"

#define LAST_ERROR(l) ((l)->last_error ? (l)->last_error : "")

#define SEC  1000LL
#define MIN  (60 * SEC)
#define HOUR (60 * MIN)

/* The fake clock: wall-clock milliseconds, 2023-11-14T22:13:20Z. */
static int64_t now_ms = 1700000000000LL;

/* A role named name on connection db, TTLs as written in a definition. */
static struct role *mkrole(const char *name, const char *db, const char *ttl, const char *max,
			   const char *binding)
{
	struct parse_error err = { 0 };
	struct role *ro = NULL;
	json_t *p = json_pack("{s:s}", "db_name", db);

	if (ttl)
		json_object_set_new(p, "default_ttl", json_string(ttl));
	if (max)
		json_object_set_new(p, "max_ttl", json_string(max));
	if (binding)
		json_object_set_new(p, "lease_binding", json_string(binding));
	if (role_from_params(name, p, true, &ro, &err) != 0) {
		fprintf(stderr, "mkrole %s: %s\n", name, err.text);
		ro = NULL;
	}
	json_decref(p);
	return ro;
}

/* Issue a lease under ro at now, held by pid, and add it to t. Borrowed from t. */
static struct lease *issue(struct lease_table *t, struct role *ro, pid_t pid, int64_t now)
{
	struct lease_holder h = { 0 };
	struct lease *l;

	h.pid = pid;
	h.uid = 1000;
	h.gid = 1000;
	h.start_time = 4242;
	snprintf(h.comm, sizeof(h.comm), "psql");
	h.exe = "/usr/bin/psql";
	h.cgroup = "/user.slice/session-1.scope";
	l = lease_new(ro, "v-psql-db-app-AbCdEfGhIjKlMnOpQrSt-1700000000", &h, now);
	if (!l)
		return NULL;
	if (lease_table_add(t, l) != 0) {
		lease_unref(l);
		return NULL;
	}
	lease_unref(l); /* the table holds it */
	return l;
}

/* Hand out at most one job due at now; returns how many. */
static size_t due1(struct lease_table *t, int64_t now, struct lease_job *job)
{
	memset(job, 0, sizeof(*job));
	return lease_table_due(t, now, job, 1);
}

static void test_state_names(void)
{
	CHECK_STR_EQ(lease_state_name(LEASE_HELD), "held");
	CHECK_STR_EQ(lease_state_name(LEASE_LET_GO), "let go");
	CHECK_STR_EQ(lease_state_name(LEASE_REVOKING), "revoking");
	CHECK_STR_EQ(lease_state_name(LEASE_FAILED), "failed");
	CHECK_STR_EQ(lease_state_name(LEASE_REVOKED), "revoked");
}

static void test_new_lease(void)
{
	struct role *ro = mkrole("db-app", "wizard", "1h", "24h", NULL);
	struct lease_holder h = { .pid = 77, .uid = 5, .gid = 6 };
	struct lease *l, *l2;
	int64_t t0 = now_ms;

	CHECK(ro != NULL);
	l = lease_new(ro, "v-user", &h, t0);
	CHECK(l != NULL);
	CHECK_INT_EQ(l->refs, 1);
	CHECK_INT_EQ(ro->refs, 2); /* the lease holds the role */
	CHECK_INT_EQ(l->state, LEASE_HELD);
	CHECK_INT_EQ(strlen(l->id), LEASE_ID_LEN);
	CHECK_INT_EQ(
		strspn(l->id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
		LEASE_ID_LEN);
	CHECK_STR_EQ(l->username, "v-user");
	CHECK_INT_EQ(l->issued, t0);
	CHECK_INT_EQ(l->ttl_ms, HOUR);
	CHECK_INT_EQ(l->expires, t0 + HOUR);
	CHECK_INT_EQ(l->valid_until, t0 + HOUR);
	CHECK_INT_EQ(l->max_expires, t0 + 24 * HOUR);
	CHECK_INT_EQ(l->holder.pid, 77);
	CHECK_INT_EQ(l->holder.uid, 5);
	CHECK_INT_EQ(l->holder.gid, 6);
	CHECK_INT_EQ(l->let_go_at, 0);
	CHECK(!l->closed && !l->exited && !l->busy && !l->want_renew);

	/* a second lease gets another id; NULL holder is allowed */
	l2 = lease_new(ro, "v-other", NULL, t0);
	CHECK(l2 != NULL);
	CHECK(strcmp(l->id, l2->id) != 0);
	CHECK_INT_EQ(l2->holder.pid, 0);

	CHECK(lease_ref(l) == l);
	CHECK_INT_EQ(l->refs, 2);
	lease_unref(l);
	lease_unref(l);
	lease_unref(l2);
	lease_unref(NULL);
	CHECK_INT_EQ(ro->refs, 1);
	role_unref(ro);
}

static void test_lease_ttl_defaults(void)
{
	struct role *sys = mkrole("r-sys", "db", NULL, NULL, NULL);
	struct role *capped = mkrole("r-cap", "db", NULL, "2h", NULL);
	struct lease *l;

	CHECK(sys && capped);
	l = lease_new(sys, "u", NULL, now_ms);
	CHECK_INT_EQ(l->ttl_ms, 768 * HOUR);
	CHECK_INT_EQ(l->max_expires, now_ms + 768 * HOUR);
	lease_unref(l);
	l = lease_new(capped, "u", NULL, now_ms);
	CHECK_INT_EQ(l->ttl_ms, 2 * HOUR);
	CHECK_INT_EQ(l->expires, now_ms + 2 * HOUR);
	CHECK_INT_EQ(l->max_expires, now_ms + 2 * HOUR);
	lease_unref(l);
	role_unref(sys);
	role_unref(capped);
}

/* a lease recorded by an earlier daemon comes back held, with its deadlines */
static void test_restore(void)
{
	struct role *ro = mkrole("db-app", "wizard", "1h", "24h", NULL);
	struct lease_table *t = lease_table_new();
	struct lease_holder h = { .pid = 55, .uid = 7, .gid = 8 };
	int64_t t0 = now_ms, vu = t0 + 100 * MIN, maxe = t0 + 24 * HOUR;
	struct lease_job job;
	struct lease *l, *g;

	l = lease_restore(ro, "RestoredLeaseId000000001", "v-old", &h, t0, HOUR, maxe, vu);
	CHECK(l != NULL);
	if (!l)
		goto out;
	CHECK_STR_EQ(l->id, "RestoredLeaseId000000001");
	CHECK_STR_EQ(l->username, "v-old");
	CHECK_INT_EQ(l->state, LEASE_HELD);
	CHECK_INT_EQ(l->issued, t0);
	CHECK_INT_EQ(l->ttl_ms, HOUR);
	CHECK_INT_EQ(l->max_expires, maxe);
	CHECK_INT_EQ(l->valid_until, vu);
	CHECK_INT_EQ(l->expires, vu);
	CHECK_INT_EQ(l->holder.pid, 55);
	CHECK(lease_table_add(t, l) == 0);
	g = lease_table_get(t, "RestoredLeaseId000000001");
	CHECK(g == l);
	lease_unref(g);
	/* renewed as if the last renewal set VALID UNTIL: at vu - ttl + 2/3 ttl */
	CHECK_INT_EQ(lease_table_next_deadline(t), vu - HOUR + 40 * MIN);
	/* let go at once (the opener is gone after a restart) */
	CHECK(lease_table_exited(t, l, t0 + 70 * MIN));
	CHECK_INT_EQ(l->expires, t0 + 130 * MIN);
	CHECK(l->want_renew);
	lease_unref(l);

	lease_table_free(t);

	/* restored after its VALID UNTIL passed: revoked at once */
	t = lease_table_new();
	l = lease_restore(ro, "RestoredLeaseId000000002", "v-old2", NULL, t0, 0, maxe, t0 + HOUR);
	CHECK(l != NULL);
	if (!l)
		goto out;
	CHECK_INT_EQ(l->ttl_ms, HOUR); /* 0: the role's */
	CHECK(lease_table_add(t, l) == 0);
	CHECK_INT_EQ(due1(t, t0 + 3 * HOUR, &job), 1);
	CHECK(job.lease == l);
	CHECK_INT_EQ(job.action, LEASE_JOB_REVOKE);
	if (job.lease)
		lease_table_job_done(t, &job, 0, NULL, t0 + 3 * HOUR);
	CHECK_INT_EQ(lease_table_count(t), 0);
	lease_unref(l);
out:
	lease_table_free(t);
	role_unref(ro);
}

static void test_table_get(void)
{
	struct role *ro = mkrole("db-app", "wizard", "1h", "24h", NULL);
	struct lease_table *t = lease_table_new();
	struct lease *l, *g;
	char id[LEASE_ID_LEN + 1];

	CHECK(t != NULL);
	CHECK_INT_EQ(lease_table_count(t), 0);
	CHECK_INT_EQ(lease_table_next_deadline(t), INT64_MAX);
	l = issue(t, ro, 100, now_ms);
	CHECK(l != NULL);
	CHECK_INT_EQ(lease_table_count(t), 1);
	CHECK_INT_EQ(l->refs, 1); /* only the table's */
	g = lease_table_get(t, l->id);
	CHECK(g == l);
	CHECK_INT_EQ(l->refs, 2);
	lease_unref(g);
	CHECK(lease_table_get(t, "nope") == NULL);
	CHECK(lease_table_get(t, "") == NULL);
	snprintf(id, sizeof(id), "%s", l->id);
	id[0] = id[0] == 'A' ? 'B' : 'A';
	CHECK(lease_table_get(t, id) == NULL);
	lease_table_free(t);
	lease_table_free(NULL);
	CHECK_INT_EQ(ro->refs, 1);
	role_unref(ro);
}

/* issue -> HELD, renewal at 2/3 TTL, RENEW job, job_done(0) moves the expiry */
static void test_issue_and_renew(void)
{
	struct role *ro = mkrole("db-app", "wizard", "1h", "24h", NULL);
	struct lease_table *t = lease_table_new();
	struct lease_job job, jobs[4];
	int64_t t0 = now_ms, t1, t2;
	struct lease *l;

	l = issue(t, ro, 100, t0);
	CHECK(l != NULL);
	CHECK_INT_EQ(l->state, LEASE_HELD);
	CHECK_INT_EQ(l->expires, t0 + HOUR);
	CHECK(!lease_table_is_ending(t, l));

	t1 = t0 + 40 * MIN; /* two thirds of an hour */
	CHECK_INT_EQ(lease_table_next_deadline(t), t1);
	CHECK_INT_EQ(lease_table_due(t, t0, jobs, 4), 0);
	CHECK_INT_EQ(lease_table_due(t, t1 - 1, jobs, 4), 0);
	CHECK_INT_EQ(lease_table_due(t, t1, jobs, 0), 0); /* max 0: nothing */
	CHECK_INT_EQ(due1(t, t1, &job), 1);
	CHECK(job.lease == l);
	CHECK_INT_EQ(job.action, LEASE_JOB_RENEW);
	CHECK_INT_EQ(job.expires, t1 + HOUR);
	CHECK(l->busy);
	CHECK_INT_EQ(l->state, LEASE_HELD);
	CHECK_INT_EQ(l->refs, 2); /* the job holds one */

	/* busy: not handed out twice, no deadline while it runs */
	CHECK_INT_EQ(lease_table_next_deadline(t), INT64_MAX);
	CHECK_INT_EQ(lease_table_due(t, t1 + 30 * HOUR, jobs, 4), 0);

	/* nothing changes until the job is done */
	CHECK_INT_EQ(l->expires, t0 + HOUR);
	CHECK_INT_EQ(l->valid_until, t0 + HOUR);

	t2 = t1 + 2 * SEC;
	lease_table_job_done(t, &job, 0, NULL, t2);
	CHECK(job.lease == NULL);
	CHECK(!l->busy);
	CHECK_INT_EQ(l->refs, 1);
	CHECK_INT_EQ(l->state, LEASE_HELD);
	CHECK_INT_EQ(l->valid_until, t1 + HOUR);
	CHECK_INT_EQ(l->expires, t1 + HOUR);
	CHECK_INT_EQ(l->last_renew, t2);
	CHECK_INT_EQ(l->attempts, 0);
	CHECK(l->last_error == NULL);
	/* the next renewal is 2/3 TTL after this one */
	CHECK_INT_EQ(lease_table_next_deadline(t), t2 + 40 * MIN);
	CHECK_INT_EQ(lease_table_count(t), 1);
	lease_table_free(t);
	role_unref(ro);
}

/* renewals never pass max_expires; once capped, the next deadline is revocation */
static void test_renew_until_max(void)
{
	struct role *ro = mkrole("db-app", "wizard", "1h", "24h", NULL);
	struct lease_table *t = lease_table_new();
	int64_t t0 = now_ms, d, maxe = t0 + 24 * HOUR;
	struct lease_job job;
	struct lease *l;
	int renewals = 0;

	l = issue(t, ro, 100, t0);
	for (;;) {
		d = lease_table_next_deadline(t);
		CHECK(d <= maxe);
		if (d >= maxe || renewals > 100)
			break;
		CHECK_INT_EQ(d, l->last_renew + 40 * MIN);
		CHECK_INT_EQ(due1(t, d, &job), 1);
		CHECK_INT_EQ(job.action, LEASE_JOB_RENEW);
		CHECK_INT_EQ(job.expires, d + HOUR < maxe ? d + HOUR : maxe);
		CHECK(job.expires <= maxe);
		lease_table_job_done(t, &job, 0, NULL, d);
		CHECK(l->expires <= maxe);
		CHECK(l->valid_until <= maxe);
		renewals++;
	}
	/* every 40 min: the 35th renewal (at 23h20m) reaches the cap */
	CHECK_INT_EQ(renewals, 35);
	CHECK_INT_EQ(l->valid_until, maxe);
	CHECK_INT_EQ(l->expires, maxe);
	CHECK_INT_EQ(l->state, LEASE_HELD);
	CHECK(lease_table_is_ending(t, l));
	CHECK_INT_EQ(lease_table_next_deadline(t), maxe);
	CHECK_INT_EQ(due1(t, maxe - 1, &job), 0);

	/* still held, but revoked at max_expires */
	CHECK_INT_EQ(due1(t, maxe, &job), 1);
	CHECK(job.lease == l);
	CHECK_INT_EQ(job.action, LEASE_JOB_REVOKE);
	CHECK_INT_EQ(l->state, LEASE_REVOKING);
	lease_ref(l);
	lease_table_job_done(t, &job, 0, NULL, maxe + 100);
	CHECK_INT_EQ(l->state, LEASE_REVOKED);
	CHECK_INT_EQ(lease_table_count(t), 0);
	CHECK_INT_EQ(lease_table_next_deadline(t), INT64_MAX);
	CHECK(lease_table_get(t, l->id) == NULL);
	lease_unref(l);
	lease_table_free(t);
	role_unref(ro);
}

/* a held lease that was never renewed (timer late past expires) is revoked */
static void test_held_past_expiry_revokes(void)
{
	struct role *ro = mkrole("db-app", "wizard", "1h", "24h", NULL);
	struct lease_table *t = lease_table_new();
	struct lease_job job;
	struct lease *l = issue(t, ro, 100, now_ms);

	CHECK_INT_EQ(due1(t, now_ms + HOUR, &job), 1);
	CHECK(job.lease == l);
	CHECK_INT_EQ(job.action, LEASE_JOB_REVOKE);
	CHECK_INT_EQ(l->state, LEASE_REVOKING);
	lease_table_job_done(t, &job, 0, NULL, now_ms + HOUR);
	CHECK_INT_EQ(lease_table_count(t), 0);
	lease_table_free(t);
	role_unref(ro);
}

/* handle binding: the last close lets go; revoked at close + ttl */
static void test_close_handle_binding(void)
{
	struct role *ro = mkrole("db-app", "wizard", "1h", "24h", NULL);
	struct lease_table *t = lease_table_new();
	int64_t t0 = now_ms, tc = t0 + 500;
	struct lease_job job;
	struct lease *l = issue(t, ro, 100, t0);

	CHECK(lease_table_closed(t, l, tc)); /* that let it go */
	CHECK(l->closed);
	CHECK_INT_EQ(l->state, LEASE_LET_GO);
	CHECK_INT_EQ(l->let_go_at, tc);
	CHECK_INT_EQ(l->expires, tc + HOUR);
	/* VALID UNTIL (t0 + 1h) is within a second of the end: no renewal */
	CHECK(!l->want_renew);
	CHECK(lease_table_is_ending(t, l));
	CHECK_INT_EQ(lease_table_next_deadline(t), tc + HOUR);
	CHECK_INT_EQ(due1(t, tc + HOUR - 1, &job), 0);
	CHECK_INT_EQ(due1(t, tc + HOUR, &job), 1);
	CHECK_INT_EQ(job.action, LEASE_JOB_REVOKE);
	CHECK_INT_EQ(l->state, LEASE_REVOKING);
	/* a close or an exit now changes nothing */
	CHECK(!lease_table_exited(t, l, tc + HOUR));
	CHECK(!lease_table_closed(t, l, tc + HOUR));
	CHECK_INT_EQ(l->state, LEASE_REVOKING);
	lease_table_job_done(t, &job, 0, NULL, tc + HOUR);
	CHECK_INT_EQ(lease_table_count(t), 0);
	lease_table_free(t);
	role_unref(ro);
}

/* a let-go near max_ttl is revoked at max_expires, not close + ttl */
static void test_close_near_max(void)
{
	struct role *ro = mkrole("db-app", "wizard", "1h", "2h", NULL);
	struct lease_table *t = lease_table_new();
	int64_t t0 = now_ms, maxe = t0 + 2 * HOUR;
	struct lease_job job;
	struct lease *l = issue(t, ro, 100, t0);

	CHECK_INT_EQ(due1(t, t0 + 40 * MIN, &job), 1);
	CHECK_INT_EQ(job.expires, t0 + 100 * MIN);
	lease_table_job_done(t, &job, 0, NULL, t0 + 40 * MIN);
	CHECK_INT_EQ(lease_table_next_deadline(t), t0 + 80 * MIN);
	CHECK_INT_EQ(due1(t, t0 + 80 * MIN, &job), 1);
	CHECK_INT_EQ(job.expires, maxe); /* min(80m + 1h, 2h) */
	lease_table_job_done(t, &job, 0, NULL, t0 + 80 * MIN);
	CHECK_INT_EQ(l->valid_until, maxe);
	CHECK_INT_EQ(lease_table_next_deadline(t), maxe);

	lease_table_closed(t, l, t0 + 90 * MIN);
	CHECK_INT_EQ(l->state, LEASE_LET_GO);
	CHECK_INT_EQ(l->expires, maxe);
	CHECK(!l->want_renew);
	CHECK_INT_EQ(lease_table_next_deadline(t), maxe);
	CHECK_INT_EQ(due1(t, maxe, &job), 1);
	CHECK_INT_EQ(job.action, LEASE_JOB_REVOKE);
	lease_table_job_done(t, &job, 0, NULL, maxe);
	CHECK_INT_EQ(lease_table_count(t), 0);
	lease_table_free(t);
	role_unref(ro);
}

/* let go long after the last renewal: a RENEW to let-go + ttl, then REVOKE */
static void test_let_go_wants_renew(void)
{
	struct role *ro = mkrole("db-app", "wizard", "1h", "24h", NULL);
	struct lease_table *t = lease_table_new();
	int64_t t0 = now_ms, tl = t0 + 30 * MIN;
	struct lease_job job;
	struct lease *l = issue(t, ro, 100, t0);

	lease_table_closed(t, l, tl);
	CHECK_INT_EQ(l->state, LEASE_LET_GO);
	CHECK_INT_EQ(l->expires, tl + HOUR);
	CHECK(l->want_renew);
	/* due 2/3 into VALID UNTIL (t0 + 40 min), as if it were still held */
	CHECK_INT_EQ(lease_table_next_deadline(t), t0 + 40 * MIN);
	CHECK_INT_EQ(due1(t, t0 + 40 * MIN - 1, &job), 0);
	CHECK_INT_EQ(due1(t, t0 + 40 * MIN, &job), 1);
	CHECK(job.lease == l);
	CHECK_INT_EQ(job.action, LEASE_JOB_RENEW);
	CHECK_INT_EQ(job.expires, tl + HOUR);
	CHECK_INT_EQ(l->state, LEASE_LET_GO);
	lease_table_job_done(t, &job, 0, NULL, t0 + 40 * MIN + 10);
	CHECK(!l->want_renew);
	CHECK_INT_EQ(l->valid_until, tl + HOUR);
	CHECK_INT_EQ(l->expires, tl + HOUR);
	CHECK_INT_EQ(l->state, LEASE_LET_GO);
	CHECK_INT_EQ(lease_table_next_deadline(t), tl + HOUR);
	CHECK_INT_EQ(due1(t, tl + HOUR - 1, &job), 0);
	CHECK_INT_EQ(due1(t, tl + HOUR, &job), 1);
	CHECK_INT_EQ(job.action, LEASE_JOB_REVOKE);
	lease_table_job_done(t, &job, 0, NULL, tl + HOUR);
	CHECK_INT_EQ(lease_table_count(t), 0);
	lease_table_free(t);
	role_unref(ro);
}

/* the extra renewal fails: no retry, revocation still comes at expires */
static void test_let_go_renew_fails(void)
{
	struct role *ro = mkrole("db-app", "wizard", "1h", "24h", NULL);
	struct lease_table *t = lease_table_new();
	int64_t t0 = now_ms, tl = t0 + 30 * MIN;
	struct lease_job job;
	struct lease *l = issue(t, ro, 100, t0);

	lease_table_exited(t, l, tl);
	CHECK(l->exited);
	CHECK(l->want_renew);
	CHECK_INT_EQ(due1(t, t0 + 40 * MIN, &job), 1);
	CHECK_INT_EQ(job.action, LEASE_JOB_RENEW);
	lease_table_job_done(t, &job, -EAGAIN, "database unavailable", t0 + 40 * MIN);
	CHECK(!l->want_renew);
	CHECK_INT_EQ(l->state, LEASE_LET_GO);
	CHECK_INT_EQ(l->valid_until, t0 + HOUR);
	CHECK_STR_EQ(LAST_ERROR(l), "database unavailable");
	CHECK_INT_EQ(lease_table_next_deadline(t), tl + HOUR);
	CHECK_INT_EQ(due1(t, tl + HOUR, &job), 1);
	CHECK_INT_EQ(job.action, LEASE_JOB_REVOKE);
	lease_table_job_done(t, &job, 0, NULL, tl + HOUR);
	CHECK_INT_EQ(lease_table_count(t), 0);
	lease_table_free(t);
	role_unref(ro);
}

/*
 * The holder lets go while a renewal is running. The renewal lands at
 * VALID UNTIL = renewal start + ttl, but the lease now ends at let-go + ttl,
 * later: PostgreSQL must not refuse the login before the lease ends, so
 * one more RENEW to let-go + ttl is due (DESIGN.md "VALID UNTIL always
 * carries the expiry").
 */
static void test_let_go_during_renewal(void)
{
	struct role *ro = mkrole("db-app", "wizard", "1h", "24h", NULL);
	struct lease_table *t = lease_table_new();
	int64_t t0 = now_ms, tr = t0 + 40 * MIN, tl = t0 + 50 * MIN;
	struct lease_job job;
	struct lease *l = issue(t, ro, 100, t0);

	CHECK_INT_EQ(due1(t, tr, &job), 1);
	CHECK_INT_EQ(job.action, LEASE_JOB_RENEW);
	CHECK_INT_EQ(job.expires, tr + HOUR);
	lease_table_closed(t, l, tl); /* while the RENEW runs */
	CHECK_INT_EQ(l->state, LEASE_LET_GO);
	CHECK_INT_EQ(l->expires, tl + HOUR);
	lease_table_job_done(t, &job, 0, NULL, tl + SEC);
	CHECK_INT_EQ(l->valid_until, tr + HOUR);
	CHECK_INT_EQ(l->expires, tl + HOUR);
	/* VALID UNTIL is 10 minutes short of the lease's end */
	CHECK(l->want_renew);
	/* due 2/3 into the new VALID UNTIL: tr + 40 min, before it passes */
	CHECK_INT_EQ(lease_table_next_deadline(t), tr + 40 * MIN);
	if (due1(t, tr + 40 * MIN, &job) == 1) {
		CHECK_INT_EQ(job.action, LEASE_JOB_RENEW);
		CHECK_INT_EQ(job.expires, tl + HOUR);
		lease_table_job_done(t, &job, 0, NULL, tr + 40 * MIN + SEC);
	} else {
		CHECK(0);
	}
	CHECK(l->valid_until >= l->expires);
	lease_table_free(t);
	role_unref(ro);
}

/* process binding: close does not let go, exit does */
static void test_process_binding(void)
{
	struct role *ro = mkrole("db-proc", "wizard", "1h", "24h", "process");
	struct lease_table *t = lease_table_new();
	int64_t t0 = now_ms, te = t0 + 2 * SEC;
	struct lease_job job;
	struct lease *l;

	CHECK(ro && ro->binding == ROLE_BIND_PROCESS);
	l = issue(t, ro, 4242, t0);
	CHECK(!lease_table_closed(t, l, t0 + SEC)); /* not let go */
	CHECK(l->closed);
	CHECK_INT_EQ(l->state, LEASE_HELD);
	CHECK(!lease_table_is_ending(t, l));
	CHECK_INT_EQ(lease_table_next_deadline(t), t0 + 40 * MIN);
	/* still renewed while the process lives */
	CHECK_INT_EQ(due1(t, t0 + 40 * MIN, &job), 1);
	CHECK_INT_EQ(job.action, LEASE_JOB_RENEW);
	lease_table_job_done(t, &job, 0, NULL, t0 + 40 * MIN);
	CHECK_INT_EQ(l->state, LEASE_HELD);

	te = t0 + 41 * MIN;
	CHECK(lease_table_exited(t, l, te));
	CHECK(l->exited);
	CHECK_INT_EQ(l->state, LEASE_LET_GO);
	CHECK_INT_EQ(l->let_go_at, te);
	CHECK_INT_EQ(l->expires, te + HOUR);
	CHECK(l->want_renew); /* renewed at 40m to 1h40m, ends at 1h41m */
	lease_table_free(t);

	/* exit first, then close: let go at the exit */
	t = lease_table_new();
	l = issue(t, ro, 4242, t0);
	CHECK(lease_table_exited(t, l, t0 + 100));
	CHECK_INT_EQ(l->state, LEASE_LET_GO);
	CHECK_INT_EQ(l->expires, t0 + 100 + HOUR);
	CHECK(!lease_table_closed(t, l, t0 + 5 * MIN));
	CHECK_INT_EQ(l->let_go_at, t0 + 100);
	CHECK_INT_EQ(l->expires, t0 + 100 + HOUR);
	lease_table_free(t);

	/* no known opener (pid 0): nothing to watch, so close lets go */
	t = lease_table_new();
	l = issue(t, ro, 0, t0);
	CHECK(lease_table_closed(t, l, t0 + 100));
	CHECK_INT_EQ(l->state, LEASE_LET_GO);
	CHECK_INT_EQ(l->expires, t0 + 100 + HOUR);
	lease_table_free(t);
	role_unref(ro);
}

/* handle binding: an opener that exits (without a close seen yet) lets go too */
static void test_handle_binding_exit(void)
{
	struct role *ro = mkrole("db-app", "wizard", "1h", "24h", "handle");
	struct lease_table *t = lease_table_new();
	struct lease *l = issue(t, ro, 4242, now_ms);

	CHECK_INT_EQ(ro->binding, ROLE_BIND_HANDLE);
	lease_table_exited(t, l, now_ms + 200);
	CHECK_INT_EQ(l->state, LEASE_LET_GO);
	CHECK_INT_EQ(l->expires, now_ms + 200 + HOUR);
	lease_table_free(t);
	role_unref(ro);
}

/* rm leases/ROLE/ID: a REVOKE job due now, whatever the state */
static void test_revoke_now(void)
{
	struct role *ro = mkrole("db-app", "wizard", "1h", "24h", NULL);
	struct lease_table *t = lease_table_new();
	int64_t t0 = now_ms, tn = t0 + 5 * MIN;
	struct lease_job job, jobs[4];
	struct lease *a, *b;

	a = issue(t, ro, 100, t0);
	b = issue(t, ro, 101, t0);
	lease_table_revoke_now(t, a, tn);
	CHECK_INT_EQ(a->state, LEASE_LET_GO);
	CHECK_INT_EQ(a->expires, tn);
	CHECK_INT_EQ(a->let_go_at, tn);
	CHECK(!a->want_renew);
	CHECK_INT_EQ(lease_table_next_deadline(t), tn);
	CHECK_INT_EQ(lease_table_due(t, tn, jobs, 4), 1);
	CHECK(jobs[0].lease == a);
	CHECK_INT_EQ(jobs[0].action, LEASE_JOB_REVOKE);
	CHECK_INT_EQ(a->state, LEASE_REVOKING);
	/* revoking already: a second rm changes nothing, no second job */
	lease_table_revoke_now(t, a, tn + 1);
	CHECK_INT_EQ(a->state, LEASE_REVOKING);
	CHECK_INT_EQ(lease_table_due(t, tn + 1, jobs + 1, 3), 0);
	lease_table_job_done(t, &jobs[0], 0, NULL, tn + 2);
	CHECK_INT_EQ(lease_table_count(t), 1);

	/* a let-go lease waiting for its extra renewal: revoked now instead */
	lease_table_closed(t, b, t0 + 30 * MIN);
	CHECK(b->want_renew);
	lease_table_revoke_now(t, b, t0 + 31 * MIN);
	CHECK(!b->want_renew);
	CHECK_INT_EQ(b->let_go_at, t0 + 30 * MIN); /* kept */
	CHECK_INT_EQ(b->expires, t0 + 31 * MIN);
	CHECK_INT_EQ(due1(t, t0 + 31 * MIN, &job), 1);
	CHECK_INT_EQ(job.action, LEASE_JOB_REVOKE);
	lease_table_job_done(t, &job, 0, NULL, t0 + 31 * MIN);
	CHECK_INT_EQ(lease_table_count(t), 0);
	lease_table_free(t);
	role_unref(ro);
}

/* rm while a renewal runs: the renewal finishes, then the revocation */
static void test_revoke_now_while_renewing(void)
{
	struct role *ro = mkrole("db-app", "wizard", "1h", "24h", NULL);
	struct lease_table *t = lease_table_new();
	int64_t t0 = now_ms, tr = t0 + 40 * MIN;
	struct lease_job job;
	struct lease *l = issue(t, ro, 100, t0);

	CHECK_INT_EQ(due1(t, tr, &job), 1);
	CHECK_INT_EQ(job.action, LEASE_JOB_RENEW);
	lease_table_revoke_now(t, l, tr + 1);
	CHECK_INT_EQ(lease_table_next_deadline(t), INT64_MAX); /* still busy */
	lease_table_job_done(t, &job, 0, NULL, tr + 2);
	CHECK_INT_EQ(l->state, LEASE_LET_GO);
	CHECK_INT_EQ(lease_table_next_deadline(t), tr + 1);
	CHECK_INT_EQ(due1(t, tr + 2, &job), 1);
	CHECK_INT_EQ(job.action, LEASE_JOB_REVOKE);
	lease_table_job_done(t, &job, 0, NULL, tr + 3);
	CHECK_INT_EQ(lease_table_count(t), 0);
	lease_table_free(t);
	role_unref(ro);
}

/* failed revocations: FAILED, retried at 1 s, 2 s, 4 s ... 300 s, never dropped */
static void test_revoke_backoff(void)
{
	static const int64_t want[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300 };
	struct role *ro = mkrole("db-app", "wizard", "1h", "24h", NULL);
	struct lease_table *t = lease_table_new();
	int64_t tn = now_ms + MIN, at;
	struct lease_job job;
	struct lease *l = issue(t, ro, 100, now_ms);
	json_t *ids, *j;
	char id[LEASE_ID_LEN + 1];

	snprintf(id, sizeof(id), "%s", l->id);
	lease_table_revoke_now(t, l, tn);
	CHECK_INT_EQ(due1(t, tn, &job), 1);
	CHECK_INT_EQ(job.action, LEASE_JOB_REVOKE);
	at = tn;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		lease_table_job_done(t, &job, -EIO, "connection refused", at);
		CHECK_INT_EQ(l->state, LEASE_FAILED);
		CHECK_INT_EQ(l->attempts, (int)i + 1);
		CHECK_INT_EQ(l->retry_at, at + want[i] * SEC);
		CHECK_STR_EQ(LAST_ERROR(l), "connection refused");
		CHECK_INT_EQ(lease_table_next_deadline(t), at + want[i] * SEC);
		CHECK_INT_EQ(lease_table_count(t), 1);
		CHECK(lease_table_get(t, id) == l);
		lease_unref(l);
		ids = lease_table_ids(t, "db-app");
		CHECK_INT_EQ(json_array_size(ids), 1);
		CHECK_STR_EQ(json_string_value(json_array_get(ids, 0)), id);
		json_decref(ids);
		CHECK_INT_EQ(due1(t, at + want[i] * SEC - 1, &job), 0);
		at += want[i] * SEC;
		CHECK_INT_EQ(due1(t, at, &job), 1);
		CHECK(job.lease == l);
		CHECK_INT_EQ(job.action, LEASE_JOB_REVOKE);
		CHECK_INT_EQ(l->state, LEASE_REVOKING);
	}
	/* the JSON shows the failure; errmsg NULL falls back to strerror */
	lease_table_job_done(t, &job, -EIO, NULL, at);
	CHECK_STR_EQ(LAST_ERROR(l), strerror(EIO));
	j = lease_table_to_json(t, l, 0, now_ms);
	CHECK(j != NULL);
	CHECK_STR_EQ(json_string_value(json_object_get(j, "state")), "failed");
	CHECK_INT_EQ(json_integer_value(json_object_get(j, "attempts")), 13);
	CHECK_STR_EQ(json_string_value(json_object_get(j, "last_error")), strerror(EIO));
	json_decref(j);
	CHECK(lease_table_is_ending(t, l));

	/* rm on a failed lease retries now */
	lease_table_revoke_now(t, l, at + 5);
	CHECK_INT_EQ(lease_table_next_deadline(t), at + 5);
	CHECK_INT_EQ(due1(t, at + 5, &job), 1);
	CHECK_INT_EQ(job.action, LEASE_JOB_REVOKE);
	lease_table_job_done(t, &job, 0, NULL, at + 6);
	CHECK(lease_table_get(t, id) == NULL);
	CHECK_INT_EQ(lease_table_count(t), 0);
	ids = lease_table_ids(t, NULL);
	CHECK_INT_EQ(json_array_size(ids), 0);
	json_decref(ids);
	lease_table_free(t);
	role_unref(ro);
}

/* a failed renewal of a held lease: retried with backoff, revoked at expiry */
static void test_renew_backoff(void)
{
	struct role *ro = mkrole("db-app", "wizard", "1h", "24h", NULL);
	struct lease_table *t = lease_table_new();
	int64_t t0 = now_ms, at = t0 + 40 * MIN;
	struct lease_job job;
	struct lease *l = issue(t, ro, 100, t0);

	CHECK_INT_EQ(due1(t, at, &job), 1);
	lease_table_job_done(t, &job, -EAGAIN, "timeout", at);
	CHECK_INT_EQ(l->state, LEASE_HELD);
	CHECK_INT_EQ(l->retry_at, at + SEC);
	CHECK_INT_EQ(lease_table_next_deadline(t), at + SEC);
	CHECK_INT_EQ(due1(t, at + SEC, &job), 1);
	CHECK_INT_EQ(job.action, LEASE_JOB_RENEW);
	CHECK_INT_EQ(job.expires, at + SEC + HOUR);
	lease_table_job_done(t, &job, -EAGAIN, "timeout", at + SEC);
	CHECK_INT_EQ(l->retry_at, at + 3 * SEC);
	CHECK_INT_EQ(due1(t, at + 3 * SEC, &job), 1);
	lease_table_job_done(t, &job, 0, NULL, at + 3 * SEC);
	CHECK_INT_EQ(l->retry_at, 0);
	CHECK_INT_EQ(l->attempts, 0);
	CHECK_INT_EQ(l->expires, at + 3 * SEC + HOUR);
	CHECK_INT_EQ(lease_table_next_deadline(t), at + 3 * SEC + 40 * MIN);
	lease_table_free(t);

	/* failing until the end: the retry deadline never passes expires */
	t = lease_table_new();
	l = issue(t, ro, 100, t0);
	at = t0 + 40 * MIN;
	for (int i = 0; i < 200; i++) {
		int64_t d = lease_table_next_deadline(t);

		CHECK(d <= t0 + HOUR);
		CHECK_INT_EQ(due1(t, d, &job), 1);
		if (job.action == LEASE_JOB_REVOKE) {
			CHECK_INT_EQ(d, t0 + HOUR);
			break;
		}
		lease_table_job_done(t, &job, -EAGAIN, "timeout", d);
	}
	CHECK_INT_EQ(job.action, LEASE_JOB_REVOKE);
	lease_table_job_done(t, &job, 0, NULL, t0 + HOUR);
	CHECK_INT_EQ(lease_table_count(t), 0);
	lease_table_free(t);
	role_unref(ro);
}

/*
 * Failed renewals are not failed revocations (lease.h: attempts counts
 * "failed revocation attempts", and the first revocation retry comes
 * after 1 s).
 */
static void test_revoke_backoff_after_renew_failures(void)
{
	struct role *ro = mkrole("db-app", "wizard", "1h", "24h", NULL);
	struct lease_table *t = lease_table_new();
	int64_t t0 = now_ms, d;
	struct lease_job job;
	struct lease *l = issue(t, ro, 100, t0);

	for (int i = 0; i < 3; i++) {
		d = lease_table_next_deadline(t);
		CHECK_INT_EQ(due1(t, d, &job), 1);
		CHECK_INT_EQ(job.action, LEASE_JOB_RENEW);
		lease_table_job_done(t, &job, -EAGAIN, "timeout", d);
	}
	lease_table_closed(t, l, t0 + 41 * MIN);
	lease_table_revoke_now(t, l, t0 + 42 * MIN);
	CHECK_INT_EQ(due1(t, t0 + 42 * MIN, &job), 1);
	CHECK_INT_EQ(job.action, LEASE_JOB_REVOKE);
	lease_table_job_done(t, &job, -EIO, "connection refused", t0 + 42 * MIN);
	CHECK_INT_EQ(l->state, LEASE_FAILED);
	CHECK_INT_EQ(l->attempts, 1);
	CHECK_INT_EQ(l->retry_at, t0 + 42 * MIN + SEC);
	lease_table_free(t);
	role_unref(ro);
}

/* a success on the same connection pulls failed revocations forward */
static void test_retry_db(void)
{
	struct role *ro = mkrole("db-app", "wizard", "1h", "24h", NULL);
	struct role *other = mkrole("other", "elsewhere", "1h", "24h", NULL);
	struct lease_table *t = lease_table_new();
	int64_t t0 = now_ms, at = t0 + MIN;
	struct lease *a = issue(t, ro, 100, t0), *b = issue(t, other, 101, t0);
	struct lease_job job;

	lease_table_revoke_now(t, a, at);
	CHECK_INT_EQ(due1(t, at, &job), 1);
	lease_table_job_done(t, &job, -EIO, "down", at);
	CHECK_INT_EQ(a->state, LEASE_FAILED);
	/* several failures: a's next retry is far away */
	for (int i = 0; i < 5; i++) {
		at = a->retry_at;
		CHECK_INT_EQ(due1(t, at, &job), 1);
		CHECK(job.lease == a);
		lease_table_job_done(t, &job, -EIO, "down", at);
	}
	lease_table_revoke_now(t, b, at);
	CHECK_INT_EQ(due1(t, at, &job), 1);
	CHECK(job.lease == b);
	lease_table_job_done(t, &job, -EIO, "down", at);
	CHECK(a->retry_at - at >= 32 * SEC);
	lease_table_retry_db(t, "wizard", at + SEC);
	CHECK_INT_EQ(a->retry_at, at + SEC);
	CHECK_INT_EQ(b->retry_at, at + SEC); /* its own first backoff, untouched */
	lease_table_retry_db(t, "wizard", at + 2); /* b's connection is not "wizard" */
	CHECK_INT_EQ(b->retry_at, at + SEC);
	CHECK_INT_EQ(lease_table_next_deadline(t), at + 2);
	lease_table_free(t);
	role_unref(ro);
	role_unref(other);
}

/* two due leases, max 1 per call: each handed out once */
static void test_busy_not_twice(void)
{
	struct role *ro = mkrole("db-app", "wizard", "1h", "24h", NULL);
	struct lease_table *t = lease_table_new();
	struct lease_job j1, j2, j3;
	struct lease *a = issue(t, ro, 1, now_ms), *b = issue(t, ro, 2, now_ms + 10);

	CHECK_INT_EQ(due1(t, now_ms + HOUR / 2 + 1, &j1), 0);
	CHECK_INT_EQ(due1(t, now_ms + 50 * MIN, &j1), 1);
	CHECK(j1.lease == a);
	CHECK_INT_EQ(lease_table_next_deadline(t), now_ms + 10 + 40 * MIN);
	CHECK_INT_EQ(due1(t, now_ms + 50 * MIN, &j2), 1);
	CHECK(j2.lease == b);
	CHECK_INT_EQ(due1(t, now_ms + 50 * MIN, &j3), 0);
	CHECK_INT_EQ(due1(t, INT64_MAX - 1, &j3), 0);
	lease_table_job_done(t, &j2, 0, NULL, now_ms + 50 * MIN);
	CHECK_INT_EQ(due1(t, now_ms + 50 * MIN, &j3), 0);
	lease_table_job_done(t, &j1, 0, NULL, now_ms + 50 * MIN);
	CHECK_INT_EQ(lease_table_count(t), 2);
	lease_table_free(t);
	role_unref(ro);
}

/* a job outlives the table's reference (revoked while the table is freed) */
static void test_job_holds_reference(void)
{
	struct role *ro = mkrole("db-app", "wizard", "1h", "24h", NULL);
	struct lease_table *t = lease_table_new();
	struct lease_job job;
	struct lease *l = issue(t, ro, 1, now_ms);

	lease_table_revoke_now(t, l, now_ms);
	CHECK_INT_EQ(due1(t, now_ms, &job), 1);
	CHECK_INT_EQ(l->refs, 2);
	lease_table_job_done(t, &job, 0, NULL, now_ms);
	CHECK_INT_EQ(lease_table_count(t), 0);
	CHECK_INT_EQ(ro->refs, 1); /* the lease is gone */
	lease_table_free(t);
	role_unref(ro);
}

static int json_has_string(json_t *a, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(a, i,
			   v) if (json_is_string(v) && !strcmp(json_string_value(v), s)) return 1;
	return 0;
}

static void test_counts_roles_ids(void)
{
	struct role *ra = mkrole("app-a", "db1", "1h", "24h", NULL);
	struct role *rb = mkrole("app-b", "db1", "1h", "24h", NULL);
	struct role *rc = mkrole("app-c", "db2", "1h", "24h", NULL);
	struct lease_table *t = lease_table_new();
	struct lease *a1, *a2, *b1, *c1;
	struct lease_job job;
	json_t *j;

	j = lease_table_roles(t);
	CHECK(json_is_array(j) && json_array_size(j) == 0);
	json_decref(j);
	CHECK_INT_EQ(lease_table_count_db(t, "db1"), 0);

	a1 = issue(t, ra, 1, now_ms);
	a2 = issue(t, ra, 2, now_ms + 1);
	b1 = issue(t, rb, 3, now_ms + 2);
	c1 = issue(t, rc, 4, now_ms + 3);
	CHECK_INT_EQ(lease_table_count(t), 4);
	CHECK_INT_EQ(lease_table_count_db(t, "db1"), 3);
	CHECK_INT_EQ(lease_table_count_db(t, "db2"), 1);
	CHECK_INT_EQ(lease_table_count_db(t, "db3"), 0);
	CHECK_INT_EQ(lease_table_count_db(t, ""), 0);

	j = lease_table_roles(t);
	CHECK_INT_EQ(json_array_size(j), 3);
	CHECK(json_has_string(j, "app-a"));
	CHECK(json_has_string(j, "app-b"));
	CHECK(json_has_string(j, "app-c"));
	json_decref(j);

	j = lease_table_ids(t, "app-a");
	CHECK_INT_EQ(json_array_size(j), 2);
	CHECK(json_has_string(j, a1->id));
	CHECK(json_has_string(j, a2->id));
	CHECK(!json_has_string(j, b1->id));
	json_decref(j);
	j = lease_table_ids(t, NULL);
	CHECK_INT_EQ(json_array_size(j), 4);
	CHECK(json_has_string(j, c1->id));
	json_decref(j);
	j = lease_table_ids(t, "nope");
	CHECK(json_is_array(j) && json_array_size(j) == 0);
	json_decref(j);

	/* a revoking lease still counts (it still needs the connection) */
	lease_table_revoke_now(t, c1, now_ms);
	CHECK_INT_EQ(due1(t, now_ms, &job), 1);
	CHECK(job.lease == c1);
	CHECK_INT_EQ(lease_table_count_db(t, "db2"), 1);
	lease_table_job_done(t, &job, -EIO, "down", now_ms);
	CHECK_INT_EQ(lease_table_count_db(t, "db2"), 1);
	CHECK_INT_EQ(due1(t, now_ms + SEC, &job), 1);
	lease_table_job_done(t, &job, 0, NULL, now_ms + SEC);
	CHECK_INT_EQ(lease_table_count(t), 3);
	CHECK_INT_EQ(lease_table_count_db(t, "db2"), 0);
	j = lease_table_roles(t);
	CHECK_INT_EQ(json_array_size(j), 2);
	CHECK(!json_has_string(j, "app-c"));
	json_decref(j);

	lease_table_free(t);
	role_unref(ra);
	role_unref(rb);
	role_unref(rc);
}

static void test_to_json(void)
{
	static const char *const keys[] = {
		"lease_id",   "id",	     "role",	     "username",
		"issued",     "expires",     "max_expires",  "ttl",
		"renewable",  "state",	     "holder",	     "attempts",
		"last_error", "let_go_at",   "connection",   "connection_version",
		"issue_time", "expire_time", "last_renewal", "lease_duration",
		NULL
	};
	struct role *ro = mkrole("db-app", "wizard", "1h", "24h", NULL);
	struct lease_table *t = lease_table_new();
	struct lease *l = issue(t, ro, 4321, now_ms);
	char lid[128], *dump;
	json_t *j, *h;

	j = lease_table_to_json(t, l, 0, now_ms);
	CHECK(j != NULL);
	if (!j)
		goto out;
	for (const char *const *k = keys; *k; k++)
		CHECK(json_object_get(j, *k) != NULL);
	CHECK_INT_EQ(json_object_size(j), sizeof(keys) / sizeof(keys[0]) - 1);
	snprintf(lid, sizeof(lid), "database/creds/db-app/%s", l->id);
	CHECK_STR_EQ(json_string_value(json_object_get(j, "lease_id")), lid);
	/* Vault's sys/leases/lookup: id is the full lease id */
	CHECK_STR_EQ(json_string_value(json_object_get(j, "id")), lid);
	CHECK_STR_EQ(json_string_value(json_object_get(j, "issue_time")), "2023-11-14T22:13:20Z");
	CHECK_STR_EQ(json_string_value(json_object_get(j, "expire_time")), "2023-11-14T23:13:20Z");
	CHECK(json_is_null(json_object_get(j, "last_renewal")));
	CHECK_INT_EQ(json_integer_value(json_object_get(j, "lease_duration")), 3600);
	CHECK_STR_EQ(json_string_value(json_object_get(j, "role")), "db-app");
	CHECK_STR_EQ(json_string_value(json_object_get(j, "username")), l->username);
	CHECK_STR_EQ(json_string_value(json_object_get(j, "issued")), "2023-11-14T22:13:20Z");
	CHECK_STR_EQ(json_string_value(json_object_get(j, "expires")), "2023-11-14T23:13:20Z");
	CHECK_STR_EQ(json_string_value(json_object_get(j, "max_expires")), "2023-11-15T22:13:20Z");
	CHECK_INT_EQ(json_integer_value(json_object_get(j, "ttl")), 3600);
	CHECK(json_is_true(json_object_get(j, "renewable")));
	CHECK_STR_EQ(json_string_value(json_object_get(j, "state")), "held");
	CHECK_INT_EQ(json_integer_value(json_object_get(j, "attempts")), 0);
	CHECK_STR_EQ(json_string_value(json_object_get(j, "last_error")), "");
	h = json_object_get(j, "holder");
	CHECK(json_is_object(h));
	CHECK_INT_EQ(json_integer_value(json_object_get(h, "pid")), 4321);
	CHECK_INT_EQ(json_integer_value(json_object_get(h, "uid")), 1000);
	CHECK_INT_EQ(json_integer_value(json_object_get(h, "gid")), 1000);
	CHECK_STR_EQ(json_string_value(json_object_get(h, "command")), "psql");
	CHECK_STR_EQ(json_string_value(json_object_get(h, "executable")), "/usr/bin/psql");
	CHECK_STR_EQ(json_string_value(json_object_get(h, "cgroup")),
		     "/user.slice/session-1.scope");
	CHECK(json_object_get(h, "container") == NULL); /* not in a container */
	CHECK(json_object_get(h, "namespaces") == NULL); /* not known */
	dump = json_dumps(j, JSON_COMPACT);
	CHECK(dump != NULL);
	if (dump) {
		json_free_t jfree;

		CHECK(strstr(dump, "password") == NULL);
		json_get_alloc_funcs(NULL, &jfree);
		jfree(dump); /* jansson's allocator (secret_init) */
	}
	json_decref(j);

	/* ttl counts down to expire_time, and stops at 0 */
	j = lease_table_to_json(t, l, 0, now_ms + 10 * MIN);
	CHECK_INT_EQ(json_integer_value(json_object_get(j, "ttl")), 3000);
	json_decref(j);
	j = lease_table_to_json(t, l, 0, now_ms + 10 * MIN + 1); /* whole seconds, as Vault */
	CHECK_INT_EQ(json_integer_value(json_object_get(j, "ttl")), 2999);
	json_decref(j);
	j = lease_table_to_json(t, l, 0, now_ms + 2 * HOUR);
	CHECK_INT_EQ(json_integer_value(json_object_get(j, "ttl")), 0);
	json_decref(j);
	/* a renewal: last_renewal says when, expire_time moves */
	{
		struct lease_job job;

		CHECK_INT_EQ(due1(t, now_ms + 40 * MIN, &job), 1);
		CHECK_INT_EQ(job.action, LEASE_JOB_RENEW);
		lease_table_job_done(t, &job, 0, NULL, now_ms + 40 * MIN);
	}
	j = lease_table_to_json(t, l, 0, now_ms + 40 * MIN);
	CHECK_STR_EQ(json_string_value(json_object_get(j, "last_renewal")), "2023-11-14T22:53:20Z");
	CHECK_STR_EQ(json_string_value(json_object_get(j, "expire_time")), "2023-11-14T23:53:20Z");
	CHECK_INT_EQ(json_integer_value(json_object_get(j, "ttl")), 3600);
	CHECK_INT_EQ(json_integer_value(json_object_get(j, "lease_duration")), 3600);
	json_decref(j);

	/* after the holder lets go: not renewable, "let go", expires moved */
	lease_table_closed(t, l, now_ms + 30 * MIN);
	j = lease_table_to_json(t, l, 0, now_ms);
	CHECK(j != NULL);
	CHECK(json_is_false(json_object_get(j, "renewable")));
	CHECK_STR_EQ(json_string_value(json_object_get(j, "state")), "let go");
	CHECK_STR_EQ(json_string_value(json_object_get(j, "expires")), "2023-11-14T23:43:20Z");
	CHECK_STR_EQ(json_string_value(json_object_get(j, "expire_time")), "2023-11-14T23:43:20Z");
out:
	json_decref(j);
	lease_table_free(t);
	role_unref(ro);
}

/*
 * Command names and executable paths are chosen by the opener
 * (prctl(PR_SET_NAME), a file name in Latin-1) and need not be UTF-8; the
 * lease must still be describable in leases/.
 */
/* A holder in a Kubernetes container: the container and namespaces in its JSON (leases/, audit). */
static void test_holder_json_container(void)
{
	struct lease_holder h = { 0 };
	json_t *j, *c, *ns;

	h.pid = 77;
	snprintf(h.comm, sizeof(h.comm), "app");
	h.exe = "/app";
	h.cgroup =
		"/kubepods.slice/kubepods-burstable.slice/"
		"kubepods-burstable-pod6f0a3e2c_1b4d_4e5f_9a8b_7c6d5e4f3a2b.slice/"
		"cri-containerd-3f1c2a9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170f5e4d3c.scope";
	h.ns_pid = 4026532301;
	h.ns_mnt = 4026532299;
	h.ns_user = 4026531837;
	j = lease_holder_json(&h);
	CHECK(j != NULL);
	c = json_object_get(j, "container");
	CHECK_STR_EQ(json_string_value(json_object_get(c, "id")),
		     "3f1c2a9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170f5e4d3c");
	CHECK_STR_EQ(json_string_value(json_object_get(c, "runtime")), "containerd");
	CHECK_STR_EQ(json_string_value(json_object_get(c, "pod_uid")),
		     "6f0a3e2c-1b4d-4e5f-9a8b-7c6d5e4f3a2b");
	ns = json_object_get(j, "namespaces");
	CHECK_INT_EQ(json_integer_value(json_object_get(ns, "pid")), 4026532301);
	CHECK_INT_EQ(json_integer_value(json_object_get(ns, "mnt")), 4026532299);
	CHECK_INT_EQ(json_integer_value(json_object_get(ns, "user")), 4026531837);
	json_decref(j);

	/* docker outside Kubernetes: pod_uid null */
	h.cgroup = "/docker/3f1c2a9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170f5e4d3c";
	j = lease_holder_json(&h);
	c = json_object_get(j, "container");
	CHECK_STR_EQ(json_string_value(json_object_get(c, "runtime")), "docker");
	CHECK(json_is_null(json_object_get(c, "pod_uid")));
	json_decref(j);
}

static void test_to_json_non_utf8_holder(void)
{
	struct role *ro = mkrole("db-app", "wizard", "1h", "24h", NULL);
	struct lease_table *t = lease_table_new();
	struct lease_holder h = { .pid = 9, .uid = 1, .gid = 1 };
	struct lease *l;
	json_t *j;

	memcpy(h.comm, "caf\xe9", 5);
	h.exe = "/opt/caf\xe9/bin";
	l = lease_new(ro, "v-user", &h, now_ms);
	CHECK(lease_table_add(t, l) == 0);
	j = lease_table_to_json(t, l, 0, now_ms);
	CHECK(j != NULL);
	if (j) {
		CHECK_STR_EQ(json_string_value(json_object_get(j, "state")), "held");
		CHECK(json_object_get(json_object_get(j, "holder"), "command") != NULL);
	}
	json_decref(j);
	lease_unref(l);
	lease_table_free(t);
	role_unref(ro);
}

static void test_swap_poll(void)
{
	struct role *ro = mkrole("db-app", "wizard", "1h", "24h", NULL);
	struct lease_table *t = lease_table_new();
	struct lease *l = issue(t, ro, 1, now_ms);
	int a, b;

	CHECK(lease_table_swap_poll(t, l, &a) == NULL);
	CHECK(lease_table_swap_poll(t, l, &b) == &a);
	CHECK(lease_table_swap_poll(t, l, NULL) == &b);
	CHECK(lease_table_swap_poll(t, l, NULL) == NULL);
	lease_table_free(t);
	role_unref(ro);
}

/* --- the heap, with many leases ------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

#define NLEASES 10000

struct model {
	struct lease *l;
	int64_t key; /* when this lease's next job is due */
	int done;
};

static struct model models[NLEASES];

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int model_of(const struct lease *l)
{
	return atoi(l->username + 2); /* "u-<index>" */
}

/* When a lease let go at at wants its VALID UNTIL (issued + ttl) extended. */
static int64_t renew_at(int64_t issued, int64_t ttl, int64_t at)
{
	int64_t k = issued + ttl - ttl / 3;

	return k > at ? k : at;
}

/*
 * 10,000 leases with random deadlines (held, let go with and without an
 * extra renewal, revoked now) come out of lease_table_due in deadline
 * order; then every lease is driven to its end, renewal by renewal, and
 * each job comes exactly at that lease's deadline, in nondecreasing order.
 */
static void test_heap_order(void)
{
	static const char *const ttls[][2] = {
		{ "60s", "10m" },
		{ "1h", "24h" },
		{ "90m", "3h" },
		{ "7h", "7h" },
	};
	static int64_t sorted[NLEASES];
	static struct lease_job jobs[NLEASES];
	static int64_t job_at[NLEASES]; /* when jobs[i] was handed out */
	struct role *roles[4];
	struct lease_table *t = lease_table_new();
	int64_t t0 = now_ms, prev, d;
	size_t n = 0, njobs = 0, left, rounds = 0;
	char uname[32];
	int bad = 0;

	for (int i = 0; i < 4; i++) {
		char name[16];

		snprintf(name, sizeof(name), "heap-%d", i);
		roles[i] = mkrole(name, "db", ttls[i][0], ttls[i][1], NULL);
	}
	for (int i = 0; i < NLEASES; i++) {
		struct role *ro = roles[rng() % 4];
		int64_t issued = t0 + (int64_t)(rng() % (7 * 24 * HOUR));
		int64_t ttl = role_ttl(ro) * 1000, maxe = issued + role_max_ttl(ro) * 1000;
		struct lease *l;

		snprintf(uname, sizeof(uname), "u-%d", i);
		l = lease_new(ro, uname, NULL, issued);
		if (!l || lease_table_add(t, l) != 0) {
			CHECK(0);
			return;
		}
		models[i].l = l;
		models[i].done = 0;
		lease_unref(l);
		switch (rng() % 4) {
		case 0: { /* let go soon after issue: no extra renewal */
			int64_t at = issued + (int64_t)(rng() % 1000);
			int64_t e = at + ttl < maxe ? at + ttl : maxe;

			lease_table_closed(t, l, at);
			models[i].key = e > issued + ttl + 1000 ? renew_at(issued, ttl, at) : e;
			break;
		}
		case 1: { /* let go later: RENEW 2/3 into VALID UNTIL, or at the let-go */
			int64_t at = issued + 2000 + (int64_t)(rng() % ttl);
			int64_t e = at + ttl < maxe ? at + ttl : maxe;

			lease_table_closed(t, l, at);
			models[i].key = e > issued + ttl + 1000 ? renew_at(issued, ttl, at) : e;
			break;
		}
		case 2: { /* rm leases/ */
			int64_t at = issued + (int64_t)(rng() % ttl);

			lease_table_revoke_now(t, l, at);
			models[i].key = at;
			break;
		}
		default: /* held: renewal at 2/3 TTL, or revocation when not renewable */
			models[i].key = ttl < maxe - issued ? issued + ttl * 2 / 3 : maxe;
			break;
		}
		sorted[i] = models[i].key;
	}
	CHECK_INT_EQ(lease_table_count(t), NLEASES);
	qsort(sorted, NLEASES, sizeof(sorted[0]), cmp_i64);

	/* phase 1: hand out every job, one at a time, in deadline order */
	while (n < NLEASES) {
		d = lease_table_next_deadline(t);
		if (d != sorted[n] || due1(t, d, &jobs[n]) != 1 ||
		    models[model_of(jobs[n].lease)].key != d) {
			bad++;
			break;
		}
		job_at[n] = d;
		n++;
	}
	CHECK_INT_EQ(bad, 0);
	CHECK_INT_EQ(n, NLEASES);
	CHECK_INT_EQ(lease_table_next_deadline(t), INT64_MAX);
	njobs = n;

	/* phase 2: finish them, each at its own time, in random order (removals from the middle) */
	for (size_t i = njobs; i > 1; i--) {
		size_t k = rng() % i;
		struct lease_job x = jobs[k];
		int64_t xa = job_at[k];

		jobs[k] = jobs[i - 1];
		job_at[k] = job_at[i - 1];
		jobs[i - 1] = x;
		job_at[i - 1] = xa;
	}
	for (size_t i = 0; i < njobs; i++) {
		struct lease_job *j = &jobs[i];
		struct model *m = &models[model_of(j->lease)];
		struct lease *l = j->lease;

		if (j->action == LEASE_JOB_REVOKE) {
			m->done = 1;
		} else if (l->state == LEASE_HELD) {
			m->key = j->expires < l->max_expires ? job_at[i] + l->ttl_ms * 2 / 3
							     : j->expires;
			if (m->key > j->expires)
				m->key = j->expires;
		} else {
			m->key = l->expires; /* let go: revocation at the end */
		}
		lease_table_job_done(t, j, 0, NULL, job_at[i]);
	}

	/* phase 3: drive everything to its end, from the earliest deadline again */
	prev = INT64_MIN;
	left = lease_table_count(t);
	while (lease_table_count(t) > 0 && rounds < 2000000) {
		struct lease_job job;
		struct model *m;
		struct lease *l;

		rounds++;
		d = lease_table_next_deadline(t);
		if (d < prev || d == INT64_MAX || due1(t, d, &job) != 1) {
			bad++;
			break;
		}
		l = job.lease;
		m = &models[model_of(l)];
		if (m->key != d || m->done ||
		    (job.action == LEASE_JOB_RENEW && job.expires > l->max_expires)) {
			bad++;
			lease_table_job_done(t, &job, 0, NULL, d);
			break;
		}
		if (job.action == LEASE_JOB_REVOKE) {
			m->done = 1;
			left--;
		} else {
			m->key = job.expires < l->max_expires ? d + l->ttl_ms * 2 / 3 : job.expires;
			if (m->key > job.expires)
				m->key = job.expires;
		}
		lease_table_job_done(t, &job, 0, NULL, d);
		prev = d;
	}
	CHECK_INT_EQ(bad, 0);
	CHECK(rounds > NLEASES); /* held leases were renewed along the way */
	CHECK_INT_EQ(left, 0);
	CHECK_INT_EQ(lease_table_count(t), 0);
	for (int i = 0; i < NLEASES; i++)
		if (!models[i].done)
			bad++;
	CHECK_INT_EQ(bad, 0);
	lease_table_free(t);
	for (int i = 0; i < 4; i++)
		role_unref(roles[i]);
}

/* many leases: the hash table grows past its 1024 buckets and still finds all */
static void test_many_lookup(void)
{
	struct role *ro = mkrole("db-app", "wizard", "1h", "24h", NULL);
	struct lease_table *t = lease_table_new();
	static struct lease *ls[5000];
	struct lease_job job;
	int missing = 0;

	for (int i = 0; i < 5000; i++)
		ls[i] = issue(t, ro, i + 1, now_ms + i);
	CHECK_INT_EQ(lease_table_count(t), 5000);
	for (int i = 0; i < 5000; i++) {
		struct lease *g = lease_table_get(t, ls[i]->id);

		if (g != ls[i])
			missing++;
		lease_unref(g);
	}
	CHECK_INT_EQ(missing, 0);
	/* revoke every other one; the rest are still found */
	for (int i = 0; i < 5000; i += 2)
		lease_table_revoke_now(t, ls[i], now_ms);
	for (int i = 0; i < 2500; i++) {
		CHECK_INT_EQ(due1(t, now_ms, &job), 1);
		CHECK_INT_EQ(job.action, LEASE_JOB_REVOKE);
		lease_table_job_done(t, &job, 0, NULL, now_ms);
	}
	CHECK_INT_EQ(lease_table_count(t), 2500);
	CHECK_INT_EQ(lease_table_count_db(t, "wizard"), 2500);
	missing = 0;
	for (int i = 1; i < 5000; i += 2) {
		struct lease *g = lease_table_get(t, ls[i]->id);

		if (g != ls[i])
			missing++;
		lease_unref(g);
	}
	CHECK_INT_EQ(missing, 0);
	CHECK_INT_EQ(lease_table_next_deadline(t), now_ms + 1 + 40 * MIN);
	lease_table_free(t);
	role_unref(ro);
}

/* --- restore, let-go and journal helpers ---------------------------------- */

/* A restored lease (as the journal rebuilds it) added to t. Borrowed from t. */
static struct lease *restored(struct lease_table *t, struct role *ro, const char *id,
			      int64_t issued, int64_t maxe, int64_t vu)
{
	struct lease *l = lease_restore(ro, id, "v-restored", NULL, issued, 0, maxe, vu);

	if (!l)
		return NULL;
	if (lease_table_add(t, l) != 0) {
		lease_unref(l);
		return NULL;
	}
	lease_unref(l); /* the table holds it */
	return l;
}

/*
 * lease_table_note_let_go: a release and an exit arriving together journal
 * the let-go once between them.
 */
static void test_note_let_go(void)
{
	struct role *hro = mkrole("db-app", "wizard", "1h", "24h", "handle");
	struct role *pro = mkrole("db-proc", "wizard", "1h", "24h", "process");
	struct lease_table *t = lease_table_new();
	struct lease *h, *p;
	int64_t t0 = now_ms;

	CHECK(hro && pro && t);
	h = issue(t, hro, 100, t0);
	p = issue(t, pro, 101, t0);
	CHECK(h && p);
	/* handle binding: the close is told, the exit seeing it still HELD is not */
	CHECK(lease_table_note_let_go(t, h, false));
	CHECK(!lease_table_note_let_go(t, h, true));
	CHECK(!lease_table_note_let_go(t, h, false));
	CHECK_INT_EQ(h->state, LEASE_HELD); /* noting changes no state */
	CHECK(lease_table_closed(t, h, t0 + SEC));
	CHECK(!lease_table_exited(t, h, t0 + SEC));
	/* process binding: a close does not let go; the exit does, once */
	CHECK(!lease_table_note_let_go(t, p, false));
	CHECK(lease_table_note_let_go(t, p, true));
	CHECK(!lease_table_note_let_go(t, p, true));
	CHECK(lease_table_exited(t, p, t0 + SEC));
	CHECK_INT_EQ(p->state, LEASE_LET_GO);
	lease_table_free(t);
	role_unref(hro);
	role_unref(pro);
}

/*
 * lease_table_close_lets_go answers what lease_table_closed then does,
 * without doing it: the service journals the let-go in between.
 */
static void test_close_lets_go(void)
{
	struct role *hro = mkrole("db-app", "wizard", "1h", "24h", "handle");
	struct role *pro = mkrole("db-proc", "wizard", "1h", "24h", "process");
	struct lease_table *t = lease_table_new();
	struct lease *h, *p, *p0, *pe;
	struct lease_job job;
	int64_t t0 = now_ms;

	CHECK(hro && pro && t);
	h = issue(t, hro, 100, t0);
	p = issue(t, pro, 101, t0);
	p0 = issue(t, pro, 0, t0);
	pe = issue(t, pro, 102, t0);
	CHECK(h && p && p0 && pe);

	/* handle binding: yes; asking changes nothing */
	CHECK(lease_table_close_lets_go(t, h));
	CHECK(lease_table_close_lets_go(t, h));
	CHECK_INT_EQ(h->state, LEASE_HELD);
	CHECK(!h->closed);
	CHECK(lease_table_closed(t, h, t0 + SEC));
	CHECK_INT_EQ(h->state, LEASE_LET_GO);
	/* let go already: a second close would not let it go again */
	CHECK(!lease_table_close_lets_go(t, h));
	CHECK(!lease_table_closed(t, h, t0 + 2 * SEC));
	CHECK_INT_EQ(h->let_go_at, t0 + SEC);

	/* process binding with a known opener: the close does not let go */
	CHECK(!lease_table_close_lets_go(t, p));
	CHECK(!lease_table_closed(t, p, t0 + SEC));
	CHECK_INT_EQ(p->state, LEASE_HELD);
	CHECK(!lease_table_close_lets_go(t, p)); /* closed, still watched */

	/* process binding without a known opener (pid 0): nothing to watch, yes */
	CHECK(lease_table_close_lets_go(t, p0));
	CHECK(lease_table_closed(t, p0, t0 + SEC));
	CHECK_INT_EQ(p0->state, LEASE_LET_GO);

	/* after the opener exited the lease is let go: a close has nothing left to do */
	CHECK(lease_table_exited(t, pe, t0 + SEC));
	CHECK(!lease_table_close_lets_go(t, pe));
	CHECK(!lease_table_closed(t, pe, t0 + 2 * SEC));
	CHECK_INT_EQ(pe->let_go_at, t0 + SEC);

	/* revoking or failing: no */
	lease_table_revoke_now(t, p, t0 + 3 * SEC);
	CHECK(!lease_table_close_lets_go(t, p));
	CHECK_INT_EQ(due1(t, t0 + 3 * SEC, &job), 1);
	CHECK(job.lease == p);
	CHECK_INT_EQ(p->state, LEASE_REVOKING);
	CHECK(!lease_table_close_lets_go(t, p));
	lease_table_job_done(t, &job, -EIO, "down", t0 + 3 * SEC);
	CHECK_INT_EQ(p->state, LEASE_FAILED);
	CHECK(!lease_table_close_lets_go(t, p));
	lease_table_free(t);
	role_unref(hro);
	role_unref(pro);
}

/* a let-go restored from the journal keeps its time, even long past */
static void test_let_go_at_past(void)
{
	struct role *ro = mkrole("db-app", "wizard", "1h", "24h", NULL);
	struct lease_table *t = lease_table_new();
	int64_t now = now_ms + 10 * HOUR, issued = now - 50 * MIN, at;
	struct lease_job job;
	struct lease *l;

	/* let go 20 min ago, VALID UNTIL covers the end: revoked at at + ttl, no renewal */
	at = now - 20 * MIN;
	l = restored(t, ro, "LetGoPast000000000000001", issued, issued + 24 * HOUR, at + HOUR);
	CHECK(l != NULL);
	if (!l)
		goto out;
	CHECK(lease_table_let_go_at(t, l, at));
	CHECK_INT_EQ(l->state, LEASE_LET_GO);
	CHECK_INT_EQ(l->let_go_at, at);
	CHECK_INT_EQ(l->expires, at + HOUR);
	CHECK(!l->want_renew);
	CHECK_INT_EQ(lease_table_next_deadline(t), at + HOUR);
	CHECK_INT_EQ(due1(t, now, &job), 0);
	CHECK_INT_EQ(due1(t, at + HOUR - 1, &job), 0);
	CHECK_INT_EQ(due1(t, at + HOUR, &job), 1);
	CHECK_INT_EQ(job.action, LEASE_JOB_REVOKE);
	/* not held any more: a second let-go is refused and keeps the first time */
	CHECK(!lease_table_let_go_at(t, l, now));
	CHECK_INT_EQ(l->let_go_at, at);
	lease_table_job_done(t, &job, 0, NULL, at + HOUR);
	CHECK_INT_EQ(lease_table_count(t), 0);

	/* at + ttl already past: due at once, and a REVOKE although VALID UNTIL is short */
	at = now - 2 * HOUR;
	l = restored(t, ro, "LetGoPast000000000000002", at - HOUR, at + 23 * HOUR, at - 5 * MIN);
	CHECK(l && lease_table_let_go_at(t, l, at));
	CHECK_INT_EQ(l->expires, at + HOUR);
	CHECK(l->want_renew); /* VALID UNTIL is short of the end ... */
	CHECK(lease_table_next_deadline(t) <= now);
	CHECK_INT_EQ(due1(t, now, &job), 1);
	CHECK(job.lease == l);
	CHECK_INT_EQ(job.action, LEASE_JOB_REVOKE); /* ... but the end has passed */
	lease_table_job_done(t, &job, 0, NULL, now);
	CHECK_INT_EQ(lease_table_count(t), 0);

	/* max_expires comes first: revoked then, not at at + ttl */
	at = now - 10 * MIN;
	l = restored(t, ro, "LetGoPast000000000000003", now - 23 * HOUR, now + 5 * MIN,
		     now + 5 * MIN);
	CHECK(l && lease_table_let_go_at(t, l, at));
	CHECK_INT_EQ(l->expires, now + 5 * MIN);
	CHECK(!l->want_renew);
	CHECK_INT_EQ(lease_table_next_deadline(t), now + 5 * MIN);
	CHECK_INT_EQ(due1(t, now + 5 * MIN, &job), 1);
	CHECK_INT_EQ(job.action, LEASE_JOB_REVOKE);
	lease_table_job_done(t, &job, 0, NULL, now + 5 * MIN);

	/*
	 * VALID UNTIL (issued + 1h = now + 10 min) is short of the end (at + 1h =
	 * now + 55 min): one RENEW to the end, due when a held lease would have
	 * renewed (VALID UNTIL - ttl/3 = now - 10 min, so at the let-go: at once)
	 */
	at = now - 5 * MIN;
	l = restored(t, ro, "LetGoPast000000000000004", issued, issued + 24 * HOUR, issued + HOUR);
	CHECK(l && lease_table_let_go_at(t, l, at));
	CHECK(l->want_renew);
	CHECK_INT_EQ(lease_table_next_deadline(t), at);
	CHECK_INT_EQ(due1(t, now, &job), 1);
	CHECK_INT_EQ(job.action, LEASE_JOB_RENEW);
	CHECK_INT_EQ(job.expires, at + HOUR);
	CHECK_INT_EQ(l->state, LEASE_LET_GO);
	lease_table_job_done(t, &job, 0, NULL, now + SEC);
	CHECK(!l->want_renew);
	CHECK_INT_EQ(l->valid_until, at + HOUR);
	CHECK_INT_EQ(l->expires, at + HOUR); /* a renewal never moves a let-go's end */
	CHECK_INT_EQ(lease_table_next_deadline(t), at + HOUR);
	CHECK_INT_EQ(due1(t, at + HOUR - 1, &job), 0);
	CHECK_INT_EQ(due1(t, at + HOUR, &job), 1);
	CHECK_INT_EQ(job.action, LEASE_JOB_REVOKE);
	lease_table_job_done(t, &job, 0, NULL, at + HOUR);

	/* the same, but the renewal fails: no retry, still revoked at the end, not before */
	l = restored(t, ro, "LetGoPast000000000000005", issued, issued + 24 * HOUR, issued + HOUR);
	CHECK(l && lease_table_let_go_at(t, l, at));
	CHECK_INT_EQ(due1(t, now, &job), 1);
	CHECK_INT_EQ(job.action, LEASE_JOB_RENEW);
	lease_table_job_done(t, &job, -EAGAIN, "timeout", now);
	CHECK(!l->want_renew);
	CHECK_INT_EQ(l->valid_until, issued + HOUR);
	CHECK_INT_EQ(lease_table_next_deadline(t), at + HOUR);
	CHECK_INT_EQ(due1(t, at + HOUR - 1, &job), 0);
	CHECK_INT_EQ(due1(t, at + HOUR, &job), 1);
	CHECK_INT_EQ(job.action, LEASE_JOB_REVOKE);
	lease_table_job_done(t, &job, 0, NULL, at + HOUR);

	/*
	 * VALID UNTIL later than 2/3 in: the extra renewal waits for VALID
	 * UNTIL - ttl/3 (no storm of ALTER ROLE when a restart lets all go)
	 */
	at = now - 5 * MIN;
	l = restored(t, ro, "LetGoPast000000000000006", issued, issued + 24 * HOUR, now + 30 * MIN);
	CHECK(l && lease_table_let_go_at(t, l, at));
	CHECK(l->want_renew);
	CHECK_INT_EQ(lease_table_next_deadline(t), now + 10 * MIN);
	CHECK_INT_EQ(due1(t, now + 10 * MIN - 1, &job), 0);
	CHECK_INT_EQ(due1(t, now + 10 * MIN, &job), 1);
	CHECK_INT_EQ(job.action, LEASE_JOB_RENEW);
	CHECK_INT_EQ(job.expires, at + HOUR);
	lease_table_job_done(t, &job, 0, NULL, now + 10 * MIN);
	CHECK_INT_EQ(lease_table_count(t), 1);
out:
	lease_table_free(t);
	role_unref(ro);
}

/* a restored held lease whose VALID UNTIL is far ahead keeps its schedule */
static void test_hold_restored_far(void)
{
	struct role *ro = mkrole("db-app", "wizard", "1h", "24h", NULL);
	struct lease_table *t = lease_table_new();
	int64_t now = now_ms + 10 * HOUR, maxe = now + 20 * HOUR;
	struct lease_job job;
	struct lease *l;

	l = restored(t, ro, "HoldRestoredFar000000001", now - HOUR, maxe, now + 50 * MIN);
	CHECK(l != NULL);
	if (!l)
		goto out;
	CHECK_INT_EQ(lease_table_next_deadline(t), now + 30 * MIN);
	lease_table_hold_restored(t, l, now);
	CHECK_INT_EQ(l->state, LEASE_HELD);
	CHECK_INT_EQ(l->expires, now + 50 * MIN);
	CHECK_INT_EQ(l->valid_until, now + 50 * MIN);
	CHECK_INT_EQ(l->retry_at, 0);
	CHECK_INT_EQ(lease_table_next_deadline(t), now + 30 * MIN);
	CHECK_INT_EQ(due1(t, now, &job), 0);

	/* one ms more than a third of a TTL left: still unchanged */
	l = restored(t, ro, "HoldRestoredFar000000002", now - HOUR, maxe, now + 20 * MIN + 1);
	CHECK(l != NULL);
	if (!l)
		goto out;
	lease_table_hold_restored(t, l, now);
	CHECK_INT_EQ(l->expires, now + 20 * MIN + 1);
	CHECK_INT_EQ(l->retry_at, 0);
	CHECK_INT_EQ(lease_table_next_deadline(t), now + 1);
	CHECK_INT_EQ(due1(t, now, &job), 0);

	/* a let-go lease is not held: nothing to do */
	l = restored(t, ro, "HoldRestoredFar000000003", now - HOUR, maxe, now - MIN);
	CHECK(l && lease_table_let_go_at(t, l, now - 2 * MIN));
	CHECK_INT_EQ(l->expires, now + 58 * MIN);
	lease_table_hold_restored(t, l, now);
	CHECK_INT_EQ(l->state, LEASE_LET_GO);
	CHECK_INT_EQ(l->expires, now + 58 * MIN);
	CHECK_INT_EQ(l->retry_at, 0);
out:
	lease_table_free(t);
	role_unref(ro);
}

/*
 * Drive a restored lease whose renewals all fail, from now: every
 * deadline stays within [now, limit], the last job is a REVOKE at exactly
 * limit. Returns the number of RENEW jobs handed out.
 */
static int fail_renewals_until_revoke(struct lease_table *t, struct lease *l, int64_t now,
				      int64_t limit)
{
	struct lease_job job = { 0 };
	int renews = 0;

	for (int i = 0; i < 100; i++) {
		int64_t d = lease_table_next_deadline(t);

		CHECK(d >= now && d <= limit);
		if (due1(t, d, &job) != 1) {
			CHECK(0);
			return renews;
		}
		CHECK(job.lease == l);
		if (job.action == LEASE_JOB_REVOKE) {
			CHECK_INT_EQ(d, limit);
			lease_table_job_done(t, &job, 0, NULL, d);
			return renews;
		}
		CHECK(job.expires <= l->max_expires);
		renews++;
		lease_table_job_done(t, &job, -EAGAIN, "timeout", d);
		CHECK_INT_EQ(l->state, LEASE_HELD);
	}
	CHECK(0); /* never revoked */
	return renews;
}

/*
 * VALID UNTIL passed or within a third of a TTL: a renewal is due at once,
 * and if none succeeds, revocation comes a third of a TTL later (never past
 * max_expires).
 */
static void test_hold_restored_near(void)
{
	struct role *ro = mkrole("db-app", "wizard", "1h", "24h", NULL);
	struct lease_table *t = lease_table_new();
	int64_t now = now_ms + 10 * HOUR, maxe = now + 20 * HOUR;
	struct lease_job job;
	struct lease *l;

	/* VALID UNTIL passed */
	l = restored(t, ro, "HoldRestoredNear00000001", now - 2 * HOUR, maxe, now - 5 * MIN);
	CHECK(l != NULL);
	if (!l)
		goto out;
	lease_table_hold_restored(t, l, now);
	CHECK_INT_EQ(l->state, LEASE_HELD);
	CHECK_INT_EQ(l->expires, now + 20 * MIN);
	CHECK_INT_EQ(lease_table_next_deadline(t), now);
	CHECK_INT_EQ(due1(t, now, &job), 1);
	CHECK_INT_EQ(job.action, LEASE_JOB_RENEW);
	CHECK_INT_EQ(job.expires, now + HOUR);
	lease_table_job_done(t, &job, -EAGAIN, "timeout", now);
	CHECK_INT_EQ(lease_table_next_deadline(t), now + SEC); /* backoff */
	CHECK(fail_renewals_until_revoke(t, l, now, now + 20 * MIN) >= 5);
	CHECK_INT_EQ(lease_table_count(t), 0);

	/* exactly a third of a TTL left: renewed at once; a success restores the schedule */
	l = restored(t, ro, "HoldRestoredNear00000002", now - 2 * HOUR, maxe, now + 20 * MIN);
	CHECK(l != NULL);
	if (!l)
		goto out;
	lease_table_hold_restored(t, l, now);
	CHECK_INT_EQ(l->expires, now + 20 * MIN);
	CHECK_INT_EQ(due1(t, now, &job), 1);
	CHECK_INT_EQ(job.action, LEASE_JOB_RENEW);
	CHECK_INT_EQ(job.expires, now + HOUR);
	lease_table_job_done(t, &job, 0, NULL, now + SEC);
	CHECK_INT_EQ(l->valid_until, now + HOUR);
	CHECK_INT_EQ(l->expires, now + HOUR);
	CHECK_INT_EQ(l->retry_at, 0);
	CHECK_INT_EQ(lease_table_next_deadline(t), now + SEC + 40 * MIN);
	lease_table_free(t);

	/* max_expires within the third: renewals capped, revocation at max_expires */
	t = lease_table_new();
	l = restored(t, ro, "HoldRestoredNear00000003", now - 2 * HOUR, now + 5 * MIN, now - MIN);
	CHECK(l != NULL);
	if (!l)
		goto out;
	lease_table_hold_restored(t, l, now);
	CHECK_INT_EQ(l->expires, now + 5 * MIN);
	CHECK_INT_EQ(due1(t, now, &job), 1);
	CHECK_INT_EQ(job.action, LEASE_JOB_RENEW);
	CHECK_INT_EQ(job.expires, now + 5 * MIN);
	lease_table_job_done(t, &job, -EAGAIN, "timeout", now);
	CHECK(fail_renewals_until_revoke(t, l, now, now + 5 * MIN) >= 1);
	CHECK_INT_EQ(lease_table_count(t), 0);

	/* max_expires already past: revoked at once, no renewal */
	l = restored(t, ro, "HoldRestoredNear00000004", now - 2 * HOUR, now - MIN, now - 10 * MIN);
	CHECK(l != NULL);
	if (!l)
		goto out;
	lease_table_hold_restored(t, l, now);
	CHECK(lease_table_next_deadline(t) <= now);
	CHECK_INT_EQ(due1(t, now, &job), 1);
	CHECK_INT_EQ(job.action, LEASE_JOB_REVOKE);
	lease_table_job_done(t, &job, 0, NULL, now);
	CHECK_INT_EQ(lease_table_count(t), 0);
out:
	lease_table_free(t);
	role_unref(ro);
}

static void fate_at(struct lease_table *t, struct lease *l, int64_t now, struct lease_fate *f)
{
	memset(f, 0x5a, sizeof(*f));
	lease_table_fate(t, l, now, f);
}

/* what the journal keeps of a lease: held, let go, revoked now, failing */
static void test_fate(void)
{
	struct role *ro = mkrole("db-app", "wizard", "1h", "24h", NULL);
	struct lease_table *t = lease_table_new();
	int64_t t0 = now_ms, tl = t0 + 41 * MIN, tr = t0 + 42 * MIN;
	struct lease *h, *g, *r, *x;
	struct lease_job job, jobs[8];
	struct lease_fate f;
	size_t n;

	h = issue(t, ro, 1, t0);
	g = issue(t, ro, 2, t0 + SEC);
	r = issue(t, ro, 3, t0 + SEC);
	x = issue(t, ro, 4, t0 + SEC);
	CHECK(h && g && r && x);
	if (!h || !g || !r || !x)
		goto out;

	/* held */
	fate_at(t, h, t0 + MIN, &f);
	CHECK_INT_EQ(f.valid_until, t0 + HOUR);
	CHECK_INT_EQ(f.let_go_at, 0);
	CHECK(!f.revoke);
	CHECK_INT_EQ(f.attempts, 0);
	/* a held lease is never "due for revocation" before its end */
	fate_at(t, h, t0 + HOUR - 1, &f);
	CHECK(!f.revoke);
	/* renewed: the new VALID UNTIL */
	CHECK_INT_EQ(due1(t, t0 + 40 * MIN, &job), 1);
	CHECK(job.lease == h);
	CHECK_INT_EQ(job.action, LEASE_JOB_RENEW);
	lease_table_job_done(t, &job, 0, NULL, t0 + 40 * MIN);
	fate_at(t, h, t0 + 40 * MIN, &f);
	CHECK_INT_EQ(f.valid_until, t0 + 100 * MIN);
	CHECK_INT_EQ(f.let_go_at, 0);
	CHECK(!f.revoke);

	/* let go: the let-go time; due for revocation only once its end passed */
	CHECK(lease_table_closed(t, g, tl));
	fate_at(t, g, tl, &f);
	CHECK_INT_EQ(f.let_go_at, tl);
	CHECK_INT_EQ(f.valid_until, t0 + SEC + HOUR);
	CHECK(!f.revoke);
	fate_at(t, g, tl + HOUR - 1, &f);
	CHECK(!f.revoke);
	fate_at(t, g, tl + HOUR, &f);
	CHECK(f.revoke);
	CHECK_INT_EQ(f.let_go_at, tl);

	/* revoked now (rm leases/...): due at once, the request's time as let-go */
	lease_table_revoke_now(t, r, tr);
	lease_table_revoke_now(t, x, tr);
	fate_at(t, r, tr, &f);
	CHECK(f.revoke);
	CHECK_INT_EQ(f.let_go_at, tr);
	CHECK_INT_EQ(f.attempts, 0);

	/* g's extra renewal, r's and x's revocations: r revoking, x failing */
	n = lease_table_due(t, tr, jobs, 8);
	CHECK_INT_EQ(n, 3);
	for (size_t i = 0; i < n; i++) {
		if (jobs[i].lease == r) {
			CHECK_INT_EQ(jobs[i].action, LEASE_JOB_REVOKE);
			fate_at(t, r, tr, &f);
			CHECK(f.revoke);
			lease_table_job_done(t, &jobs[i], 0, NULL, tr); /* r is gone */
		} else if (jobs[i].lease == x) {
			CHECK_INT_EQ(jobs[i].action, LEASE_JOB_REVOKE);
			lease_table_job_done(t, &jobs[i], -EIO, "down", tr);
		} else {
			CHECK(jobs[i].lease == g);
			CHECK_INT_EQ(jobs[i].action, LEASE_JOB_RENEW);
			lease_table_job_done(t, &jobs[i], 0, NULL, tr);
		}
	}
	fate_at(t, g, tr, &f);
	CHECK_INT_EQ(f.valid_until, tl + HOUR);
	CHECK(!f.revoke);
	CHECK_INT_EQ(x->state, LEASE_FAILED);
	CHECK_INT_EQ(x->retry_at, tr + SEC);
	CHECK_INT_EQ(due1(t, tr + SEC, &job), 1);
	CHECK(job.lease == x);
	lease_table_job_done(t, &job, -EIO, "down", tr + SEC);
	fate_at(t, x, tr + SEC, &f);
	CHECK(f.revoke);
	CHECK_INT_EQ(f.attempts, 2);
	CHECK_INT_EQ(f.let_go_at, tr);
	CHECK_INT_EQ(f.valid_until, t0 + SEC + HOUR);
	/* a restored attempt count is what the journal sees again */
	lease_table_set_attempts(t, x, 7);
	fate_at(t, x, tr + SEC, &f);
	CHECK_INT_EQ(f.attempts, 7);
	CHECK_INT_EQ(lease_table_count(t), 3);
out:
	lease_table_free(t);
	role_unref(ro);
}

/* A lease issued on version v of its role's connection, added to t. Borrowed from t. */
static struct lease *issue_v(struct lease_table *t, struct role *ro, uint64_t v)
{
	struct lease *l = lease_new(ro, "v-user", NULL, now_ms);

	if (!l)
		return NULL;
	l->conn_version = v; /* as engine_issue does, before the table sees it */
	if (lease_table_add(t, l) != 0) {
		lease_unref(l);
		return NULL;
	}
	lease_unref(l);
	return l;
}

/* live leases per (connection, version): an old version stays while it has leases */
static void test_count_conn(void)
{
	struct role *a = mkrole("app-a", "db1", "1h", "24h", NULL);
	struct role *b = mkrole("app-b", "db2", "1h", "24h", NULL);
	struct lease_table *t = lease_table_new();
	struct lease *a1, *a2, *a3, *b1;
	struct lease_job job;

	CHECK_INT_EQ(lease_table_count_conn(t, "db1", 1), 0);
	a1 = issue_v(t, a, 1);
	a2 = issue_v(t, a, 2);
	a3 = issue_v(t, a, 2);
	b1 = issue_v(t, b, 1);
	CHECK(a1 && a2 && a3 && b1);
	if (!a1 || !a2 || !a3 || !b1)
		goto out;
	CHECK_INT_EQ(lease_table_count_conn(t, "db1", 1), 1);
	CHECK_INT_EQ(lease_table_count_conn(t, "db1", 2), 2);
	CHECK_INT_EQ(lease_table_count_conn(t, "db1", 3), 0);
	CHECK_INT_EQ(lease_table_count_conn(t, "db2", 1), 1);
	CHECK_INT_EQ(lease_table_count_conn(t, "db2", 2), 0);
	CHECK_INT_EQ(lease_table_count_conn(t, "db3", 1), 0);
	CHECK_INT_EQ(lease_table_count_conn(t, "db", 1), 0); /* no prefix match */
	CHECK_INT_EQ(lease_table_count_db(t, "db1"), 3);

	/* a failing revocation still counts; a revoked lease does not */
	lease_table_revoke_now(t, a1, now_ms);
	CHECK_INT_EQ(due1(t, now_ms, &job), 1);
	CHECK(job.lease == a1);
	CHECK_INT_EQ(lease_table_count_conn(t, "db1", 1), 1);
	lease_table_job_done(t, &job, -EIO, "down", now_ms);
	CHECK_INT_EQ(lease_table_count_conn(t, "db1", 1), 1);
	CHECK_INT_EQ(due1(t, now_ms + SEC, &job), 1);
	lease_table_job_done(t, &job, 0, NULL, now_ms + SEC);
	CHECK_INT_EQ(lease_table_count_conn(t, "db1", 1), 0);
	CHECK_INT_EQ(lease_table_count_conn(t, "db1", 2), 2);
	CHECK_INT_EQ(lease_table_count_conn(t, "db2", 1), 1);
out:
	lease_table_free(t);
	role_unref(a);
	role_unref(b);
}

/* new references to every live lease, each once; revoked ones are not in it */
static void test_snapshot(void)
{
	struct role *ro = mkrole("db-app", "wizard", "1h", "24h", NULL);
	struct lease_table *t = lease_table_new();
	struct lease *ls[3], **snap = NULL;
	struct lease_job job;
	size_t n = 99;
	int seen[3] = { 0 };

	CHECK(lease_table_snapshot(t, &snap, &n) == 0);
	CHECK_INT_EQ(n, 0);
	CHECK(snap != NULL);
	free(snap);
	for (int i = 0; i < 3; i++)
		ls[i] = issue(t, ro, i + 1, now_ms + i);
	CHECK(ls[0] && ls[1] && ls[2]);
	if (!ls[0] || !ls[1] || !ls[2])
		goto out;
	/* one is being revoked (still live), one is gone */
	lease_table_revoke_now(t, ls[0], now_ms);
	lease_table_revoke_now(t, ls[2], now_ms);
	CHECK_INT_EQ(due1(t, now_ms, &job), 1);
	lease_ref(job.lease);
	lease_table_job_done(t, &job, 0, NULL, now_ms);
	CHECK(job.lease == NULL);
	CHECK_INT_EQ(due1(t, now_ms, &job), 1); /* the other one, left running */
	CHECK_INT_EQ(lease_table_count(t), 2);

	snap = NULL;
	CHECK(lease_table_snapshot(t, &snap, &n) == 0);
	CHECK_INT_EQ(n, 2);
	for (size_t i = 0; snap && i < n; i++) {
		for (int k = 0; k < 3; k++)
			if (snap[i] == ls[k])
				seen[k]++;
	}
	/* the revoked one is whichever job ran first; the other two are in, once */
	CHECK_INT_EQ(seen[0] + seen[2], 1);
	CHECK_INT_EQ(seen[1], 1);
	CHECK_INT_EQ(ls[1]->refs, 2); /* the table's and the snapshot's */
	for (size_t i = 0; snap && i < n; i++)
		lease_unref(snap[i]);
	free(snap);
	CHECK_INT_EQ(ls[1]->refs, 1);
	lease_table_job_done(t, &job, 0, NULL, now_ms);
	/* the first revoked lease: only our reference is left */
	lease_unref(seen[0] ? ls[2] : ls[0]);
out:
	lease_table_free(t);
	role_unref(ro);
}

/*
 * The table never reads a clock: the same history told at two different
 * origins (one before the boot, negative, as a restored lease can be)
 * gives the same deadlines, shifted by exactly the difference. A wall
 * clock step can then move nothing, since only the service converts.
 */
static void history(int64_t base, int64_t out[12])
{
	struct role *ro = mkrole("db-app", "wizard", "1h", "3h", NULL);
	struct lease_table *t = lease_table_new();
	struct lease *l = issue(t, ro, 1, base), *r;
	struct lease_job job;
	struct lease_fate f;
	int k = 0;

	r = restored(t, ro, "HistoryRestored000000001", base - HOUR, base + 2 * HOUR,
		     base + 10 * MIN);
	lease_table_hold_restored(t, r, base);
	out[k++] = lease_table_next_deadline(t) - base;
	if (due1(t, base, &job) == 1)
		lease_table_job_done(t, &job, 0, NULL, base + SEC);
	out[k++] = r->expires - base;
	out[k++] = lease_table_next_deadline(t) - base;
	if (due1(t, base + 40 * MIN, &job) == 1) /* l's renewal */
		lease_table_job_done(t, &job, 0, NULL, base + 40 * MIN);
	out[k++] = l->valid_until - base;
	lease_table_closed(t, l, base + 50 * MIN);
	out[k++] = l->expires - base;
	out[k++] = lease_table_next_deadline(t) - base;
	lease_table_revoke_now(t, r, base + 51 * MIN);
	if (due1(t, base + 51 * MIN, &job) == 1)
		lease_table_job_done(t, &job, -EIO, "down", base + 51 * MIN);
	out[k++] = r->retry_at - base;
	lease_table_fate(t, l, base + 52 * MIN, &f);
	out[k++] = f.let_go_at - base;
	out[k++] = f.valid_until - base;
	out[k++] = lease_table_next_deadline(t) - base;
	/* a now earlier than the last one (a clock that went back) hands out nothing */
	out[k++] = (int64_t)due1(t, base, &job);
	out[k++] = (int64_t)lease_table_count(t);
	lease_table_free(t);
	role_unref(ro);
}

static void test_deadlines_depend_on_now_only(void)
{
	int64_t a[12], b[12], c[12];

	history(now_ms, a);
	history(12345, b);
	history(-30LL * 24 * HOUR, c);
	for (int i = 0; i < 12; i++) {
		CHECK_INT_EQ(b[i], a[i]);
		CHECK_INT_EQ(c[i], a[i]);
	}
	/* and the history is the one intended */
	CHECK_INT_EQ(a[0], 0); /* restored near its VALID UNTIL: renewal at once */
	CHECK_INT_EQ(a[1], HOUR); /* renewed at base to base + ttl */
	CHECK_INT_EQ(a[5], 40 * MIN + SEC); /* r's next renewal; l's extra one is at 80 min */
	CHECK_INT_EQ(a[4], 110 * MIN);
	CHECK_INT_EQ(a[6], 51 * MIN + SEC);
	CHECK_INT_EQ(a[7], 50 * MIN);
	CHECK_INT_EQ(a[8], 100 * MIN);
	CHECK_INT_EQ(a[10], 0);
	CHECK_INT_EQ(a[11], 2);
}

/*
 * A failed extra renewal of a let-go lease is no failed revocation:
 * attempts counts failed revocation attempts only (lease_let_go_locked
 * resets it for that), so the first failed revocation retries after 1 s
 * with attempts 1, and the journal (lease_table_fate) records no failed
 * attempt before any revocation was tried.
 */
static void test_let_go_renew_failure_is_no_revoke_attempt(void)
{
	struct role *ro = mkrole("db-app", "wizard", "1h", "24h", NULL);
	struct lease_table *t = lease_table_new();
	int64_t t0 = now_ms, tl = t0 + 30 * MIN, te = tl + HOUR;
	struct lease *l = issue(t, ro, 100, t0);
	struct lease_fate f;
	struct lease_job job;

	CHECK(l && lease_table_closed(t, l, tl));
	CHECK(l->want_renew);
	CHECK_INT_EQ(due1(t, t0 + 40 * MIN, &job), 1);
	CHECK_INT_EQ(job.action, LEASE_JOB_RENEW);
	lease_table_job_done(t, &job, -EAGAIN, "timeout", t0 + 40 * MIN);
	lease_table_fate(t, l, t0 + 40 * MIN, &f);
	CHECK_INT_EQ(f.attempts, 0); /* no revocation was tried */
	CHECK_INT_EQ(due1(t, te, &job), 1);
	CHECK_INT_EQ(job.action, LEASE_JOB_REVOKE);
	lease_table_job_done(t, &job, -EIO, "connection refused", te);
	CHECK_INT_EQ(l->state, LEASE_FAILED);
	CHECK_INT_EQ(l->attempts, 1);
	CHECK_INT_EQ(l->retry_at, te + SEC);
	lease_table_free(t);
	role_unref(ro);
}

int main(void)
{
	if (secret_init() != 0) {
		fprintf(stderr, "secret_init failed\n");
		return 1;
	}
	RUN(test_state_names);
	RUN(test_new_lease);
	RUN(test_lease_ttl_defaults);
	RUN(test_restore);
	RUN(test_table_get);
	RUN(test_issue_and_renew);
	RUN(test_renew_until_max);
	RUN(test_held_past_expiry_revokes);
	RUN(test_close_handle_binding);
	RUN(test_close_near_max);
	RUN(test_let_go_wants_renew);
	RUN(test_let_go_renew_fails);
	RUN(test_let_go_during_renewal);
	RUN(test_process_binding);
	RUN(test_handle_binding_exit);
	RUN(test_revoke_now);
	RUN(test_revoke_now_while_renewing);
	RUN(test_revoke_backoff);
	RUN(test_renew_backoff);
	RUN(test_revoke_backoff_after_renew_failures);
	RUN(test_retry_db);
	RUN(test_busy_not_twice);
	RUN(test_job_holds_reference);
	RUN(test_counts_roles_ids);
	RUN(test_to_json);
	RUN(test_to_json_non_utf8_holder);
	RUN(test_holder_json_container);
	RUN(test_swap_poll);
	RUN(test_heap_order);
	RUN(test_many_lookup);
	RUN(test_close_lets_go);
	RUN(test_note_let_go);
	RUN(test_let_go_at_past);
	RUN(test_hold_restored_far);
	RUN(test_hold_restored_near);
	RUN(test_fate);
	RUN(test_count_conn);
	RUN(test_snapshot);
	RUN(test_deadlines_depend_on_now_only);
	RUN(test_let_go_renew_failure_is_no_revoke_attempt);
	return DONE();
}

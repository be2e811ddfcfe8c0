/* SPDX-License-Identifier: MIT */
/*
 * test_leasesvc.c - the lease service with its real threads, driven by an
 * injected clock: a fake backend and a fake observer record every call,
 * time moves only when a test moves it (then leasesvc_wake), and the
 * tests wait for the workers with a bounded poll, never a long sleep.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "holder.h"
#include "lease.h"
#include "leasesvc.h"
#include "log.h"
#include "role.h"
#include "secret.h"
#include "test.h"

#define SEC  1000LL
#define MIN  (60 * SEC)
#define HOUR (60 * MIN)

#define WAIT_MS 5000 /* the longest any wait for the workers may take */

/* --- the injected clock ---------------------------------------------------------- */

#define MONO0 (10 * HOUR) /* booted ten hours ago */
#define WALL0 1700000000000LL /* 2023-11-14T22:13:20Z */

static int64_t mono_ms, wall_ms; /* read by the service's threads: atomic */

static int64_t fake_mono(void)
{
	return __atomic_load_n(&mono_ms, __ATOMIC_SEQ_CST);
}

static int64_t fake_wall(void)
{
	return __atomic_load_n(&wall_ms, __ATOMIC_SEQ_CST);
}

static void clock_reset(void)
{
	__atomic_store_n(&mono_ms, MONO0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&wall_ms, WALL0, __ATOMIC_SEQ_CST);
}

/* Time passes: both clocks move. */
static void clock_add(int64_t d)
{
	__atomic_add_fetch(&wall_ms, d, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&mono_ms, d, __ATOMIC_SEQ_CST);
}

/* Time passes and the timer is told (it sleeps in real time). */
static void advance(struct leasesvc *s, int64_t d)
{
	clock_add(d);
	leasesvc_wake(s);
}

/* Someone sets the date: only the wall clock moves. */
static void wall_step(int64_t d)
{
	__atomic_add_fetch(&wall_ms, d, __ATOMIC_SEQ_CST);
}

/* The real time, for bounding waits. */
static int64_t real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap_1ms(void)
{
	struct timespec ts = { 0, 1000000 };

	nanosleep(&ts, NULL);
}

/* --- the fake backend and observer ------------------------------------------------ */

enum ev_kind {
	EV_RENEW, /* backend renew called */
	EV_REVOKE, /* backend revoke called */
	EV_REVOKE_RET, /* backend revoke about to return */
	EV_GONE, /* backend gone */
	EV_RECORD, /* observer record */
};

struct ev {
	enum ev_kind kind;
	struct lease *l; /* not a reference: compared only while the test holds one */
	enum leasesvc_rec what;
	int64_t at; /* renew: until_wall; record: at */
	int64_t mono; /* the service's clock when it happened */
	int attempts; /* record: l->attempts */
	bool held; /* record: lease_table_is_held */
	bool in_table; /* record: lease_table_get found it */
	int r; /* what the call returned */
};

#define MAX_EV 256

static struct fake {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct ev ev[MAX_EV]; /* protected by mu */
	int n; /* protected by mu */
	int renew_r; /* protected by mu: what renew returns */
	int revoke_fails; /* protected by mu: revocations left to fail */
	int record_r; /* protected by mu: what record returns */
	bool block; /* protected by mu: revoke waits while set */
	int blocked; /* protected by mu: revokes waiting */
	struct lease_table *t; /* the service's table */
	int idles; /* atomic: timer loops */
	pid_t timer_tid; /* atomic: the thread that calls idle */
} F = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void fake_reset(void)
{
	pthread_mutex_lock(&F.mu);
	F.n = 0;
	F.renew_r = 0;
	F.revoke_fails = 0;
	F.record_r = 0;
	F.block = false;
	F.blocked = 0;
	F.t = NULL;
	pthread_mutex_unlock(&F.mu);
	__atomic_store_n(&F.idles, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&F.timer_tid, 0, __ATOMIC_SEQ_CST);
}

static void ev_add_locked(struct ev *e)
{
	e->mono = fake_mono();
	if (F.n < MAX_EV)
		F.ev[F.n++] = *e;
}

static int fk_renew(void *ctx, struct lease *l, int64_t until_wall, char *errbuf)
{
	struct ev e = { .kind = EV_RENEW, .l = l, .at = until_wall };

	(void)ctx;
	pthread_mutex_lock(&F.mu);
	e.r = F.renew_r;
	ev_add_locked(&e);
	pthread_mutex_unlock(&F.mu);
	if (e.r)
		snprintf(errbuf, LEASESVC_ERRLEN, "renewal refused");
	return e.r;
}

static int fk_revoke(void *ctx, struct lease *l, char *errbuf)
{
	struct ev e = { .kind = EV_REVOKE, .l = l };

	(void)ctx;
	pthread_mutex_lock(&F.mu);
	ev_add_locked(&e);
	F.blocked++;
	while (F.block)
		pthread_cond_wait(&F.cv, &F.mu);
	F.blocked--;
	e.kind = EV_REVOKE_RET;
	e.r = F.revoke_fails > 0 ? -EIO : 0;
	if (F.revoke_fails > 0)
		F.revoke_fails--;
	ev_add_locked(&e);
	pthread_mutex_unlock(&F.mu);
	if (e.r)
		snprintf(errbuf, LEASESVC_ERRLEN, "connection refused");
	return e.r;
}

static void fk_gone(void *ctx, struct lease *l)
{
	struct ev e = { .kind = EV_GONE, .l = l };

	(void)ctx;
	pthread_mutex_lock(&F.mu);
	ev_add_locked(&e);
	pthread_mutex_unlock(&F.mu);
}

static int64_t fk_idle(void *ctx)
{
	(void)ctx;
	__atomic_store_n(&F.timer_tid, (pid_t)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&F.idles, 1, __ATOMIC_SEQ_CST);
	return -1;
}

static int fk_record(void *ctx, struct lease *l, enum leasesvc_rec what, int64_t at)
{
	struct ev e = { .kind = EV_RECORD, .l = l, .what = what, .at = at };
	struct lease *g;

	(void)ctx;
	/* What the table says while the record is made (no table lock is held here). */
	e.held = lease_table_is_held(F.t, l);
	g = lease_table_get(F.t, l->id);
	e.in_table = g != NULL;
	lease_unref(g);
	pthread_mutex_lock(&F.mu);
	e.attempts = l->attempts;
	e.r = F.record_r;
	ev_add_locked(&e);
	pthread_mutex_unlock(&F.mu);
	return e.r;
}

static void set_record_r(int r)
{
	pthread_mutex_lock(&F.mu);
	F.record_r = r;
	pthread_mutex_unlock(&F.mu);
}

/* How many events of kind (records: of what, -1 for any) happened to l (NULL: any lease). */
static int count(enum ev_kind kind, int what, struct lease *l)
{
	int n = 0;

	pthread_mutex_lock(&F.mu);
	for (int i = 0; i < F.n; i++)
		if (F.ev[i].kind == kind && (what < 0 || (int)F.ev[i].what == what) &&
		    (!l || F.ev[i].l == l))
			n++;
	pthread_mutex_unlock(&F.mu);
	return n;
}

/* The k-th (0-based) such event, copied to *out (zeroed if none), and its index; -1 if none. */
static int find(enum ev_kind kind, int what, struct lease *l, int k, struct ev *out)
{
	int idx = -1;

	if (out)
		memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&F.mu);
	for (int i = 0; i < F.n && idx < 0; i++)
		if (F.ev[i].kind == kind && (what < 0 || (int)F.ev[i].what == what) &&
		    (!l || F.ev[i].l == l) && k-- == 0)
			idx = i;
	if (idx >= 0 && out)
		*out = F.ev[idx];
	pthread_mutex_unlock(&F.mu);
	return idx;
}

/* How long a wait may take: short once the test failed already (fail fast). */
static int64_t wait_end(void)
{
	return real_ms() + (t_bad ? 100 : WAIT_MS);
}

/* Wait (bounded) until at least n such events happened. */
static bool wait_count(enum ev_kind kind, int what, struct lease *l, int n)
{
	int64_t end = wait_end();

	while (count(kind, what, l) < n) {
		if (real_ms() > end)
			return false;
		nap_1ms();
	}
	return true;
}

/* Wait (bounded) until the table holds n leases. */
static bool wait_table_count(struct leasesvc *s, size_t n)
{
	int64_t end = wait_end();

	while (lease_table_count(leasesvc_table(s)) != n) {
		if (real_ms() > end)
			return false;
		nap_1ms();
	}
	return true;
}

/* Wait (bounded) until the table's next deadline is d. */
static bool wait_deadline(struct leasesvc *s, int64_t d)
{
	int64_t end = wait_end();

	while (lease_table_next_deadline(leasesvc_table(s)) != d) {
		if (real_ms() > end)
			return false;
		nap_1ms();
	}
	return true;
}

/*
 * Wake the timer and wait until it went twice around its loop: the second
 * round read the clock after this call began, so whatever the clock made
 * due has been handed out (the lease is then busy, or done).
 */
static bool settle(struct leasesvc *s)
{
	int c = __atomic_load_n(&F.idles, __ATOMIC_SEQ_CST);
	int64_t end = wait_end();

	leasesvc_wake(s);
	while (__atomic_load_n(&F.idles, __ATOMIC_SEQ_CST) < c + 2) {
		if (real_ms() > end)
			return false;
		nap_1ms();
		leasesvc_wake(s);
	}
	return true;
}

/* --- building a service and leases --------------------------------------------------- */

static struct role *mkrole(const char *name, const char *ttl, const char *max, const char *binding)
{
	struct parse_error err = { 0 };
	struct role *ro = NULL;
	json_t *p = json_pack("{s:s, s:s, s:s}", "db_name", "wizard", "default_ttl", ttl, "max_ttl",
			      max);

	if (binding)
		json_object_set_new(p, "lease_binding", json_string(binding));
	if (role_from_params(name, p, true, &ro, &err) != 0) {
		fprintf(stderr, "mkrole %s: %s\n", name, err.text);
		ro = NULL;
	}
	json_decref(p);
	return ro;
}

/* A service with the fakes, not started (restore comes before start). */
static struct leasesvc *svc_new(void)
{
	static const struct leasesvc_backend b = {
		.renew = fk_renew,
		.revoke = fk_revoke,
		.gone = fk_gone,
		.idle = fk_idle,
		.ctx = &F,
	};
	static const struct leasesvc_observer o = { .record = fk_record, .ctx = &F };
	struct leasesvc *s;

	clock_reset();
	fake_reset();
	if (!(s = leasesvc_new(&b)))
		return NULL;
	leasesvc_set_observer(s, &o);
	F.t = leasesvc_table(s);
	return s;
}

static struct leasesvc *svc_started(void)
{
	struct leasesvc *s = svc_new();

	if (s && leasesvc_start(s, 1) != 0) {
		leasesvc_free(s);
		return NULL;
	}
	return s;
}

/* Issue a lease under ro now, as engine_issue does; the caller holds a reference. */
static struct lease *svc_issue(struct leasesvc *s, struct role *ro, struct watch *w)
{
	struct lease *l = lease_new(ro, "v-test-user", NULL, leasesvc_now());

	if (!l || leasesvc_inflight_add(s, l) != 0) {
		leasesvc_watch_cancel(s, w);
		lease_unref(l);
		return NULL;
	}
	if (leasesvc_add(s, l, w) != 0) {
		leasesvc_inflight_del(s, l);
		lease_unref(l);
		return NULL;
	}
	leasesvc_inflight_del(s, l);
	return l;
}

static void quiet(void *ctx, int level, const char *msg)
{
	(void)ctx;
	(void)level;
	(void)msg;
}

/* --- tests ------------------------------------------------------------------------------ */

/* a held lease is renewed 2/3 into its TTL; the record carries VALID UNTIL in wall time */
static void test_renew_at_two_thirds(void)
{
	struct role *ro = mkrole("db-app", "1h", "24h", NULL);
	struct leasesvc *s = svc_started();
	int64_t t0 = MONO0, off = WALL0 - MONO0;
	struct lease *l = NULL;
	struct ev e;

	CHECK(ro && s);
	if (!ro || !s)
		goto out;
	CHECK_INT_EQ(leasesvc_now(), MONO0);
	CHECK_INT_EQ(leasesvc_wall_off(), off);
	l = svc_issue(s, ro, NULL);
	CHECK(l != NULL);
	if (!l)
		goto out;
	CHECK_INT_EQ(l->issued, t0);
	CHECK(settle(s));
	CHECK_INT_EQ(lease_table_next_deadline(F.t), t0 + 40 * MIN);

	/* a millisecond early: nothing */
	advance(s, 40 * MIN - 1);
	CHECK(settle(s));
	CHECK_INT_EQ(count(EV_RENEW, -1, NULL), 0);
	CHECK_INT_EQ(lease_table_next_deadline(F.t), t0 + 40 * MIN);

	/* on time: PostgreSQL is asked for now + ttl, in wall time */
	advance(s, 1);
	CHECK(wait_count(EV_RECORD, LEASESVC_REC_RENEWED, l, 1));
	CHECK(find(EV_RENEW, -1, l, 0, &e) >= 0);
	CHECK_INT_EQ(e.at, t0 + 40 * MIN + HOUR + off);
	CHECK(find(EV_RECORD, LEASESVC_REC_RENEWED, l, 0, &e) >= 0);
	CHECK_INT_EQ(e.at, t0 + 40 * MIN + HOUR + off);
	CHECK(e.held);
	/* then the table: the next renewal 2/3 after this one */
	CHECK(wait_deadline(s, t0 + 80 * MIN));
	CHECK_INT_EQ(l->valid_until, t0 + 100 * MIN);
	CHECK(lease_table_is_held(F.t, l));
	CHECK_INT_EQ(count(EV_REVOKE, -1, NULL), 0);

	/* the wall clock stepped an hour ahead meanwhile: the next VALID UNTIL follows it */
	wall_step(HOUR);
	advance(s, 40 * MIN);
	CHECK(wait_count(EV_RECORD, LEASESVC_REC_RENEWED, l, 2));
	CHECK(find(EV_RECORD, LEASESVC_REC_RENEWED, l, 1, &e) >= 0);
	CHECK_INT_EQ(e.at, t0 + 80 * MIN + HOUR + off + HOUR);
	CHECK(find(EV_RENEW, -1, l, 1, &e) >= 0);
	CHECK_INT_EQ(e.at, t0 + 80 * MIN + HOUR + off + HOUR);
	CHECK(wait_deadline(s, t0 + 120 * MIN));
	CHECK_INT_EQ(count(EV_RENEW, -1, NULL), 2);
out:
	leasesvc_free(s);
	lease_unref(l);
	role_unref(ro);
}

/*
 * The last close of a handle-bound lease: LET_GO is recorded while the
 * table still holds it, the revocation comes one TTL later (not before),
 * REVOKED is recorded after PostgreSQL said yes, and the lease is gone.
 */
static void test_close_lets_go_then_revokes(void)
{
	struct role *ro = mkrole("db-app", "1h", "24h", "handle");
	struct leasesvc *s = svc_started();
	int64_t tl = MONO0 + 500, off = WALL0 - MONO0;
	struct lease *l = NULL;
	int iv, ir;
	struct ev e;

	CHECK(ro && s);
	if (!ro || !s)
		goto out;
	l = svc_issue(s, ro, NULL);
	CHECK(l != NULL);
	if (!l)
		goto out;
	advance(s, 500);
	leasesvc_closed(s, l);
	CHECK_INT_EQ(count(EV_RECORD, LEASESVC_REC_LET_GO, l), 1);
	CHECK(find(EV_RECORD, LEASESVC_REC_LET_GO, l, 0, &e) >= 0);
	CHECK(e.held); /* recorded BEFORE the table let it go */
	CHECK(e.in_table);
	CHECK_INT_EQ(e.at, tl + off);
	CHECK(!lease_table_is_held(F.t, l));
	CHECK_INT_EQ(l->let_go_at, tl);
	/* a second close records nothing more */
	leasesvc_closed(s, l);
	CHECK_INT_EQ(count(EV_RECORD, LEASESVC_REC_LET_GO, l), 1);

	CHECK(settle(s));
	CHECK_INT_EQ(lease_table_next_deadline(F.t), tl + HOUR);
	advance(s, HOUR - 1);
	CHECK(settle(s));
	CHECK_INT_EQ(count(EV_REVOKE, -1, NULL), 0);
	CHECK_INT_EQ(count(EV_RENEW, -1, NULL), 0);
	CHECK_INT_EQ(lease_table_next_deadline(F.t), tl + HOUR);

	advance(s, 1);
	CHECK(wait_count(EV_GONE, -1, l, 1));
	CHECK(wait_table_count(s, 0));
	iv = find(EV_REVOKE_RET, -1, l, 0, &e);
	CHECK(iv >= 0);
	CHECK_INT_EQ(e.r, 0);
	CHECK_INT_EQ(e.mono, tl + HOUR);
	ir = find(EV_RECORD, LEASESVC_REC_REVOKED, l, 0, &e);
	CHECK(ir > iv); /* after PostgreSQL confirmed */
	CHECK(!e.in_table);
	CHECK_INT_EQ(e.at, tl + HOUR + off);
	CHECK(find(EV_GONE, -1, l, 0, NULL) > ir);
	CHECK_INT_EQ(count(EV_REVOKE, -1, NULL), 1);
	CHECK_INT_EQ(count(EV_GONE, -1, NULL), 1);
	CHECK_INT_EQ(count(EV_RECORD, LEASESVC_REC_FAILED, NULL), 0);
	CHECK(lease_table_get(F.t, l->id) == NULL);
	CHECK_INT_EQ(l->refs, 1); /* only ours is left */
out:
	leasesvc_free(s);
	lease_unref(l);
	role_unref(ro);
}

/*
 * An administrator's revocation that cannot be recorded is refused and
 * changes nothing; credfs's own (must_record false) goes ahead anyway.
 */
static void test_revoke_now_record_fails(void)
{
	struct role *ro = mkrole("db-app", "1h", "24h", NULL);
	struct leasesvc *s = svc_started();
	struct lease *l = NULL;

	CHECK(ro && s);
	if (!ro || !s)
		goto out;
	l = svc_issue(s, ro, NULL);
	CHECK(l != NULL);
	if (!l)
		goto out;
	advance(s, MIN);
	set_record_r(-EIO);
	CHECK_INT_EQ(leasesvc_revoke_now(s, l, true), -EIO);
	CHECK_INT_EQ(count(EV_RECORD, LEASESVC_REC_REVOKE, l), 1);
	CHECK(lease_table_is_held(F.t, l));
	CHECK_INT_EQ(l->let_go_at, 0);
	CHECK(settle(s));
	CHECK_INT_EQ(lease_table_next_deadline(F.t), MONO0 + 40 * MIN); /* no revoke job */
	CHECK_INT_EQ(count(EV_REVOKE, -1, NULL), 0);
	CHECK_INT_EQ(lease_table_count(F.t), 1);

	/* must_record false: revoked although the record failed */
	CHECK_INT_EQ(leasesvc_revoke_now(s, l, false), 0);
	CHECK_INT_EQ(count(EV_RECORD, LEASESVC_REC_REVOKE, l), 2);
	CHECK(wait_count(EV_GONE, -1, l, 1));
	CHECK(wait_table_count(s, 0));
	CHECK_INT_EQ(count(EV_REVOKE, -1, l), 1);
	CHECK_INT_EQ(count(EV_RECORD, LEASESVC_REC_REVOKED, l), 1); /* tried, failed, logged */
out:
	leasesvc_free(s);
	lease_unref(l);
	role_unref(ro);
}

/* a failing revocation is recorded, retried after 1 s, 2 s, 4 s, never dropped */
static void test_revoke_failure_backoff(void)
{
	static const int64_t backoff[] = { 1 * SEC, 2 * SEC, 4 * SEC };
	struct role *ro = mkrole("db-app", "1h", "24h", NULL);
	struct leasesvc *s = svc_started();
	struct lease *l = NULL;
	int64_t at = MONO0 + MIN;
	struct ev e;

	CHECK(ro && s);
	if (!ro || !s)
		goto out;
	l = svc_issue(s, ro, NULL);
	CHECK(l != NULL);
	if (!l)
		goto out;
	pthread_mutex_lock(&F.mu);
	F.revoke_fails = 3;
	pthread_mutex_unlock(&F.mu);
	advance(s, MIN);
	CHECK_INT_EQ(leasesvc_revoke_now(s, l, true), 0);
	for (int i = 0; i < 3; i++) {
		CHECK(wait_count(EV_RECORD, LEASESVC_REC_FAILED, l, i + 1));
		CHECK(find(EV_RECORD, LEASESVC_REC_FAILED, l, i, &e) >= 0);
		CHECK_INT_EQ(e.attempts, i + 1);
		CHECK_INT_EQ(e.at, at + WALL0 - MONO0);
		CHECK(e.in_table); /* never dropped */
		CHECK(wait_deadline(s, at + backoff[i]));
		CHECK_INT_EQ(l->state, LEASE_FAILED);
		CHECK_INT_EQ(lease_table_count(F.t), 1);
		/* a millisecond early: no attempt */
		advance(s, backoff[i] - 1);
		CHECK(settle(s));
		CHECK_INT_EQ(count(EV_REVOKE, -1, l), i + 1);
		CHECK_INT_EQ(lease_table_next_deadline(F.t), at + backoff[i]);
		advance(s, 1);
		at += backoff[i];
		CHECK(wait_count(EV_REVOKE, -1, l, i + 2));
		CHECK(find(EV_REVOKE, -1, l, i + 1, &e) >= 0);
		CHECK_INT_EQ(e.mono, at);
	}
	/* the fourth attempt succeeds: recorded, gone */
	CHECK(wait_count(EV_GONE, -1, l, 1));
	CHECK(wait_table_count(s, 0));
	CHECK_INT_EQ(count(EV_RECORD, LEASESVC_REC_REVOKED, l), 1);
	CHECK_INT_EQ(count(EV_RECORD, LEASESVC_REC_FAILED, l), 3);
	CHECK_INT_EQ(count(EV_REVOKE, -1, l), 4);
out:
	leasesvc_free(s);
	lease_unref(l);
	role_unref(ro);
}

/*
 * A wall-clock step moves no deadline and revokes nothing; it renews every
 * held lease at once, so that VALID UNTIL (wall time) is sent from the new
 * clock; a let-go lease is not renewed and still ends one TTL after its
 * let-go.
 */
static void test_wall_step_moves_nothing(void)
{
	struct role *ro = mkrole("db-app", "1h", "24h", NULL);
	struct leasesvc *s = svc_started();
	struct lease *h = NULL, *g = NULL;
	int64_t off = WALL0 - MONO0, ge;
	struct ev e;

	CHECK(ro && s);
	if (!ro || !s)
		goto out;
	h = svc_issue(s, ro, NULL);
	advance(s, 10 * MIN);
	g = svc_issue(s, ro, NULL);
	CHECK(h && g);
	if (!h || !g)
		goto out;
	advance(s, MIN);
	leasesvc_closed(s, g); /* g ends at 11 min + 1 h */
	CHECK(settle(s));
	ge = g->expires;
	CHECK_INT_EQ(lease_table_next_deadline(F.t), MONO0 + 40 * MIN);
	CHECK_INT_EQ(ge, MONO0 + 71 * MIN);

	for (int i = 0; i < 2; i++) {
		wall_step(i == 0 ? HOUR : -2 * HOUR);
		leasesvc_wake(s);
		CHECK_INT_EQ(leasesvc_now(), MONO0 + 11 * MIN);
		CHECK_INT_EQ(leasesvc_wall_off(), off + (i == 0 ? HOUR : -HOUR));
		/* h: renewed now, from the new wall clock */
		CHECK(wait_count(EV_RENEW, -1, h, i + 1));
		CHECK(find(EV_RENEW, -1, h, i, &e) >= 0);
		CHECK_INT_EQ(e.at, MONO0 + 11 * MIN + HOUR + off + (i == 0 ? HOUR : -HOUR));
		CHECK(settle(s));
		CHECK_INT_EQ(h->expires, MONO0 + 11 * MIN + HOUR);
		/* g: let go, its end unchanged, not renewed, nothing revoked */
		CHECK_INT_EQ(g->expires, ge);
		CHECK_INT_EQ(count(EV_RENEW, -1, g), 0);
		CHECK_INT_EQ(count(EV_REVOKE, -1, NULL), 0);
	}
	/* no step: time passes on the monotonic clock, h's next renewal 2/3 TTL later */
	advance(s, 39 * MIN);
	CHECK(settle(s));
	CHECK_INT_EQ(count(EV_RENEW, -1, h), 2);
	advance(s, MIN);
	CHECK(wait_count(EV_RENEW, -1, h, 3));
	CHECK(find(EV_RENEW, -1, h, 2, &e) >= 0);
	CHECK_INT_EQ(e.at, MONO0 + 51 * MIN + HOUR + off - HOUR);
	CHECK_INT_EQ(count(EV_REVOKE, -1, NULL), 0);
out:
	leasesvc_free(s);
	lease_unref(h);
	lease_unref(g);
	role_unref(ro);
}

/* A lease as the journal rebuilds it, times on the service's clock. */
static struct lease *rebuilt(struct role *ro, const char *id, const struct lease_holder *h,
			     int64_t issued, int64_t maxe, int64_t vu)
{
	return lease_restore(ro, id, "v-restored", h, issued, HOUR, maxe, vu);
}

/* let-go restored at a past time: revoked at once when at + ttl passed, else then */
static void test_restore_let_go_and_revoke(void)
{
	struct role *ro = mkrole("db-app", "1h", "24h", NULL);
	struct leasesvc *s = svc_new();
	struct lease *a = NULL, *b = NULL, *c = NULL;
	int64_t now = MONO0, ta = now - 2 * HOUR, tb = now - 20 * MIN;

	CHECK(ro && s);
	if (!ro || !s)
		goto out;
	/* a: let go two hours ago (ended an hour ago); b: 20 minutes ago; c: to revoke */
	a = rebuilt(ro, "RestoredLetGoPast0000001", NULL, ta - HOUR, ta + 20 * HOUR, ta);
	b = rebuilt(ro, "RestoredLetGoPast0000002", NULL, tb - HOUR, tb + 20 * HOUR, tb + HOUR);
	c = rebuilt(ro, "RestoredRevoke0000000003", NULL, now - HOUR, now + 20 * HOUR,
		    now + 30 * MIN);
	CHECK(a && b && c);
	if (!a || !b || !c)
		goto out;
	CHECK(leasesvc_restore(s, a, LEASESVC_RESTORE_LET_GO, ta) == 0);
	CHECK(leasesvc_restore(s, b, LEASESVC_RESTORE_LET_GO, tb) == 0);
	CHECK(leasesvc_restore(s, c, LEASESVC_RESTORE_REVOKE, 0) == 0);
	CHECK_INT_EQ(lease_table_count(leasesvc_table(s)), 3);
	CHECK_INT_EQ(a->let_go_at, ta);
	CHECK_INT_EQ(b->let_go_at, tb);
	CHECK_INT_EQ(b->expires, tb + HOUR);
	/* restoring records nothing: the journal has it already */
	CHECK_INT_EQ(count(EV_RECORD, -1, NULL), 0);
	CHECK(leasesvc_start(s, 1) == 0);

	/* a and c at once, without the clock moving */
	CHECK(wait_count(EV_GONE, -1, a, 1));
	CHECK(wait_count(EV_GONE, -1, c, 1));
	CHECK(wait_table_count(s, 1));
	CHECK_INT_EQ(count(EV_RENEW, -1, NULL), 0);
	CHECK_INT_EQ(count(EV_REVOKE, -1, b), 0);
	CHECK(settle(s));
	CHECK_INT_EQ(lease_table_next_deadline(F.t), tb + HOUR);

	/* b at its let-go + ttl, not a millisecond before */
	advance(s, tb + HOUR - now - 1);
	CHECK(settle(s));
	CHECK_INT_EQ(count(EV_REVOKE, -1, b), 0);
	advance(s, 1);
	CHECK(wait_count(EV_GONE, -1, b, 1));
	CHECK(wait_table_count(s, 0));
	CHECK_INT_EQ(count(EV_REVOKE, -1, NULL), 3);
	CHECK_INT_EQ(count(EV_RECORD, LEASESVC_REC_REVOKED, NULL), 3);
out:
	leasesvc_free(s);
	lease_unref(a);
	lease_unref(b);
	lease_unref(c);
	role_unref(ro);
}

/*
 * Restored held: an opener that still runs (this process) keeps it held;
 * its journaled VALID UNTIL passed (a lower bound: a later renewal may not
 * have been recorded), so it is renewed at once, not revoked, and ends a
 * third of a TTL later unless that works. An opener that cannot be
 * watched (pid 0) lets it go, recorded first.
 */
static void test_restore_held(void)
{
	struct role *ro = mkrole("db-proc", "1h", "24h", "process");
	struct leasesvc *s = svc_new();
	struct lease_holder me = { .pid = getpid() }, nobody = { .pid = 0 };
	struct lease *a = NULL, *b = NULL;
	int64_t now = MONO0, off = WALL0 - MONO0;
	struct ev e;

	CHECK(ro && s);
	if (!ro || !s)
		goto out;
	me.start_time = holder_start_time("/proc", me.pid);
	CHECK(me.start_time != 0);
	a = rebuilt(ro, "RestoredHeldSelf00000001", &me, now - HOUR, now + 20 * HOUR, now - MIN);
	b = rebuilt(ro, "RestoredHeldNobody000002", &nobody, now - HOUR, now + 20 * HOUR,
		    now + 50 * MIN);
	CHECK(a && b);
	if (!a || !b)
		goto out;
	CHECK(leasesvc_restore(s, a, LEASESVC_RESTORE_HELD, 0) == 0);
	CHECK(lease_table_is_held(F.t, a));
	CHECK(a->watch != NULL);
	CHECK_INT_EQ(a->expires, now + 20 * MIN);
	CHECK(leasesvc_restore(s, b, LEASESVC_RESTORE_HELD, 0) == 0);
	CHECK(!lease_table_is_held(F.t, b));
	CHECK(find(EV_RECORD, LEASESVC_REC_LET_GO, b, 0, &e) >= 0);
	CHECK(e.held);
	CHECK_INT_EQ(e.at, now + off);
	CHECK_INT_EQ(b->let_go_at, now);
	CHECK_INT_EQ(count(EV_RECORD, -1, a), 0);

	CHECK(leasesvc_start(s, 1) == 0);
	CHECK(wait_count(EV_RECORD, LEASESVC_REC_RENEWED, a, 1));
	CHECK(find(EV_RENEW, -1, a, 0, &e) >= 0);
	CHECK_INT_EQ(e.at, now + HOUR + off);
	CHECK_INT_EQ(e.mono, now);
	CHECK_INT_EQ(count(EV_REVOKE, -1, a), 0);
	/* b's VALID UNTIL (50 min) is short of its end (60 min): one renewal at 30 min */
	CHECK(wait_deadline(s, now + 30 * MIN));
	CHECK_INT_EQ(count(EV_RENEW, -1, b), 0);
	CHECK_INT_EQ(count(EV_REVOKE, -1, NULL), 0);
	CHECK(lease_table_is_held(F.t, a));
	CHECK_INT_EQ(a->expires, now + HOUR);
out:
	leasesvc_free(s);
	lease_unref(a);
	lease_unref(b);
	role_unref(ro);
}

static int n_tasks(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static bool task_alive(pid_t tid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%d", (int)tid);
	return access(path, F_OK) == 0;
}

static int stopped; /* atomic */

static void *stopper(void *arg)
{
	leasesvc_stop(arg);
	__atomic_store_n(&stopped, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/*
 * Stop with jobs queued: the running ones finish, the queued ones are left
 * (a restart hands them out again) and leasesvc_free frees them.
 */
static void test_stop_with_jobs_queued(void)
{
	struct role *ro = mkrole("db-app", "1h", "24h", NULL);
	struct leasesvc *s = svc_started();
	struct lease *ls[5] = { NULL };
	pthread_t th;
	pid_t timer;
	int64_t end, t_release;
	bool ok = true, th_ok;

	CHECK(ro && s);
	if (!ro || !s)
		goto out;
	for (int i = 0; i < 5; i++)
		ok = ok && (ls[i] = svc_issue(s, ro, NULL)) != NULL;
	CHECK(ok);
	if (!ok)
		goto out;
	pthread_mutex_lock(&F.mu);
	F.block = true;
	pthread_mutex_unlock(&F.mu);
	for (int i = 0; i < 5; i++)
		CHECK_INT_EQ(leasesvc_revoke_now(s, ls[i], true), 0);
	/* both workers inside revoke, every job handed out: three wait in the queue */
	CHECK(wait_count(EV_REVOKE, -1, NULL, 2));
	CHECK(wait_deadline(s, INT64_MAX));
	CHECK(settle(s));
	timer = __atomic_load_n(&F.timer_tid, __ATOMIC_SEQ_CST);
	CHECK(timer > 0 && task_alive(timer));
	CHECK(n_tasks() >= 4); /* main, timer, the lane's two threads (width 1 + 1 urgent) */

	__atomic_store_n(&stopped, 0, __ATOMIC_SEQ_CST);
	th_ok = pthread_create(&th, NULL, stopper, s) == 0;
	CHECK(th_ok);
	if (!th_ok)
		goto release;
	/* the timer is joined first: once it is gone the stop flag is up */
	end = wait_end();
	while (task_alive(timer) && real_ms() < end)
		nap_1ms();
	CHECK(!task_alive(timer));
	CHECK_INT_EQ(__atomic_load_n(&stopped, __ATOMIC_SEQ_CST), 0); /* running jobs hold it */
release:
	pthread_mutex_lock(&F.mu);
	F.block = false;
	pthread_cond_broadcast(&F.cv);
	pthread_mutex_unlock(&F.mu);
	t_release = real_ms();
	end = t_release + WAIT_MS;
	while (!__atomic_load_n(&stopped, __ATOMIC_SEQ_CST) && real_ms() < end)
		nap_1ms();
	CHECK(__atomic_load_n(&stopped, __ATOMIC_SEQ_CST));
	CHECK(real_ms() - t_release < 1000); /* promptly */
	if (!th_ok)
		goto out;
	pthread_join(th, NULL);
	/* the two running jobs finished; the three queued never ran */
	CHECK_INT_EQ(count(EV_REVOKE, -1, NULL), 2);
	CHECK_INT_EQ(count(EV_GONE, -1, NULL), 2);
	CHECK_INT_EQ(lease_table_count(F.t), 3);
	leasesvc_stop(s); /* idempotent */
out:
	leasesvc_free(s); /* frees the queued jobs: ASan reports a leak otherwise */
	for (int i = 0; i < 5; i++)
		lease_unref(ls[i]);
	if (ro)
		CHECK_INT_EQ(ro->refs, 1); /* every lease freed */
	role_unref(ro);
}

static bool has(struct lease **a, size_t n, struct lease *l)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] == l)
			return true;
	return false;
}

static void free_snap(struct lease **a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		lease_unref(a[i]);
	free(a);
}

/* a journal snapshot sees leases in flight (login being created) and in the table */
static void test_snapshot_inflight(void)
{
	struct role *ro = mkrole("db-app", "1h", "24h", NULL);
	struct leasesvc *s = svc_started();
	struct lease *a = NULL, *b = NULL, **snap = NULL;
	size_t n = 0;

	CHECK(ro && s);
	if (!ro || !s)
		goto out;
	CHECK(leasesvc_snapshot(s, &snap, &n) == 0);
	CHECK_INT_EQ(n, 0);
	free_snap(snap, n);

	b = svc_issue(s, ro, NULL);
	a = lease_new(ro, "v-in-flight", NULL, leasesvc_now());
	CHECK(a && b);
	if (!a || !b)
		goto out;
	CHECK(leasesvc_inflight_add(s, a) == 0);
	CHECK_INT_EQ(a->refs, 2);
	CHECK(leasesvc_snapshot(s, &snap, &n) == 0);
	CHECK_INT_EQ(n, 2);
	CHECK(has(snap, n, a));
	CHECK(has(snap, n, b));
	CHECK_INT_EQ(a->refs, 3);
	free_snap(snap, n);

	/* in the table and still in flight: in the snapshot (the journal writes it once) */
	CHECK(leasesvc_add(s, a, NULL) == 0);
	CHECK(leasesvc_snapshot(s, &snap, &n) == 0);
	CHECK(n >= 2);
	CHECK(has(snap, n, a));
	CHECK(has(snap, n, b));
	free_snap(snap, n);

	leasesvc_inflight_del(s, a);
	leasesvc_inflight_wait(s); /* none left: returns at once */
	CHECK(leasesvc_snapshot(s, &snap, &n) == 0);
	CHECK_INT_EQ(n, 2);
	CHECK(has(snap, n, a));
	free_snap(snap, n);
	CHECK_INT_EQ(a->refs, 2); /* ours and the table's */

	/* an issue that failed: in flight, never added, then dropped */
	lease_unref(a);
	a = lease_new(ro, "v-failed", NULL, leasesvc_now());
	CHECK(a && leasesvc_inflight_add(s, a) == 0);
	leasesvc_inflight_del(s, a);
	CHECK(leasesvc_snapshot(s, &snap, &n) == 0);
	CHECK_INT_EQ(n, 2);
	CHECK(!has(snap, n, a));
	free_snap(snap, n);
	CHECK_INT_EQ(a->refs, 1);
out:
	leasesvc_free(s);
	lease_unref(a);
	lease_unref(b);
	role_unref(ro);
}

/* A child that waits for its pipe to close (or a signal). */
static pid_t child_start(int *wfd)
{
	int p[2];
	pid_t pid;
	char c;

	if (pipe(p) != 0)
		return -1;
	if ((pid = fork()) == 0) {
		close(p[1]);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(p[0]);
	*wfd = p[1];
	return pid;
}

/* a process-bound lease: its opener's exit, seen by the timer, lets it go (recorded first) */
static void test_opener_exit_lets_go(void)
{
	struct role *ro = mkrole("db-proc", "1h", "24h", "process");
	struct leasesvc *s = svc_started();
	char errbuf[WATCH_ERRLEN] = "";
	struct lease_holder h = { 0 };
	struct lease *l = NULL;
	struct watch *w = NULL;
	int wfd = -1, st;
	pid_t pid;
	struct ev e;

	CHECK(ro && s);
	if (!ro || !s)
		goto out;
	pid = child_start(&wfd);
	CHECK(pid > 0);
	if (pid <= 0)
		goto out;
	h.pid = pid;
	h.start_time = holder_start_time("/proc", pid);
	CHECK(leasesvc_watch_prepare(s, &h, &w, errbuf) == 0);
	CHECK(w != NULL);
	l = lease_new(ro, "v-proc", &h, leasesvc_now());
	CHECK(l != NULL);
	if (!l) {
		leasesvc_watch_cancel(s, w);
		goto reap;
	}
	CHECK(leasesvc_add(s, l, w) == 0);
	CHECK(l->watch == w);
	leasesvc_closed(s, l); /* process binding: a close does not let go */
	CHECK(lease_table_is_held(F.t, l));
	CHECK_INT_EQ(count(EV_RECORD, LEASESVC_REC_LET_GO, l), 0);

	advance(s, 5 * MIN);
	close(wfd); /* the child exits */
	wfd = -1;
	CHECK(wait_count(EV_RECORD, LEASESVC_REC_LET_GO, l, 1));
	CHECK(find(EV_RECORD, LEASESVC_REC_LET_GO, l, 0, &e) >= 0);
	CHECK(e.held);
	CHECK_INT_EQ(e.at, MONO0 + 5 * MIN + WALL0 - MONO0);
	/* VALID UNTIL (1 h) is short of the end (1 h 5 min): one renewal at 40 min first */
	CHECK(wait_deadline(s, MONO0 + 40 * MIN));
	CHECK(!lease_table_is_held(F.t, l));
	CHECK_INT_EQ(l->let_go_at, MONO0 + 5 * MIN);
	CHECK(l->watch == NULL);
reap:
	if (wfd >= 0)
		close(wfd);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
out:
	leasesvc_free(s);
	lease_unref(l);
	role_unref(ro);
}

int main(void)
{
	if (secret_init() != 0) {
		fprintf(stderr, "secret_init failed\n");
		return 1;
	}
	log_set_sink(quiet, NULL);
	leasesvc_set_clock(fake_mono, fake_wall);
	RUN(test_renew_at_two_thirds);
	RUN(test_close_lets_go_then_revokes);
	RUN(test_revoke_now_record_fails);
	RUN(test_revoke_failure_backoff);
	RUN(test_wall_step_moves_nothing);
	RUN(test_restore_let_go_and_revoke);
	RUN(test_restore_held);
	RUN(test_stop_with_jobs_queued);
	RUN(test_snapshot_inflight);
	RUN(test_opener_exit_lets_go);
	leasesvc_set_clock(NULL, NULL);
	return DONE();
}

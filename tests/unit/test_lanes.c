/* SPDX-License-Identifier: MIT */
/*
 * test_lanes.c - the per-connection lanes with their real threads: every
 * job runs or is dropped exactly once, a blocked lane does not hold
 * another, urgent jobs pass a lane full of blocked issues, never more
 * than width issues at once, the reaper drops an issue that waited too
 * long while every thread is blocked, a full queue, stop, stats.
 *
 * Blocking jobs wait on a gate the test opens. Waits for the lane threads
 * are bounded polls (WAIT_MS, never reached on a healthy run); the only
 * timing assertions are orderings ("dropped before the gate opened",
 * "done while the other lane was blocked"), never a tight duration.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lanes.h"
#include "test.h"

#define WAIT_MS 5000 /* the longest any wait for the lane threads may take */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static int load(const int *p)
{
	return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

/* Poll until *p >= want or WAIT_MS passed; true if reached. */
static bool wait_at_least(const int *p, int want)
{
	int64_t end = now_ms() + WAIT_MS;

	while (load(p) < want) {
		if (now_ms() > end)
			return false;
		sleep_ms(1);
	}
	return true;
}

/* --- a gate blocking jobs until the test opens it ----------------------------------- */

struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool open;
	int waiting; /* atomic: jobs blocked on it now */
	int entered; /* atomic: jobs that ever reached it */
};

static void gate_init(struct gate *g)
{
	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
}

static void gate_pass(struct gate *g)
{
	__atomic_add_fetch(&g->entered, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&g->waiting, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&g->mu);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
	__atomic_sub_fetch(&g->waiting, 1, __ATOMIC_SEQ_CST);
}

static bool gate_is_open(struct gate *g)
{
	bool o;

	pthread_mutex_lock(&g->mu);
	o = g->open;
	pthread_mutex_unlock(&g->mu);
	return o;
}

static void gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->open = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

static void gate_destroy(struct gate *g)
{
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
}

/* --- jobs ----------------------------------------------------------------------------- */

/* Concurrency of one class of jobs (normal or urgent of one lane). */
struct conc {
	int cur, max; /* atomic */
};

struct job {
	struct gate *gate; /* NULL: does not block */
	struct conc *conc; /* NULL: not counted */
	int sleep_ms; /* while counted */
	int started, ran, dropped, why; /* atomic; ran and dropped once all is recorded */
	int gate_was_open; /* atomic: when it finished (ran or dropped): -1 not yet */
	int64_t at; /* atomic: monotonic ms when it finished */
	int *done; /* atomic, optional: jobs finished (ran or dropped) */
};

static void job_init(struct job *j, struct gate *g, struct conc *c)
{
	memset(j, 0, sizeof(*j));
	j->gate = g;
	j->conc = c;
	j->gate_was_open = -1;
}

static void conc_enter(struct conc *c)
{
	int n = __atomic_add_fetch(&c->cur, 1, __ATOMIC_SEQ_CST);
	int m = __atomic_load_n(&c->max, __ATOMIC_SEQ_CST);

	while (n > m && !__atomic_compare_exchange_n(&c->max, &m, n, false, __ATOMIC_SEQ_CST,
						     __ATOMIC_SEQ_CST))
		;
}

/* Record when and whether the gate was open, then count it in *counter (ran or dropped). */
static void job_finish(struct job *j, struct gate *observe, int *counter)
{
	__atomic_store_n(&j->gate_was_open, observe ? gate_is_open(observe) : 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&j->at, now_ms(), __ATOMIC_SEQ_CST);
	__atomic_add_fetch(counter, 1, __ATOMIC_SEQ_CST);
	if (j->done)
		__atomic_add_fetch(j->done, 1, __ATOMIC_SEQ_CST);
}

/* The gate a finishing job looks at (to record "was it open"): set per test. */
static struct gate *observed;

static void job_run(void *arg)
{
	struct job *j = arg;

	__atomic_add_fetch(&j->started, 1, __ATOMIC_SEQ_CST);
	if (j->conc)
		conc_enter(j->conc);
	if (j->sleep_ms)
		sleep_ms(j->sleep_ms);
	if (j->gate)
		gate_pass(j->gate);
	if (j->conc)
		__atomic_sub_fetch(&j->conc->cur, 1, __ATOMIC_SEQ_CST);
	job_finish(j, observed, &j->ran);
}

static void job_drop(void *arg, int why)
{
	struct job *j = arg;

	__atomic_store_n(&j->why, why, __ATOMIC_SEQ_CST);
	job_finish(j, observed, &j->dropped);
}

static int submit(struct lanes *ls, const char *key, int width, enum lanes_prio prio,
		  int64_t wait_ms, struct job *j)
{
	return lanes_submit(ls, key, width, prio, wait_ms, job_run, job_drop, j);
}

/* The stats of lane key (zeroed if there is none). */
static struct lanes_stat stat_of(struct lanes *ls, const char *key)
{
	struct lanes_stat *st = NULL, r;
	size_t n = 0;

	memset(&r, 0, sizeof(r));
	CHECK_INT_EQ(lanes_stats(ls, &st, &n), 0);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(st[i].key, key))
			r = st[i];
	free(st);
	return r;
}

/* Poll until lane key has run want jobs (ran counts after run returned). */
static bool wait_ran(struct lanes *ls, const char *key, uint64_t want)
{
	int64_t end = now_ms() + WAIT_MS;

	while (stat_of(ls, key).ran < want) {
		if (now_ms() > end)
			return false;
		sleep_ms(1);
	}
	return true;
}

/* --- tests ---------------------------------------------------------------------------- */

#define MANY 300

/* Jobs on several lanes, both queues: each runs exactly once; ran adds up. */
static void test_each_once(void)
{
	static struct job jobs[MANY];
	static const char *const keys[] = { "a", "b", "c" };
	struct lanes *ls = lanes_new(3);
	int done = 0;

	observed = NULL;
	for (int i = 0; i < MANY; i++) {
		job_init(&jobs[i], NULL, NULL);
		jobs[i].done = &done;
		CHECK_INT_EQ(submit(ls, keys[i % 3], 0, i % 5 ? LANES_NORMAL : LANES_URGENT,
				    i % 2 ? 10000 : 0, &jobs[i]),
			     0);
	}
	CHECK(wait_at_least(&done, MANY));
	for (int k = 0; k < 3; k++)
		CHECK(wait_ran(ls, keys[k], MANY / 3));
	for (int k = 0; k < 3; k++) {
		struct lanes_stat s = stat_of(ls, keys[k]);

		CHECK_STR_EQ(s.key, keys[k]);
		CHECK_INT_EQ(s.width, 3);
		CHECK_INT_EQ(s.ran, MANY / 3);
		CHECK_INT_EQ(s.expired, 0);
		CHECK_INT_EQ(s.refused, 0);
		CHECK_INT_EQ(s.urgent, 0);
		CHECK_INT_EQ(s.normal, 0);
		CHECK_INT_EQ(s.busy, 0);
		CHECK(s.threads >= 1 && s.threads <= 4);
	}
	lanes_free(ls);
	for (int i = 0; i < MANY; i++) {
		CHECK_INT_EQ(jobs[i].ran, 1);
		CHECK_INT_EQ(jobs[i].dropped, 0);
	}
}

/* A lane whose every thread is blocked does not hold another lane's jobs. */
static void test_lane_isolation(void)
{
	struct job block[3], other[20];
	struct gate g;
	struct lanes *ls = lanes_new(2);
	int done = 0;

	gate_init(&g);
	observed = &g;
	/* "slow": both normal threads and the urgent one blocked, more queued */
	for (int i = 0; i < 3; i++) {
		job_init(&block[i], &g, NULL);
		CHECK_INT_EQ(
			submit(ls, "slow", 0, i == 2 ? LANES_URGENT : LANES_NORMAL, 0, &block[i]),
			0);
	}
	CHECK(wait_at_least(&g.waiting, 3));
	for (int i = 0; i < 20; i++) {
		job_init(&other[i], NULL, NULL);
		other[i].done = &done;
		CHECK_INT_EQ(
			submit(ls, "fast", 0, i % 4 ? LANES_NORMAL : LANES_URGENT, 1000, &other[i]),
			0);
	}
	CHECK(wait_at_least(&done, 20));
	for (int i = 0; i < 20; i++) {
		CHECK_INT_EQ(other[i].ran, 1);
		CHECK_INT_EQ(other[i].gate_was_open, 0);
	}
	CHECK_INT_EQ(load(&g.waiting), 3);
	CHECK_INT_EQ(stat_of(ls, "slow").busy, 3);
	gate_open(&g);
	lanes_free(ls);
	for (int i = 0; i < 3; i++)
		CHECK_INT_EQ(block[i].ran, 1);
	gate_destroy(&g);
}

/* Urgent jobs run while width normal jobs are blocked on the same lane. */
static void test_urgent_passes_blocked_normal(void)
{
	struct job block[3], urgent[5];
	struct gate g;
	struct lanes *ls = lanes_new(2);
	int done = 0;

	gate_init(&g);
	observed = &g;
	for (int i = 0; i < 3; i++) {
		job_init(&block[i], &g, NULL);
		CHECK_INT_EQ(submit(ls, "c", 0, LANES_NORMAL, 0, &block[i]), 0);
	}
	CHECK(wait_at_least(&g.waiting, 2));
	for (int i = 0; i < 5; i++) {
		job_init(&urgent[i], NULL, NULL);
		urgent[i].done = &done;
		CHECK_INT_EQ(submit(ls, "c", 0, LANES_URGENT, 0, &urgent[i]), 0);
	}
	CHECK(wait_at_least(&done, 5));
	for (int i = 0; i < 5; i++) {
		CHECK_INT_EQ(urgent[i].ran, 1);
		CHECK_INT_EQ(urgent[i].gate_was_open, 0);
	}
	/* the third normal job still waits: width is 2 */
	CHECK(wait_ran(ls, "c", 5));
	struct lanes_stat s = stat_of(ls, "c");
	CHECK_INT_EQ(s.busy, 2);
	CHECK_INT_EQ(s.normal, 1);
	CHECK_INT_EQ(s.urgent, 0);
	CHECK(s.threads <= 3);
	CHECK_INT_EQ(load(&g.entered), 2);
	CHECK_INT_EQ(load(&block[2].started), 0);
	gate_open(&g);
	CHECK(wait_ran(ls, "c", 8));
	lanes_free(ls);
	for (int i = 0; i < 3; i++)
		CHECK_INT_EQ(block[i].ran, 1);
	gate_destroy(&g);
}

/* A blocked urgent job does not take a normal job's place: width normal jobs still run. */
static void test_blocked_urgent_keeps_width(void)
{
	struct job urgent, normal[2];
	struct gate g;
	struct lanes *ls = lanes_new(2);
	int done = 0;

	gate_init(&g);
	observed = &g;
	job_init(&urgent, &g, NULL);
	CHECK_INT_EQ(submit(ls, "c", 0, LANES_URGENT, 0, &urgent), 0);
	CHECK(wait_at_least(&g.waiting, 1));
	for (int i = 0; i < 2; i++) {
		job_init(&normal[i], &g, NULL);
		normal[i].done = &done;
		CHECK_INT_EQ(submit(ls, "c", 0, LANES_NORMAL, 0, &normal[i]), 0);
	}
	/* both normal jobs reach the gate while the urgent one holds its thread */
	CHECK(wait_at_least(&g.waiting, 3));
	CHECK_INT_EQ(stat_of(ls, "c").busy, 3);
	gate_open(&g);
	CHECK(wait_at_least(&done, 2));
	lanes_free(ls);
	CHECK_INT_EQ(urgent.ran, 1);
	gate_destroy(&g);
}

/* Never more than width normal jobs at once, under load and with blockers. */
static void test_width_bound(void)
{
	static struct job jobs[60];
	struct job block[5], urgent[10];
	struct conc normal_c = { 0, 0 }, urgent_c = { 0, 0 }, block_c = { 0, 0 };
	struct gate g;
	struct lanes *ls = lanes_new(3);
	int done = 0;

	gate_init(&g);
	observed = NULL;
	/* 60 short jobs with urgent ones mixed in */
	for (int i = 0; i < 60; i++) {
		job_init(&jobs[i], NULL, &normal_c);
		jobs[i].sleep_ms = 2;
		jobs[i].done = &done;
		CHECK_INT_EQ(submit(ls, "w", 0, LANES_NORMAL, 0, &jobs[i]), 0);
		if (i % 6 == 0) {
			job_init(&urgent[i / 6], NULL, &urgent_c);
			urgent[i / 6].sleep_ms = 2;
			urgent[i / 6].done = &done;
			CHECK_INT_EQ(submit(ls, "w", 0, LANES_URGENT, 0, &urgent[i / 6]), 0);
		}
	}
	CHECK(wait_at_least(&done, 70));
	CHECK(load(&normal_c.max) >= 1 && load(&normal_c.max) <= 3);
	CHECK(load(&urgent_c.max) >= 1 && load(&urgent_c.max) <= 4);
	/* blockers: exactly 3 reach the gate, the other 2 wait in the queue */
	for (int i = 0; i < 5; i++) {
		job_init(&block[i], &g, &block_c);
		CHECK_INT_EQ(submit(ls, "w", 0, LANES_NORMAL, 0, &block[i]), 0);
	}
	CHECK(wait_at_least(&g.waiting, 3));
	sleep_ms(50); /* room for a fourth to start, were it allowed */
	CHECK_INT_EQ(load(&g.entered), 3);
	CHECK_INT_EQ(stat_of(ls, "w").normal, 2);
	gate_open(&g);
	CHECK(wait_ran(ls, "w", 75));
	CHECK_INT_EQ(load(&block_c.max), 3);
	lanes_free(ls);
	gate_destroy(&g);
}

/*
 * The reaper drops a normal job that waited wait_ms while every thread of
 * its lane is blocked, without waiting for one of them; urgent jobs and
 * normal jobs without a bound are never dropped.
 */
static void test_reaper(void)
{
	struct job block[2], late, patient, urgent;
	struct gate g;
	struct lanes *ls = lanes_new(1);
	int64_t t0;

	gate_init(&g);
	observed = &g;
	job_init(&block[0], &g, NULL);
	job_init(&block[1], &g, NULL);
	CHECK_INT_EQ(submit(ls, "r", 0, LANES_NORMAL, 0, &block[0]), 0);
	CHECK_INT_EQ(submit(ls, "r", 0, LANES_URGENT, 0, &block[1]), 0);
	CHECK(wait_at_least(&g.waiting, 2));
	job_init(&late, NULL, NULL);
	job_init(&patient, NULL, NULL);
	job_init(&urgent, NULL, NULL);
	t0 = now_ms();
	CHECK_INT_EQ(submit(ls, "r", 0, LANES_NORMAL, 100, &late), 0);
	CHECK_INT_EQ(submit(ls, "r", 0, LANES_NORMAL, 0, &patient), 0);
	CHECK_INT_EQ(submit(ls, "r", 0, LANES_URGENT, 100, &urgent), 0);
	/* the gate opens after 2 s at the latest; the drop comes well before */
	int64_t end = t0 + 2000;
	while (!load(&late.dropped) && now_ms() < end)
		sleep_ms(5);
	CHECK_INT_EQ(late.dropped, 1);
	CHECK_INT_EQ(late.why, -ETIMEDOUT);
	CHECK_INT_EQ(late.gate_was_open, 0);
	CHECK(late.at - t0 >= 90); /* not before its time (ms clocks truncate) */
	CHECK_INT_EQ(load(&g.waiting), 2);
	struct lanes_stat s = stat_of(ls, "r");
	CHECK_INT_EQ(s.expired, 1);
	CHECK_INT_EQ(s.normal, 1);
	CHECK_INT_EQ(s.urgent, 1);
	gate_open(&g);
	CHECK(wait_ran(ls, "r", 4));
	lanes_free(ls);
	CHECK_INT_EQ(late.ran, 0);
	CHECK_INT_EQ(late.dropped, 1);
	CHECK_INT_EQ(patient.ran, 1);
	CHECK_INT_EQ(patient.dropped, 0);
	CHECK_INT_EQ(urgent.ran, 1);
	CHECK_INT_EQ(urgent.dropped, 0);
	gate_destroy(&g);
}

/* A full normal queue refuses with -EAGAIN (counted); urgent jobs are still taken. */
static void test_queue_full(void)
{
	static struct job queued[LANES_QUEUE_MAX];
	struct job block, extra, urgent;
	struct gate g;
	struct lanes *ls = lanes_new(1);

	gate_init(&g);
	observed = NULL;
	job_init(&block, &g, NULL);
	CHECK_INT_EQ(submit(ls, "q", 0, LANES_NORMAL, 0, &block), 0);
	CHECK(wait_at_least(&g.waiting, 1));
	for (int i = 0; i < LANES_QUEUE_MAX; i++) {
		job_init(&queued[i], NULL, NULL);
		CHECK_INT_EQ(submit(ls, "q", 0, LANES_NORMAL, 0, &queued[i]), 0);
	}
	job_init(&extra, NULL, NULL);
	job_init(&urgent, NULL, NULL);
	CHECK_INT_EQ(submit(ls, "q", 0, LANES_NORMAL, 0, &extra), -EAGAIN);
	CHECK_INT_EQ(submit(ls, "q", 0, LANES_NORMAL, 50, &extra), -EAGAIN);
	CHECK_INT_EQ(submit(ls, "other", 0, LANES_NORMAL, 0, &extra), 0); /* per lane */
	CHECK_INT_EQ(submit(ls, "q", 0, LANES_URGENT, 0, &urgent), 0);
	CHECK(wait_ran(ls, "q", 1));
	CHECK(wait_ran(ls, "other", 1));
	struct lanes_stat s = stat_of(ls, "q");
	CHECK_INT_EQ(s.refused, 2);
	CHECK_INT_EQ(s.normal, LANES_QUEUE_MAX);
	CHECK_INT_EQ(s.ran, 1);
	gate_open(&g);
	CHECK(wait_ran(ls, "q", LANES_QUEUE_MAX + 2));
	lanes_free(ls);
	for (int i = 0; i < LANES_QUEUE_MAX; i++)
		CHECK_INT_EQ(queued[i].ran, 1);
	CHECK_INT_EQ(extra.ran, 1);
	CHECK_INT_EQ(urgent.ran, 1);
	gate_destroy(&g);
}

struct stopper {
	struct lanes *ls;
	int returned; /* atomic */
};

static void *stop_main(void *arg)
{
	struct stopper *s = arg;

	lanes_stop(s->ls);
	__atomic_store_n(&s->returned, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/*
 * lanes_stop drops every queued job with -ESHUTDOWN, lets the running ones
 * finish, waits for them, and refuses new jobs from its first moment.
 */
static void test_stop(void)
{
	struct job running[2], queued[6], late;
	struct gate g;
	struct lanes *ls = lanes_new(1);
	struct stopper st = { ls, 0 };
	pthread_t th;
	int dropped = 0;

	gate_init(&g);
	observed = &g;
	job_init(&running[0], &g, NULL);
	job_init(&running[1], &g, NULL);
	CHECK_INT_EQ(submit(ls, "s", 0, LANES_NORMAL, 0, &running[0]), 0);
	CHECK_INT_EQ(submit(ls, "s", 0, LANES_URGENT, 0, &running[1]), 0);
	CHECK(wait_at_least(&g.waiting, 2));
	for (int i = 0; i < 6; i++) {
		job_init(&queued[i], &g, NULL);
		queued[i].done = &dropped;
		CHECK_INT_EQ(submit(ls, i < 3 ? "s" : "t", 0, i % 2 ? LANES_URGENT : LANES_NORMAL,
				    i == 0 ? 60000 : 0, &queued[i]),
			     0);
	}
	/* "t": its first jobs run and block; count only the ones still queued */
	CHECK(wait_at_least(&g.waiting, 4));
	CHECK_INT_EQ(pthread_create(&th, NULL, stop_main, &st), 0);
	CHECK(wait_at_least(&dropped, 6 - 2));
	sleep_ms(20);
	CHECK_INT_EQ(load(&st.returned), 0); /* the running jobs hold it */
	job_init(&late, NULL, NULL);
	CHECK_INT_EQ(submit(ls, "s", 0, LANES_NORMAL, 0, &late), -ESHUTDOWN);
	CHECK_INT_EQ(submit(ls, "new", 0, LANES_URGENT, 0, &late), -ESHUTDOWN);
	gate_open(&g);
	pthread_join(th, NULL);
	CHECK_INT_EQ(st.returned, 1);
	for (int i = 0; i < 2; i++) {
		CHECK_INT_EQ(running[i].ran, 1);
		CHECK_INT_EQ(running[i].dropped, 0);
	}
	int ran = 0, shut = 0;
	for (int i = 0; i < 6; i++) {
		CHECK_INT_EQ(queued[i].ran + queued[i].dropped, 1);
		ran += queued[i].ran;
		if (queued[i].dropped) {
			CHECK_INT_EQ(queued[i].why, -ESHUTDOWN);
			CHECK_INT_EQ(queued[i].gate_was_open, 0);
			shut++;
		}
	}
	CHECK_INT_EQ(ran, 2); /* "t": one normal and one urgent thread */
	CHECK_INT_EQ(shut, 4);
	CHECK_INT_EQ(late.ran + late.dropped, 0);
	lanes_stop(ls); /* idempotent */
	CHECK_INT_EQ(submit(ls, "s", 0, LANES_NORMAL, 0, &late), -ESHUTDOWN);
	lanes_free(ls);
	lanes_free(NULL);
	gate_destroy(&g);
}

/* Widths: lanes_new's default, lanes_set_width for new lanes, lanes_submit's per lane. */
static void test_widths(void)
{
	struct lanes *ls = lanes_new(0);
	struct job j[3];

	observed = NULL;
	for (int i = 0; i < 3; i++)
		job_init(&j[i], NULL, NULL);
	CHECK_INT_EQ(submit(ls, "a", 0, LANES_NORMAL, 0, &j[0]), 0);
	lanes_set_width(ls, 7);
	lanes_set_width(ls, 0); /* ignored */
	CHECK_INT_EQ(submit(ls, "b", 0, LANES_NORMAL, 0, &j[1]), 0);
	CHECK_INT_EQ(submit(ls, "c", 2, LANES_URGENT, 0, &j[2]), 0);
	CHECK_INT_EQ(stat_of(ls, "a").width, LANES_DEFAULT_WIDTH);
	CHECK_INT_EQ(stat_of(ls, "b").width, 7);
	CHECK_INT_EQ(stat_of(ls, "c").width, 2);
	CHECK(wait_ran(ls, "a", 1) && wait_ran(ls, "b", 1) && wait_ran(ls, "c", 1));
	lanes_free(ls);
	for (int i = 0; i < 3; i++)
		CHECK_INT_EQ(j[i].ran, 1);
}

int main(void)
{
	RUN(test_each_once);
	RUN(test_lane_isolation);
	RUN(test_urgent_passes_blocked_normal);
	RUN(test_blocked_urgent_keeps_width);
	RUN(test_width_bound);
	RUN(test_reaper);
	RUN(test_queue_full);
	RUN(test_stop);
	RUN(test_widths);
	return DONE();
}

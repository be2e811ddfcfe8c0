/* SPDX-License-Identifier: MIT */
/*
 * lanes.c - per-connection queues and threads (see lanes.h). One mutex
 * guards every lane: a job's bookkeeping is a few pointer moves, and the
 * jobs themselves run outside it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lanes.h"
#include "log.h"

struct lanes_job {
	lanes_run_fn *run;
	lanes_drop_fn *drop;
	void *arg;
	int64_t expires; /* monotonic ms; 0: waits as long as it takes */
	struct lanes_job *next;
};

struct lanes_queue {
	struct lanes_job *head, *tail;
	size_t n;
};

struct lane {
	char *key;
	int width;
	int threads, idle, busy_normal, busy;
	struct lanes_queue q[2]; /* by enum lanes_prio */
	uint64_t ran, expired, refused;
	pthread_cond_t cv; /* a job for this lane's idle threads */
	struct lane *next;
};

/* A thread that left, to be joined (its exit, TLS destructors included, must end before the owner's). */
struct lanes_gone {
	pthread_t t;
	struct lanes_gone *next;
};

struct lanes {
	pthread_mutex_t mu;
	struct lanes_gone *gone; /* protected by mu */
	pthread_cond_t done_cv; /* a thread left (lanes_stop waits for all) */
	pthread_cond_t reap_cv; /* the reaper: a normal job with a deadline was queued */
	int64_t reap_until; /* the reaper sleeps until then (INT64_MAX: no deadline); 0 awake */
	struct lane *lanes;
	int width; /* of a new lane */
	int threads; /* every lane thread, and the reaper */
	bool stopping, reaper;
};

struct lanes_worker {
	struct lanes *ls;
	struct lane *lane;
};

static int64_t lanes_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void lanes_deadline(struct timespec *ts, int64_t ms_from_now)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms_from_now / 1000;
	ts->tv_nsec += (ms_from_now % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

static void lanes_push(struct lanes_queue *q, struct lanes_job *j)
{
	j->next = NULL;
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
	q->n++;
}

static struct lanes_job *lanes_pop(struct lanes_queue *q)
{
	struct lanes_job *j = q->head;

	if (j) {
		q->head = j->next;
		if (!q->head)
			q->tail = NULL;
		q->n--;
	}
	return j;
}

/* The next job this lane may run now; the caller holds mu. */
static struct lanes_job *lane_next(struct lane *l, bool *normal)
{
	struct lanes_job *j = lanes_pop(&l->q[LANES_URGENT]);

	*normal = false;
	if (!j && l->busy_normal < l->width && (j = lanes_pop(&l->q[LANES_NORMAL])))
		*normal = true;
	return j;
}

/* Jobs that could start now but have no idle thread; the caller holds mu. */
static size_t lane_runnable(const struct lane *l)
{
	size_t n = l->q[LANES_URGENT].n;
	size_t room = l->busy_normal < l->width ? (size_t)(l->width - l->busy_normal) : 0;

	n += l->q[LANES_NORMAL].n < room ? l->q[LANES_NORMAL].n : room;
	return n;
}

/* This thread is leaving: the next lanes_submit or lanes_stop joins it. mu held. */
static void lanes_leaving_locked(struct lanes *ls)
{
	struct lanes_gone *g = malloc(sizeof(*g));

	if (g) {
		g->t = pthread_self();
		g->next = ls->gone;
		ls->gone = g;
	} else {
		pthread_detach(pthread_self()); /* cannot be joined: at least not leaked */
	}
}

/* Join the threads that left (mu not held). */
static void lanes_join(struct lanes_gone *g)
{
	while (g) {
		struct lanes_gone *n = g->next;

		pthread_join(g->t, NULL);
		free(g);
		g = n;
	}
}

static struct lanes_gone *lanes_take_gone_locked(struct lanes *ls)
{
	struct lanes_gone *g = ls->gone;

	ls->gone = NULL;
	return g;
}

static void *lanes_thread(void *arg)
{
	struct lanes_worker *w = arg;
	struct lanes *ls = w->ls;
	struct lane *l = w->lane;
	struct timespec ts;
	bool normal;

	free(w);
	pthread_mutex_lock(&ls->mu);
	for (;;) {
		struct lanes_job *j = lane_next(l, &normal);

		if (j) {
			l->busy++;
			l->busy_normal += normal;
			pthread_mutex_unlock(&ls->mu);
			j->run(j->arg);
			free(j);
			pthread_mutex_lock(&ls->mu);
			l->busy--;
			l->busy_normal -= normal;
			l->ran++;
			continue;
		}
		if (ls->stopping)
			break;
		l->idle++;
		lanes_deadline(&ts, LANES_IDLE_MS);
		int r = pthread_cond_timedwait(&l->cv, &ls->mu, &ts);
		l->idle--;
		if (r == ETIMEDOUT && lane_runnable(l) == 0)
			break;
	}
	lanes_leaving_locked(ls);
	l->threads--;
	ls->threads--;
	pthread_cond_broadcast(&ls->done_cv);
	pthread_mutex_unlock(&ls->mu);
	return NULL;
}

/* Drop the normal jobs that waited too long; returns the next expiry (ms) or INT64_MAX. */
static int64_t lanes_reap_locked(struct lanes *ls, struct lanes_job **dropped)
{
	int64_t now = lanes_now(), next = INT64_MAX;

	for (struct lane *l = ls->lanes; l; l = l->next) {
		struct lanes_queue *q = &l->q[LANES_NORMAL];
		struct lanes_job **pp = &q->head, *prev = NULL;

		while (*pp) {
			struct lanes_job *j = *pp;

			if (j->expires && j->expires <= now) {
				*pp = j->next;
				if (q->tail == j)
					q->tail = prev;
				q->n--;
				l->expired++;
				j->next = *dropped;
				*dropped = j;
				continue;
			}
			if (j->expires && j->expires < next)
				next = j->expires;
			prev = j;
			pp = &j->next;
		}
	}
	return next;
}

static void lanes_drop_all(struct lanes_job *j, int why)
{
	while (j) {
		struct lanes_job *n = j->next;

		j->drop(j->arg, why);
		free(j);
		j = n;
	}
}

static void *lanes_reaper(void *arg)
{
	struct lanes *ls = arg;
	struct timespec ts;

	pthread_mutex_lock(&ls->mu);
	while (!ls->stopping) {
		struct lanes_job *dropped = NULL;
		int64_t next = lanes_reap_locked(ls, &dropped);

		if (dropped) {
			pthread_mutex_unlock(&ls->mu);
			lanes_drop_all(dropped, -ETIMEDOUT);
			pthread_mutex_lock(&ls->mu);
			continue;
		}
		ls->reap_until = next;
		if (next == INT64_MAX) {
			pthread_cond_wait(&ls->reap_cv, &ls->mu);
		} else {
			int64_t ms = next - lanes_now();

			/* already past: a negative tv_nsec would fail the wait with EINVAL */
			lanes_deadline(&ts, ms > 0 ? ms : 0);
			pthread_cond_timedwait(&ls->reap_cv, &ls->mu, &ts);
		}
		ls->reap_until = 0;
	}
	lanes_leaving_locked(ls);
	ls->threads--;
	pthread_cond_broadcast(&ls->done_cv);
	pthread_mutex_unlock(&ls->mu);
	return NULL;
}

/* Start a thread running fn(arg); the caller holds mu. 0 or -errno. */
static int lanes_spawn(struct lanes *ls, void *(*fn)(void *), void *arg)
{
	pthread_t t;
	int r;

	/* Joinable: a thread that leaves is joined (lanes_join), never left running past lanes_stop. */
	r = pthread_create(&t, NULL, fn, arg);
	if (r == 0)
		ls->threads++;
	return -r;
}

static struct lane *lanes_lane_locked(struct lanes *ls, const char *key)
{
	struct lane *l;
	pthread_condattr_t ca;

	for (l = ls->lanes; l; l = l->next)
		if (!strcmp(l->key, key))
			return l;
	if (!(l = calloc(1, sizeof(*l))) || !(l->key = strdup(key))) {
		free(l);
		return NULL;
	}
	l->width = ls->width;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cv, &ca);
	pthread_condattr_destroy(&ca);
	l->next = ls->lanes;
	ls->lanes = l;
	return l;
}

struct lanes *lanes_new(int width)
{
	struct lanes *ls = calloc(1, sizeof(*ls));
	pthread_condattr_t ca;

	if (!ls)
		return NULL;
	ls->width = width > 0 ? width : LANES_DEFAULT_WIDTH;
	pthread_mutex_init(&ls->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ls->done_cv, &ca);
	pthread_cond_init(&ls->reap_cv, &ca);
	pthread_condattr_destroy(&ca);
	return ls;
}

void lanes_set_width(struct lanes *ls, int width)
{
	pthread_mutex_lock(&ls->mu);
	if (width > 0)
		ls->width = width;
	pthread_mutex_unlock(&ls->mu);
}

int lanes_submit(struct lanes *ls, const char *key, int width, enum lanes_prio prio,
		 int64_t wait_ms, lanes_run_fn *run, lanes_drop_fn *drop, void *arg)
{
	struct lanes_job *j = calloc(1, sizeof(*j)), *queued;
	struct lane *wake = NULL;
	struct lanes_gone *gone;
	struct lanes_worker *w;
	struct lane *l;
	int r = 0;

	if (!j)
		return -ENOMEM;
	j->run = run;
	j->drop = drop;
	j->arg = arg;
	j->expires = prio == LANES_NORMAL && wait_ms > 0 ? lanes_now() + wait_ms : 0;
	pthread_mutex_lock(&ls->mu);
	if (ls->stopping) {
		r = -ESHUTDOWN;
		goto out;
	}
	if (!(l = lanes_lane_locked(ls, key))) {
		r = -ENOMEM;
		goto out;
	}
	if (width > 0)
		l->width = width;
	if (prio == LANES_NORMAL && l->q[LANES_NORMAL].n >= LANES_QUEUE_MAX) {
		l->refused++;
		r = -EAGAIN;
		goto out;
	}
	if (j->expires && !ls->reaper) {
		if ((r = lanes_spawn(ls, lanes_reaper, ls)) != 0)
			goto out;
		ls->reaper = true;
	}
	lanes_push(&l->q[prio], j);
	queued = j;
	j = NULL;
	/* Woken only when it would sleep past this job's deadline: not once per job. */
	if (queued->expires && queued->expires < ls->reap_until)
		pthread_cond_signal(&ls->reap_cv);
	/*
	 * A thread for it, up to width + 1: lane_next never lets more than
	 * width of them run normal jobs, so one is always left for urgent
	 * jobs, and a thread held by an urgent job takes no normal job's place.
	 */
	if (lane_runnable(l) > (size_t)l->idle && l->threads < l->width + 1 &&
	    (w = malloc(sizeof(*w)))) {
		w->ls = ls;
		w->lane = l;
		if (lanes_spawn(ls, lanes_thread, w) == 0)
			l->threads++;
		else
			free(w);
	}
	if (l->threads == 0) {
		/* No thread and none could start: take it back rather than strand it. */
		struct lanes_job **pp = &l->q[prio].head, *prev = NULL;

		while (*pp != queued) {
			prev = *pp;
			pp = &(*pp)->next;
		}
		*pp = queued->next;
		if (l->q[prio].tail == queued)
			l->q[prio].tail = prev;
		l->q[prio].n--;
		j = queued; /* freed below */
		log_warn("lane %s: cannot start a thread", key);
		r = -EAGAIN;
		goto out;
	}
	wake = l;
out:
	gone = lanes_take_gone_locked(ls);
	pthread_mutex_unlock(&ls->mu);
	/* After the unlock: the woken thread does not wait for mu (lanes outlive every submit). */
	if (wake)
		pthread_cond_signal(&wake->cv);
	lanes_join(gone);
	free(j);
	return r;
}

int lanes_stats(struct lanes *ls, struct lanes_stat **out, size_t *n)
{
	struct lanes_stat *st = NULL;
	size_t k = 0, cap = 0;

	pthread_mutex_lock(&ls->mu);
	for (struct lane *l = ls->lanes; l; l = l->next)
		cap++;
	if (cap && !(st = calloc(cap, sizeof(*st)))) {
		pthread_mutex_unlock(&ls->mu);
		return -ENOMEM;
	}
	for (struct lane *l = ls->lanes; l; l = l->next, k++) {
		strncpy(st[k].key, l->key, sizeof(st[k].key) - 1);
		st[k].width = l->width;
		st[k].threads = l->threads;
		st[k].busy = l->busy;
		st[k].urgent = l->q[LANES_URGENT].n;
		st[k].normal = l->q[LANES_NORMAL].n;
		st[k].ran = l->ran;
		st[k].expired = l->expired;
		st[k].refused = l->refused;
	}
	pthread_mutex_unlock(&ls->mu);
	*out = st;
	*n = k;
	return 0;
}

void lanes_stop(struct lanes *ls)
{
	struct lanes_job *dropped = NULL;
	struct lanes_gone *gone;

	pthread_mutex_lock(&ls->mu);
	ls->stopping = true;
	for (struct lane *l = ls->lanes; l; l = l->next) {
		for (int p = 0; p < 2; p++) {
			struct lanes_job *j;

			while ((j = lanes_pop(&l->q[p]))) {
				j->next = dropped;
				dropped = j;
			}
		}
		pthread_cond_broadcast(&l->cv);
	}
	pthread_cond_broadcast(&ls->reap_cv);
	pthread_mutex_unlock(&ls->mu);
	lanes_drop_all(dropped, -ESHUTDOWN);
	pthread_mutex_lock(&ls->mu);
	while (ls->threads > 0)
		pthread_cond_wait(&ls->done_cv, &ls->mu);
	gone = lanes_take_gone_locked(ls);
	pthread_mutex_unlock(&ls->mu);
	lanes_join(gone);
}

void lanes_free(struct lanes *ls)
{
	if (!ls)
		return;
	lanes_stop(ls);
	for (struct lane *l = ls->lanes, *n; l; l = n) {
		n = l->next;
		pthread_cond_destroy(&l->cv);
		free(l->key);
		free(l);
	}
	pthread_cond_destroy(&ls->done_cv);
	pthread_cond_destroy(&ls->reap_cv);
	pthread_mutex_destroy(&ls->mu);
	free(ls);
}

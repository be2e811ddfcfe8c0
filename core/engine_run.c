/* SPDX-License-Identifier: MIT */
/*
 * engine_run.c - the engine's threads: the timer that hands out due
 * renewals and revocations, the workers that run them on PostgreSQL, and
 * the pidfd watch on every lease's opener.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "crash.h"
#include "engine_i.h"
#include "holder.h"
#include "log.h"
#include "pwpool.h"
#include "timefmt.h"

/* --- watching openers ---------------------------------------------------- */

static int engine_pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

void engine_watch_free(struct engine_watch *w)
{
	for (size_t i = 0; i < w->n; i++)
		lease_unref(w->leases[i]);
	free(w->leases);
	if (w->pidfd >= 0)
		close(w->pidfd);
	free(w);
}

/* Watch l's opener for exit. Without a usable pid the lease is bound to its handle only. */
void engine_watch(struct engine *e, struct lease *l)
{
	struct engine_watch *w;
	struct epoll_event ev = { .events = EPOLLIN };
	bool fresh = false;

	if (l->holder.pid <= 0)
		return;
	pthread_mutex_lock(&e->wmu);
	for (w = e->watches; w; w = w->next)
		if (w->pid == l->holder.pid && w->start_time == l->holder.start_time && !w->dead)
			break;
	if (!w) {
		int fd = engine_pidfd_open(l->holder.pid);

		/* The opener is blocked in open() and cannot be reaped, but its
		 * pid could have been reused before holder_from_tid ran. */
		if (fd < 0 || !(w = calloc(1, sizeof(*w))) ||
		    holder_start_time("/proc", l->holder.pid) != l->holder.start_time) {
			if (fd >= 0)
				close(fd);
			free(w);
			pthread_mutex_unlock(&e->wmu);
			log_warn("lease %s: cannot watch pid %d", l->id, (int)l->holder.pid);
			return;
		}
		w->pid = l->holder.pid;
		w->start_time = l->holder.start_time;
		w->pidfd = fd;
		fresh = true;
	}
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 4;
		struct lease **nl = realloc(w->leases, cap * sizeof(*nl));

		if (!nl) {
			pthread_mutex_unlock(&e->wmu);
			if (fresh)
				engine_watch_free(w);
			return;
		}
		w->leases = nl;
		w->cap = cap;
	}
	w->leases[w->n++] = lease_ref(l);
	if (fresh) {
		ev.data.ptr = w;
		if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, w->pidfd, &ev) != 0) {
			pthread_mutex_unlock(&e->wmu);
			log_warn("lease %s: cannot watch pid %d: %s", l->id, (int)w->pid,
				 strerror(errno));
			engine_watch_free(w);
			return;
		}
		w->next = e->watches;
		e->watches = w;
	}
	pthread_mutex_unlock(&e->wmu);
}

/* Timer thread: the opener behind w exited; every lease it held is let go. */
void engine_watch_fired(struct engine *e, struct engine_watch *w)
{
	struct engine_watch **pp;
	int64_t now = timefmt_now_ms();

	pthread_mutex_lock(&e->wmu);
	w->dead = true;
	for (pp = &e->watches; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	pthread_mutex_unlock(&e->wmu);
	epoll_ctl(e->epfd, EPOLL_CTL_DEL, w->pidfd, NULL);
	for (size_t i = 0; i < w->n; i++) {
		if (lease_table_exited(e->leases, w->leases[i], now)) {
			log_info("lease %s: opener %d exited", w->leases[i]->id, (int)w->pid);
			engine_audit(e, "let-go-exit", NULL, 0, w->leases[i], &w->leases[i]->holder,
				     NULL, NULL);
		}
		engine_poll_check(e, w->leases[i]);
	}
	engine_watch_free(w);
}

/* --- the timer and the workers ------------------------------------------ */

static void engine_run_job(struct engine *e, struct lease_job *job)
{
	struct lease *l = job->lease;
	struct conn_pool *p = engine_pool_get(e, l->role->db_name);
	char errbuf[CONN_ERRLEN] = "";
	bool was_failing = l->attempts > 0; /* a racy read: only a hint */
	int r;

	if (!p) {
		snprintf(errbuf, sizeof(errbuf), "connection \"%s\" is not configured",
			 l->role->db_name);
		r = -EIO;
	} else if (job->action == LEASE_JOB_RENEW) {
		r = conn_renew_user(p, l->role, l->username, job->expires, errbuf);
	} else {
		r = conn_revoke_user(p, l->role, l->username, errbuf);
	}
	if (r == 0 && job->action == LEASE_JOB_REVOKE)
		log_info("lease %s: revoked %s", l->id, l->username);
	else if (r == 0)
		log_debug("lease %s: renewed", l->id);
	engine_audit(e, job->action == LEASE_JOB_REVOKE ? "revoke" : "renew", NULL, 0, l,
		     &l->holder, NULL, r == 0 ? NULL : errbuf);
	if (r == 0)
		crash_point(job->action == LEASE_JOB_REVOKE ? "revoke-after-pg" : "renew-after-pg");
	else
		log_warn("lease %s: %s failed: %s", l->id,
			 job->action == LEASE_JOB_RENEW ? "renewal" : "revocation", errbuf);
	lease_ref(l);
	lease_table_job_done(e->leases, job, r, errbuf, timefmt_now_ms());
	/* The database is back: the others that failed need not wait out their backoff. */
	if (r == 0 && was_failing)
		lease_table_retry_db(e->leases, l->role->db_name, timefmt_now_ms());
	/* Marked done on disk only after PostgreSQL confirmed it. */
	if (r == 0 && l->state == LEASE_REVOKED) {
		engine_state_record_gone(e, l);
		crash_point("revoke-after-record");
	} else if (r == 0 && job->action == LEASE_JOB_RENEW) {
		engine_state_record_renew(e, l);
		crash_point("renew-after-record");
	}
	engine_poll_check(e, l);
	lease_unref(l);
	conn_pool_unref(p);
	engine_wake(e);
}

static void *engine_worker(void *arg)
{
	struct engine *e = arg;
	struct engine_qjob *q;

	for (;;) {
		pthread_mutex_lock(&e->qmu);
		while (!e->qhead && !e->stop)
			pthread_cond_wait(&e->qcv, &e->qmu);
		if (!e->qhead) {
			pthread_mutex_unlock(&e->qmu);
			return NULL;
		}
		q = e->qhead;
		e->qhead = q->next;
		if (!e->qhead)
			e->qtail = NULL;
		pthread_mutex_unlock(&e->qmu);
		engine_run_job(e, &q->job);
		free(q);
	}
}

static void engine_enqueue(struct engine *e, struct lease_job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct engine_qjob *q = calloc(1, sizeof(*q));

		if (!q) {
			/* Give the job back; the timer will hand it out again. */
			lease_table_job_done(e->leases, &jobs[i], -ENOMEM, "out of memory",
					     timefmt_now_ms());
			continue;
		}
		q->job = jobs[i];
		pthread_mutex_lock(&e->qmu);
		if (e->qtail)
			e->qtail->next = q;
		else
			e->qhead = q;
		e->qtail = q;
		pthread_cond_signal(&e->qcv);
		pthread_mutex_unlock(&e->qmu);
	}
}

static void *engine_timer(void *arg)
{
	struct engine *e = arg;
	struct lease_job jobs[ENGINE_DUE_BATCH];
	struct epoll_event evs[16];
	int64_t now, next, wait;
	size_t n;
	int k;

	while (!e->stop) {
		now = timefmt_now_ms();
		n = lease_table_due(e->leases, now, jobs, ENGINE_DUE_BATCH);
		engine_enqueue(e, jobs, n);
		if (n == ENGINE_DUE_BATCH)
			continue;
		engine_state_maybe_compact(e);
		next = lease_table_next_deadline(e->leases);
		wait = next == INT64_MAX ? 60000 : next - now;
		wait = wait < 0 ? 0 : wait > 60000 ? 60000 : wait;
		k = epoll_wait(e->epfd, evs, 16, (int)wait);
		for (int i = 0; i < k; i++) {
			if (evs[i].data.ptr == NULL) {
				uint64_t v;
				if (read(e->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					log_warn("timer wakeup: %s", strerror(errno));
			} else {
				engine_watch_fired(e, evs[i].data.ptr);
			}
		}
	}
	return NULL;
}

struct engine *engine_new(void)
{
	struct engine *e = calloc(1, sizeof(*e));
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

	if (!e)
		return NULL;
	pthread_mutex_init(&e->mu, NULL);
	pthread_mutex_init(&e->wmu, NULL);
	pthread_mutex_init(&e->qmu, NULL);
	pthread_mutex_init(&e->dmu, NULL);
	pthread_mutex_init(&e->imu, NULL);
	pthread_cond_init(&e->qcv, NULL);
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	e->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	e->leases = lease_table_new();
	e->errlog = errlog_new();
	if (e->epfd < 0 || e->evfd < 0 || !e->leases || !e->errlog ||
	    epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->evfd, &ev) != 0) {
		engine_free(e);
		return NULL;
	}
	return e;
}

int engine_start(struct engine *e)
{
	int r;

	if ((r = -pthread_create(&e->timer, NULL, engine_timer, e)) != 0)
		return r;
	e->started = true;
	/* without it issues compute their own verifiers: slower, not wrong */
	if (!(e->pwpool = pwpool_new(ENGINE_PWPOOL, SECRET_PASSWORD_LEN)))
		log_warn("no password pool: verifiers are computed at issue");
	for (int i = 0; i < ENGINE_WORKERS; i++)
		if ((r = -pthread_create(&e->workers[i], NULL, engine_worker, e)) != 0)
			return r;
	return 0;
}

void engine_free(struct engine *e)
{
	struct engine_def *d, *dn;
	struct engine_watch *w, *wn;

	if (!e)
		return;
	if (e->started) {
		e->stop = true;
		engine_wake(e);
		pthread_join(e->timer, NULL);
		pthread_mutex_lock(&e->qmu);
		pthread_cond_broadcast(&e->qcv);
		pthread_mutex_unlock(&e->qmu);
		for (int i = 0; i < ENGINE_WORKERS; i++)
			if (e->workers[i])
				pthread_join(e->workers[i], NULL);
	}
	pwpool_free(e->pwpool);
	for (struct engine_qjob *q = e->qhead, *qn; q; q = qn) {
		qn = q->next;
		lease_unref(q->job.lease);
		free(q);
	}
	for (w = e->watches; w; w = wn) {
		wn = w->next;
		engine_watch_free(w);
	}
	for (d = e->defs; d; d = dn) {
		dn = d->next;
		engine_def_free(d);
	}
	for (size_t i = 0; i < e->n_inflight; i++)
		lease_unref(e->inflight[i]);
	free(e->inflight);
	lease_table_free(e->leases);
	store_close(e->store);
	audit_close(e->audit);
	secret_free(e->key);
	errlog_free(e->errlog);
	if (e->epfd >= 0)
		close(e->epfd);
	if (e->evfd >= 0)
		close(e->evfd);
	pthread_cond_destroy(&e->qcv);
	pthread_mutex_destroy(&e->qmu);
	pthread_mutex_destroy(&e->wmu);
	pthread_mutex_destroy(&e->imu);
	pthread_mutex_destroy(&e->dmu);
	pthread_mutex_destroy(&e->mu);
	free(e);
}

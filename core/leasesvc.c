/* SPDX-License-Identifier: MIT */
/*
 * leasesvc.c - the lease service's threads: the timer hands out due
 * renewals and revocations and sees openers exit; the jobs run on their
 * connection's lane (lanes.h) through the backend.
 */
#include <errno.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "crash.h"
#include "lanes.h"
#include "leasesvc.h"
#include "log.h"
#include "timefmt.h"

#define LEASESVC_DUE_BATCH 256
#define LEASESVC_IDLE_MS   60000
/*
 * While leases change, the timer runs at least this often: the backend's
 * idle work (the journal's lazy sync of let-go records within 100 ms, its
 * compaction) rides on the timer's wakeups.
 */
#define LEASESVC_CHORES_MS 100
#define LEASESVC_STEP_MS   2000 /* a wall-clock change this large is a step */

struct leasesvc_qjob {
	struct leasesvc *s;
	struct lease_job job;
};

struct leasesvc {
	struct leasesvc_backend b;
	struct leasesvc_observer o; /* set before start */
	struct lease_table *t;
	struct watchset *ws;
	int epfd, evfd;
	/* The timer sleeps until then (monotonic ms); 0 while it is awake. */
	_Atomic int64_t sleep_until;
	pthread_t timer;
	struct lanes *lanes; /* jobs run on their connection's lane */
	bool started;
	_Atomic bool stop;

	/*
	 * Read-held while a state change is recorded and applied, write-held
	 * by the journal's compaction: a snapshot never sees a change whose
	 * record went to the journal it replaces but whose effect is not in
	 * memory yet.
	 */
	pthread_rwlock_t gate;

	pthread_mutex_t imu;
	pthread_cond_t icv;
	struct lease **inflight; /* protected by imu: recorded, not yet in the table */
	size_t n_inflight, cap_inflight; /* protected by imu */
};

/* The clocks; unit tests inject their own (leasesvc_set_clock). */
static leasesvc_clock_fn *svc_mono = timefmt_mono_ms, *svc_wall = timefmt_now_ms;

void leasesvc_set_clock(leasesvc_clock_fn *mono, leasesvc_clock_fn *wall)
{
	svc_mono = mono ? mono : timefmt_mono_ms;
	svc_wall = wall ? wall : timefmt_now_ms;
}

int64_t leasesvc_now(void)
{
	return svc_mono();
}

int64_t leasesvc_wall_off(void)
{
	return svc_wall() - svc_mono();
}

struct lease_table *leasesvc_table(struct leasesvc *s)
{
	return s->t;
}

void leasesvc_wake(struct leasesvc *s)
{
	uint64_t one = 1;

	if (s->evfd >= 0 && write(s->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("cannot wake the timer: %s", strerror(errno));
}

/*
 * Wake the timer only if a deadline now comes before the time it sleeps
 * until, or it sleeps longer than LEASESVC_CHORES_MS: a storm of issues
 * and let-goes whose leases are due in an hour costs the timer a wakeup
 * per LEASESVC_CHORES_MS, not two per credential. The timer publishes
 * sleep_until after it read the deadlines, and 0 while it works: a change
 * it may have missed is always followed by a check here that sees it
 * sleeping or awake.
 */
static void svc_wake_if_sooner(struct leasesvc *s)
{
	int64_t until = atomic_load(&s->sleep_until);

	if (until == 0 || until - leasesvc_now() > LEASESVC_CHORES_MS ||
	    lease_table_next_deadline(s->t) < until)
		leasesvc_wake(s);
}

static int svc_record(struct leasesvc *s, struct lease *l, enum leasesvc_rec what, int64_t at)
{
	return s->o.record ? s->o.record(s->o.ctx, l, what, at) : 0;
}

static void svc_audit(struct leasesvc *s, const char *action, struct lease *l, const char *err)
{
	if (s->b.audit)
		s->b.audit(s->b.ctx, action, l, err);
}

/* Wake whoever polls l if l is ending. Never called under a lock. */
static void svc_poll_check(struct leasesvc *s, struct lease *l)
{
	void *ph;

	if (!s->b.poll || !lease_table_is_ending(s->t, l))
		return;
	if ((ph = lease_table_swap_poll(s->t, l, NULL)))
		s->b.poll(s->b.ctx, ph);
}

/* l's opener exited or its handle closed: journal the let-go, then let it go. */
static bool svc_let_go(struct leasesvc *s, struct lease *l, bool exited)
{
	int64_t now = leasesvc_now();
	bool let_go;

	pthread_rwlock_rdlock(&s->gate);
	if (lease_table_note_let_go(s->t, l, exited) &&
	    svc_record(s, l, LEASESVC_REC_LET_GO, now + leasesvc_wall_off()) != 0)
		log_warn("lease %s: let-go not recorded; a restart lets it go again", l->id);
	let_go = exited ? lease_table_exited(s->t, l, now) : lease_table_closed(s->t, l, now);
	pthread_rwlock_unlock(&s->gate);
	if (let_go)
		svc_audit(s, exited ? "let-go-exit" : "let-go-close", l, NULL);
	return let_go;
}

/* --- jobs ------------------------------------------------------------------- */

static void svc_run_job(struct leasesvc *s, struct lease_job *job)
{
	struct lease *l = lease_ref(job->lease);
	char errbuf[LEASESVC_ERRLEN] = "";
	bool renew = job->action == LEASE_JOB_RENEW;
	bool was_failing = l->attempts > 0; /* a racy read: only a hint */
	int64_t until = job->expires + leasesvc_wall_off();
	int r;

	r = renew ? s->b.renew(s->b.ctx, l, until, errbuf) : s->b.revoke(s->b.ctx, l, errbuf);
	if (r == 0 && !renew)
		log_info("lease %s: revoked %s", l->id, l->username);
	else if (r == 0)
		log_debug("lease %s: renewed", l->id);
	else
		log_warn("lease %s: %s failed: %s", l->id, renew ? "renewal" : "revocation",
			 errbuf);
	svc_audit(s, renew ? "renew" : "revoke", l, r == 0 ? NULL : errbuf);
	if (r == 0)
		crash_point(renew ? "renew-after-pg" : "revoke-after-pg");
	/* PostgreSQL holds the new VALID UNTIL: durable before the table relies on it. */
	pthread_rwlock_rdlock(&s->gate);
	if (r == 0 && renew) {
		if (svc_record(s, l, LEASESVC_REC_RENEWED, until) != 0)
			log_warn("lease %s: renewal not recorded", l->id);
		crash_point("renew-after-record");
	}
	lease_table_job_done(s->t, job, r, errbuf, leasesvc_now());
	pthread_rwlock_unlock(&s->gate);
	/* The database is back: the others that failed need not wait out their backoff. */
	if (r == 0 && was_failing)
		lease_table_retry_db(s->t, l->role->db_name, leasesvc_now());
	if (r == 0 && !renew) {
		if (svc_record(s, l, LEASESVC_REC_REVOKED, svc_wall()) != 0)
			log_warn("lease %s: revocation not recorded", l->id);
		crash_point("revoke-after-record");
		watchset_leave(s->ws, l);
		if (s->b.gone)
			s->b.gone(s->b.ctx, l);
	} else if (r != 0 && !renew) {
		(void)svc_record(s, l, LEASESVC_REC_FAILED, svc_wall());
	}
	svc_poll_check(s, l);
	lease_unref(l);
	leasesvc_wake(s);
}

static void svc_job_run(void *arg)
{
	struct leasesvc_qjob *q = arg;

	svc_run_job(q->s, &q->job);
	free(q);
}

/* Not run: stopping (it is due again after a restart). */
static void svc_job_drop(void *arg, int why)
{
	struct leasesvc_qjob *q = arg;

	(void)why;
	lease_unref(q->job.lease);
	free(q);
}

static void svc_enqueue(struct leasesvc *s, struct lease_job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct leasesvc_qjob *q = calloc(1, sizeof(*q));
		int r = -ENOMEM;

		if (q) {
			q->s = s;
			q->job = jobs[i];
			r = lanes_submit(s->lanes, jobs[i].lease->role->db_name, 0, LANES_URGENT, 0,
					 svc_job_run, svc_job_drop, q);
		}
		if (r != 0) {
			/* Give the job back; the timer will hand it out again. */
			free(q);
			lease_table_job_done(s->t, &jobs[i], r, "cannot queue the job",
					     leasesvc_now());
		}
	}
}

/* --- the timer -------------------------------------------------------------- */

static void svc_fired(struct leasesvc *s, uint64_t id)
{
	struct lease **leases = NULL;
	size_t n = 0;

	watchset_fired(s->ws, id, &leases, &n);
	for (size_t i = 0; i < n; i++) {
		if (svc_let_go(s, leases[i], true))
			log_info("lease %s: opener %d exited", leases[i]->id,
				 (int)leases[i]->holder.pid);
		svc_poll_check(s, leases[i]);
		lease_unref(leases[i]);
	}
	free(leases);
}

static void *svc_timer(void *arg)
{
	struct leasesvc *s = arg;
	struct lease_job jobs[LEASESVC_DUE_BATCH];
	struct epoll_event evs[16];
	int64_t now, next, wait, off = leasesvc_wall_off(), noff, again;
	size_t n;
	int k;

	while (!s->stop) {
		now = leasesvc_now();
		/* Deadlines do not move with the wall clock, but VALID UNTIL does. */
		noff = leasesvc_wall_off();
		if (noff - off > LEASESVC_STEP_MS || off - noff > LEASESVC_STEP_MS) {
			n = lease_table_renew_held_now(s->t, now);
			log_warn("the wall clock stepped by %+lld s: %zu held lease(s) renewed now",
				 (long long)(noff - off) / 1000, n);
		}
		off = noff;
		n = lease_table_due(s->t, now, jobs, LEASESVC_DUE_BATCH);
		svc_enqueue(s, jobs, n);
		if (n == LEASESVC_DUE_BATCH)
			continue;
		again = s->b.idle ? s->b.idle(s->b.ctx) : -1;
		next = lease_table_next_deadline(s->t);
		wait = next == INT64_MAX ? LEASESVC_IDLE_MS : next - now;
		if (again >= 0 && again < wait)
			wait = again;
		wait = wait < 0 ? 0 : wait > LEASESVC_IDLE_MS ? LEASESVC_IDLE_MS : wait;
		atomic_store(&s->sleep_until, now + wait > 0 ? now + wait : 1);
		k = epoll_wait(s->epfd, evs, 16, (int)wait);
		atomic_store(&s->sleep_until, 0);
		for (int i = 0; i < k && !s->stop; i++) {
			uint64_t v;

			if (evs[i].data.u64 != 0)
				svc_fired(s, evs[i].data.u64);
			else if (read(s->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				log_warn("timer wakeup: %s", strerror(errno));
		}
	}
	return NULL;
}

/* --- life ------------------------------------------------------------------- */

struct leasesvc *leasesvc_new(const struct leasesvc_backend *b)
{
	struct leasesvc *s = calloc(1, sizeof(*s));
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0 };

	if (!s)
		return NULL;
	s->b = *b;
	pthread_mutex_init(&s->imu, NULL);
	pthread_cond_init(&s->icv, NULL);
	pthread_rwlock_init(&s->gate, NULL);
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->t = lease_table_new();
	s->lanes = lanes_new(LANES_DEFAULT_WIDTH);
	s->ws = s->epfd >= 0 ? watchset_new(s->epfd) : NULL;
	if (s->epfd < 0 || s->evfd < 0 || !s->t || !s->ws || !s->lanes ||
	    epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->evfd, &ev) != 0) {
		leasesvc_free(s);
		return NULL;
	}
	return s;
}

void leasesvc_set_observer(struct leasesvc *s, const struct leasesvc_observer *o)
{
	s->o = *o;
}

void leasesvc_get_observer(struct leasesvc *s, struct leasesvc_observer *o)
{
	*o = s->o;
}

bool leasesvc_forget(struct leasesvc *s, struct lease *l)
{
	void *ph;

	pthread_rwlock_rdlock(&s->gate);
	if (!lease_table_drop(s->t, l)) {
		pthread_rwlock_unlock(&s->gate);
		return false;
	}
	if (svc_record(s, l, LEASESVC_REC_REVOKED, svc_wall()) != 0)
		log_warn("lease %s: its hand-over not recorded", l->id);
	pthread_rwlock_unlock(&s->gate);
	watchset_leave(s->ws, l);
	if (s->b.gone)
		s->b.gone(s->b.ctx, l);
	if (s->b.poll && (ph = lease_table_swap_poll(s->t, l, NULL)))
		s->b.poll(s->b.ctx, ph);
	svc_audit(s, "hand-over", l, NULL);
	return true;
}

int leasesvc_start(struct leasesvc *s, int width)
{
	int r;

	lanes_set_width(s->lanes, width);
	if ((r = -pthread_create(&s->timer, NULL, svc_timer, s)) != 0)
		return r;
	s->started = true;
	return 0;
}

void leasesvc_stop(struct leasesvc *s)
{
	if (!s->started)
		return;
	s->stop = true;
	leasesvc_wake(s);
	pthread_join(s->timer, NULL);
	/* Queued jobs are dropped: they are due again after a restart. */
	lanes_stop(s->lanes);
	s->started = false;
}

struct lanes *leasesvc_lanes(struct leasesvc *s)
{
	return s->lanes;
}

void leasesvc_free(struct leasesvc *s)
{
	if (!s)
		return;
	leasesvc_stop(s);
	lanes_free(s->lanes); /* drops what is still queued */
	watchset_free(s->ws);
	for (size_t i = 0; i < s->n_inflight; i++)
		lease_unref(s->inflight[i]);
	free(s->inflight);
	lease_table_free(s->t);
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->evfd >= 0)
		close(s->evfd);
	pthread_rwlock_destroy(&s->gate);
	pthread_cond_destroy(&s->icv);
	pthread_mutex_destroy(&s->imu);
	free(s);
}

/* --- issuing ---------------------------------------------------------------- */

int leasesvc_watch_prepare(struct leasesvc *s, const struct lease_holder *h, struct watch **w,
			   char *errbuf)
{
	return watchset_prepare(s->ws, h, w, errbuf);
}

void leasesvc_watch_cancel(struct leasesvc *s, struct watch *w)
{
	watchset_cancel(s->ws, w);
}

int leasesvc_inflight_add(struct leasesvc *s, struct lease *l)
{
	int r = 0;

	pthread_mutex_lock(&s->imu);
	if (s->n_inflight == s->cap_inflight) {
		size_t cap = s->cap_inflight ? s->cap_inflight * 2 : 16;
		struct lease **n = realloc(s->inflight, cap * sizeof(*n));

		if (!n) {
			r = -ENOMEM;
			goto out;
		}
		s->inflight = n;
		s->cap_inflight = cap;
	}
	s->inflight[s->n_inflight++] = lease_ref(l);
out:
	pthread_mutex_unlock(&s->imu);
	return r;
}

void leasesvc_inflight_del(struct leasesvc *s, struct lease *l)
{
	pthread_mutex_lock(&s->imu);
	for (size_t i = 0; i < s->n_inflight; i++) {
		if (s->inflight[i] == l) {
			s->inflight[i] = s->inflight[--s->n_inflight];
			lease_unref(l);
			break;
		}
	}
	if (s->n_inflight == 0)
		pthread_cond_broadcast(&s->icv);
	pthread_mutex_unlock(&s->imu);
}

void leasesvc_inflight_wait(struct leasesvc *s)
{
	pthread_mutex_lock(&s->imu);
	while (s->n_inflight > 0)
		pthread_cond_wait(&s->icv, &s->imu);
	pthread_mutex_unlock(&s->imu);
}

int leasesvc_add(struct leasesvc *s, struct lease *l, struct watch *w)
{
	int r;

	if ((r = lease_table_add(s->t, l)) != 0) {
		watchset_cancel(s->ws, w);
		return r;
	}
	if (watchset_join(s->ws, w, l) == 1)
		svc_let_go(s, l, true);
	svc_wake_if_sooner(s);
	return 0;
}

int leasesvc_revoke_now(struct leasesvc *s, struct lease *l, bool must_record)
{
	int64_t now = leasesvc_now();
	int r;

	pthread_rwlock_rdlock(&s->gate);
	r = svc_record(s, l, LEASESVC_REC_REVOKE, now + leasesvc_wall_off());
	if (r != 0)
		log_warn("lease %s: revocation not recorded", l->id);
	if (r == 0 || !must_record)
		lease_table_revoke_now(s->t, l, now);
	pthread_rwlock_unlock(&s->gate);
	if (r != 0 && must_record)
		return r;
	svc_poll_check(s, l);
	leasesvc_wake(s);
	return 0;
}

void leasesvc_closed(struct leasesvc *s, struct lease *l)
{
	svc_let_go(s, l, false);
	svc_wake_if_sooner(s);
}

bool leasesvc_poll(struct leasesvc *s, struct lease *l, void *handle, void **old)
{
	*old = handle ? lease_table_swap_poll(s->t, l, handle) : NULL;
	if (handle)
		svc_poll_check(s, l);
	return lease_table_is_ending(s->t, l);
}

void *leasesvc_poll_take(struct leasesvc *s, struct lease *l)
{
	return lease_table_swap_poll(s->t, l, NULL);
}

size_t leasesvc_count_conn(struct leasesvc *s, const char *db, uint64_t version)
{
	size_t n = version ? lease_table_count_conn(s->t, db, version)
			   : lease_table_count_db(s->t, db);

	/* An issue between its version lookup and the table counts too. */
	pthread_mutex_lock(&s->imu);
	for (size_t i = 0; i < s->n_inflight; i++) {
		const struct lease *l = s->inflight[i];

		if (l->role->db_name && !strcmp(l->role->db_name, db) &&
		    (!version || l->conn_version == version))
			n++;
	}
	pthread_mutex_unlock(&s->imu);
	return n;
}

void leasesvc_count_role(struct leasesvc *s, const char *role, uid_t uid, size_t *all,
			 size_t *of_uid)
{
	/*
	 * The in-flight list is held across the table count: a lease leaves
	 * it only after joining the table, so one that is in both now is
	 * skipped here and none is missed or counted twice.
	 */
	pthread_mutex_lock(&s->imu);
	lease_table_count_role(s->t, role, uid, all, of_uid);
	for (size_t i = 0; i < s->n_inflight; i++) {
		struct lease *l = s->inflight[i], *in;

		if (strcmp(l->role->name, role) != 0)
			continue;
		if ((in = lease_table_get(s->t, l->id)) != NULL) {
			lease_unref(in);
			continue;
		}
		(*all)++;
		*of_uid += l->holder.uid == uid;
	}
	pthread_mutex_unlock(&s->imu);
}

int leasesvc_snapshot(struct leasesvc *s, struct lease ***out, size_t *n)
{
	struct lease **inf = NULL, **tab = NULL, **all;
	size_t ni = 0, nt = 0;
	int r;

	/*
	 * In flight first, then the table: an issue adds its lease to the
	 * table before it leaves the in-flight list, so a lease that moves
	 * between the two snapshots is in the second one.
	 */
	pthread_mutex_lock(&s->imu);
	if (s->n_inflight && !(inf = calloc(s->n_inflight, sizeof(*inf)))) {
		pthread_mutex_unlock(&s->imu);
		return -ENOMEM;
	}
	for (; ni < s->n_inflight; ni++)
		inf[ni] = lease_ref(s->inflight[ni]);
	pthread_mutex_unlock(&s->imu);
	if ((r = lease_table_snapshot(s->t, &tab, &nt)) != 0 ||
	    !(all = realloc(inf, (ni + nt ? ni + nt : 1) * sizeof(*all)))) {
		for (size_t i = 0; i < ni; i++)
			lease_unref(inf[i]);
		free(inf);
		for (size_t i = 0; i < nt; i++)
			lease_unref(tab[i]);
		free(tab);
		return r ? r : -ENOMEM;
	}
	if (nt)
		memcpy(all + ni, tab, nt * sizeof(*all));
	free(tab);
	*out = all;
	*n = ni + nt;
	return 0;
}

void leasesvc_gate(struct leasesvc *s, bool hold)
{
	if (hold)
		pthread_rwlock_wrlock(&s->gate);
	else
		pthread_rwlock_unlock(&s->gate);
}

/* --- restoring -------------------------------------------------------------- */

int leasesvc_restore(struct leasesvc *s, struct lease *l, enum leasesvc_restore how, int64_t at)
{
	char errbuf[WATCH_ERRLEN];
	int64_t now = leasesvc_now();
	struct watch *w = NULL;
	int r;

	if ((r = lease_table_add(s->t, l)) != 0)
		return r;
	switch (how) {
	case LEASESVC_RESTORE_HELD:
		if (watchset_prepare(s->ws, &l->holder, &w, errbuf) != 0) {
			log_warn("lease %s: %s", l->id, errbuf);
			svc_let_go(s, l, true);
		} else if (!w || watchset_join(s->ws, w, l) != 0) {
			svc_let_go(s, l, true);
		} else {
			lease_table_hold_restored(s->t, l, now);
		}
		break;
	case LEASESVC_RESTORE_LET_GO:
		lease_table_let_go_at(s->t, l, at);
		break;
	case LEASESVC_RESTORE_REVOKE:
		lease_table_revoke_now(s->t, l, now); /* journaled as due already */
		break;
	}
	return 0;
}

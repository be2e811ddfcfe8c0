/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "holder.h"
#include "log.h"
#include "watch.h"

struct watch {
	uint64_t id; /* epoll data: a freed watch is never dereferenced from an event */
	pid_t pid;
	uint64_t start_time;
	int pidfd;
	int refs; /* protected by ws->mu: prepared, not yet joined or cancelled */
	bool dead; /* protected by ws->mu */
	struct lease **leases; /* protected by ws->mu; references */
	size_t n, cap; /* protected by ws->mu */
	struct watch *next; /* protected by ws->mu */
};

struct watchset {
	pthread_mutex_t mu;
	int epfd; /* borrowed */
	uint64_t next_id; /* protected by mu */
	struct watch *list; /* protected by mu: live watches */
};

struct watchset *watchset_new(int epfd)
{
	struct watchset *ws = calloc(1, sizeof(*ws));

	if (!ws)
		return NULL;
	pthread_mutex_init(&ws->mu, NULL);
	ws->epfd = epfd;
	ws->next_id = 1;
	return ws;
}

static void watch_free(struct watch *w)
{
	for (size_t i = 0; i < w->n; i++)
		lease_unref(w->leases[i]);
	free(w->leases);
	if (w->pidfd >= 0)
		close(w->pidfd);
	free(w);
}

void watchset_free(struct watchset *ws)
{
	if (!ws)
		return;
	for (struct watch *w = ws->list, *next; w; w = next) {
		next = w->next;
		watch_free(w);
	}
	pthread_mutex_destroy(&ws->mu);
	free(ws);
}

/* Unlink w and close it once nothing uses it: no lease, no preparer. */
static void watch_maybe_free_locked(struct watchset *ws, struct watch *w)
{
	struct watch **pp;

	if (w->refs > 0 || w->n > 0)
		return;
	for (pp = &ws->list; *pp && *pp != w; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = w->next;
	if (!w->dead)
		epoll_ctl(ws->epfd, EPOLL_CTL_DEL, w->pidfd, NULL);
	watch_free(w);
}

static int watch_open_locked(struct watchset *ws, const struct lease_holder *h, struct watch **out,
			     char *errbuf)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct watch *w = NULL;
	unsigned long long start;
	int fd, r;

	fd = (int)syscall(SYS_pidfd_open, h->pid, 0);
	if (fd < 0) {
		r = -errno;
		snprintf(errbuf, WATCH_ERRLEN, "cannot watch the opener (pid %d): %s", (int)h->pid,
			 strerror(-r));
		return r;
	}
	/* The opener is blocked in open() and cannot be reaped, but its pid
	 * could have been reused before the holder was resolved. */
	if ((start = holder_start_time("/proc", h->pid)) != h->start_time) {
		/* 0: /proc could not be read, which is not always an exit */
		r = start == 0 && (errno == EMFILE || errno == ENFILE) ? -errno : -ESRCH;
		close(fd);
		snprintf(errbuf, WATCH_ERRLEN, "cannot watch the opener (pid %d): %s", (int)h->pid,
			 r == -ESRCH ? "it exited" : strerror(-r));
		return r;
	}
	if (!(w = calloc(1, sizeof(*w)))) {
		close(fd);
		snprintf(errbuf, WATCH_ERRLEN, "cannot watch the opener: out of memory");
		return -ENOMEM;
	}
	w->id = ws->next_id++;
	w->pid = h->pid;
	w->start_time = h->start_time;
	w->pidfd = fd;
	ev.data.u64 = w->id;
	if (epoll_ctl(ws->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		r = -errno;
		snprintf(errbuf, WATCH_ERRLEN, "cannot watch the opener (pid %d): %s", (int)h->pid,
			 strerror(-r));
		watch_free(w);
		return r;
	}
	w->next = ws->list;
	ws->list = w;
	*out = w;
	return 0;
}

int watchset_prepare(struct watchset *ws, const struct lease_holder *h, struct watch **out,
		     char *errbuf)
{
	struct watch *w;
	int r = 0;

	*out = NULL;
	if (!h || h->pid <= 0)
		return 0;
	pthread_mutex_lock(&ws->mu);
	for (w = ws->list; w; w = w->next)
		if (w->pid == h->pid && w->start_time == h->start_time && !w->dead)
			break;
	if (w || (r = watch_open_locked(ws, h, &w, errbuf)) == 0) {
		w->refs++;
		*out = w;
	}
	pthread_mutex_unlock(&ws->mu);
	return r;
}

void watchset_cancel(struct watchset *ws, struct watch *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&ws->mu);
	w->refs--;
	watch_maybe_free_locked(ws, w);
	pthread_mutex_unlock(&ws->mu);
}

int watchset_join(struct watchset *ws, struct watch *w, struct lease *l)
{
	int r = 0;

	if (!w)
		return 0;
	pthread_mutex_lock(&ws->mu);
	if (w->dead) {
		r = 1;
	} else if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 4;
		struct lease **nl = realloc(w->leases, cap * sizeof(*nl));

		if (nl) {
			w->leases = nl;
			w->cap = cap;
		} else {
			r = 1; /* cannot follow the opener: better let it go than hold forever */
		}
	}
	if (r == 0) {
		w->leases[w->n++] = lease_ref(l);
		l->watch = w;
	}
	w->refs--;
	watch_maybe_free_locked(ws, w);
	pthread_mutex_unlock(&ws->mu);
	return r;
}

void watchset_leave(struct watchset *ws, struct lease *l)
{
	struct watch *w;

	pthread_mutex_lock(&ws->mu);
	if ((w = l->watch)) {
		for (size_t i = 0; i < w->n; i++) {
			if (w->leases[i] == l) {
				w->leases[i] = w->leases[--w->n];
				lease_unref(l);
				break;
			}
		}
		l->watch = NULL;
		watch_maybe_free_locked(ws, w);
	}
	pthread_mutex_unlock(&ws->mu);
}

void watchset_fired(struct watchset *ws, uint64_t id, struct lease ***leases, size_t *n)
{
	struct watch *w;

	*leases = NULL;
	*n = 0;
	pthread_mutex_lock(&ws->mu);
	for (w = ws->list; w && w->id != id; w = w->next)
		;
	if (w && !w->dead) {
		w->dead = true;
		epoll_ctl(ws->epfd, EPOLL_CTL_DEL, w->pidfd, NULL);
		for (size_t i = 0; i < w->n; i++)
			w->leases[i]->watch = NULL;
		/* The leases' references move to the caller. */
		*leases = w->leases;
		*n = w->n;
		w->leases = NULL;
		w->n = w->cap = 0;
		watch_maybe_free_locked(ws, w);
	}
	pthread_mutex_unlock(&ws->mu);
}

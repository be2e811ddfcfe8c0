/* SPDX-License-Identifier: MIT */
/*
 * test_watch.c - watches on openers: real child processes, real pidfds in
 * a real epoll set. A child blocks on a pipe; closing the pipe or a signal
 * makes it exit. Waits are bounded epoll_waits, never sleeps.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "holder.h"
#include "lease.h"
#include "role.h"
#include "secret.h"
#include "test.h"
#include "watch.h"

#define EXIT_WAIT_MS 5000
#define CHILD_NONE                   \
	{                            \
		.pid = -1, .wfd = -1 \
	}

struct child {
	pid_t pid;
	int wfd; /* closing it makes the child exit */
	struct lease_holder h;
};

/* A child that waits for its pipe to close; h names it as an opener. */
static int child_start(struct child *c)
{
	int p[2];
	char b;

	memset(c, 0, sizeof(*c));
	c->pid = -1;
	c->wfd = -1;
	if (pipe(p) != 0)
		return -1;
	if ((c->pid = fork()) < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (c->pid == 0) {
		close(p[1]);
		while (read(p[0], &b, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(p[0]);
	c->wfd = p[1];
	c->h.pid = c->pid;
	c->h.start_time = holder_start_time("/proc", c->pid);
	c->h.uid = getuid();
	c->h.gid = getgid();
	return c->h.start_time ? 0 : -1;
}

/* Make the child exit (not reaped). Another child may hold its pipe too: kill it. */
static void child_end(struct child *c)
{
	if (c->pid > 0)
		kill(c->pid, SIGKILL);
	if (c->wfd >= 0)
		close(c->wfd);
	c->wfd = -1;
}

/* Make it exit and reap it: once this returns it has surely exited. */
static void child_reap(struct child *c)
{
	int st;

	child_end(c);
	if (c->pid > 0)
		while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR)
			;
	c->pid = -1;
}

/* Open pidfds of this process (to see a watch closed). */
static int n_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	char path[300], target[64];
	struct dirent *de;
	ssize_t k;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		if ((k = readlink(path, target, sizeof(target) - 1)) > 0) {
			target[k] = '\0';
			n += strstr(target, "pidfd") != NULL;
		}
	}
	closedir(d);
	return n;
}

/* Wait for one event (timeout_ms); its data.u64, or 0 if none came. */
static uint64_t wait_event(int epfd, int timeout_ms)
{
	struct epoll_event ev[4];
	int k;

	while ((k = epoll_wait(epfd, ev, 4, timeout_ms)) < 0 && errno == EINTR)
		;
	return k > 0 ? ev[0].data.u64 : 0;
}

static struct role *mkrole(void)
{
	struct parse_error err = { 0 };
	struct role *ro = NULL;
	json_t *p = json_pack("{s:s, s:s}", "db_name", "wizard", "lease_binding", "process");

	if (role_from_params("db-proc", p, true, &ro, &err) != 0) {
		fprintf(stderr, "mkrole: %s\n", err.text);
		ro = NULL;
	}
	json_decref(p);
	return ro;
}

static struct lease *mklease(struct role *ro, const struct child *c)
{
	return lease_new(ro, "v-watched", &c->h, 1000);
}

static int lease_in(struct lease **a, size_t n, struct lease *l)
{
	int k = 0;

	for (size_t i = 0; i < n; i++)
		k += a[i] == l;
	return k;
}

/* one watch per opener, shared; its exit hands back the leases it held */
static void test_prepare_join_fire(void)
{
	struct role *ro = mkrole();
	int epfd = epoll_create1(EPOLL_CLOEXEC), fds0;
	struct watchset *ws = watchset_new(epfd);
	char errbuf[WATCH_ERRLEN] = "";
	struct lease *l1 = NULL, *l2 = NULL, **got = NULL;
	struct watch *w = NULL, *w2 = NULL;
	struct child c = CHILD_NONE;
	uint64_t id;
	size_t n = 99;

	CHECK(ro && epfd >= 0 && ws);
	if (!ro || epfd < 0 || !ws || child_start(&c) != 0) {
		CHECK(0);
		goto out;
	}
	fds0 = n_fds();
	CHECK_INT_EQ(fds0, 0);
	CHECK_INT_EQ(watchset_prepare(ws, &c.h, &w, errbuf), 0);
	CHECK(w != NULL);
	CHECK_INT_EQ(n_fds(), fds0 + 1); /* its pidfd */
	/* the same opener: the same watch, no second pidfd */
	CHECK_INT_EQ(watchset_prepare(ws, &c.h, &w2, errbuf), 0);
	CHECK(w2 == w);
	CHECK_INT_EQ(n_fds(), fds0 + 1);

	l1 = mklease(ro, &c);
	l2 = mklease(ro, &c);
	CHECK(l1 && l2);
	if (!l1 || !l2) {
		watchset_cancel(ws, w);
		watchset_cancel(ws, w2);
		goto reap;
	}
	CHECK_INT_EQ(watchset_join(ws, w, l1), 0);
	CHECK(l1->watch == w);
	CHECK_INT_EQ(l1->refs, 2); /* the watch holds one */
	CHECK_INT_EQ(watchset_join(ws, w2, l2), 0);
	CHECK(l2->watch == w);
	/* the opener still runs: no event */
	CHECK_INT_EQ(wait_event(epfd, 0), 0);

	child_end(&c);
	id = wait_event(epfd, EXIT_WAIT_MS);
	CHECK(id != 0);
	watchset_fired(ws, id, &got, &n);
	CHECK_INT_EQ(n, 2);
	CHECK(got != NULL);
	CHECK_INT_EQ(lease_in(got, n, l1), 1);
	CHECK_INT_EQ(lease_in(got, n, l2), 1);
	CHECK(l1->watch == NULL);
	CHECK(l2->watch == NULL);
	CHECK_INT_EQ(l1->refs, 2); /* the watch's reference, now the caller's */
	for (size_t i = 0; i < n; i++)
		lease_unref(got[i]);
	free(got);
	CHECK_INT_EQ(l1->refs, 1);
	CHECK_INT_EQ(l2->refs, 1);
	/* nothing uses it any more: closed and out of the epoll set */
	CHECK_INT_EQ(n_fds(), fds0);
	CHECK_INT_EQ(wait_event(epfd, 0), 0);
	/* a second report of the same id (or an unknown one) hands back nothing */
	got = (struct lease **)&n;
	watchset_fired(ws, id, &got, &n);
	CHECK(got == NULL);
	CHECK_INT_EQ(n, 0);
	watchset_fired(ws, 987654, &got, &n);
	CHECK(got == NULL && n == 0);
	/* a revocation after the exit has nothing to leave */
	watchset_leave(ws, l1);
	CHECK_INT_EQ(l1->refs, 1);
reap:
	child_reap(&c);
out:
	lease_unref(l1);
	lease_unref(l2);
	watchset_free(ws);
	if (epfd >= 0)
		close(epfd);
	role_unref(ro);
}

/* a revocation leaves the watch; the last lease out (no preparer left) closes it */
static void test_leave_closes(void)
{
	struct role *ro = mkrole();
	int epfd = epoll_create1(EPOLL_CLOEXEC), fds0;
	struct watchset *ws = watchset_new(epfd);
	char errbuf[WATCH_ERRLEN] = "";
	struct lease *l1 = NULL, *l2 = NULL;
	struct watch *w = NULL, *w2 = NULL;
	struct child c = CHILD_NONE;

	CHECK(ro && epfd >= 0 && ws);
	if (!ro || epfd < 0 || !ws || child_start(&c) != 0) {
		CHECK(0);
		goto out;
	}
	fds0 = n_fds();
	CHECK_INT_EQ(fds0, 0);
	l1 = mklease(ro, &c);
	l2 = mklease(ro, &c);
	CHECK(l1 && l2);
	if (!l1 || !l2)
		goto reap;
	CHECK_INT_EQ(watchset_prepare(ws, &c.h, &w, errbuf), 0);
	CHECK_INT_EQ(watchset_join(ws, w, l1), 0);
	CHECK_INT_EQ(watchset_prepare(ws, &c.h, &w2, errbuf), 0);
	CHECK_INT_EQ(watchset_join(ws, w2, l2), 0);
	CHECK(w2 == w);

	/* one of two leaves: the watch stays for the other */
	watchset_leave(ws, l1);
	CHECK(l1->watch == NULL);
	CHECK_INT_EQ(l1->refs, 1);
	CHECK_INT_EQ(n_fds(), fds0 + 1);
	watchset_leave(ws, l1); /* twice: no-op */
	CHECK_INT_EQ(l1->refs, 1);

	/* the last one leaves: closed, out of epoll */
	watchset_leave(ws, l2);
	CHECK(l2->watch == NULL);
	CHECK_INT_EQ(l2->refs, 1);
	CHECK_INT_EQ(n_fds(), fds0);
	/* the opener exits later: no event for it (reaped: it surely exited) */
	child_reap(&c);
	CHECK_INT_EQ(wait_event(epfd, 0), 0);
reap:
	child_reap(&c);
out:
	lease_unref(l1);
	lease_unref(l2);
	watchset_free(ws);
	if (epfd >= 0)
		close(epfd);
	role_unref(ro);
}

/* a watch still shared by another lease fires for that one only */
static void test_leave_then_fire(void)
{
	struct role *ro = mkrole();
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	struct watchset *ws = watchset_new(epfd);
	char errbuf[WATCH_ERRLEN] = "";
	struct lease *l1 = NULL, *l2 = NULL, **got = NULL;
	struct watch *w = NULL;
	struct child c = CHILD_NONE;
	uint64_t id;
	size_t n = 0;

	CHECK(ro && epfd >= 0 && ws);
	if (!ro || epfd < 0 || !ws || child_start(&c) != 0) {
		CHECK(0);
		goto out;
	}
	l1 = mklease(ro, &c);
	l2 = mklease(ro, &c);
	CHECK(l1 && l2);
	if (!l1 || !l2)
		goto reap;
	CHECK_INT_EQ(watchset_prepare(ws, &c.h, &w, errbuf), 0);
	CHECK_INT_EQ(watchset_join(ws, w, l1), 0);
	CHECK_INT_EQ(watchset_prepare(ws, &c.h, &w, errbuf), 0);
	CHECK_INT_EQ(watchset_join(ws, w, l2), 0);
	watchset_leave(ws, l1);
	child_end(&c);
	id = wait_event(epfd, EXIT_WAIT_MS);
	CHECK(id != 0);
	watchset_fired(ws, id, &got, &n);
	CHECK_INT_EQ(n, 1);
	CHECK(n == 1 && got[0] == l2);
	for (size_t i = 0; i < n; i++)
		lease_unref(got[i]);
	free(got);
	CHECK_INT_EQ(l1->refs, 1);
	CHECK_INT_EQ(l2->refs, 1);
reap:
	child_reap(&c);
out:
	lease_unref(l1);
	lease_unref(l2);
	watchset_free(ws);
	if (epfd >= 0)
		close(epfd);
	role_unref(ro);
}

/* an opener that cannot be watched: gone, or another process under its pid */
static void test_prepare_refused(void)
{
	int epfd = epoll_create1(EPOLL_CLOEXEC), fds0;
	struct watchset *ws = watchset_new(epfd);
	char errbuf[WATCH_ERRLEN];
	struct watch *w = (struct watch *)&errbuf;
	struct lease_holder h;
	struct child c = CHILD_NONE;

	CHECK(epfd >= 0 && ws);
	if (epfd < 0 || !ws || child_start(&c) != 0) {
		CHECK(0);
		goto out;
	}
	fds0 = n_fds();
	CHECK_INT_EQ(fds0, 0);

	/* the right pid, the wrong start time (the pid was reused): refused */
	h = c.h;
	h.start_time++;
	errbuf[0] = '\0';
	CHECK_INT_EQ(watchset_prepare(ws, &h, &w, errbuf), -ESRCH);
	CHECK(w == NULL);
	CHECK(errbuf[0] != '\0');
	CHECK(strstr(errbuf, "pid") != NULL);
	CHECK_INT_EQ(n_fds(), fds0); /* the pidfd it opened is closed again */
	CHECK_INT_EQ(wait_event(epfd, 0), 0);

	/* the pid does not exist any more */
	h = c.h;
	child_reap(&c);
	w = (struct watch *)&errbuf;
	errbuf[0] = '\0';
	CHECK_INT_EQ(watchset_prepare(ws, &h, &w, errbuf), -ESRCH);
	CHECK(w == NULL);
	CHECK(errbuf[0] != '\0');
	CHECK_INT_EQ(n_fds(), fds0);

	/* no pid (unknown opener): nothing to watch, no error */
	h.pid = 0;
	w = (struct watch *)&errbuf;
	CHECK_INT_EQ(watchset_prepare(ws, &h, &w, errbuf), 0);
	CHECK(w == NULL);
	w = (struct watch *)&errbuf;
	CHECK_INT_EQ(watchset_prepare(ws, NULL, &w, errbuf), 0);
	CHECK(w == NULL);
	/* NULL-safe join and cancel */
	CHECK_INT_EQ(watchset_join(ws, NULL, NULL), 0);
	watchset_cancel(ws, NULL);
	CHECK_INT_EQ(n_fds(), fds0);
out:
	child_reap(&c);
	watchset_free(ws);
	if (epfd >= 0)
		close(epfd);
}

/* an issue that failed cancels its prepared watch: closed once no one uses it */
static void test_cancel_closes(void)
{
	int epfd = epoll_create1(EPOLL_CLOEXEC), fds0;
	struct watchset *ws = watchset_new(epfd);
	char errbuf[WATCH_ERRLEN] = "";
	struct watch *w1 = NULL, *w2 = NULL, *w3 = NULL;
	struct child c = CHILD_NONE;

	CHECK(epfd >= 0 && ws);
	if (epfd < 0 || !ws || child_start(&c) != 0) {
		CHECK(0);
		goto out;
	}
	fds0 = n_fds();
	CHECK_INT_EQ(fds0, 0);
	CHECK_INT_EQ(watchset_prepare(ws, &c.h, &w1, errbuf), 0);
	CHECK_INT_EQ(watchset_prepare(ws, &c.h, &w2, errbuf), 0);
	CHECK(w1 && w1 == w2);
	CHECK_INT_EQ(n_fds(), fds0 + 1);
	watchset_cancel(ws, w1); /* another issue still prepares it */
	CHECK_INT_EQ(n_fds(), fds0 + 1);
	watchset_cancel(ws, w2);
	CHECK_INT_EQ(n_fds(), fds0);
	/* closed and out of the set: the opener's exit (reaped: surely happened) shows nothing */
	child_reap(&c);
	CHECK_INT_EQ(wait_event(epfd, 0), 0);
	/* and a watch is not kept for it: preparing again tries the (gone) pid afresh */
	CHECK_INT_EQ(watchset_prepare(ws, &c.h, &w3, errbuf), -ESRCH);
	CHECK(w3 == NULL);
out:
	child_reap(&c);
	watchset_free(ws);
	if (epfd >= 0)
		close(epfd);
}

/* the opener exited between prepare and join: join says so (1) and adds nothing */
static void test_join_after_exit(void)
{
	struct role *ro = mkrole();
	int epfd = epoll_create1(EPOLL_CLOEXEC), fds0;
	struct watchset *ws = watchset_new(epfd);
	char errbuf[WATCH_ERRLEN] = "";
	struct lease *l = NULL, **got = NULL;
	struct watch *w = NULL;
	struct child c = CHILD_NONE;
	uint64_t id;
	size_t n = 99;

	CHECK(ro && epfd >= 0 && ws);
	if (!ro || epfd < 0 || !ws || child_start(&c) != 0) {
		CHECK(0);
		goto out;
	}
	fds0 = n_fds();
	CHECK_INT_EQ(fds0, 0);
	CHECK_INT_EQ(watchset_prepare(ws, &c.h, &w, errbuf), 0);
	CHECK(w != NULL);
	child_end(&c);
	id = wait_event(epfd, EXIT_WAIT_MS);
	CHECK(id != 0);
	watchset_fired(ws, id, &got, &n);
	CHECK_INT_EQ(n, 0); /* no lease yet */
	free(got);
	CHECK_INT_EQ(n_fds(), fds0 + 1); /* the preparer still holds it */
	CHECK_INT_EQ(wait_event(epfd, 0), 0); /* but it is out of the set */
	l = mklease(ro, &c);
	CHECK(l != NULL);
	CHECK_INT_EQ(watchset_join(ws, w, l), 1);
	w = NULL; /* transferred */
	if (l) {
		CHECK(l->watch == NULL);
		CHECK_INT_EQ(l->refs, 1);
	}
	CHECK_INT_EQ(n_fds(), fds0); /* the last user is gone: closed */
	watchset_leave(ws, l); /* nothing to leave */
out:
	child_reap(&c);
	lease_unref(l);
	watchset_free(ws);
	if (epfd >= 0)
		close(epfd);
	role_unref(ro);
}

/* watchset_free drops the leases' references and closes every pidfd */
static void test_free_drops(void)
{
	struct role *ro = mkrole();
	int epfd = epoll_create1(EPOLL_CLOEXEC), fds0;
	struct watchset *ws = watchset_new(epfd);
	char errbuf[WATCH_ERRLEN] = "";
	struct watch *w = NULL, *w2 = NULL;
	struct lease *l = NULL;
	struct child c = CHILD_NONE, d = CHILD_NONE;

	CHECK(ro && epfd >= 0 && ws);
	if (!ro || epfd < 0 || !ws || child_start(&c) != 0) {
		CHECK(0);
		goto out;
	}
	if (child_start(&d) != 0) {
		CHECK(0);
		child_reap(&c);
		goto out;
	}
	fds0 = n_fds();
	CHECK_INT_EQ(fds0, 0);
	l = mklease(ro, &c);
	CHECK(l != NULL);
	CHECK_INT_EQ(watchset_prepare(ws, &c.h, &w, errbuf), 0);
	CHECK_INT_EQ(watchset_join(ws, w, l), 0);
	CHECK_INT_EQ(watchset_prepare(ws, &d.h, &w2, errbuf), 0); /* prepared, never joined */
	CHECK(w2 != NULL && w2 != w);
	CHECK_INT_EQ(n_fds(), fds0 + 2);
	CHECK_INT_EQ(l->refs, 2);
	watchset_free(ws);
	ws = NULL;
	CHECK_INT_EQ(l->refs, 1);
	CHECK_INT_EQ(n_fds(), fds0);
	child_reap(&c);
	child_reap(&d);
out:
	lease_unref(l);
	watchset_free(ws);
	if (epfd >= 0)
		close(epfd);
	role_unref(ro);
}

int main(void)
{
	if (secret_init() != 0) {
		fprintf(stderr, "secret_init failed\n");
		return 1;
	}
	RUN(test_prepare_join_fire);
	RUN(test_leave_closes);
	RUN(test_leave_then_fire);
	RUN(test_prepare_refused);
	RUN(test_cancel_closes);
	RUN(test_join_after_exit);
	RUN(test_free_drops);
	return DONE();
}

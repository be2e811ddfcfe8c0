/* SPDX-License-Identifier: MIT */
/*
 * credbench.c - the load generator behind scripts/bench.sh: tight
 * open+read+close loops in threads (no fork/exec per credential, so what
 * is measured is credfs and PostgreSQL, not the shell), and small
 * metadata loops.
 *
 *   credbench issue FILE THREADS SECONDS   each thread opens FILE, reads it
 *                                          to EOF and closes it, for SECONDS
 *   credbench count FILE THREADS N         the same, N times in total
 *   credbench rate FILE RATE SECONDS THREADS
 *                                          the same at a fixed RATE per second
 *                                          (credential k starts at t0 + k/RATE;
 *                                          THREADS take the slots, a late one
 *                                          starts at once), for SECONDS
 *   credbench hold FILE N threads|procs RELEASE_FILE MAX_SECONDS
 *                                          N openers (threads of this process,
 *                                          or N processes: N holders for
 *                                          credfs) each open FILE once at the
 *                                          same moment, read it and keep it
 *                                          open; once every open returned,
 *                                          print the tally and held=1, then
 *                                          close them all when RELEASE_FILE
 *                                          exists (or after MAX_SECONDS)
 *   credbench unlinkall DIR                unlink every entry of DIR
 *   credbench meta SECONDS OP:PATH...      for each OP:PATH in turn, for
 *                                          SECONDS: OP is stat, readdir or read
 *   credbench rawsql CONNINFO THREADS FILE each line of FILE is one simple-query
 *                                          message; THREADS connections send
 *                                          them all (the raw side of the drain)
 *   credbench scram CONNINFO THREADS SECONDS
 *                                          credfs's scram_verifier_new (core/
 *                                          scram.c) in a loop: what credfs pays
 *                                          per credential to send a SCRAM
 *                                          verifier instead of a password
 *   credbench scram-libpq CONNINFO THREADS SECONDS
 *                                          the same with libpq's
 *                                          PQencryptPasswordConn, for comparison
 *
 * Output: key=value lines (issue/count/unlinkall) or one line per OP:PATH
 * ("meta OP PATH ops=... secs=... rate=... errors=..."). Latencies are per
 * open+read+close, in microseconds. Exit status 0 unless the arguments are
 * wrong: errors are counted and reported (errors=, first_error=, and by
 * errno name: errnos=EAGAIN:3,EIO:1; bad_content for a read that is not a
 * credential), and bench.sh decides.
 *
 * rawsql retries a message that failed with "tuple concurrently updated"
 * (PostgreSQL's answer to two sessions rewriting the same catalog row, e.g.
 * the ACL of schema public, at once) immediately, and counts the retries:
 * the best a client of PostgreSQL can do with that SQL.
 *
 * Built by bench.sh: gcc -O2 -pthread -I$(pg_config --includedir) -o credbench
 * scripts/bench/credbench.c -lpq
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sodium.h>

#include "scram.h"

static void usage(void);

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* --- issue / count ------------------------------------------------------- */

struct worker {
	pthread_t tid;
	uint32_t *lat; /* microseconds */
	size_t n, cap;
	uint64_t errors;
};

static const char *g_file;
static double g_deadline; /* issue: stop at (monotonic s) */
static int g_count_mode; /* count: stop after g_left, not at g_deadline */
static atomic_long g_left; /* count: how many still to issue */
static double g_rate; /* rate: credentials per second (0: as fast as possible) */
static uint64_t g_t0_ns; /* rate: when slot 0 starts */
static atomic_long g_slot; /* rate: the next slot to take */
static atomic_ulong g_late; /* rate: credentials started over 100 ms after their slot */
static pthread_barrier_t g_start;
static pthread_mutex_t g_errmu = PTHREAD_MUTEX_INITIALIZER;
static char g_first_error[256];

/* Failed opens/reads by errno (0: bad content), for the errnos= line. */
#define ERRNO_SLOTS 256
static atomic_ulong g_errnos[ERRNO_SLOTS];

static void count_errno(int err)
{
	atomic_fetch_add(&g_errnos[err > 0 && err < ERRNO_SLOTS ? err : 0], 1);
}

/* print_errnos - "errnos=EAGAIN:3,bad_content:1" (empty without errors). */
static void print_errnos(void)
{
	const char *sep = "";

	printf("errnos=");
	for (int e = 0; e < ERRNO_SLOTS; e++) {
		unsigned long k = atomic_load(&g_errnos[e]);
		const char *name = e ? strerrorname_np(e) : "bad_content";

		if (!k)
			continue;
		if (name)
			printf("%s%s:%lu", sep, name, k);
		else
			printf("%serrno%d:%lu", sep, e, k);
		sep = ",";
	}
	printf("\n");
}

static void note_error(const char *what, int err)
{
	pthread_mutex_lock(&g_errmu);
	if (!g_first_error[0])
		snprintf(g_first_error, sizeof(g_first_error), "%s: %s", what,
			 err ? strerror(err) : "bad content");
	pthread_mutex_unlock(&g_errmu);
}

/* One open+read-to-EOF+close of g_file; 0 or an errno (-1: bad content). */
static int issue_once(void)
{
	char buf[4096];
	size_t got = 0;
	ssize_t k;
	int fd, err = 0;

	if ((fd = open(g_file, O_RDONLY | O_CLOEXEC)) < 0) {
		err = errno;
		note_error("open", err);
		return err;
	}
	for (;;) {
		k = read(fd, buf + (got < sizeof(buf) ? got : 0),
			 got < sizeof(buf) ? sizeof(buf) - got : sizeof(buf));
		if (k < 0) {
			if (errno == EINTR)
				continue;
			err = errno;
			note_error("read", err);
			break;
		}
		if (k == 0)
			break;
		got += (size_t)k;
	}
	if (close(fd) != 0 && !err) {
		err = errno;
		note_error("close", err);
	}
	if (!err && (got == 0 || got > sizeof(buf) || !memmem(buf, got, "\"username\"", 10))) {
		note_error("read", 0);
		err = -1;
	}
	return err;
}

static void *issue_thread(void *arg)
{
	struct worker *w = arg;

	pthread_barrier_wait(&g_start);
	for (;;) {
		uint64_t t0;
		int err;

		if (g_count_mode) {
			if (atomic_fetch_sub(&g_left, 1) <= 0)
				break;
		} else if (g_rate > 0) {
			long k = atomic_fetch_add(&g_slot, 1);
			uint64_t at = g_t0_ns + (uint64_t)((double)k * 1e9 / g_rate);
			struct timespec ts = { .tv_sec = (time_t)(at / 1000000000u),
					       .tv_nsec = (long)(at % 1000000000u) };

			if ((double)at / 1e9 >= g_deadline)
				break;
			while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
				;
			if (now_ns() > at + 100000000u)
				atomic_fetch_add(&g_late, 1);
		} else if (now_s() >= g_deadline) {
			break;
		}
		t0 = now_ns();
		err = issue_once();
		if (err) {
			w->errors++; /* counted, not retried */
			count_errno(err);
			if (g_rate <= 0)
				usleep(10000);
			continue;
		}
		if (w->n == w->cap) {
			size_t cap = w->cap ? w->cap * 2 : 4096;
			uint32_t *nl = realloc(w->lat, cap * sizeof(*nl));

			if (!nl) {
				perror("credbench: realloc");
				exit(2);
			}
			w->lat = nl;
			w->cap = cap;
		}
		uint64_t us = (now_ns() - t0) / 1000;
		w->lat[w->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	}
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The q-quantile (nearest rank) of sorted v[0..n). */
static uint32_t quantile(const uint32_t *v, size_t n, double q)
{
	size_t rank;

	if (!n)
		return 0;
	rank = (size_t)(q * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

static int run_issue(const char *file, int threads, double secs, long count)
{
	struct worker *w = calloc((size_t)threads, sizeof(*w));
	uint32_t *all;
	size_t total = 0, off = 0;
	uint64_t errors = 0;
	double t0, t1;

	if (!w)
		return 2;
	g_file = file;
	g_count_mode = count >= 0;
	atomic_store(&g_left, count);
	pthread_barrier_init(&g_start, NULL, (unsigned)threads + 1);
	for (int i = 0; i < threads; i++)
		if (pthread_create(&w[i].tid, NULL, issue_thread, &w[i]) != 0) {
			perror("credbench: pthread_create");
			return 2;
		}
	t0 = now_s();
	g_deadline = t0 + secs;
	g_t0_ns = now_ns();
	pthread_barrier_wait(&g_start);
	for (int i = 0; i < threads; i++)
		pthread_join(w[i].tid, NULL);
	t1 = now_s();
	if (g_rate > 0)
		printf("late=%lu\n", atomic_load(&g_late));
	for (int i = 0; i < threads; i++) {
		total += w[i].n;
		errors += w[i].errors;
	}
	all = malloc((total ? total : 1) * sizeof(*all));
	if (!all)
		return 2;
	for (int i = 0; i < threads; i++) {
		memcpy(all + off, w[i].lat, w[i].n * sizeof(*all));
		off += w[i].n;
		free(w[i].lat);
	}
	qsort(all, total, sizeof(*all), cmp_u32);
	printf("ops=%zu\nerrors=%llu\nsecs=%.3f\nrate=%.1f\n", total, (unsigned long long)errors,
	       t1 - t0, total / (t1 - t0));
	printf("p50_us=%u\np90_us=%u\np99_us=%u\nmax_us=%u\n", quantile(all, total, 0.50),
	       quantile(all, total, 0.90), quantile(all, total, 0.99), total ? all[total - 1] : 0);
	printf("first_error=%s\n", g_first_error);
	print_errnos();
	free(all);
	free(w);
	return 0;
}

/* --- hold -------------------------------------------------------------- */

struct hold_rec {
	int32_t err; /* 0, an errno, or -1 (not a credential) */
	uint32_t us; /* open + read to EOF, microseconds */
};

static const char *g_hold_file;
static pthread_barrier_t g_hold_go;
static pthread_mutex_t g_hold_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_hold_cv = PTHREAD_COND_INITIALIZER;
static int g_hold_done, g_hold_release;

/* hold_open - open g_hold_file and read it to EOF, keeping it open: the
 * fd, or -1 with the reason in r->err. */
static int hold_open(struct hold_rec *r)
{
	char buf[4096];
	size_t got = 0;
	ssize_t k;
	uint64_t t0 = now_ns();
	int fd = open(g_hold_file, O_RDONLY | O_CLOEXEC);

	r->err = 0;
	if (fd < 0) {
		r->err = errno;
		goto out;
	}
	for (;;) {
		k = read(fd, buf + (got < sizeof(buf) ? got : 0),
			 got < sizeof(buf) ? sizeof(buf) - got : sizeof(buf));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r->err = errno;
			break;
		}
		if (k == 0)
			break;
		got += (size_t)k;
	}
	if (!r->err && (got == 0 || got > sizeof(buf) || !memmem(buf, got, "\"username\"", 10)))
		r->err = -1;
	if (r->err) {
		close(fd);
		fd = -1;
	}
out:
	r->us = (uint32_t)((now_ns() - t0) / 1000);
	return fd;
}

static void *hold_thread(void *arg)
{
	struct hold_rec *r = arg;
	int fd;

	pthread_barrier_wait(&g_hold_go);
	fd = hold_open(r);
	pthread_mutex_lock(&g_hold_mu);
	g_hold_done++;
	pthread_cond_broadcast(&g_hold_cv);
	while (!g_hold_release)
		pthread_cond_wait(&g_hold_cv, &g_hold_mu);
	pthread_mutex_unlock(&g_hold_mu);
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* hold_child - one opener process: wait for go's EOF, open, report on res,
 * hold until release's EOF. */
static void hold_child(int go, int res, int release)
{
	struct hold_rec r;
	char c;
	int fd;

	while (read(go, &c, 1) < 0 && errno == EINTR)
		;
	fd = hold_open(&r);
	if (write(res, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(1);
	while (read(release, &c, 1) < 0 && errno == EINTR)
		;
	if (fd >= 0)
		close(fd);
	_exit(0);
}

static int run_hold(const char *file, int n, const char *mode, const char *release_file,
		    double max_secs)
{
	struct hold_rec *recs = calloc(n > 0 ? (size_t)n : 1, sizeof(*recs));
	uint32_t *lat = calloc(n > 0 ? (size_t)n : 1, sizeof(*lat));
	pthread_t *tids = NULL;
	pid_t *pids = NULL;
	int procs = !strcmp(mode, "procs"), started = 0, got = 0, ok = 0;
	int go[2] = { -1, -1 }, res[2] = { -1, -1 }, rel[2] = { -1, -1 };
	double t0, t_open, t_held, t_rel;
	struct stat st;

	if (n < 1 || !recs || !lat || (!procs && strcmp(mode, "threads")))
		usage();
	g_hold_file = file;
	fflush(stdout);
	if (procs) {
		if (!(pids = calloc((size_t)n, sizeof(*pids))) || pipe2(go, O_CLOEXEC) ||
		    pipe2(res, O_CLOEXEC) || pipe2(rel, O_CLOEXEC)) {
			perror("credbench: hold");
			return 2;
		}
		for (; started < n; started++) {
			pid_t p = fork();

			if (p == 0) {
				close(go[1]);
				close(res[0]);
				close(rel[1]);
				hold_child(go[0], res[1], rel[0]);
			}
			if (p < 0) {
				note_error("fork", errno);
				break;
			}
			pids[started] = p;
		}
		close(go[0]);
		close(res[1]);
		close(rel[0]);
		t0 = now_s();
		close(go[1]); /* every child opens now */
		while (got < started) {
			ssize_t k = read(res[0], &recs[got], sizeof(*recs));

			if (k < 0 && errno == EINTR)
				continue;
			if (k != (ssize_t)sizeof(*recs))
				break; /* a child died without reporting */
			got++;
		}
	} else {
		pthread_attr_t attr;

		if (!(tids = calloc((size_t)n, sizeof(*tids))))
			return 2;
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, 64 * 1024);
		pthread_barrier_init(&g_hold_go, NULL, (unsigned)n + 1);
		for (; started < n; started++)
			if (pthread_create(&tids[started], &attr, hold_thread, &recs[started]) !=
			    0) {
				perror("credbench: pthread_create");
				return 2;
			}
		t0 = now_s();
		pthread_barrier_wait(&g_hold_go);
		pthread_mutex_lock(&g_hold_mu);
		while (g_hold_done < started)
			pthread_cond_wait(&g_hold_cv, &g_hold_mu);
		pthread_mutex_unlock(&g_hold_mu);
		got = started;
	}
	t_open = now_s();
	for (int i = 0; i < got; i++) {
		if (recs[i].err) {
			count_errno(recs[i].err);
			note_error("open", recs[i].err > 0 ? recs[i].err : 0);
		} else {
			lat[ok++] = recs[i].us;
		}
	}
	qsort(lat, (size_t)ok, sizeof(*lat), cmp_u32);
	printf("openers=%d\nstarted=%d\nreported=%d\nok=%d\nerrors=%d\nopen_secs=%.3f\n", n,
	       started, got, ok, got - ok, t_open - t0);
	printf("p50_us=%u\np99_us=%u\nmax_us=%u\nfirst_error=%s\n", quantile(lat, (size_t)ok, 0.50),
	       quantile(lat, (size_t)ok, 0.99), ok ? lat[ok - 1] : 0, g_first_error);
	print_errnos();
	printf("held=1\n");
	fflush(stdout);
	t_held = now_s();
	while (stat(release_file, &st) != 0 && now_s() - t_held < max_secs)
		usleep(10000);
	t_rel = now_s();
	if (procs) {
		close(rel[1]); /* every child closes its file and exits */
		for (int i = 0; i < started; i++)
			while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
				;
		close(res[0]);
	} else {
		pthread_mutex_lock(&g_hold_mu);
		g_hold_release = 1;
		pthread_cond_broadcast(&g_hold_cv);
		pthread_mutex_unlock(&g_hold_mu);
		for (int i = 0; i < started; i++)
			pthread_join(tids[i], NULL);
	}
	printf("released_secs=%.3f\n", now_s() - t_rel);
	free(recs);
	free(lat);
	free(tids);
	free(pids);
	return 0;
}

/* --- unlinkall ----------------------------------------------------------- */

static int run_unlinkall(const char *dir)
{
	DIR *d = opendir(dir);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0, ok = 0, errors = 0;
	double t0, t1, t2;

	if (!d || dfd < 0) {
		printf("ops=0\nerrors=1\nfirst_error=opendir: %s\n", strerror(errno));
		return 0;
	}
	t0 = now_s();
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			if (!(names = realloc(names, cap * sizeof(*names)))) {
				perror("credbench: realloc");
				return 2;
			}
		}
		if (!(names[n++] = strdup(de->d_name))) {
			perror("credbench: strdup");
			return 2;
		}
	}
	closedir(d);
	t1 = now_s();
	for (size_t i = 0; i < n; i++) {
		if (unlinkat(dfd, names[i], 0) == 0) {
			ok++;
		} else if (errno != ENOENT) { /* ENOENT: already revoked */
			errors++;
			note_error("unlink", errno);
		}
		free(names[i]);
	}
	t2 = now_s();
	close(dfd);
	free(names);
	printf("listed=%zu\nops=%zu\nerrors=%zu\nreaddir_secs=%.3f\nunlink_secs=%.3f\n"
	       "first_error=%s\n",
	       n, ok, errors, t1 - t0, t2 - t1, g_first_error);
	return 0;
}

/* --- meta ---------------------------------------------------------------- */

static int meta_once(const char *op, const char *path)
{
	if (!strcmp(op, "stat")) {
		struct stat st;

		return stat(path, &st) == 0 ? 0 : errno;
	}
	if (!strcmp(op, "readdir")) {
		DIR *d = opendir(path);
		long k = 0;

		if (!d)
			return errno;
		while (readdir(d))
			k++;
		closedir(d);
		return k >= 2 ? 0 : EIO;
	}
	if (!strcmp(op, "read")) {
		char buf[65536];
		ssize_t r;
		int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;

		if (fd < 0)
			return errno;
		while ((r = read(fd, buf, sizeof(buf))) != 0) {
			if (r < 0 && errno != EINTR) {
				err = errno;
				break;
			}
		}
		close(fd);
		return err;
	}
	return EINVAL;
}

static int run_meta(double secs, int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		char *spec = strdup(argv[i]), *colon = spec ? strchr(spec, ':') : NULL;
		unsigned long ops = 0, errors = 0;
		int first = 0;
		double t0, t1, end;

		if (!colon) {
			fprintf(stderr, "credbench: meta: expected OP:PATH, got %s\n", argv[i]);
			return 2;
		}
		*colon = '\0';
		t0 = now_s();
		end = t0 + secs;
		do {
			for (int k = 0; k < 64; k++) {
				int err = meta_once(spec, colon + 1);

				if (err) {
					errors++;
					if (!first)
						first = err;
				} else {
					ops++;
				}
			}
		} while ((t1 = now_s()) < end);
		printf("meta %s %s ops=%lu secs=%.3f rate=%.0f errors=%lu first_error=%s\n", spec,
		       colon + 1, ops, t1 - t0, ops / (t1 - t0), errors,
		       first ? strerror(first) : "");
		free(spec);
	}
	return 0;
}

/* --- rawsql ------------------------------------------------------------- */

static char **g_lines;
static size_t g_nlines;
static atomic_size_t g_next;
static atomic_ulong g_retries, g_sqlerrors, g_sqlok;
static const char *g_conninfo;

static void *rawsql_thread(void *arg)
{
	PGconn *pg = PQconnectdb(g_conninfo);

	(void)arg;
	if (PQstatus(pg) != CONNECTION_OK) {
		pthread_mutex_lock(&g_errmu);
		if (!g_first_error[0])
			snprintf(g_first_error, sizeof(g_first_error), "connect: %s",
				 PQerrorMessage(pg));
		pthread_mutex_unlock(&g_errmu);
		atomic_fetch_add(&g_sqlerrors, 1);
		PQfinish(pg);
		pthread_barrier_wait(&g_start);
		return NULL;
	}
	pthread_barrier_wait(&g_start);
	for (;;) {
		size_t i = atomic_fetch_add(&g_next, 1);
		int tries = 0;

		if (i >= g_nlines)
			break;
		for (;;) {
			PGresult *res = PQexec(pg, g_lines[i]);
			ExecStatusType st = PQresultStatus(res);
			const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

			if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
				atomic_fetch_add(&g_sqlok, 1);
				PQclear(res);
				break;
			}
			if (msg && strstr(msg, "concurrently updated") && ++tries < 1000) {
				atomic_fetch_add(&g_retries, 1);
				PQclear(res);
				continue;
			}
			pthread_mutex_lock(&g_errmu);
			if (!g_first_error[0])
				snprintf(g_first_error, sizeof(g_first_error), "%s",
					 msg ? msg : PQerrorMessage(pg));
			pthread_mutex_unlock(&g_errmu);
			atomic_fetch_add(&g_sqlerrors, 1);
			PQclear(res);
			break;
		}
	}
	PQfinish(pg);
	return NULL;
}

static int run_rawsql(const char *conninfo, int threads, const char *file)
{
	FILE *f = fopen(file, "r");
	pthread_t *tids = calloc((size_t)threads, sizeof(*tids));
	char *line = NULL;
	size_t cap = 0, lcap = 0;
	ssize_t k;
	double t0, t1;

	if (!f || !tids) {
		perror("credbench: rawsql");
		return 2;
	}
	while ((k = getline(&line, &lcap, f)) > 0) {
		while (k > 0 && (line[k - 1] == '\n' || line[k - 1] == '\r'))
			line[--k] = '\0';
		if (!k)
			continue;
		if (g_nlines == cap) {
			cap = cap ? cap * 2 : 1024;
			if (!(g_lines = realloc(g_lines, cap * sizeof(*g_lines)))) {
				perror("credbench: realloc");
				return 2;
			}
		}
		if (!(g_lines[g_nlines++] = strdup(line))) {
			perror("credbench: strdup");
			return 2;
		}
	}
	free(line);
	fclose(f);
	g_conninfo = conninfo;
	pthread_barrier_init(&g_start, NULL, (unsigned)threads + 1);
	for (int i = 0; i < threads; i++)
		if (pthread_create(&tids[i], NULL, rawsql_thread, NULL) != 0) {
			perror("credbench: pthread_create");
			return 2;
		}
	pthread_barrier_wait(&g_start); /* every thread connected (or failed) */
	t0 = now_s();
	for (int i = 0; i < threads; i++)
		pthread_join(tids[i], NULL);
	t1 = now_s();
	printf("ops=%lu\nerrors=%lu\nretries=%lu\nsecs=%.3f\nfirst_error=%s\n",
	       atomic_load(&g_sqlok), atomic_load(&g_sqlerrors), atomic_load(&g_retries), t1 - t0,
	       g_first_error);
	for (size_t i = 0; i < g_nlines; i++)
		free(g_lines[i]);
	free(g_lines);
	free(tids);
	return 0;
}

/* --- scram ---------------------------------------------------------------- */

static atomic_ulong g_scram_ops;
static bool g_scram_libpq;

static void *scram_thread(void *arg)
{
	PGconn *pg = arg;

	pthread_barrier_wait(&g_start);
	while (now_s() < g_deadline) {
		char *v = g_scram_libpq ? PQencryptPasswordConn(pg, "Bench-password-1234567",
								"v-bench-user", "scram-sha-256")
					: scram_verifier_new("Bench-password-1234567", 22);

		if (!v) {
			note_error(g_scram_libpq ? "PQencryptPasswordConn" : "scram_verifier_new",
				   EIO);
			break;
		}
		if (g_scram_libpq)
			PQfreemem(v);
		else
			free(v);
		atomic_fetch_add(&g_scram_ops, 1);
	}
	return NULL;
}

static int run_scram(const char *conninfo, int threads, double secs)
{
	PGconn **pg = calloc((size_t)threads, sizeof(*pg));
	pthread_t *tids = calloc((size_t)threads, sizeof(*tids));
	double t0, t1;

	if (!pg || !tids)
		return 2;
	for (int i = 0; i < threads; i++) {
		pg[i] = PQconnectdb(conninfo);
		if (PQstatus(pg[i]) != CONNECTION_OK) {
			printf("ops=0\nerrors=1\nfirst_error=connect: %s\n", PQerrorMessage(pg[i]));
			return 0;
		}
	}
	pthread_barrier_init(&g_start, NULL, (unsigned)threads + 1);
	for (int i = 0; i < threads; i++)
		if (pthread_create(&tids[i], NULL, scram_thread, pg[i]) != 0)
			return 2;
	t0 = now_s();
	g_deadline = t0 + secs;
	pthread_barrier_wait(&g_start);
	for (int i = 0; i < threads; i++)
		pthread_join(tids[i], NULL);
	t1 = now_s();
	printf("ops=%lu\nerrors=%d\nsecs=%.3f\nrate=%.1f\nms_each=%.3f\nfirst_error=%s\n",
	       atomic_load(&g_scram_ops), g_first_error[0] != 0, t1 - t0,
	       atomic_load(&g_scram_ops) / (t1 - t0),
	       atomic_load(&g_scram_ops) ? (t1 - t0) * 1000.0 * threads / atomic_load(&g_scram_ops)
					 : 0.0,
	       g_first_error);
	for (int i = 0; i < threads; i++)
		PQfinish(pg[i]);
	free(pg);
	free(tids);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: credbench issue FILE THREADS SECONDS\n"
			"       credbench count FILE THREADS N\n"
			"       credbench rate FILE RATE SECONDS THREADS\n"
			"       credbench hold FILE N threads|procs RELEASE_FILE MAX_SECONDS\n"
			"       credbench unlinkall DIR\n"
			"       credbench meta SECONDS OP:PATH...\n"
			"       credbench rawsql CONNINFO THREADS FILE\n"
			"       credbench scram CONNINFO THREADS SECONDS\n");
	exit(2);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (sodium_init() < 0)
		return 2;
	if (argc == 5 && !strcmp(argv[1], "issue"))
		return run_issue(argv[2], atoi(argv[3]), atof(argv[4]), -1);
	if (argc == 5 && !strcmp(argv[1], "count"))
		return run_issue(argv[2], atoi(argv[3]), 1e9, atol(argv[4]));
	if (argc == 6 && !strcmp(argv[1], "rate")) {
		g_rate = atof(argv[3]);
		if (g_rate <= 0)
			usage();
		return run_issue(argv[2], atoi(argv[5]), atof(argv[4]), -1);
	}
	if (argc == 7 && !strcmp(argv[1], "hold"))
		return run_hold(argv[2], atoi(argv[3]), argv[4], argv[5], atof(argv[6]));
	if (argc == 3 && !strcmp(argv[1], "unlinkall"))
		return run_unlinkall(argv[2]);
	if (argc == 5 && !strcmp(argv[1], "scram"))
		return run_scram(argv[2], atoi(argv[3]), atof(argv[4]));
	if (argc == 5 && !strcmp(argv[1], "scram-libpq")) {
		g_scram_libpq = true;
		return run_scram(argv[2], atoi(argv[3]), atof(argv[4]));
	}
	if (argc == 5 && !strcmp(argv[1], "rawsql"))
		return run_rawsql(argv[2], atoi(argv[3]), argv[4]);
	if (argc >= 4 && !strcmp(argv[1], "meta"))
		return run_meta(atof(argv[2]), argc - 3, argv + 3);
	usage();
	return 2;
}

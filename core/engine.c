/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "conn.h"
#include "dbconf.h"
#include "engine.h"
#include "errlog.h"
#include "holder.h"
#include "log.h"
#include "params.h"
#include "timefmt.h"
#include "uname.h"

#define ENGINE_WORKERS 8
#define ENGINE_DUE_BATCH 256

struct engine_def {
	enum engine_kind kind;
	char *name;
	struct dbconf *conf;    /* ENGINE_CONFIG */
	struct conn_pool *pool; /* ENGINE_CONFIG */
	struct role *role;      /* ENGINE_ROLE */
	struct engine_def *next;
};

/* One watched opener (pid + start time); shared by all the leases it opened. */
struct engine_watch {
	pid_t pid;
	unsigned long long start_time;
	int pidfd;
	bool dead;              /* protected by e->wmu */
	struct lease **leases;  /* protected by e->wmu; references */
	size_t n, cap;          /* protected by e->wmu */
	struct engine_watch *next;
};

struct engine_qjob {
	struct lease_job job;
	struct engine_qjob *next;
};

struct engine {
	pthread_mutex_t mu;
	struct engine_def *defs; /* protected by mu */
	struct lease_table *leases;
	struct errlog *errlog;

	pthread_mutex_t wmu;
	struct engine_watch *watches; /* protected by wmu */

	int epfd, evfd;
	pthread_t timer;
	bool started;
	_Atomic bool stop;

	pthread_mutex_t qmu;
	pthread_cond_t qcv;
	struct engine_qjob *qhead, *qtail; /* protected by qmu */
	pthread_t workers[ENGINE_WORKERS];
};

static const char *engine_dir(enum engine_kind k)
{
	return k == ENGINE_CONFIG ? "config" : "roles";
}

static void engine_fail(struct engine *e, uid_t uid, const char *dir, const char *name,
			char *errbuf, const char *reason)
{
	char path[160];

	if (errbuf != reason)
		snprintf(errbuf, ENGINE_ERRLEN, "%s", reason);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	errlog_add(e->errlog, timefmt_now_ms(), uid, path, errbuf);
	log_info("%s: %s", path, errbuf);
}

static void engine_wake(struct engine *e)
{
	uint64_t one = 1;

	if (e->evfd >= 0 && write(e->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("cannot wake the timer: %s", strerror(errno));
}

/* --- definitions --------------------------------------------------------- */

static struct engine_def *engine_find_locked(struct engine *e, enum engine_kind k,
					     const char *name)
{
	struct engine_def *d;

	for (d = e->defs; d; d = d->next)
		if (d->kind == k && !strcmp(d->name, name))
			return d;
	return NULL;
}

static void engine_def_free(struct engine_def *d)
{
	if (!d)
		return;
	free(d->name);
	dbconf_unref(d->conf);
	conn_pool_unref(d->pool);
	role_unref(d->role);
	free(d);
}

/* Put d in place of the definition of the same name; the old one is returned. */
static struct engine_def *engine_swap_locked(struct engine *e, struct engine_def *d)
{
	struct engine_def **pp, *old;

	for (pp = &e->defs; *pp; pp = &(*pp)->next) {
		if ((*pp)->kind == d->kind && !strcmp((*pp)->name, d->name)) {
			old = *pp;
			d->next = old->next;
			*pp = d;
			old->next = NULL;
			return old;
		}
	}
	d->next = e->defs;
	e->defs = d;
	return NULL;
}

static void engine_perr_text(const struct parse_error *pe, char *errbuf)
{
	if (pe->line > 0)
		snprintf(errbuf, ENGINE_ERRLEN, "line %d: %s", pe->line, pe->text);
	else
		snprintf(errbuf, ENGINE_ERRLEN, "%s", pe->text);
}

/*
 * A rewrite of config/NAME that leaves out the password keeps the current
 * one (same user): `jq` edits of a read-back definition, which never
 * carries the password, must not lock credfs out after a root rotation.
 */
static struct dbconf *engine_keep_password(struct engine *e, struct dbconf *c)
{
	struct engine_def *old;
	struct dbconf *nc = c;
	struct secret *pw = NULL;

	if (c->password)
		return c;
	pthread_mutex_lock(&e->mu);
	old = engine_find_locked(e, ENGINE_CONFIG, c->name);
	if (old && old->pool) {
		struct dbconf *cur = conn_pool_conf(old->pool);

		if (cur->password && cur->username && c->username &&
		    !strcmp(cur->username, c->username))
			pw = secret_dup(cur->password);
		dbconf_unref(cur);
	}
	pthread_mutex_unlock(&e->mu);
	if (pw && (nc = dbconf_with_password(c, pw)))
		dbconf_unref(c);
	return nc ? nc : c;
}

static int engine_apply_config(struct engine *e, struct dbconf *c, char *errbuf)
{
	struct engine_def *d = NULL, *old;
	int r;

	c = engine_keep_password(e, c);
	if (c->verify_connection && (r = conn_verify(c, errbuf)) != 0) {
		dbconf_unref(c);
		return r;
	}
	if (!(d = calloc(1, sizeof(*d))) || !(d->name = strdup(c->name)) ||
	    !(d->pool = conn_pool_new(c))) {
		engine_def_free(d);
		dbconf_unref(c);
		snprintf(errbuf, ENGINE_ERRLEN, "out of memory");
		return -ENOMEM;
	}
	d->kind = ENGINE_CONFIG;
	d->conf = c; /* transferred */
	pthread_mutex_lock(&e->mu);
	old = engine_swap_locked(e, d);
	pthread_mutex_unlock(&e->mu);
	engine_def_free(old);
	log_info("config/%s: written", d->name);
	return 0;
}

static int engine_apply_role(struct engine *e, struct role *ro, char *errbuf)
{
	struct engine_def *d = NULL, *old;

	if (!(d = calloc(1, sizeof(*d))) || !(d->name = strdup(ro->name))) {
		free(d);
		role_unref(ro);
		snprintf(errbuf, ENGINE_ERRLEN, "out of memory");
		return -ENOMEM;
	}
	d->kind = ENGINE_ROLE;
	d->role = ro; /* transferred */
	pthread_mutex_lock(&e->mu);
	old = engine_swap_locked(e, d);
	pthread_mutex_unlock(&e->mu);
	engine_def_free(old);
	log_info("roles/%s: written", d->name);
	return 0;
}

int engine_def_write(struct engine *e, enum engine_kind kind, const char *name, const char *buf,
		     size_t len, bool apply, uid_t uid, char *errbuf)
{
	struct parse_error pe = { 0 };
	struct dbconf *c = NULL;
	struct role *ro = NULL;
	json_t *params = NULL;
	int r;

	r = params_parse(buf, len, apply, &params, &pe);
	if (r == 1 && !params)
		return 1;
	if (r >= 0) {
		int r2 = kind == ENGINE_CONFIG ? dbconf_from_params(name, params, apply, &c, &pe)
					       : role_from_params(name, params, apply, &ro, &pe);
		if (r2 < 0)
			r = r2;
	}
	json_decref(params);
	if (r < 0) {
		engine_perr_text(&pe, errbuf);
		engine_fail(e, uid, engine_dir(kind), name, errbuf, errbuf);
		return r;
	}
	if (!apply) {
		dbconf_unref(c);
		role_unref(ro);
		return r;
	}
	r = kind == ENGINE_CONFIG ? engine_apply_config(e, c, errbuf)
				  : engine_apply_role(e, ro, errbuf);
	if (r < 0)
		engine_fail(e, uid, engine_dir(kind), name, errbuf, errbuf);
	return r;
}

static int engine_dump(json_t *j, char **out, size_t *len)
{
	size_t n;
	char *buf;

	if (!j)
		return -ENOMEM;
	n = json_dumpb(j, NULL, 0, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (!(buf = malloc(n + 1))) {
		json_decref(j);
		return -ENOMEM;
	}
	json_dumpb(j, buf, n, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	buf[n] = '\n';
	json_decref(j);
	*out = buf;
	*len = n + 1;
	return 0;
}

int engine_def_read(struct engine *e, enum engine_kind kind, const char *name, char **out,
		    size_t *len)
{
	struct engine_def *d;
	struct dbconf *c = NULL;
	json_t *j = NULL;

	pthread_mutex_lock(&e->mu);
	d = engine_find_locked(e, kind, name);
	if (d && kind == ENGINE_CONFIG)
		c = conn_pool_conf(d->pool);
	else if (d)
		j = role_to_json(d->role);
	pthread_mutex_unlock(&e->mu);
	if (!d)
		return -ENOENT;
	if (c) {
		j = dbconf_to_json(c);
		dbconf_unref(c);
	}
	return engine_dump(j, out, len);
}

bool engine_def_exists(struct engine *e, enum engine_kind kind, const char *name)
{
	bool yes;

	pthread_mutex_lock(&e->mu);
	yes = engine_find_locked(e, kind, name) != NULL;
	pthread_mutex_unlock(&e->mu);
	return yes;
}

int engine_def_delete(struct engine *e, enum engine_kind kind, const char *name, uid_t uid,
		      char *errbuf)
{
	struct engine_def **pp, *d = NULL;
	size_t live = kind == ENGINE_CONFIG ? lease_table_count_db(e->leases, name) : 0;

	if (live) {
		snprintf(errbuf, ENGINE_ERRLEN,
			 "%zu live lease(s) still need this connection to be revoked", live);
		engine_fail(e, uid, engine_dir(kind), name, errbuf, errbuf);
		return -EBUSY;
	}
	pthread_mutex_lock(&e->mu);
	for (pp = &e->defs; *pp; pp = &(*pp)->next) {
		if ((*pp)->kind == kind && !strcmp((*pp)->name, name)) {
			d = *pp;
			*pp = d->next;
			break;
		}
	}
	pthread_mutex_unlock(&e->mu);
	if (!d)
		return -ENOENT;
	log_info("%s/%s: deleted", engine_dir(kind), name);
	engine_def_free(d);
	return 0;
}

json_t *engine_def_names(struct engine *e, enum engine_kind kind)
{
	json_t *a = json_array();

	pthread_mutex_lock(&e->mu);
	for (struct engine_def *d = e->defs; a && d; d = d->next)
		if (d->kind == kind)
			json_array_append_new(a, json_string(d->name));
	pthread_mutex_unlock(&e->mu);
	return a;
}

struct role *engine_role_get(struct engine *e, const char *name)
{
	struct engine_def *d;
	struct role *ro = NULL;

	pthread_mutex_lock(&e->mu);
	if ((d = engine_find_locked(e, ENGINE_ROLE, name)))
		ro = role_ref(d->role);
	pthread_mutex_unlock(&e->mu);
	return ro;
}

static struct conn_pool *engine_pool_get(struct engine *e, const char *db)
{
	struct engine_def *d;
	struct conn_pool *p = NULL;

	pthread_mutex_lock(&e->mu);
	if (db && (d = engine_find_locked(e, ENGINE_CONFIG, db)))
		p = conn_pool_ref(d->pool);
	pthread_mutex_unlock(&e->mu);
	return p;
}

int engine_rotate_root(struct engine *e, const char *name, uid_t uid, char *errbuf)
{
	struct conn_pool *p = engine_pool_get(e, name);
	struct dbconf *nc = NULL;
	int r;

	if (!p) {
		engine_fail(e, uid, "rotate-root", name, errbuf, "no such connection");
		return -ENOENT;
	}
	if ((r = conn_rotate_root(p, &nc, errbuf)) != 0) {
		engine_fail(e, uid, "rotate-root", name, errbuf, errbuf);
		conn_pool_unref(p);
		return r == -EINVAL ? -EINVAL : -EIO;
	}
	/* The pool already connects with nc; keep the definition in step. */
	pthread_mutex_lock(&e->mu);
	for (struct engine_def *d = e->defs; d; d = d->next) {
		if (d->pool == p) {
			dbconf_unref(d->conf);
			d->conf = dbconf_ref(nc);
		}
	}
	pthread_mutex_unlock(&e->mu);
	log_info("rotate-root/%s: root password rotated", name);
	dbconf_unref(nc);
	conn_pool_unref(p);
	return 0;
}

/* --- watching openers ---------------------------------------------------- */

static int engine_pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static void engine_watch_free(struct engine_watch *w)
{
	for (size_t i = 0; i < w->n; i++)
		lease_unref(w->leases[i]);
	free(w->leases);
	if (w->pidfd >= 0)
		close(w->pidfd);
	free(w);
}

/* Watch l's opener for exit. Without a usable pid the lease is bound to its handle only. */
static void engine_watch(struct engine *e, struct lease *l)
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
static void engine_watch_fired(struct engine *e, struct engine_watch *w)
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
		if (w->leases[i]->state == LEASE_HELD)
			log_info("lease %s: opener %d exited", w->leases[i]->id, (int)w->pid);
		lease_table_exited(e->leases, w->leases[i], now);
	}
	engine_watch_free(w);
}

/* --- issuing ------------------------------------------------------------- */

static struct secret *engine_body(struct lease *l, const struct secret *pw)
{
	char lid[160], maxe[TIMEFMT_LEN];
	struct secret *body = NULL;
	json_t *j;
	size_t n;

	snprintf(lid, sizeof(lid), "database/creds/%s/%s", l->role->name, l->id);
	timefmt_rfc3339(l->max_expires, maxe);
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

/* Resolve role name to role, pool and an allowed connection. */
static int engine_issue_prepare(struct engine *e, const char *name, struct role **rop,
				struct conn_pool **poolp, char *errbuf)
{
	struct role *ro = engine_role_get(e, name);
	struct conn_pool *p = NULL;
	struct dbconf *c = NULL;

	if (!ro) {
		snprintf(errbuf, ENGINE_ERRLEN, "unknown role");
		return -ENOENT;
	}
	if (!(p = engine_pool_get(e, ro->db_name))) {
		snprintf(errbuf, ENGINE_ERRLEN, "connection \"%s\" is not configured",
			 ro->db_name);
		role_unref(ro);
		return -EIO;
	}
	c = conn_pool_conf(p);
	if (!dbconf_role_allowed(c, ro->name)) {
		snprintf(errbuf, ENGINE_ERRLEN, "\"%s\" is not an allowed role of connection \"%s\"",
			 ro->name, c->name);
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

int engine_issue(struct engine *e, const char *name, const struct lease_holder *holder,
		 struct lease **out, struct secret **bodyp, char *errbuf)
{
	char username[UNAME_MAX + 1];
	struct conn_pool *p = NULL;
	struct role *ro = NULL;
	struct secret *pw = NULL, *body = NULL;
	struct lease *l = NULL;
	struct dbconf *c = NULL;
	int64_t now = timefmt_now_ms();
	int r;

	if ((r = engine_issue_prepare(e, name, &ro, &p, errbuf)) != 0)
		goto out;
	c = conn_pool_conf(p);
	r = -ENOMEM;
	snprintf(errbuf, ENGINE_ERRLEN, "out of memory");
	uname_generate(holder ? holder->comm : NULL, ro->name, now / 1000, username);
	if (!(pw = secret_password(c->password_length)) ||
	    !(l = lease_new(ro, username, holder, now)))
		goto out;
	if ((r = conn_create_user(p, ro, username, pw, l->valid_until, errbuf)) != 0)
		goto out;
	if ((r = lease_table_add(e->leases, l)) != 0 || !(body = engine_body(l, pw))) {
		/* The login exists: revoke it rather than leave it behind. */
		if (r == 0)
			lease_table_revoke_now(e->leases, l, now);
		else
			log_err("lease for %s: login created but not tracked", username);
		engine_wake(e);
		r = -ENOMEM;
		goto out;
	}
	engine_watch(e, l);
	engine_wake(e);
	log_info("lease %s: issued %s for role %s to pid %d", l->id, username, ro->name,
		 holder ? (int)holder->pid : 0);
	*out = l;
	l = NULL; /* transferred */
	*bodyp = body;
	body = NULL; /* transferred */
	r = 0;
out:
	if (r != 0) {
		char path[160];

		snprintf(path, sizeof(path), "creds/%s", name);
		errlog_add(e->errlog, now, holder ? holder->uid : 0, path, errbuf);
		log_info("%s: %s", path, errbuf);
	}
	lease_unref(l);
	secret_free(pw);
	secret_free(body);
	dbconf_unref(c);
	conn_pool_unref(p);
	role_unref(ro);
	return r;
}

void engine_closed(struct engine *e, struct lease *l)
{
	lease_table_closed(e->leases, l, timefmt_now_ms());
	engine_wake(e);
}

/* --- leases/ ------------------------------------------------------------- */

static struct lease *engine_lease_find(struct engine *e, const char *role, const char *id)
{
	struct lease *l = lease_table_get(e->leases, id);

	if (l && strcmp(l->role->name, role) != 0) {
		lease_unref(l);
		return NULL;
	}
	return l;
}

int engine_lease_read(struct engine *e, const char *role, const char *id, char **out,
		      size_t *len)
{
	struct lease *l = engine_lease_find(e, role, id);
	int r;

	if (!l)
		return -ENOENT;
	r = engine_dump(lease_table_to_json(e->leases, l), out, len);
	lease_unref(l);
	return r;
}

int engine_lease_revoke(struct engine *e, const char *role, const char *id)
{
	struct lease *l = engine_lease_find(e, role, id);

	if (!l)
		return -ENOENT;
	log_info("lease %s: revocation requested", l->id);
	lease_table_revoke_now(e->leases, l, timefmt_now_ms());
	lease_unref(l);
	engine_wake(e);
	return 0;
}

json_t *engine_lease_ids(struct engine *e, const char *role)
{
	return role ? lease_table_ids(e->leases, role) : lease_table_roles(e->leases);
}

int engine_errors(struct engine *e, uid_t uid, char **out, size_t *len)
{
	return errlog_render(e->errlog, uid, uid == 0 || uid == getuid(), out, len);
}

void engine_note_error(struct engine *e, uid_t uid, const char *path, const char *reason)
{
	errlog_add(e->errlog, timefmt_now_ms(), uid, path, reason);
	log_info("%s: %s", path, reason);
}

/* --- the timer and the workers ------------------------------------------ */

static void engine_run_job(struct engine *e, struct lease_job *job)
{
	struct lease *l = job->lease;
	struct conn_pool *p = engine_pool_get(e, l->role->db_name);
	char errbuf[CONN_ERRLEN] = "";
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
	else
		log_warn("lease %s: %s failed: %s", l->id,
			 job->action == LEASE_JOB_RENEW ? "renewal" : "revocation", errbuf);
	lease_table_job_done(e->leases, job, r, errbuf, timefmt_now_ms());
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
	lease_table_free(e->leases);
	errlog_free(e->errlog);
	if (e->epfd >= 0)
		close(e->epfd);
	if (e->evfd >= 0)
		close(e->evfd);
	pthread_cond_destroy(&e->qcv);
	pthread_mutex_destroy(&e->qmu);
	pthread_mutex_destroy(&e->wmu);
	pthread_mutex_destroy(&e->mu);
	free(e);
}

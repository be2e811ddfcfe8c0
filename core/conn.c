/* SPDX-License-Identifier: MIT */
/*
 * conn.c - connecting to PostgreSQL, the pool of connections (checkout and
 * checkin), masking secrets in errors and retrying lost catalog races. The
 * SQL of the credential operations is in conn_sql.c.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sodium.h>

#include "conn.h"
#include "conn_i.h"
#include "tmpl.h"

#define CONN_STATEMENT_TIMEOUT "-c statement_timeout=30000"

/*
 * The deadline of the operation this thread runs (conn_deadline_start):
 * every wait for PostgreSQL's answer ends there, whatever the server does
 * (a stopped server still acknowledges TCP, so keepalives never fire).
 */
static __thread int64_t conn_tl_deadline; /* monotonic ms, 0: none */
static __thread int64_t conn_tl_budget; /* ms, for the message */
static __thread bool conn_tl_expired;

/* --- errors -------------------------------------------------------------- */

/* Replace every occurrence of a secret in buf with "(hidden)". */
void conn_mask(char *buf, const char *secret)
{
	static const char mask[] = "(hidden)";
	size_t sl, ml = sizeof(mask) - 1;
	char *p;

	if (!secret || !(sl = strlen(secret)))
		return;
	while ((p = strstr(buf, secret))) {
		size_t rest = strlen(p + sl);

		if (ml > sl && strlen(buf) + ml - sl >= CONN_ERRLEN)
			break;
		memmove(p + ml, p + sl, rest + 1);
		memcpy(p, mask, ml);
	}
}

/* Copy a libpq message into errbuf: first line only, no trailing newline. */
void conn_set_err(char *errbuf, const char *prefix, const char *msg)
{
	size_t n;

	snprintf(errbuf, CONN_ERRLEN, "%s%s", prefix, msg ? msg : "unknown error");
	n = strcspn(errbuf, "\n");
	errbuf[n] = '\0';
}

void conn_result_err(char *errbuf, const PGresult *res, PGconn *pg)
{
	const char *m = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	if (conn_tl_expired && !m) {
		snprintf(errbuf, CONN_ERRLEN, "postgresql did not answer within %lld ms",
			 (long long)conn_tl_budget);
		return;
	}
	conn_set_err(errbuf, "postgresql: ", m ? m : PQerrorMessage(pg));
}

/* --- deadlines ----------------------------------------------------------- */

static int64_t conn_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void conn_deadline_start(int64_t budget_ms)
{
	conn_tl_budget = budget_ms;
	conn_tl_deadline = budget_ms > 0 ? conn_mono_ms() + budget_ms : 0;
	conn_tl_expired = false;
}

bool conn_deadline_expired(void)
{
	return conn_tl_expired;
}

PGresult *conn_get_result(PGconn *pg)
{
	if (conn_tl_expired)
		return NULL; /* the answer never came: nothing more will */
	while (conn_tl_deadline && PQisBusy(pg)) {
		struct pollfd pfd = { .fd = PQsocket(pg), .events = POLLIN };
		int64_t left = conn_tl_deadline - conn_mono_ms();
		int k;

		if (pfd.fd < 0)
			break;
		if (left <= 0) {
			/*
			 * Abandon the connection: its transaction status stays
			 * ACTIVE, so conn_checkin closes it, and PostgreSQL rolls
			 * back whatever it was running.
			 */
			conn_tl_expired = true;
			return PQmakeEmptyPGresult(pg, PGRES_FATAL_ERROR);
		}
		k = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (k < 0 && errno != EINTR)
			break;
		if (k > 0 && !PQconsumeInput(pg))
			break; /* PQgetResult reports the broken connection */
	}
	return PQgetResult(pg);
}

/* The last result, or the first failed one, as PQexec would return it. */
static PGresult *conn_collect(PGconn *pg)
{
	PGresult *res, *last = NULL;

	while ((res = conn_get_result(pg))) {
		ExecStatusType st = PQresultStatus(last);

		if (last && (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE)) {
			PQclear(res);
			continue;
		}
		PQclear(last);
		last = res;
		if (PQstatus(pg) == CONNECTION_BAD)
			break;
	}
	return last;
}

PGresult *conn_exec(PGconn *pg, const char *sql)
{
	if (!PQsendQuery(pg, sql))
		return NULL;
	return conn_collect(pg);
}

PGresult *conn_exec_params(PGconn *pg, const char *sql, int n, const char *const *values)
{
	if (!PQsendQueryParams(pg, sql, n, NULL, values, NULL, NULL, 0))
		return NULL;
	return conn_collect(pg);
}

/* --- connecting ---------------------------------------------------------- */

static const char *conn_root_password(const struct dbconf *c)
{
	return c->password ? secret_str(c->password) : "";
}

static int conn_render_value(const struct dbconf *c, const char *v, char **out)
{
	struct tmpl_var vars[] = {
		{ "username", c->username ? c->username : "",
		  c->username ? strlen(c->username) : 0 },
		{ "password", conn_root_password(c), strlen(conn_root_password(c)) },
	};
	size_t len;

	return tmpl_render(v, vars, 2, out, &len, NULL);
}

static const char *const conn_keepalive[][2] = {
	{ "keepalives", "1" },		 { "keepalives_idle", "5" },
	{ "keepalives_interval", "2" },	 { "keepalives_count", "3" },
	{ "tcp_user_timeout", "10000" },
};

/*
 * libpq parses connection_url (a URI or key=value conninfo) with the
 * placeholders still in it, then each value gets its substitution: no
 * escaping can go wrong whatever bytes the password has.
 */
static int conn_connect_as(const struct dbconf *c, const char *user, const struct secret *pw,
			   PGconn **out, char *errbuf)
{
	PQconninfoOption *opts = NULL, *o;
	const char *kw[64];
	char *val[64] = { NULL };
	char *perr = NULL;
	size_t n = 0;
	int r = -EINVAL, has_timeout = 0, has_app = 0, has_options = 0, has_keepalive = 0;
	PGconn *pg = NULL;

	if (!(opts = PQconninfoParse(c->connection_url, &perr))) {
		conn_set_err(errbuf, "connection_url: ", perr ? perr : "out of memory");
		conn_mask(errbuf, conn_root_password(c));
		PQfreemem(perr);
		return perr ? -EINVAL : -ENOMEM;
	}
	/* room for the 8 defaults and the user's 2 added below, and the NULL */
	for (o = opts; o->keyword && n < 64 - 11; o++) {
		if (!o->val ||
		    (user && (!strcmp(o->keyword, "user") || !strcmp(o->keyword, "password"))))
			continue;
		if (conn_render_value(c, o->val, &val[n]) != 0) {
			r = -ENOMEM;
			conn_set_err(errbuf, "", "out of memory");
			goto out;
		}
		has_timeout |= !strcmp(o->keyword, "connect_timeout");
		has_keepalive |= !strncmp(o->keyword, "keepalives", 10) ||
				 !strcmp(o->keyword, "tcp_user_timeout");
		has_app |= !strcmp(o->keyword, "application_name");
		if (!strcmp(o->keyword, "options")) {
			char *both = NULL;
			has_options = 1;
			if (asprintf(&both, "%s %s", val[n], CONN_STATEMENT_TIMEOUT) < 0) {
				r = -ENOMEM;
				goto out;
			}
			secret_wipe_str(val[n]);
			val[n] = both;
		}
		kw[n++] = o->keyword;
	}
	if (!has_timeout) {
		kw[n] = "connect_timeout";
		val[n++] = strdup(CONN_CONNECT_TIMEOUT);
	}
	/*
	 * A partition is noticed in about 15 s, not when TCP gives up (about
	 * 15 minutes): keepalives after 5 s idle, every 2 s, 3 missed; and
	 * unacknowledged data for 10 s ends the connection. Set any of them in
	 * connection_url to choose all of them yourself.
	 */
	for (size_t i = 0; !has_keepalive && i < sizeof(conn_keepalive) / sizeof(conn_keepalive[0]);
	     i++) {
		kw[n] = conn_keepalive[i][0];
		val[n++] = strdup(conn_keepalive[i][1]);
	}
	if (!has_app) {
		kw[n] = "application_name";
		val[n++] = strdup("credfs");
	}
	if (!has_options) {
		kw[n] = "options";
		val[n++] = strdup(CONN_STATEMENT_TIMEOUT);
	}
	if (user) {
		kw[n] = "user";
		val[n++] = strdup(user);
		kw[n] = "password";
		val[n++] = strdup(secret_str(pw));
	}
	kw[n] = NULL;
	val[n] = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!val[i]) {
			r = -ENOMEM;
			goto out;
		}
	}
	pg = PQconnectdbParams(kw, (const char *const *)val, 0);
	if (!pg || PQstatus(pg) != CONNECTION_OK) {
		conn_set_err(errbuf, "cannot connect: ", pg ? PQerrorMessage(pg) : "out of memory");
		conn_mask(errbuf, conn_root_password(c));
		conn_mask(errbuf, pw ? secret_str(pw) : NULL);
		/* The server answered and refused (bad login, no such database): the
		 * definition is wrong. Otherwise it could not be reached. */
		r = pg && strstr(PQerrorMessage(pg), "FATAL:") ? -EINVAL : -EIO;
		goto out;
	}
	*out = pg;
	pg = NULL; /* transferred */
	r = 0;
out:
	PQfinish(pg);
	for (size_t i = 0; i < n; i++)
		secret_wipe_str(val[i]);
	for (o = opts; o->keyword; o++)
		if (o->val)
			secret_wipe(o->val, strlen(o->val));
	PQconninfoFree(opts);
	return r;
}

static int conn_connect(const struct dbconf *c, PGconn **out, char *errbuf)
{
	return conn_connect_as(c, NULL, NULL, out, errbuf);
}

/* Connect as user with pw (NULL: the root) and SELECT 1. */
static int conn_try(const struct dbconf *c, const char *user, const struct secret *pw, char *errbuf)
{
	PGconn *pg = NULL;
	PGresult *res;
	int r;

	if ((r = conn_connect_as(c, user, pw, &pg, errbuf)) != 0)
		return r;
	conn_deadline_start(c->issue_timeout_ms);
	res = conn_exec(pg, "SELECT 1");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		conn_result_err(errbuf, res, pg);
		r = -EIO;
	}
	PQclear(res);
	PQfinish(pg);
	return r;
}

int conn_verify(const struct dbconf *c, char *errbuf)
{
	return conn_try(c, NULL, NULL, errbuf);
}

int conn_login_check(const struct dbconf *c, const char *user, const struct secret *pw,
		     char *errbuf)
{
	return conn_try(c, user, pw, errbuf);
}

/* --- the pool ------------------------------------------------------------ */

struct conn_pool *conn_pool_new(struct dbconf *c)
{
	struct conn_pool *p = calloc(1, sizeof(*p));
	pthread_condattr_t ca;

	if (!p)
		return NULL;
	if (!(p->idle = calloc(c->max_open, sizeof(*p->idle))) ||
	    !(p->born = calloc(c->max_open, sizeof(*p->born)))) {
		free(p->idle);
		free(p);
		return NULL;
	}
	p->refs = 1;
	p->conf = dbconf_ref(c);
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);
	return p;
}

struct conn_pool *conn_pool_ref(struct conn_pool *p)
{
	__atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
	return p;
}

void conn_pool_unref(struct conn_pool *p)
{
	if (!p || __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (int i = 0; i < p->nidle; i++)
		PQfinish(p->idle[i]);
	free(p->idle);
	free(p->born);
	dbconf_unref(p->conf);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

struct dbconf *conn_pool_conf(struct conn_pool *p)
{
	struct dbconf *c;

	pthread_mutex_lock(&p->mu);
	c = dbconf_ref(p->conf);
	pthread_mutex_unlock(&p->mu);
	return c;
}

/* Remember when pg connected (for max_connection_lifetime); the caller holds p->mu. */
static void conn_born_locked(struct conn_pool *p, PGconn *pg, int64_t now)
{
	for (int i = 0; i < p->conf->max_open; i++) {
		if (!p->born[i].pg) {
			p->born[i].pg = pg;
			p->born[i].born = now;
			return;
		}
	}
}

/* Whether pg has outlived max_connection_lifetime; forget it when it goes (gone). */
static bool conn_expired_locked(struct conn_pool *p, PGconn *pg, int64_t now, bool gone)
{
	bool old = false;

	for (int i = 0; i < p->conf->max_open; i++) {
		if (p->born[i].pg != pg)
			continue;
		old = (p->conf->max_lifetime > 0 &&
		       now - p->born[i].born >= p->conf->max_lifetime * 1000) ||
		      p->born[i].born < p->reset_at;
		if (gone)
			p->born[i].pg = NULL;
		break;
	}
	return old;
}

/*
 * Whether an idle connection is still good: PostgreSQL says nothing to an
 * idle session unless it ends it (a restart, pg_terminate_backend), so
 * anything to read (the error, or end of file) means it is dead.
 */
static bool conn_idle_alive(PGconn *pg)
{
	struct pollfd pfd = { .fd = PQsocket(pg), .events = POLLIN };

	return PQstatus(pg) == CONNECTION_OK && pfd.fd >= 0 && poll(&pfd, 1, 0) == 0;
}

/* Take an idle connection or open a new one, waiting for a free slot. */
int conn_checkout(struct conn_pool *p, PGconn **out, bool *reused, char *errbuf)
{
	struct timespec deadline;
	struct dbconf *c;
	PGconn *pg = NULL;
	int64_t wait_ms;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	pthread_mutex_lock(&p->mu);
	wait_ms = p->conf->pool_timeout_ms;
	conn_deadline_start(p->conf->op_timeout_ms);
	deadline.tv_sec += wait_ms / 1000;
	deadline.tv_nsec += (wait_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	*reused = false;
	for (;;) {
		if (p->nidle > 0) {
			pg = p->idle[--p->nidle];
			/* Never hand out a dead or too old connection: a new one instead. */
			if (conn_idle_alive(pg) &&
			    !conn_expired_locked(p, pg, conn_mono_ms(), false))
				break;
			conn_expired_locked(p, pg, 0, true);
			p->open--;
			pthread_mutex_unlock(&p->mu);
			PQfinish(pg);
			pg = NULL;
			pthread_mutex_lock(&p->mu);
			continue;
		}
		if (p->open < p->conf->max_open) {
			p->open++;
			c = dbconf_ref(p->conf);
			pthread_mutex_unlock(&p->mu);
			r = conn_connect(c, &pg, errbuf);
			dbconf_unref(c);
			pthread_mutex_lock(&p->mu);
			if (r != 0) {
				p->open--;
				pthread_cond_signal(&p->cv);
				pthread_mutex_unlock(&p->mu);
				return r;
			}
			conn_born_locked(p, pg, conn_mono_ms());
			pthread_mutex_unlock(&p->mu);
			*out = pg;
			return 0;
		}
		p->waits++;
		if (pthread_cond_timedwait(&p->cv, &p->mu, &deadline) == ETIMEDOUT) {
			p->wait_timeouts++;
			pthread_mutex_unlock(&p->mu);
			snprintf(errbuf, CONN_ERRLEN,
				 "no free connection within pool_timeout (%lld ms, "
				 "max_open_connections %d)",
				 (long long)wait_ms, p->conf->max_open);
			return -EAGAIN;
		}
	}
	pthread_mutex_unlock(&p->mu);
	*out = pg;
	*reused = true;
	return 0;
}

void conn_checkin(struct conn_pool *p, PGconn *pg)
{
	bool keep = PQstatus(pg) == CONNECTION_OK && PQtransactionStatus(pg) == PQTRANS_IDLE &&
		    PQpipelineStatus(pg) == PQ_PIPELINE_OFF;

	pthread_mutex_lock(&p->mu);
	if (keep && p->nidle < p->conf->max_idle && p->nidle < p->conf->max_open &&
	    !conn_expired_locked(p, pg, conn_mono_ms(), false)) {
		p->idle[p->nidle++] = pg;
		pg = NULL;
	} else {
		conn_expired_locked(p, pg, 0, true);
		p->open--;
	}
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	PQfinish(pg);
}

int conn_pool_reset(struct conn_pool *p)
{
	PGconn **idle;
	int n;

	pthread_mutex_lock(&p->mu);
	n = p->nidle;
	if (!(idle = calloc(n ? n : 1, sizeof(*idle)))) {
		pthread_mutex_unlock(&p->mu);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		idle[i] = p->idle[i];
		conn_expired_locked(p, idle[i], 0, true);
	}
	p->open -= n;
	p->nidle = 0;
	/* Those in use now are closed when they come back. */
	p->reset_at = conn_mono_ms() + 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < n; i++)
		PQfinish(idle[i]);
	free(idle);
	return n;
}

void conn_pool_stats(struct conn_pool *p, struct conn_pool_stat *st)
{
	pthread_mutex_lock(&p->mu);
	st->open = p->open;
	st->idle = p->nidle;
	st->max_open = p->conf->max_open;
	st->waits = p->waits;
	st->wait_timeouts = p->wait_timeouts;
	pthread_mutex_unlock(&p->mu);
}

/* --- retrying lost races ------------------------------------------------- */

/*
 * Catalog updates race: two transactions that change the same pg_authid or
 * ACL row (a GRANT of one group role by many creations, a revocation next
 * to an issue) can fail with "tuple concurrently updated", a deadlock or a
 * serialization failure. Nothing was committed, so run it again.
 */
bool conn_transient(const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	if (!state)
		return false;
	if (!strcmp(state, "40001") || !strcmp(state, "40P01"))
		return true;
	return !strcmp(state, "XX000") && msg && strstr(msg, "concurrently updated");
}

/* Between retries of a lost race: a few milliseconds, growing and jittered, so the racers part. */
void conn_backoff(int attempt)
{
	usleep((useconds_t)(1000 * (1 + attempt) + randombytes_uniform(2000 * (1 + attempt))));
}

PGresult *conn_exec_retry(PGconn *pg, const char *sql)
{
	PGresult *res = NULL;

	for (int attempt = 0;; attempt++) {
		ExecStatusType st;

		res = conn_exec(pg, sql);
		st = PQresultStatus(res);
		if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ||
		    attempt + 1 >= CONN_RETRIES || !conn_transient(res))
			return res;
		if (PQtransactionStatus(pg) != PQTRANS_IDLE) {
			PGresult *rb = conn_exec(pg, "ROLLBACK");

			st = PQresultStatus(rb);
			PQclear(rb);
			if (st != PGRES_COMMAND_OK)
				return res;
		}
		PQclear(res);
		conn_backoff(attempt);
	}
}

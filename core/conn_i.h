/* SPDX-License-Identifier: MIT */
/*
 * conn_i.h - the pool's insides, shared by conn.c (connecting, the pool,
 * errors, retries) and conn_sql.c (the credential SQL). Only conn*.c
 * include this header, and with it <libpq-fe.h>.
 */
#ifndef CREDFS_CONN_I_H
#define CREDFS_CONN_I_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "conn.h"
#include "tmpl.h"

#define CONN_RETRIES 8

/* When an open connection connected (max_connection_lifetime). */
struct conn_birth {
	PGconn *pg;
	int64_t born; /* monotonic ms */
};

struct conn_pool {
	int refs; /* atomic */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct dbconf *conf; /* protected by mu; swapped by root rotation */
	PGconn **idle; /* protected by mu; max_open slots */
	int nidle; /* protected by mu */
	struct conn_birth *born; /* protected by mu; max_open slots: every open connection */
	int open; /* protected by mu: idle + checked out */
	uint64_t waits, wait_timeouts; /* protected by mu: checkouts that waited, gave up */
	int64_t reset_at; /* protected by mu: connections born before it are not reused */
};

/* conn_mask - replace every occurrence of secret (may be NULL) in buf with "(hidden)". */
void conn_mask(char *buf, const char *secret);
/* conn_set_err - prefix and the first line of msg (NULL: "unknown error") into errbuf. */
void conn_set_err(char *errbuf, const char *prefix, const char *msg);
/* conn_result_err - res's primary message (res may be NULL), else pg's, into errbuf. */
void conn_result_err(char *errbuf, const PGresult *res, PGconn *pg);

/*
 * conn_checkout - an idle connection of p (*reused) or a new one (*out,
 * for this thread alone until conn_checkin), waiting up to the
 * connection's pool_timeout for a free slot (-EAGAIN then). Starts this
 * thread's operation deadline (op_timeout_ms). 0 or a negative errno with
 * errbuf set. Takes p->mu; never hold it.
 */
int conn_checkout(struct conn_pool *p, PGconn **out, bool *reused, char *errbuf);

/*
 * conn_deadline_start - every wait of this thread for PostgreSQL's answer
 * ends budget_ms from now (0: none), with a failed result and the
 * connection abandoned (see conn_get_result).
 */
void conn_deadline_start(int64_t budget_ms);
/* conn_deadline_expired - whether this thread's deadline cut an answer short. */
bool conn_deadline_expired(void);
/*
 * conn_get_result - PQgetResult within this thread's deadline: past it, one
 * empty fatal result (conn_result_err names the deadline), then NULL.
 */
PGresult *conn_get_result(PGconn *pg);
/* conn_exec, conn_exec_params - PQexec, PQexecParams (text, no types) within the deadline. */
PGresult *conn_exec(PGconn *pg, const char *sql);
PGresult *conn_exec_params(PGconn *pg, const char *sql, int n, const char *const *values);
/* conn_checkin - give pg back (taken): kept idle when usable, else closed. */
void conn_checkin(struct conn_pool *p, PGconn *pg);

/* conn_transient - res failed on a lost catalog race: nothing committed, run it again. */
bool conn_transient(const PGresult *res);
/* conn_backoff - sleep before retry attempt + 1 (a few ms, growing, jittered). */
void conn_backoff(int attempt);
/*
 * conn_exec_retry - PQexec(pg, sql), run again up to CONN_RETRIES times
 * while it fails transiently. Returns the last result (new: PQclear it).
 */
PGresult *conn_exec_retry(PGconn *pg, const char *sql);

/*
 * conn_password_value - what {{password}} of a statement becomes for user:
 * pw itself, or its SCRAM verifier (password_authentication). New string,
 * wipe and free it; NULL on failure.
 */
char *conn_password_value(PGconn *pg, const struct dbconf *c, const char *user,
			  const struct secret *pw);
/* conn_exec_stmts - render stmts with vars and run them as one message. 0 or -EIO with errbuf. */
int conn_exec_stmts(PGconn *pg, char *const *stmts, size_t n, const struct tmpl_var *vars,
		    size_t nvars, char *errbuf);

#endif

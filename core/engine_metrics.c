/* SPDX-License-Identifier: MIT */
/*
 * engine_metrics.c - the metrics file: what the engine counted (metrics.h)
 * and gauges read when the file is opened: leases by role and state, each
 * connection's lane and pool, the journal. Prometheus text exposition
 * format 0.0.4; role and connection names, never a secret.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "engine_i.h"
#include "lanes.h"

static const struct {
	const char *family, *help;
} engine_metrics_help[] = {
	{ "credfs_issues_total", "Opens of creds/ROLE by result (ok, limit, busy, error)." },
	{ "credfs_issue_duration_seconds",
	  "From open to credential, queue and PostgreSQL included (successful issues)." },
	{ "credfs_renewals_total", "Renewals (VALID UNTIL updates) by result." },
	{ "credfs_revocations_total", "Revocation attempts by result." },
	{ "credfs_quota_refusals_total",
	  "Opens refused by a role limit (max_leases, max_leases_per_uid, issue_rate)." },
};

static const char *engine_metrics_help_of(const char *family)
{
	for (size_t i = 0; i < sizeof(engine_metrics_help) / sizeof(engine_metrics_help[0]); i++)
		if (!strcmp(engine_metrics_help[i].family, family))
			return engine_metrics_help[i].help;
	return family;
}

void engine_metrics_issue(struct engine *e, const char *role, const char *conn, int r,
			  const char *result, int64_t ms)
{
	struct metrics_label lab[] = {
		{ "role", role },
		{ "connection", conn ? conn : "" },
		{ "result", result	   ? result
			    : r == 0	   ? "ok"
			    : r == -EAGAIN ? "busy"
					   : "error" },
	};

	if (!e->metrics)
		return;
	metrics_inc(e->metrics, "credfs_issues_total", lab, 3);
	if (r == 0)
		metrics_observe(e->metrics, "credfs_issue_duration_seconds", &lab[1], 1, ms);
}

void engine_metrics_job(struct engine *e, const char *action, const struct lease *l,
			const char *err)
{
	const char *family = !strcmp(action, "renew")	 ? "credfs_renewals_total"
			     : !strcmp(action, "revoke") ? "credfs_revocations_total"
							 : NULL;
	struct metrics_label lab[] = {
		{ "role", l->role->name },
		{ "connection", l->role->db_name },
		{ "result", err ? "error" : "ok" },
	};

	if (family && e->metrics)
		metrics_inc(e->metrics, family, lab, 3);
}

void engine_metrics_refused(struct engine *e, const char *role, const char *limit)
{
	struct metrics_label lab[] = { { "role", role }, { "limit", limit } };

	if (e->metrics)
		metrics_inc(e->metrics, "credfs_quota_refusals_total", lab, 2);
}

static void engine_metrics_head(FILE *f, const char *family, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", family, help, family, type);
}

/* One gauge or counter line: family{labels} value. */
static void engine_metrics_line(FILE *f, const char *family, const struct metrics_label *lab, int n,
				unsigned long long v)
{
	fputs(family, f);
	metrics_labels(f, lab, n);
	fprintf(f, " %llu\n", v);
}

static const char *const engine_state_names[] = { "held", "let_go", "revoking", "failed",
						  "revoked" };

/* Leases by role and state, from one snapshot of the table. */
static void engine_metrics_leases(struct engine *e, FILE *f)
{
	struct lease **ls = NULL;
	size_t n = 0;

	engine_metrics_head(f, "credfs_leases", "gauge", "Live leases by role and state.");
	if (leasesvc_snapshot(e->svc, &ls, &n) != 0)
		return;
	/* Sort-free counting: one pass per distinct (role, state), few of them. */
	for (size_t i = 0; i < n; i++) {
		unsigned long long count = 0;
		bool seen = false;

		for (size_t k = 0; k < i && !seen; k++)
			seen = ls[k]->state == ls[i]->state &&
			       !strcmp(ls[k]->role->name, ls[i]->role->name);
		if (seen)
			continue;
		for (size_t k = i; k < n; k++)
			count += ls[k]->state == ls[i]->state &&
				 !strcmp(ls[k]->role->name, ls[i]->role->name);
		struct metrics_label lab[] = {
			{ "role", ls[i]->role->name },
			{ "state", (unsigned)ls[i]->state < 5 ? engine_state_names[ls[i]->state]
							      : "unknown" },
		};
		engine_metrics_line(f, "credfs_leases", lab, 2, count);
	}
	for (size_t i = 0; i < n; i++)
		lease_unref(ls[i]);
	free(ls);
}

static void engine_metrics_lanes(struct engine *e, FILE *f)
{
	static const char *const fam[] = { "credfs_lane_threads", "credfs_lane_busy_threads",
					   "credfs_lane_queued", "credfs_lane_expired_total",
					   "credfs_lane_refused_total" };
	static const char *const help[] = {
		"Threads of the connection's lane.",
		"Threads of the lane running a job.",
		"Jobs waiting in the lane (urgent: renewals and revocations; normal: issues).",
		"Issues dropped after waiting pool_timeout for a lane thread.",
		"Issues refused because the lane's queue was full.",
	};
	struct lanes_stat *st = NULL;
	size_t n = 0;

	if (lanes_stats(leasesvc_lanes(e->svc), &st, &n) != 0)
		return;
	for (int k = 0; k < 5; k++) {
		engine_metrics_head(f, fam[k], k >= 3 ? "counter" : "gauge", help[k]);
		for (size_t i = 0; i < n; i++) {
			struct metrics_label lab[] = { { "connection", st[i].key },
						       { "queue", "urgent" } };

			if (k == 0)
				engine_metrics_line(f, fam[k], lab, 1, (unsigned)st[i].threads);
			else if (k == 1)
				engine_metrics_line(f, fam[k], lab, 1, (unsigned)st[i].busy);
			else if (k == 2) {
				engine_metrics_line(f, fam[k], lab, 2, st[i].urgent);
				lab[1].value = "normal";
				engine_metrics_line(f, fam[k], lab, 2, st[i].normal);
			} else {
				engine_metrics_line(f, fam[k], lab, 1,
						    k == 3 ? st[i].expired : st[i].refused);
			}
		}
	}
	free(st);
}

struct engine_conn_names {
	char **names;
	size_t n, cap;
};

static void engine_metrics_conn(void *ctx, const char *name, uint64_t version, bool current,
				const struct dbconf *c, const struct secret *pending)
{
	struct engine_conn_names *cn = ctx;

	(void)version;
	(void)c;
	(void)pending;
	if (!current)
		return;
	if (cn->n == cn->cap) {
		size_t cap = cn->cap ? 2 * cn->cap : 8;
		char **nn = realloc(cn->names, cap * sizeof(*nn));

		if (!nn)
			return;
		cn->names = nn;
		cn->cap = cap;
	}
	if ((cn->names[cn->n] = strdup(name)))
		cn->n++;
}

static void engine_metrics_pools(struct engine *e, FILE *f)
{
	static const char *const fam[] = { "credfs_pool_open_connections",
					   "credfs_pool_idle_connections",
					   "credfs_pool_max_open_connections",
					   "credfs_pool_waits_total",
					   "credfs_pool_wait_timeouts_total" };
	static const char *const help[] = {
		"Connections open to PostgreSQL (idle and in use).",
		"Idle connections kept in the pool.",
		"max_open_connections of the connection.",
		"Checkouts that had to wait for a free connection.",
		"Checkouts that gave up after pool_timeout.",
	};
	struct engine_conn_names cn = { 0 };
	struct conn_pool_stat *st;

	registry_foreach(e->reg, engine_metrics_conn, NULL, &cn);
	st = calloc(cn.n ? cn.n : 1, sizeof(*st));
	for (size_t i = 0; st && i < cn.n; i++) {
		struct conn_pool *p = registry_pool(e->reg, cn.names[i], 0, NULL);

		if (p)
			conn_pool_stats(p, &st[i]);
		conn_pool_unref(p);
	}
	for (int k = 0; st && k < 5; k++) {
		engine_metrics_head(f, fam[k], k >= 3 ? "counter" : "gauge", help[k]);
		for (size_t i = 0; i < cn.n; i++) {
			struct metrics_label lab[] = { { "connection", cn.names[i] } };
			unsigned long long v = k == 0	? (unsigned)st[i].open
					       : k == 1 ? (unsigned)st[i].idle
					       : k == 2 ? (unsigned)st[i].max_open
					       : k == 3 ? st[i].waits
							: st[i].wait_timeouts;

			engine_metrics_line(f, fam[k], lab, 1, v);
		}
	}
	for (size_t i = 0; i < cn.n; i++)
		free(cn.names[i]);
	free(cn.names);
	free(st);
}

static void engine_metrics_journal(struct engine *e, FILE *f)
{
	uint64_t compactions = 0;
	int64_t at = 0;
	size_t bytes = 0;

	journal_stats(e->journal, &bytes, &compactions, &at);
	engine_metrics_head(f, "credfs_journal_bytes", "gauge",
			    "Size of the state journal (0 with --state none).");
	fprintf(f, "credfs_journal_bytes %zu\n", bytes);
	engine_metrics_head(f, "credfs_journal_compactions_total", "counter",
			    "Compactions of the journal since the daemon started.");
	fprintf(f, "credfs_journal_compactions_total %llu\n", (unsigned long long)compactions);
	engine_metrics_head(f, "credfs_journal_last_compaction_timestamp_seconds", "gauge",
			    "When the journal was last compacted (0: not since start).");
	fprintf(f, "credfs_journal_last_compaction_timestamp_seconds %.3f\n", (double)at / 1000.0);
}

int engine_metrics(struct engine *e, char **out, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	if (!f)
		return -ENOMEM;
	if (e->metrics)
		metrics_write(e->metrics, f, engine_metrics_help_of);
	engine_metrics_leases(e, f);
	engine_metrics_lanes(e, f);
	engine_metrics_pools(e, f);
	engine_metrics_journal(e, f);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	*len = n;
	return 0;
}

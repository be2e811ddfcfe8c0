/* SPDX-License-Identifier: MIT */
/*
 * metrics.c - labelled counters and histograms (see metrics.h). A few
 * dozen series at most (roles x connections x results), so a linear
 * search under one mutex is cheaper than anything cleverer.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

/* Histogram bounds, ms (written in seconds, as Prometheus names them). */
static const int64_t metrics_bounds[] = { 1,   2,   5,	  10,	25,   50,    100,
					  250, 500, 1000, 2500, 5000, 10000, 30000 };
#define METRICS_NB (sizeof(metrics_bounds) / sizeof(metrics_bounds[0]))

struct metrics_series {
	char *family;
	char *labels; /* rendered: a="x",b="y" */
	bool hist;
	uint64_t count; /* counter value, or observations */
	uint64_t buckets[METRICS_NB]; /* cumulative at render, per bucket here */
	int64_t sum_ms;
};

struct metrics {
	pthread_mutex_t mu;
	struct metrics_series *s;
	size_t n, cap;
};

struct metrics *metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (m)
		pthread_mutex_init(&m->mu, NULL);
	return m;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++) {
		free(m->s[i].family);
		free(m->s[i].labels);
	}
	free(m->s);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

static void metrics_escape(FILE *f, const char *v)
{
	for (; v && *v; v++) {
		if (*v == '\\')
			fputs("\\\\", f);
		else if (*v == '"')
			fputs("\\\"", f);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

/* HELP text: only \\ and newline are escaped there (a " is itself). */
static void metrics_escape_help(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\')
			fputs("\\\\", f);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

static void metrics_label_list(FILE *f, const struct metrics_label *labels, int n)
{
	for (int i = 0; i < n; i++) {
		fprintf(f, "%s%s=\"", i ? "," : "", labels[i].name);
		metrics_escape(f, labels[i].value);
		fputc('"', f);
	}
}

void metrics_labels(FILE *out, const struct metrics_label *labels, int n)
{
	if (n <= 0)
		return;
	fputc('{', out);
	metrics_label_list(out, labels, n);
	fputc('}', out);
}

/* The series family{labels}, created if new; NULL on ENOMEM. The caller holds mu. */
static struct metrics_series *metrics_get(struct metrics *m, const char *family,
					  const struct metrics_label *labels, int n, bool hist)
{
	struct metrics_series *s;
	char *lab = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&lab, &len);

	if (!f)
		return NULL;
	metrics_label_list(f, labels, n > 3 ? 3 : n);
	if (fclose(f) != 0) {
		free(lab);
		return NULL;
	}
	for (size_t i = 0; i < m->n; i++) {
		if (!strcmp(m->s[i].family, family) && !strcmp(m->s[i].labels, lab)) {
			free(lab);
			return &m->s[i];
		}
	}
	if (m->n == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 16;
		struct metrics_series *ns = realloc(m->s, cap * sizeof(*ns));

		if (!ns) {
			free(lab);
			return NULL;
		}
		m->s = ns;
		m->cap = cap;
	}
	s = &m->s[m->n];
	memset(s, 0, sizeof(*s));
	if (!(s->family = strdup(family))) {
		free(lab);
		return NULL;
	}
	s->labels = lab;
	s->hist = hist;
	m->n++;
	return s;
}

void metrics_inc(struct metrics *m, const char *family, const struct metrics_label *labels, int n)
{
	struct metrics_series *s;

	pthread_mutex_lock(&m->mu);
	if ((s = metrics_get(m, family, labels, n, false)))
		s->count++;
	pthread_mutex_unlock(&m->mu);
}

void metrics_observe(struct metrics *m, const char *family, const struct metrics_label *labels,
		     int n, int64_t ms)
{
	struct metrics_series *s;

	pthread_mutex_lock(&m->mu);
	if ((s = metrics_get(m, family, labels, n, true))) {
		s->count++;
		s->sum_ms += ms < 0 ? 0 : ms;
		for (size_t b = 0; b < METRICS_NB; b++) {
			if (ms <= metrics_bounds[b]) {
				s->buckets[b]++;
				break;
			}
		}
	}
	pthread_mutex_unlock(&m->mu);
}

static int metrics_cmp(const void *a, const void *b)
{
	const struct metrics_series *x = a, *y = b;
	int c = strcmp(x->family, y->family);

	return c ? c : strcmp(x->labels, y->labels);
}

static void metrics_write_hist(FILE *out, const struct metrics_series *s)
{
	const char *sep = *s->labels ? "," : "";
	uint64_t cum = 0;

	for (size_t b = 0; b < METRICS_NB; b++) {
		cum += s->buckets[b];
		fprintf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", s->family, s->labels, sep,
			(double)metrics_bounds[b] / 1000.0, (unsigned long long)cum);
	}
	fprintf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", s->family, s->labels, sep,
		(unsigned long long)s->count);
	fprintf(out, "%s_sum%s%s%s %.3f\n", s->family, *s->labels ? "{" : "", s->labels,
		*s->labels ? "}" : "", (double)s->sum_ms / 1000.0);
	fprintf(out, "%s_count%s%s%s %llu\n", s->family, *s->labels ? "{" : "", s->labels,
		*s->labels ? "}" : "", (unsigned long long)s->count);
}

void metrics_write(struct metrics *m, FILE *out, const char *(*help_of)(const char *family))
{
	const char *last = NULL;

	pthread_mutex_lock(&m->mu);
	if (m->n > 1)
		qsort(m->s, m->n, sizeof(*m->s), metrics_cmp);
	for (size_t i = 0; i < m->n; i++) {
		const struct metrics_series *s = &m->s[i];

		if (!last || strcmp(last, s->family) != 0) {
			const char *help = help_of ? help_of(s->family) : NULL;

			fprintf(out, "# HELP %s ", s->family);
			metrics_escape_help(out, help ? help : s->family);
			fprintf(out, "\n# TYPE %s %s\n", s->family,
				s->hist ? "histogram" : "counter");
			last = s->family;
		}
		if (s->hist)
			metrics_write_hist(out, s);
		else if (*s->labels)
			fprintf(out, "%s{%s} %llu\n", s->family, s->labels,
				(unsigned long long)s->count);
		else
			fprintf(out, "%s %llu\n", s->family, (unsigned long long)s->count);
	}
	pthread_mutex_unlock(&m->mu);
}

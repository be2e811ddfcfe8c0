/* SPDX-License-Identifier: MIT */
/*
 * metrics.h - counters and latency histograms by label, rendered in
 * Prometheus text exposition format (version 0.0.4). Pure: no engine, no
 * clock; the engine adds gauges of its own when it renders (metrics_text).
 *
 * A series is a family name and up to three labels. Label values are
 * escaped as the format requires (\\, \", \n); names are the caller's
 * constants. Nothing secret is ever given to it: role and connection
 * names, results and limits only.
 *
 * Thread-safety: every function may be called from any thread.
 */
#ifndef CREDFS_METRICS_H
#define CREDFS_METRICS_H

#include <stdint.h>
#include <stdio.h>

struct metrics;

/* A label: name="value"; value may be NULL ("" is written). */
struct metrics_label {
	const char *name;
	const char *value;
};

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* metrics_inc - add 1 to counter family{labels} (n labels, at most 3). */
void metrics_inc(struct metrics *m, const char *family, const struct metrics_label *labels, int n);

/* metrics_observe - one observation (ms) of histogram family{labels}. */
void metrics_observe(struct metrics *m, const char *family, const struct metrics_label *labels,
		     int n, int64_t ms);

/*
 * metrics_write - every series, grouped by family, each family after its
 * # HELP and # TYPE lines (help_of(family) gives the help text).
 */
void metrics_write(struct metrics *m, FILE *out, const char *(*help_of)(const char *family));

/* metrics_labels - the label set {a="x",b="y"} as the format writes it, to out. */
void metrics_labels(FILE *out, const struct metrics_label *labels, int n);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * test_metrics.c - labelled counters and histograms in Prometheus text
 * format 0.0.4: counts per label set, label value and HELP escaping, one
 * HELP and one TYPE per family before its samples, cumulative buckets
 * with le="+Inf" == _count and _sum in seconds, no increment lost to
 * concurrent threads; and the rendered text passes
 * tests/integration/promcheck.py when python3 is there.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "metrics.h"
#include "test.h"

/* The whole rendering (malloc'd). */
static char *render(struct metrics *m, const char *(*help_of)(const char *family))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CHECK(f != NULL);
	if (!f)
		return strdup("");
	metrics_write(m, f, help_of);
	fclose(f);
	return buf;
}

/* Does text have line as one of its lines (exactly)? */
static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, line, n) && (p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

#define CHECK_LINE(text, line)                                                                 \
	do {                                                                                   \
		if (!has_line(text, line)) {                                                   \
			t_bad = 1;                                                             \
			fprintf(stderr, "%s:%d: no line \"%s\" in:\n%s\n", __FILE__, __LINE__, \
				line, text);                                                   \
		}                                                                              \
	} while (0)

/* Lines of text that start with prefix. */
static int count_prefix(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);
	int c = 0;

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		c += !strncmp(p, prefix, n);
	return c;
}

static const char *help_fixed(const char *family)
{
	if (!strcmp(family, "odd_total"))
		return "Help with a \\ backslash\nand a newline.";
	if (!strcmp(family, "none_total"))
		return NULL;
	return "Some help.";
}

/* python3 tests/integration/promcheck.py ARGS on text: its exit status, or -1 without python3. */
static int promcheck(const char *text, const char *args)
{
	char path[] = "/tmp/credfs-test-metrics.XXXXXX", cmd[1024];
	int fd, r;
	FILE *f;

	if (system("command -v python3 >/dev/null 2>&1") != 0)
		return -1;
	if ((fd = mkstemp(path)) < 0 || !(f = fdopen(fd, "w"))) {
		CHECK(0);
		return -1;
	}
	fputs(text, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "python3 %s/tests/integration/promcheck.py %s %s",
		 CREDFS_SOURCE_DIR, path, args ? args : "");
	r = system(cmd);
	unlink(path);
	return WIFEXITED(r) ? WEXITSTATUS(r) : 128;
}

static void test_counters(void)
{
	struct metrics *m = metrics_new();
	struct metrics_label a[] = { { "role", "app" }, { "connection", "main" } };
	struct metrics_label b[] = { { "role", "app" }, { "connection", "other" } };
	char *t;

	for (int i = 0; i < 3; i++)
		metrics_inc(m, "x_total", a, 2);
	metrics_inc(m, "x_total", b, 2);
	metrics_inc(m, "y_total", NULL, 0);
	metrics_inc(m, "y_total", NULL, 0);
	t = render(m, help_fixed);
	CHECK_LINE(t, "x_total{role=\"app\",connection=\"main\"} 3");
	CHECK_LINE(t, "x_total{role=\"app\",connection=\"other\"} 1");
	CHECK_LINE(t, "y_total 2");
	CHECK_LINE(t, "# TYPE x_total counter");
	CHECK_LINE(t, "# HELP x_total Some help.");
	CHECK_INT_EQ(promcheck(t, NULL) > 0, 0);
	CHECK(promcheck(t, "--get 'x_total{connection=\"main\",role=\"app\"}' >/dev/null") <= 0);
	free(t);
	/* more counting after a rendering goes on from where it was */
	metrics_inc(m, "x_total", a, 2);
	t = render(m, help_fixed);
	CHECK_LINE(t, "x_total{role=\"app\",connection=\"main\"} 4");
	free(t);
	metrics_free(m);
	metrics_free(NULL);
}

/* Label values: \ " and newline escaped, NULL written as "". */
static void test_escaping(void)
{
	struct metrics *m = metrics_new();
	struct metrics_label l[] = { { "role", "a\"b\\c\nd" }, { "connection", NULL } };
	char *t, *buf = NULL;
	size_t len = 0;
	FILE *f;

	metrics_inc(m, "e_total", l, 2);
	metrics_inc(m, "odd_total", NULL, 0);
	metrics_inc(m, "none_total", NULL, 0);
	t = render(m, help_fixed);
	CHECK_LINE(t, "e_total{role=\"a\\\"b\\\\c\\nd\",connection=\"\"} 1");
	/* HELP text: backslash and newline escaped too; no help: the family's name */
	CHECK_LINE(t, "# HELP odd_total Help with a \\\\ backslash\\nand a newline.");
	CHECK_LINE(t, "# HELP none_total none_total");
	CHECK_INT_EQ(count_prefix(t, "and a newline"), 0);
	CHECK_INT_EQ(promcheck(t, NULL) > 0, 0);
	free(t);
	f = open_memstream(&buf, &len);
	metrics_labels(f, l, 2);
	metrics_labels(f, l, 0); /* nothing, not even {} */
	fclose(f);
	CHECK_STR_EQ(buf, "{role=\"a\\\"b\\\\c\\nd\",connection=\"\"}");
	free(buf);
	metrics_free(m);
}

/* Families interleaved when counted come out grouped, each with one HELP and TYPE first. */
static void test_grouping(void)
{
	static const char *const fam[] = { "b_total", "a_total", "c_seconds" };
	struct metrics *m = metrics_new();
	char *t, line[128];

	for (int i = 0; i < 12; i++) {
		char v[8];
		struct metrics_label l[] = { { "n", v } };

		snprintf(v, sizeof(v), "%d", i % 4);
		if (i % 3 == 2)
			metrics_observe(m, fam[2], l, 1, i);
		else
			metrics_inc(m, fam[i % 3], l, 1);
	}
	t = render(m, NULL);
	for (int k = 0; k < 3; k++) {
		const char *help, *type, *first = NULL, *last = NULL;
		size_t n = strlen(fam[k]);

		snprintf(line, sizeof(line), "# HELP %s ", fam[k]);
		CHECK_INT_EQ(count_prefix(t, line), 1);
		help = strstr(t, line);
		snprintf(line, sizeof(line), "# TYPE %s %s", fam[k],
			 k == 2 ? "histogram" : "counter");
		CHECK_INT_EQ(count_prefix(t, line), 1);
		type = strstr(t, line);
		snprintf(line, sizeof(line), "# TYPE %s ", fam[k]);
		CHECK_INT_EQ(count_prefix(t, line), 1);
		/* samples: after both, and contiguous (no other family's line among them) */
		for (const char *p = t; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
			if (!strncmp(p, fam[k], n) && (p[n] == '{' || p[n] == ' ' || p[n] == '_')) {
				if (!first)
					first = p;
				last = p;
			}
		}
		CHECK(help && type && first && help < first && type < first);
		CHECK(!help || !type || type == strchr(help, '\n') + 1);
		for (const char *p = first; p && p <= last; p = strchr(p, '\n') + 1)
			CHECK(!strncmp(p, fam[k], n));
	}
	CHECK_LINE(t, "a_total{n=\"1\"} 1");
	CHECK_LINE(t, "b_total{n=\"0\"} 1");
	CHECK_LINE(t, "b_total{n=\"3\"} 1");
	CHECK_INT_EQ(count_prefix(t, "# "), 6);
	CHECK_INT_EQ(promcheck(t, NULL) > 0, 0);
	free(t);
	metrics_free(m);
}

/* Buckets cumulative, le="+Inf" == _count, _sum in seconds. */
static void test_histogram(void)
{
	static const int64_t obs[] = { 0, 1, 3, 7, 100, 2500, 40000, -5 };
	struct metrics *m = metrics_new();
	struct metrics_label l[] = { { "connection", "main" } };
	char *t;

	for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++)
		metrics_observe(m, "d_seconds", l, 1, obs[i]);
	metrics_observe(m, "u_seconds", NULL, 0, 20);
	t = render(m, NULL);
	CHECK_LINE(t, "# TYPE d_seconds histogram");
	CHECK_LINE(t, "d_seconds_bucket{connection=\"main\",le=\"0.001\"} 3"); /* -5, 0, 1 */
	CHECK_LINE(t, "d_seconds_bucket{connection=\"main\",le=\"0.002\"} 3");
	CHECK_LINE(t, "d_seconds_bucket{connection=\"main\",le=\"0.005\"} 4");
	CHECK_LINE(t, "d_seconds_bucket{connection=\"main\",le=\"0.01\"} 5");
	CHECK_LINE(t, "d_seconds_bucket{connection=\"main\",le=\"0.1\"} 6");
	CHECK_LINE(t, "d_seconds_bucket{connection=\"main\",le=\"1\"} 6");
	CHECK_LINE(t, "d_seconds_bucket{connection=\"main\",le=\"2.5\"} 7");
	CHECK_LINE(t, "d_seconds_bucket{connection=\"main\",le=\"30\"} 7");
	CHECK_LINE(t, "d_seconds_bucket{connection=\"main\",le=\"+Inf\"} 8");
	CHECK_LINE(t, "d_seconds_count{connection=\"main\"} 8");
	CHECK_LINE(t, "d_seconds_sum{connection=\"main\"} 42.611"); /* negative counts 0 */
	CHECK_LINE(t, "u_seconds_bucket{le=\"0.025\"} 1");
	CHECK_LINE(t, "u_seconds_bucket{le=\"+Inf\"} 1");
	CHECK_LINE(t, "u_seconds_sum 0.020");
	CHECK_LINE(t, "u_seconds_count 1");
	/* buckets never decrease */
	{
		unsigned long long prev = 0, v;
		int n = 0;

		for (const char *p = strstr(t, "d_seconds_bucket");
		     p && !strncmp(p, "d_seconds_bucket", 16); p = strchr(p, '\n') + 1, n++) {
			CHECK(sscanf(strchr(p, '}') + 1, " %llu", &v) == 1);
			CHECK(v >= prev);
			prev = v;
		}
		CHECK_INT_EQ(n, 15); /* 14 bounds and +Inf */
	}
	CHECK_INT_EQ(promcheck(t, NULL) > 0, 0);
	free(t);
	metrics_free(m);
}

#define THREADS 4
#define INCS	20000

static struct metrics *shared;

static void *inc_main(void *arg)
{
	struct metrics_label l[] = { { "t", (intptr_t)arg % 2 ? "odd" : "even" } };

	for (int i = 0; i < INCS; i++) {
		metrics_inc(shared, "c_total", l, 1);
		metrics_inc(shared, "all_total", NULL, 0);
		if (i % 100 == 0)
			metrics_observe(shared, "h_seconds", NULL, 0, i % 7);
	}
	return NULL;
}

static void *render_main(void *arg)
{
	(void)arg;
	for (int i = 0; i < 20; i++)
		free(render(shared, NULL));
	return NULL;
}

/* Concurrent increments (and renderings meanwhile) lose nothing. */
static void test_concurrent(void)
{
	pthread_t th[THREADS + 1];
	char *t, line[64];

	shared = metrics_new();
	for (intptr_t i = 0; i < THREADS; i++)
		CHECK_INT_EQ(pthread_create(&th[i], NULL, inc_main, (void *)i), 0);
	CHECK_INT_EQ(pthread_create(&th[THREADS], NULL, render_main, NULL), 0);
	for (int i = 0; i <= THREADS; i++)
		pthread_join(th[i], NULL);
	t = render(shared, NULL);
	snprintf(line, sizeof(line), "c_total{t=\"odd\"} %d", THREADS / 2 * INCS);
	CHECK_LINE(t, line);
	snprintf(line, sizeof(line), "c_total{t=\"even\"} %d", THREADS / 2 * INCS);
	CHECK_LINE(t, line);
	snprintf(line, sizeof(line), "all_total %d", THREADS * INCS);
	CHECK_LINE(t, line);
	snprintf(line, sizeof(line), "h_seconds_count %d", THREADS * INCS / 100);
	CHECK_LINE(t, line);
	CHECK_INT_EQ(promcheck(t, NULL) > 0, 0);
	free(t);
	metrics_free(shared);
}

/* The checker itself rejects what it must (skipped without python3). */
static void test_promcheck_rejects(void)
{
	static const char *const bad[] = {
		"a 1",
		"a{x=\"\\t\"} 1\n",
		"a{x=\"1\"} 1\nb 1\na{x=\"2\"} 1\n",
		"# TYPE a counter\n# TYPE a counter\na 1\n",
		"a{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 1\n",
		"# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 0\nh_count 1\n",
		"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 0\nh_count 3\n",
	};

	if (promcheck("a 1\n", NULL) < 0) {
		printf("test_promcheck_rejects: no python3, skipped\n");
		return;
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT_EQ(promcheck(bad[i], "2>/dev/null"), 1);
	CHECK_INT_EQ(promcheck("a{x=\"1\"} 7\n", "--get 'a{x=\"2\"}' 2>/dev/null"), 3);
}

int main(void)
{
	RUN(test_counters);
	RUN(test_escaping);
	RUN(test_grouping);
	RUN(test_histogram);
	RUN(test_concurrent);
	RUN(test_promcheck_rejects);
	return DONE();
}

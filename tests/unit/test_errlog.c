/* SPDX-License-Identifier: MIT */
/*
 * test_errlog.c - MOUNT/errors: one line per event, per-user visibility,
 * the newest ERRLOG_KEEP kept.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errlog.h"
#include "test.h"

#define T0 1700000000000LL /* 2023-11-14T22:13:20Z */

static char *render(struct errlog *e, uid_t uid, int all, size_t *len)
{
	char *out = NULL;
	size_t n = 0;

	CHECK_INT_EQ(errlog_render(e, uid, all, &out, &n), 0);
	if (out) {
		CHECK_INT_EQ(strlen(out), n);
	}
	if (len)
		*len = n;
	return out;
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		if (*s == '\n')
			n++;
	return n;
}

/* Each line is "<time> <path>: <reason>\n"; the text ends with a newline. */
static int well_formed(const char *s)
{
	while (*s) {
		const char *nl = strchr(s, '\n');

		if (!nl)
			return 0; /* a last line without its newline */
		if (nl - s < 22 || s[4] != '-' || s[10] != 'T' || s[19] != 'Z' || s[20] != ' ')
			return 0;
		s = nl + 1;
	}
	return 1;
}

static void test_empty(void)
{
	struct errlog *e = errlog_new();
	size_t len = 99;
	char *s;

	CHECK(e != NULL);
	s = render(e, 1000, 0, &len);
	CHECK_STR_EQ(s, "");
	CHECK_INT_EQ(len, 0);
	free(s);
	s = render(e, 0, 1, &len);
	CHECK_STR_EQ(s, "");
	free(s);
	errlog_free(e);
	errlog_free(NULL);
}

static void test_format(void)
{
	struct errlog *e = errlog_new();
	char *s;

	errlog_add(e, T0, 1000, "roles/db-app", "default_ttl may not be greater than max_ttl");
	s = render(e, 1000, 0, NULL);
	CHECK_STR_EQ(
		s,
		"2023-11-14T22:13:20Z roles/db-app: default_ttl may not be greater than max_ttl\n");
	free(s);
	errlog_add(e, T0 + 61500, 1000, "creds/db-app", "database unavailable");
	s = render(e, 1000, 0, NULL);
	CHECK_STR_EQ(s, "2023-11-14T22:13:20Z roles/db-app: default_ttl may not be greater than "
			"max_ttl\n2023-11-14T22:14:21Z creds/db-app: database unavailable\n");
	free(s);
	errlog_free(e);
}

static void test_per_uid(void)
{
	struct errlog *e = errlog_new();
	char *s;

	errlog_add(e, T0, 1000, "roles/a", "alice 1");
	errlog_add(e, T0 + 1000, 1001, "roles/b", "bob 1");
	errlog_add(e, T0 + 2000, 0, "config/c", "root 1");
	errlog_add(e, T0 + 3000, 1000, "roles/a", "alice 2");

	s = render(e, 1000, 0, NULL);
	CHECK_INT_EQ(count_lines(s), 2);
	CHECK(strstr(s, "alice 1") && strstr(s, "alice 2"));
	CHECK(strstr(s, "alice 1") < strstr(s, "alice 2")); /* oldest first */
	CHECK(!strstr(s, "bob") && !strstr(s, "root"));
	free(s);
	s = render(e, 1001, 0, NULL);
	CHECK_INT_EQ(count_lines(s), 1);
	CHECK(strstr(s, "bob 1") != NULL);
	free(s);
	s = render(e, 4242, 0, NULL);
	CHECK_STR_EQ(s, "");
	free(s);
	/* root is filtered like anyone unless all_visible (the caller decides) */
	s = render(e, 0, 0, NULL);
	CHECK_INT_EQ(count_lines(s), 1);
	free(s);
	s = render(e, 4242, 1, NULL);
	CHECK_INT_EQ(count_lines(s), 4);
	CHECK(strstr(s, "alice 1") < strstr(s, "bob 1"));
	CHECK(strstr(s, "bob 1") < strstr(s, "root 1"));
	CHECK(strstr(s, "root 1") < strstr(s, "alice 2"));
	free(s);
	errlog_free(e);
}

static void test_ring(void)
{
	struct errlog *e = errlog_new();
	char reason[32], want[64], *s, *first, *last;
	int total = ERRLOG_KEEP + 72;

	for (int i = 0; i < total; i++) {
		snprintf(reason, sizeof(reason), "event %d", i);
		errlog_add(e, T0 + i, (uid_t)(i % 2 ? 1000 : 1001), "roles/r", reason);
	}
	s = render(e, 0, 1, NULL);
	CHECK_INT_EQ(count_lines(s), ERRLOG_KEEP);
	CHECK(well_formed(s));
	/* the newest ERRLOG_KEEP, oldest first */
	first = s;
	last = s + strlen(s) - 1;
	while (last > s && last[-1] != '\n')
		last--;
	snprintf(want, sizeof(want), "event %d\n", total - ERRLOG_KEEP);
	CHECK(strstr(first, want) == strchr(first, '\n') - strlen(want) + 1);
	snprintf(want, sizeof(want), "event %d\n", total - 1);
	CHECK(strstr(last, want) != NULL);
	snprintf(want, sizeof(want), "event %d\n", total - ERRLOG_KEEP - 1);
	CHECK(strstr(s, want) == NULL);
	free(s);
	/* per uid: half of the kept ones */
	s = render(e, 1000, 0, NULL);
	CHECK_INT_EQ(count_lines(s), ERRLOG_KEEP / 2);
	free(s);
	errlog_free(e);
}

static void test_exactly_keep(void)
{
	struct errlog *e = errlog_new();
	char *s;

	for (int i = 0; i < ERRLOG_KEEP; i++)
		errlog_add(e, T0, 7, "p", i == 0 ? "first" : "x");
	s = render(e, 7, 0, NULL);
	CHECK_INT_EQ(count_lines(s), ERRLOG_KEEP);
	CHECK(strstr(s, "first") != NULL);
	free(s);
	errlog_add(e, T0, 7, "p", "last");
	s = render(e, 7, 0, NULL);
	CHECK_INT_EQ(count_lines(s), ERRLOG_KEEP);
	CHECK(strstr(s, "first") == NULL);
	CHECK(strstr(s, "last\n") != NULL);
	free(s);
	errlog_free(e);
}

/* a newline in a reason (or a path) must not forge a second line */
static void test_no_forged_lines(void)
{
	struct errlog *e = errlog_new();
	char *s;

	errlog_add(e, T0, 1000, "roles/x",
		   "bad value\n2023-11-14T22:13:20Z roles/y: forged by the writer");
	errlog_add(e, T0, 1000, "roles/x\nroles/z", "cr\rlf\r\nend\n");
	s = render(e, 1000, 0, NULL);
	CHECK_INT_EQ(count_lines(s), 2);
	CHECK(strchr(s, '\r') == NULL);
	CHECK(well_formed(s));
	CHECK(strstr(s, "\n2023-11-14T22:13:20Z roles/y") == NULL);
	free(s);
	/* nor does any other control byte reach the reader's terminal */
	errlog_add(e, T0, 1000, "roles/x\x1b[1my", "tab\there, bell\a, del\x7f");
	s = render(e, 1000, 0, NULL);
	for (const char *p = s; *p; p++)
		CHECK(*p == '\n' || ((unsigned char)*p >= 0x20 && *p != 0x7f));
	CHECK(strstr(s, "roles/x?[1my") != NULL);
	free(s);
	errlog_free(e);
}

/* a long reason is cut, but its line still ends: the next one is not glued to it */
static void test_long_reason(void)
{
	struct errlog *e = errlog_new();
	char big[600], *s;

	memset(big, 'r', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	errlog_add(e, T0, 1000, "creds/db-app", big);
	errlog_add(e, T0, 1000, "roles/x", "second");
	s = render(e, 1000, 0, NULL);
	CHECK_INT_EQ(count_lines(s), 2);
	CHECK(well_formed(s));
	CHECK(strstr(s, "\n2023-11-14T22:13:20Z roles/x: second\n") != NULL);
	free(s);
	errlog_free(e);
}

int main(void)
{
	RUN(test_empty);
	RUN(test_format);
	RUN(test_per_uid);
	RUN(test_ring);
	RUN(test_exactly_keep);
	RUN(test_no_forged_lines);
	RUN(test_long_reason);
	return DONE();
}

/* SPDX-License-Identifier: MIT */
/*
 * test_cron.c - 5-field cron schedules: parsing, Vixie day rules, the next
 * fire time across month ends, leap days and years, and the rotation
 * window. Times are UTC seconds; nothing reads a clock.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "cron.h"
#include "gotime.h"
#include "test.h"

/* UTC seconds of a date and time. */
static int64_t at(int64_t y, int mo, int d, int h, int mi)
{
	return gotime_days(y, mo, d) * 86400 + h * 3600 + mi * 60;
}

static char *show(int64_t t)
{
	static char buf[64];
	size_t len;

	if (gotime_format(t * 1000, "2006-01-02 15:04 Mon", 20, buf, sizeof(buf), &len) != 0)
		return "E2BIG";
	return buf;
}

/* The next fire time of expr after t, shown, or the error. */
static const char *next(const char *expr, int64_t t)
{
	struct parse_error err = { 0 };
	struct cron c;
	int64_t n;

	if (cron_parse(expr, &c, &err) != 0)
		return "parse error";
	if (cron_next(&c, t, &n) != 0)
		return "ERANGE";
	CHECK(n > t);
	CHECK(n % 60 == 0);
	CHECK(cron_matches(&c, n));
	return show(n);
}

static const char *refusal(const char *expr)
{
	static struct parse_error err;
	struct cron c;

	memset(&err, 0, sizeof(err));
	CHECK_INT_EQ(cron_parse(expr, &c, &err), -EINVAL);
	return err.text;
}

static void test_fields(void)
{
	int64_t t = at(2026, 12, 2, 10, 17); /* a Wednesday */

	CHECK_STR_EQ(next("* * * * *", t), "2026-12-02 10:18 Wed");
	CHECK_STR_EQ(next("* * * * *", t + 59), "2026-12-02 10:18 Wed");
	CHECK_STR_EQ(next("17 10 * * *", t), "2026-12-03 10:17 Thu"); /* strictly after */
	CHECK_STR_EQ(next("*/15 * * * *", t), "2026-12-02 10:30 Wed");
	CHECK_STR_EQ(next("*/15 * * * *", at(2026, 12, 2, 10, 50)), "2026-12-02 11:00 Wed");
	CHECK_STR_EQ(next("0 */6 * * *", t), "2026-12-02 12:00 Wed");
	CHECK_STR_EQ(next("5-10 * * * *", t), "2026-12-02 11:05 Wed");
	CHECK_STR_EQ(next("20-40/10 * * * *", t), "2026-12-02 10:20 Wed");
	CHECK_STR_EQ(next("20-40/10 * * * *", at(2026, 12, 2, 10, 35)), "2026-12-02 10:40 Wed");
	CHECK_STR_EQ(next("50/5 * * * *", t), "2026-12-02 10:50 Wed"); /* N/STEP = N-59/STEP */
	CHECK_STR_EQ(next("1,2,59 9 * * *", t), "2026-12-03 09:01 Thu");
	CHECK_STR_EQ(next("0 3,22 * * *", t), "2026-12-02 22:00 Wed");
	CHECK_STR_EQ(next("0 0 * JAN *", t), "2027-01-01 00:00 Fri");
	CHECK_STR_EQ(next("0 0 * jan-mar/2 *", t), "2027-01-01 00:00 Fri");
	CHECK_STR_EQ(next("0 0 * * sat", t), "2026-12-05 00:00 Sat");
	CHECK_STR_EQ(next("0 0 * * MON-FRI", at(2026, 12, 4, 12, 0)), "2026-12-07 00:00 Mon");
	CHECK_STR_EQ(next("  0   0  1  1  *  ", t), "2027-01-01 00:00 Fri");
}

static void test_sunday(void)
{
	int64_t t = at(2026, 12, 2, 10, 17);

	CHECK_STR_EQ(next("0 0 * * 0", t), "2026-12-06 00:00 Sun");
	CHECK_STR_EQ(next("0 0 * * 7", t), "2026-12-06 00:00 Sun");
	CHECK_STR_EQ(next("0 0 * * SUN", t), "2026-12-06 00:00 Sun");
	CHECK_STR_EQ(next("0 0 * * 5-7", at(2026, 12, 5, 1, 0)), "2026-12-06 00:00 Sun");
	CHECK_STR_EQ(next("0 0 * * 6-7", at(2026, 12, 6, 1, 0)), "2026-12-12 00:00 Sat");
}

static void test_vixie_days(void)
{
	int64_t t = at(2026, 12, 2, 10, 17);

	/* both restricted: either matches (the 1st, or a Monday) */
	CHECK_STR_EQ(next("0 0 1 * MON", t), "2026-12-07 00:00 Mon");
	CHECK_STR_EQ(next("0 0 1 * MON", at(2026, 12, 28, 1, 0)), "2027-01-01 00:00 Fri");
	/* one is '*': both must match, and '*' always does */
	CHECK_STR_EQ(next("0 0 13 * *", t), "2026-12-13 00:00 Sun");
	CHECK_STR_EQ(next("0 0 * * FRI", t), "2026-12-04 00:00 Fri");
	/* a field starting with '*' counts as unrestricted, as in Vixie cron */
	CHECK_STR_EQ(next("0 0 13 * */1", t), "2026-12-13 00:00 Sun");
	CHECK_STR_EQ(next("0 0 */2 * FRI", t), "2026-12-11 00:00 Fri"); /* odd day AND Friday */
	CHECK_STR_EQ(next("0 0 ? * FRI", t), "2026-12-04 00:00 Fri");
}

static void test_month_ends_and_leap_years(void)
{
	CHECK_STR_EQ(next("0 0 31 * *", at(2026, 1, 31, 0, 0)), "2026-03-31 00:00 Tue");
	CHECK_STR_EQ(next("0 0 31 * *", at(2026, 4, 1, 0, 0)), "2026-05-31 00:00 Sun");
	CHECK_STR_EQ(next("0 0 30 * *", at(2026, 1, 30, 0, 0)), "2026-03-30 00:00 Mon");
	CHECK_STR_EQ(next("59 23 28-31 2 *", at(2026, 2, 1, 0, 0)), "2026-02-28 23:59 Sat");
	CHECK_STR_EQ(next("0 0 29 2 *", at(2026, 1, 1, 0, 0)), "2028-02-29 00:00 Tue");
	CHECK_STR_EQ(next("0 0 29 2 *", at(2028, 2, 29, 0, 0)), "2032-02-29 00:00 Sun");
	/* 2100 is no leap year: 2096, then 2104 */
	CHECK_STR_EQ(next("0 0 29 2 *", at(2096, 3, 1, 0, 0)), "2104-02-29 00:00 Fri");
	CHECK_STR_EQ(next("0 0 29 2 *", at(1999, 3, 1, 0, 0)), "2000-02-29 00:00 Tue");
	/* Feb 29 that is also a Monday (Vixie: OR, so every Monday of February too) */
	CHECK_STR_EQ(next("0 0 29 2 MON", at(2026, 2, 3, 0, 0)), "2026-02-09 00:00 Mon");
	/* year rollover */
	CHECK_STR_EQ(next("59 23 31 12 *", at(2026, 12, 31, 23, 58)), "2026-12-31 23:59 Thu");
	CHECK_STR_EQ(next("* * * * *", at(2026, 12, 31, 23, 59)), "2027-01-01 00:00 Fri");
	CHECK_STR_EQ(next("0 0 1 1 *", at(2026, 12, 31, 23, 59)), "2027-01-01 00:00 Fri");
	CHECK_STR_EQ(next("30 4 * DEC *", at(2026, 12, 31, 5, 0)), "2027-12-01 04:30 Wed");
	/* before the epoch */
	CHECK_STR_EQ(next("0 12 * * *", at(1969, 12, 31, 13, 0)), "1970-01-01 12:00 Thu");
	CHECK_STR_EQ(next("* * * * *", -1), "1970-01-01 00:00 Thu");
}

static void test_refused(void)
{
	CHECK(strstr(refusal(""), "expected 5 fields"));
	CHECK(strstr(refusal("* * * *"), "got 4"));
	CHECK(strstr(refusal("* * * * * *"), "more than 5"));
	CHECK(strstr(refusal("60 * * * *"), "cron minute: 60 is out of range 0-59"));
	CHECK(strstr(refusal("* 24 * * *"), "cron hour: 24 is out of range 0-23"));
	CHECK(strstr(refusal("* * 0 * *"), "cron day-of-month: 0 is out of range 1-31"));
	CHECK(strstr(refusal("* * 32 * *"), "1-31"));
	CHECK(strstr(refusal("* * * 13 *"), "cron month: 13 is out of range 1-12"));
	CHECK(strstr(refusal("* * * * 8"), "cron day-of-week: 8 is out of range 0-7"));
	CHECK(strstr(refusal("* * * * SUNDAY"), "unknown name \"SUNDAY\""));
	CHECK(strstr(refusal("* * * FOO *"), "cron month: unknown name \"FOO\""));
	CHECK(strstr(refusal("MON * * * *"), "cron minute: expected a number"));
	CHECK(strstr(refusal("5-3 * * * *"), "runs backwards"));
	CHECK(strstr(refusal("*/0 * * * *"), "step 0 is out of range"));
	CHECK(strstr(refusal("*/61 * * * *"), "step 61 is out of range 1-60"));
	CHECK(strstr(refusal("*/x * * * *"), "a step must be a number"));
	CHECK(strstr(refusal("1,,2 * * * *"), "empty list item"));
	CHECK(strstr(refusal("1, * * * *"), "empty list item"));
	CHECK(strstr(refusal("1-2-3 * * * *"), "unexpected \"-3\""));
	CHECK(strstr(refusal("? * * * *"), "cron minute"));
	CHECK(strstr(refusal("@daily"), "cron minute"));
	CHECK(strstr(refusal("99999999999999999999 * * * *"), "out of range"));
	CHECK(strstr(refusal("0 0 30 2 *"), "never fires"));
	CHECK(strstr(refusal("0 0 31 4,6,9,11 *"), "never fires"));
}

static void test_window(void)
{
	int64_t s = at(2026, 12, 2, 3, 0);

	CHECK(!cron_in_window(s, 3600, s - 1));
	CHECK(cron_in_window(s, 3600, s));
	CHECK(cron_in_window(s, 3600, s + 3599));
	CHECK(!cron_in_window(s, 3600, s + 3600));
	CHECK(cron_in_window(s, 0, s + 1000000)); /* no window */
	CHECK(!cron_in_window(s, 0, s - 1));
	CHECK(!cron_in_window(INT64_MIN, 10, INT64_MAX)); /* no overflow */
	CHECK(cron_in_window(INT64_MAX - 5, INT64_MAX, INT64_MAX));
}

int main(void)
{
	RUN(test_fields);
	RUN(test_sunday);
	RUN(test_vixie_days);
	RUN(test_month_ends_and_leap_years);
	RUN(test_refused);
	RUN(test_window);
	return DONE();
}

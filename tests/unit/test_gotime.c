/* SPDX-License-Identifier: MIT */
/*
 * test_gotime.c - Go's time.Format in UTC: Go's named layouts and every
 * element of the reference time, at a fixed instant.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "gotime.h"
#include "test.h"

#define T0 1234567890123LL /* Fri 2009-02-13 23:31:30.123 UTC */

static const char *fmt_at(int64_t ms, const char *layout)
{
	static char out[256];
	size_t len = 0;

	if (gotime_format(ms, layout, strlen(layout), out, sizeof(out), &len) != 0)
		return "E2BIG";
	return len == strlen(out) ? out : "length mismatch";
}

static void test_named_layouts(void)
{
	CHECK_STR_EQ(fmt_at(T0, "2006-01-02T15:04:05Z07:00"), "2009-02-13T23:31:30Z");
	CHECK_STR_EQ(fmt_at(T0, "2006-01-02T15:04:05.999999999Z07:00"), "2009-02-13T23:31:30.123Z");
	CHECK_STR_EQ(fmt_at(T0, "2006-01-02T15:04:05.000Z"), "2009-02-13T23:31:30.123Z");
	CHECK_STR_EQ(fmt_at(T0, "Mon Jan _2 15:04:05 2006"), "Fri Feb 13 23:31:30 2009");
	CHECK_STR_EQ(fmt_at(T0, "Mon Jan _2 15:04:05 MST 2006"), "Fri Feb 13 23:31:30 UTC 2009");
	CHECK_STR_EQ(fmt_at(T0, "02 Jan 06 15:04 -0700"), "13 Feb 09 23:31 +0000");
	CHECK_STR_EQ(fmt_at(T0, "Monday, 02-Jan-06 15:04:05 MST"),
		     "Friday, 13-Feb-09 23:31:30 UTC");
	CHECK_STR_EQ(fmt_at(T0, "Mon, 02 Jan 2006 15:04:05 -0700"),
		     "Fri, 13 Feb 2009 23:31:30 +0000");
	CHECK_STR_EQ(fmt_at(T0, "3:04PM"), "11:31PM");
	CHECK_STR_EQ(fmt_at(T0, "Jan _2 15:04:05.000000"), "Feb 13 23:31:30.123000");
	CHECK_STR_EQ(fmt_at(T0, "2006-01-02 15:04:05"), "2009-02-13 23:31:30");
}

static void test_elements(void)
{
	CHECK_STR_EQ(fmt_at(T0, "20060102150405"), "20090213233130");
	CHECK_STR_EQ(fmt_at(T0, "Monday January 2"), "Friday February 13");
	CHECK_STR_EQ(fmt_at(T0, "06 1 2 3 4 5 pm PM"), "09 2 13 11 31 30 pm PM");
	CHECK_STR_EQ(fmt_at(T0, "01 02 03 04 05"), "02 13 11 31 30");
	CHECK_STR_EQ(fmt_at(T0, "002 __2"), "044  44");
	CHECK_STR_EQ(fmt_at(T0, "_2006"), "_2009");
	CHECK_STR_EQ(fmt_at(T0, "Janet Monet MST"), "Janet Monet UTC");
	CHECK_STR_EQ(fmt_at(T0, "Z07|Z0700|Z07:00|Z070000|Z07:00:00"), "Z|Z|Z|Z|Z");
	CHECK_STR_EQ(fmt_at(T0, "-07|-0700|-07:00|-070000|-07:00:00"),
		     "+00|+0000|+00:00|+000000|+00:00:00");
	CHECK_STR_EQ(fmt_at(T0, ".0 .00 .000000000 .0000000000"), ".1 .12 .123000000 .123000000");
	CHECK_STR_EQ(fmt_at(T0, ".9 .99 .999999 ,999 ,000"), ".1 .12 .123 ,123 ,123");
	CHECK_STR_EQ(fmt_at(T0 - 123, "05.999|05.000"), "30|30.000");
	CHECK_STR_EQ(fmt_at(T0, ".0x .001"), ".1x .002"); /* .001 is no fraction: ".0", then 01 */
	CHECK_STR_EQ(fmt_at(T0, "v-{{}}-"), "v-{{}}-");
	CHECK_STR_EQ(fmt_at(T0, ""), "");
}

static void test_calendar(void)
{
	CHECK_STR_EQ(fmt_at(0, "2006-01-02 15:04:05.000 Mon 3PM"),
		     "1970-01-01 00:00:00.000 Thu 12AM");
	CHECK_STR_EQ(fmt_at(-1, "2006-01-02 15:04:05.000 Mon"), "1969-12-31 23:59:59.999 Wed");
	CHECK_STR_EQ(fmt_at(43200000, "3PM 03pm"), "12PM 12pm");
	CHECK_STR_EQ(fmt_at(951782400000LL, "2006-01-02 002 Monday"), "2000-02-29 060 Tuesday");
	CHECK_STR_EQ(fmt_at(4107542400000LL, "2006-01-02 Mon"), "2100-03-01 Mon");
	CHECK_STR_EQ(fmt_at(1704067199000LL, "2006-01-02T15:04:05 002"), "2023-12-31T23:59:59 365");
	CHECK_STR_EQ(fmt_at(1735603200000LL, "2006-01-02 002"), "2024-12-31 366");
	CHECK_STR_EQ(fmt_at(-62135596800000LL, "2006-01-02 06"), "0001-01-01 01");
	for (int64_t d = -800000; d <= 800000; d += 997) {
		int64_t y;
		int m, day;

		gotime_civil(d, &y, &m, &day);
		CHECK_INT_EQ(gotime_days(y, m, day), d);
	}
}

static void test_too_long(void)
{
	char out[16];
	size_t len;

	CHECK_INT_EQ(gotime_format(T0, "2006-01-02", 10, out, 8, &len), -E2BIG);
	CHECK_INT_EQ(gotime_format(T0, "20060102", 8, out, 9, &len), 0);
	CHECK_STR_EQ(out, "20090213");
}

int main(void)
{
	RUN(test_named_layouts);
	RUN(test_elements);
	RUN(test_calendar);
	RUN(test_too_long);
	return DONE();
}

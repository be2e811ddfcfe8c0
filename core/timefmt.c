/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "timefmt.h"

static void timefmt_fmt(int64_t ms, const char *fmt, char *buf)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, TIMEFMT_LEN, fmt, &tm))
		snprintf(buf, TIMEFMT_LEN, "%lld", (long long)t);
}

void timefmt_rfc3339(int64_t ms, char *buf)
{
	timefmt_fmt(ms, "%Y-%m-%dT%H:%M:%SZ", buf);
}

void timefmt_pg(int64_t ms, char *buf)
{
	timefmt_fmt(ms, "%Y-%m-%d %H:%M:%S+0000", buf);
}

static int64_t timefmt_clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t timefmt_mono_ms(void)
{
	return timefmt_clock_ms(CLOCK_MONOTONIC);
}

#ifdef CREDFS_TEST_HOOKS
/*
 * Test builds: CREDFS_TEST_WALL_OFFSET_FILE names a file holding a signed
 * number of seconds added to the wall clock (a clock step without touching
 * the machine's clock), read again at most every 200 ms.
 */
static int64_t timefmt_test_offset(void)
{
	static _Atomic int64_t off, read_at = -1000000;
	const char *path = getenv("CREDFS_TEST_WALL_OFFSET_FILE");
	int64_t mono = timefmt_mono_ms();
	long long v = 0;
	FILE *f;

	if (!path || !*path)
		return 0;
	if (mono - read_at < 200)
		return off;
	if ((f = fopen(path, "re"))) {
		if (fscanf(f, "%lld", &v) != 1)
			v = 0;
		fclose(f);
	}
	off = (int64_t)v * 1000;
	read_at = mono;
	return off;
}
#else
static int64_t timefmt_test_offset(void)
{
	return 0;
}
#endif

int64_t timefmt_now_ms(void)
{
	return timefmt_clock_ms(CLOCK_REALTIME) + timefmt_test_offset();
}

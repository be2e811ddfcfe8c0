/* SPDX-License-Identifier: MIT */
#include <stdio.h>
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

int64_t timefmt_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

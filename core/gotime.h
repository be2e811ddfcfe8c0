/* SPDX-License-Identifier: MIT */
/*
 * gotime.h - Go's time.Time.Format for a UTC instant, so Vault's
 * {{timestamp "2006-01-02T15:04:05Z07:00"}} renders here as in Vault.
 *
 * The layout is Go's reference time, Mon Jan 2 15:04:05 MST 2006: 2006 06
 * January Jan 01 1, Monday Mon, 02 _2 2, 002 __2 (day of year), 15 03 3,
 * 04 4, 05 5, PM pm, MST, Z07:00 Z0700 Z07 Z070000 Z07:00:00 and their
 * '-' forms, .000 .999 ,000 ,999 (fractions); everything else is copied.
 * The zone is always UTC: MST prints "UTC", the Z forms "Z" and the
 * numeric forms +0000 (Vault uses its server's local zone). The clock has
 * millisecond resolution, so digits of a fraction past the third are 0.
 */
#ifndef CREDFS_GOTIME_H
#define CREDFS_GOTIME_H

#include <stddef.h>
#include <stdint.h>

/*
 * gotime_format - format the instant unix_ms (milliseconds since the
 * epoch, UTC) with layout into out. Returns 0 with *outlen set, or
 * -E2BIG when out (outsz bytes with the NUL) is too small.
 */
int gotime_format(int64_t unix_ms, const char *layout, size_t llen, char *out, size_t outsz,
		  size_t *outlen) __attribute__((warn_unused_result));

/*
 * gotime_civil - the proleptic Gregorian date of a day count since
 * 1970-01-01 (Howard Hinnant's days_from_civil inverted); month 1-12.
 */
void gotime_civil(int64_t days, int64_t *year, int *month, int *day);

/* gotime_days - the day count since 1970-01-01 of a date (month 1-12). */
int64_t gotime_days(int64_t year, int month, int day);

#endif

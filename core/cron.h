/* SPDX-License-Identifier: MIT */
/*
 * cron.h - 5-field cron schedules, for rotation_schedule (scheduled root
 * rotation, static roles). Pure: no clock, no time zone; times are UTC
 * seconds since the epoch, passed in.
 *
 *     minute hour day-of-month month day-of-week
 *     0-59   0-23 1-31         1-12  0-7 (0 and 7 are Sunday)
 *
 * Each field is a comma list of items: '*', 'N', 'A-B', each optionally
 * followed by '/STEP' ('N/STEP' means N-max/STEP, as robfig/cron, which
 * Vault uses, and cronie read it). Months may be JAN-DEC and days SUN-SAT,
 * in any case; '?' is '*' in the two day fields. Days follow Vixie cron:
 * when both day fields are restricted (neither starts with '*'), a day
 * matches if either does ("0 0 1 * MON": the 1st and every Monday);
 * otherwise both must. No @yearly-style shorthands, no seconds field.
 */
#ifndef CREDFS_CRON_H
#define CREDFS_CRON_H

#include <stdbool.h>
#include <stdint.h>

#include "perr.h"

struct cron {
	uint64_t minute; /* bit n: minute n */
	uint32_t hour; /* bit n: hour n */
	uint32_t dom; /* bit n: day n of the month, 1-31 */
	uint16_t month; /* bit n: month n, 1-12 */
	uint8_t dow; /* bit n: weekday n, 0 = Sunday */
	bool dom_star, dow_star; /* the field starts with '*' (or '?') */
};

/*
 * cron_parse - parse expr into *out. Returns 0, or -EINVAL with err
 * saying which field and why ("cron day-of-week: unknown name \"SUNDAY\"",
 * "cron minute: 60 is out of range 0-59", "cron: the schedule never
 * fires"). *out is written only on success.
 */
int cron_parse(const char *expr, struct cron *out, struct parse_error *err)
	__attribute__((warn_unused_result));

/*
 * cron_next - the first time the schedule fires strictly after `after`
 * (UTC seconds), at a whole minute. 0 and *out, or -ERANGE when it does
 * not fire within ten years (only a schedule cron_parse refused can do
 * that).
 */
int cron_next(const struct cron *c, int64_t after, int64_t *out)
	__attribute__((warn_unused_result));

/* cron_matches - whether the schedule fires at the minute containing t. */
bool cron_matches(const struct cron *c, int64_t t);

/*
 * cron_in_window - whether t lies in [scheduled, scheduled + window):
 * a rotation due at `scheduled` may still start at t. window <= 0 means no
 * window (Vault's rotation_window unset): any t >= scheduled.
 */
bool cron_in_window(int64_t scheduled, int64_t window, int64_t t);

#endif

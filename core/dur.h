/* SPDX-License-Identifier: MIT */
/*
 * dur.h - Vault duration syntax.
 *
 * Accepted: a non-negative integer number of seconds ("3600"), or one or
 * more <number><unit> groups with units d, h, m, s ("90s", "30m", "1h30m",
 * "24h", "7d", "1.5h"). Leading/trailing blanks are ignored. Fractions are
 * allowed per group; the total is truncated to whole seconds. Groups may
 * repeat and come in any order ("30m1h"), as in Go's time.ParseDuration.
 * Rejected: empty strings, negative values, unknown units, a unit without
 * a number, a number without a unit after the first group ("1h30"),
 * blanks between groups, totals above DUR_MAX_SEC. Locale-independent.
 */
#ifndef CREDFS_DUR_H
#define CREDFS_DUR_H

#include <stdint.h>
#include "perr.h"

#define DUR_MAX_SEC (100LL * 365 * 86400) /* 100 years */

/*
 * dur_parse - parse s into *sec.
 * Returns 0, or -EINVAL with err filled (err may be NULL; line and col are
 * 0, the message quotes the value: bad duration "1x": unknown unit "x").
 * *sec is written only on success.
 */
int dur_parse(const char *s, int64_t *sec, struct parse_error *err)
	__attribute__((warn_unused_result));

#endif

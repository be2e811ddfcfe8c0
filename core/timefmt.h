/* SPDX-License-Identifier: MIT */
/*
 * timefmt.h - wall-clock milliseconds to text, in UTC.
 */
#ifndef CREDFS_TIMEFMT_H
#define CREDFS_TIMEFMT_H

#include <stdint.h>

#define TIMEFMT_LEN 40

/* timefmt_rfc3339 - "2026-11-28T05:01:02Z" into buf (TIMEFMT_LEN bytes). */
void timefmt_rfc3339(int64_t ms, char *buf);

/*
 * timefmt_pg - "2026-11-28 05:01:02+0000" into buf (TIMEFMT_LEN bytes): the
 * form Vault gives {{expiration}}; VALID UNTIL accepts it whatever the
 * server's time zone.
 */
void timefmt_pg(int64_t ms, char *buf);

/*
 * timefmt_now_ms - wall time (CLOCK_REALTIME) in milliseconds: for VALID
 * UNTIL, display and the journal only, never for deadlines (a clock step
 * would move them). Test builds add CREDFS_TEST_WALL_OFFSET_FILE's offset.
 */
int64_t timefmt_now_ms(void);

/* timefmt_mono_ms - CLOCK_MONOTONIC in milliseconds: every deadline. */
int64_t timefmt_mono_ms(void);

#endif

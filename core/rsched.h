/* SPDX-License-Identifier: MIT */
/*
 * rsched.h - when a password is rotated next: rotation_period (every N
 * seconds after the last rotation) or rotation_schedule (5-field cron,
 * UTC; cron.h) with an optional rotation_window, as Vault's static roles
 * and scheduled root rotation read them. Pure: times are wall-clock
 * seconds since the epoch, passed in.
 *
 * A window means: a rotation due at a scheduled time may start up to
 * `window` seconds later; one that could not (credfs down, every attempt
 * failed) waits for the next scheduled time instead of running late.
 */
#ifndef CREDFS_RSCHED_H
#define CREDFS_RSCHED_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "cron.h"
#include "perr.h"

#define RSCHED_MIN_WINDOW 3600 /* s: Vault's minimum rotation_window */
#define RSCHED_EXPR_LEN	  128

struct rsched {
	int64_t period; /* s; 0: none */
	bool has_cron; /* rotation_schedule was given */
	struct cron cron;
	char expr[RSCHED_EXPR_LEN]; /* rotation_schedule as written */
	int64_t window; /* s; 0: none (only with a schedule) */
};

/*
 * rsched_from_params - rotation_period or rotation_schedule (not both) and
 * rotation_window from p (borrowed). A period below min_period, a window
 * below RSCHED_MIN_WINDOW or without a schedule, a schedule cron_parse
 * refuses: -EINVAL with err set. Neither given: 0 with *out unset
 * (rsched_is_set false). *out written on success only.
 */
int rsched_from_params(json_t *p, int64_t min_period, struct rsched *out, struct parse_error *err)
	__attribute__((warn_unused_result));

/* rsched_is_set - whether s rotates at all. */
bool rsched_is_set(const struct rsched *s);

/*
 * rsched_next - when the rotation after one at `last` (s) is due, seen at
 * `now` (s): last + period, or the schedule's first time after last; with
 * a window whose end has passed, the first scheduled time whose window is
 * still open. INT64_MAX when s is not set (or never fires).
 */
int64_t rsched_next(const struct rsched *s, int64_t last, int64_t now);

/* rsched_to_json - add rotation_period or rotation_schedule (+ rotation_window) to obj. */
void rsched_to_json(const struct rsched *s, json_t *obj);

#endif

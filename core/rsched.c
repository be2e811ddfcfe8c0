/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "params.h"
#include "rsched.h"

int rsched_from_params(json_t *p, int64_t min_period, struct rsched *out, struct parse_error *err)
{
	struct rsched s = { 0 };
	const char *expr = NULL;
	int rp, rs, rw;

	if ((rp = params_get_dur(p, "rotation_period", &s.period, err)) < 0 ||
	    (rs = params_get_str(p, "rotation_schedule", &expr, err)) < 0 ||
	    (rw = params_get_dur(p, "rotation_window", &s.window, err)) < 0)
		return -EINVAL;
	if (rs == 0 && !*expr)
		rs = 1; /* "" is Vault's read-back of "no schedule" */
	if (rp == 0 && s.period == 0)
		rp = 1; /* 0 likewise */
	if (rp == 0 && rs == 0) {
		perr_set(err, 0, 0, "rotation_period and rotation_schedule exclude each other");
		return -EINVAL;
	}
	if (rp == 0 && s.period < min_period) {
		perr_set(err, 0, 0, "rotation_period: at least %llds", (long long)min_period);
		return -EINVAL;
	}
	if (rw == 0 && s.window != 0 && rs != 0) {
		perr_set(err, 0, 0, "rotation_window: only with rotation_schedule");
		return -EINVAL;
	}
	if (rw == 0 && s.window != 0 && s.window < RSCHED_MIN_WINDOW) {
		perr_set(err, 0, 0, "rotation_window: at least 1h");
		return -EINVAL;
	}
	if (rs == 0) {
		if (strlen(expr) >= sizeof(s.expr)) {
			perr_set(err, 0, 0, "rotation_schedule: too long");
			return -EINVAL;
		}
		if (cron_parse(expr, &s.cron, err) != 0) {
			perr_prefix(err, "rotation_schedule");
			return -EINVAL;
		}
		s.has_cron = true;
		snprintf(s.expr, sizeof(s.expr), "%s", expr);
		s.period = 0;
	}
	if (rp != 0 && rs != 0)
		return 0;
	*out = s;
	return 0;
}

bool rsched_is_set(const struct rsched *s)
{
	return s->period > 0 || s->has_cron;
}

int64_t rsched_next(const struct rsched *s, int64_t last, int64_t now)
{
	int64_t t;

	if (s->period > 0)
		return last + s->period;
	if (!s->has_cron || cron_next(&s->cron, last, &t) != 0)
		return INT64_MAX;
	/* Its window has closed: the first scheduled time whose window is still open. */
	if (s->window > 0 && !cron_in_window(t, s->window, now) && now >= t &&
	    cron_next(&s->cron, now - s->window, &t) != 0)
		return INT64_MAX;
	return t;
}

void rsched_to_json(const struct rsched *s, json_t *obj)
{
	if (s->has_cron) {
		json_object_set_new(obj, "rotation_schedule", json_string(s->expr));
		if (s->window > 0)
			json_object_set_new(obj, "rotation_window", json_integer(s->window));
	} else {
		json_object_set_new(obj, "rotation_period", json_integer(s->period));
	}
}

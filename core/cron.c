/* SPDX-License-Identifier: MIT */
/*
 * cron.c - 5-field cron schedules (see cron.h). A field is a bit set;
 * the next fire time is found by moving to the next month, day, hour or
 * minute that can match, coarsest first, so a search takes at most a few
 * thousand steps even for "Feb 29 and a Monday".
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"
#include "gotime.h"

#define CRON_FIELD_MAX	 64 /* bytes of one field */
#define CRON_SEARCH_DAYS (10 * 366 + 3) /* ten years */

struct cron_field {
	const char *name;
	int min, max;
	const char *const *names; /* NULL or max - min + 1 three-letter names */
};

static const char *const month_names[] = { "JAN", "FEB", "MAR", "APR", "MAY", "JUN",
					   "JUL", "AUG", "SEP", "OCT", "NOV", "DEC" };
static const char *const dow_names[] = { "SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN" };

static const struct cron_field fields[5] = {
	{ "minute", 0, 59, NULL },	    { "hour", 0, 23, NULL },
	{ "day-of-month", 1, 31, NULL },    { "month", 1, 12, month_names },
	{ "day-of-week", 0, 7, dow_names },
};

static int64_t floor_div(int64_t a, int64_t b)
{
	return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* A number or a name at *p; advances *p. */
static int cron_value(const struct cron_field *f, const char **p, int *out, struct parse_error *err)
{
	const char *s = *p;

	if (isdigit((unsigned char)*s)) {
		long v = 0;

		for (; isdigit((unsigned char)*s); s++)
			if ((v = v * 10 + (*s - '0')) > 1000)
				break;
		if (v < f->min || v > f->max) {
			perr_set(err, 0, 0, "cron %s: %ld is out of range %d-%d", f->name, v,
				 f->min, f->max);
			return -EINVAL;
		}
		*out = (int)v;
		*p = s;
		return 0;
	}
	if (f->names && isalpha((unsigned char)*s)) {
		size_t n = 0;

		while (isalpha((unsigned char)s[n]))
			n++;
		for (int i = 0; n == 3 && i <= f->max - f->min; i++) {
			if (!strncasecmp(s, f->names[i], 3)) {
				*out = f->min + i;
				*p = s + 3;
				return 0;
			}
		}
		perr_set(err, 0, 0, "cron %s: unknown name \"%.*s\"", f->name,
			 (int)(n > 16 ? 16 : n), s);
		return -EINVAL;
	}
	perr_set(err, 0, 0, "cron %s: expected a number%s at \"%.16s\"", f->name,
		 f->names ? " or a name" : "", s);
	return -EINVAL;
}

/* One list item: * | N | A-B, then /STEP. */
static int cron_item(const struct cron_field *f, const char *s, uint64_t *bits,
		     struct parse_error *err)
{
	int lo = f->min, hi = f->max, step = 1, r;
	bool day_field = f->max == 31 || f->max == 7;
	bool star = *s == '*' || (*s == '?' && day_field);

	if (*s == '\0') {
		perr_set(err, 0, 0, "cron %s: an empty list item", f->name);
		return -EINVAL;
	}
	if (star) {
		s++;
	} else {
		if ((r = cron_value(f, &s, &lo, err)) != 0)
			return r;
		hi = lo;
		if (*s == '-') {
			s++;
			if ((r = cron_value(f, &s, &hi, err)) != 0)
				return r;
			if (hi < lo) {
				perr_set(err, 0, 0, "cron %s: the range %d-%d runs backwards",
					 f->name, lo, hi);
				return -EINVAL;
			}
		} else if (*s == '/') {
			hi = f->max; /* N/STEP: from N to the end */
		}
	}
	if (*s == '/') {
		long v = 0;

		if (!isdigit((unsigned char)*++s)) {
			perr_set(err, 0, 0, "cron %s: a step must be a number", f->name);
			return -EINVAL;
		}
		for (; isdigit((unsigned char)*s) && v <= 1000; s++)
			v = v * 10 + (*s - '0');
		if (v < 1 || v > f->max - f->min + 1) {
			perr_set(err, 0, 0, "cron %s: step %ld is out of range 1-%d", f->name, v,
				 f->max - f->min + 1);
			return -EINVAL;
		}
		step = (int)v;
	}
	if (*s != '\0') {
		perr_set(err, 0, 0, "cron %s: unexpected \"%.16s\"", f->name, s);
		return -EINVAL;
	}
	for (int v = lo; v <= hi; v += step)
		*bits |= 1ULL << v;
	return 0;
}

static int cron_field_parse(const struct cron_field *f, const char *text, size_t len,
			    uint64_t *bits, bool *star, struct parse_error *err)
{
	char buf[CRON_FIELD_MAX + 1], *item, *save = NULL;
	int r;

	if (len > CRON_FIELD_MAX) {
		perr_set(err, 0, 0, "cron %s: longer than %d bytes", f->name, CRON_FIELD_MAX);
		return -EINVAL;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	*bits = 0;
	*star = buf[0] == '*' || buf[0] == '?';
	if (buf[len - 1] == ',' || buf[0] == ',' || strstr(buf, ",,")) {
		perr_set(err, 0, 0, "cron %s: an empty list item", f->name);
		return -EINVAL;
	}
	for (item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save))
		if ((r = cron_item(f, item, bits, err)) != 0)
			return r;
	return 0;
}

int cron_parse(const char *expr, struct cron *out, struct parse_error *err)
{
	struct cron c = { 0 };
	uint64_t bits[5];
	bool star[5];
	const char *p = expr;
	size_t n = 0;
	int64_t next;
	int r;

	for (;;) {
		size_t len;

		p += strspn(p, " \t");
		if (*p == '\0')
			break;
		len = strcspn(p, " \t");
		if (n == 5) {
			n++;
			break;
		}
		if ((r = cron_field_parse(&fields[n], p, len, &bits[n], &star[n], err)) != 0)
			return r;
		n++;
		p += len;
	}
	if (n != 5) {
		perr_set(err, 0, 0,
			 "cron: expected 5 fields (minute hour day-of-month month day-of-week), "
			 "got %s%zu",
			 n > 5 ? "more than " : "", n > 5 ? (size_t)5 : n);
		return -EINVAL;
	}
	c.minute = bits[0];
	c.hour = (uint32_t)bits[1];
	c.dom = (uint32_t)bits[2];
	c.month = (uint16_t)bits[3];
	/* 7 is Sunday too */
	c.dow = (uint8_t)((bits[4] | (bits[4] >> 7)) & 0x7f);
	c.dom_star = star[2];
	c.dow_star = star[4];
	/* "0 0 30 2 *" is well formed and never fires: say so now, not never */
	if (cron_next(&c, 946684800 /* 2000-01-01, a leap year */, &next) != 0) {
		perr_set(err, 0, 0, "cron: the schedule never fires (no such day: \"%.40s\")",
			 expr);
		return -EINVAL;
	}
	*out = c;
	return 0;
}

static bool cron_day_ok(const struct cron *c, int64_t days, int mday)
{
	bool dom = c->dom & (1U << mday);
	bool dow = c->dow & (1U << (int)(((days + 4) % 7 + 7) % 7));

	return c->dom_star || c->dow_star ? dom && dow : dom || dow;
}

bool cron_matches(const struct cron *c, int64_t t)
{
	int64_t days = floor_div(t, 86400), sod = t - days * 86400, year;
	int month, mday;

	gotime_civil(days, &year, &month, &mday);
	return (c->month & (1U << month)) && cron_day_ok(c, days, mday) &&
	       (c->hour & (1U << (sod / 3600))) && (c->minute & (1ULL << (sod / 60 % 60)));
}

int cron_next(const struct cron *c, int64_t after, int64_t *out)
{
	int64_t t = floor_div(after, 60) * 60 + 60; /* the next whole minute */
	int64_t limit = floor_div(t, 86400) + CRON_SEARCH_DAYS;

	for (;;) {
		int64_t days = floor_div(t, 86400), sod = t - days * 86400, year;
		int month, mday, hour = (int)(sod / 3600), min = (int)(sod / 60 % 60);

		if (days > limit)
			return -ERANGE;
		gotime_civil(days, &year, &month, &mday);
		if (!(c->month & (1U << month))) {
			/* the first day of the next month */
			t = (month == 12 ? gotime_days(year + 1, 1, 1)
					 : gotime_days(year, month + 1, 1)) *
			    86400;
		} else if (!cron_day_ok(c, days, mday)) {
			t = (days + 1) * 86400;
		} else if (!(c->hour & (1U << hour))) {
			t = days * 86400 + (int64_t)(hour + 1) * 3600;
		} else if (!(c->minute & (1ULL << min))) {
			t += 60;
		} else {
			*out = t;
			return 0;
		}
	}
}

bool cron_in_window(int64_t scheduled, int64_t window, int64_t t)
{
	if (t < scheduled)
		return false;
	/* unsigned: t - scheduled cannot overflow once t >= scheduled */
	return window <= 0 || (uint64_t)t - (uint64_t)scheduled < (uint64_t)window;
}

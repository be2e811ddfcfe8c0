/* SPDX-License-Identifier: MIT */
/*
 * gotime.c - Go's time.Format in UTC (see gotime.h). nextStdChunk below
 * finds layout elements in the order and with the look-ahead rules of
 * Go's src/time/format.go, so "Jan" is a month but "Janet" is text, and
 * "_2006" is '_' followed by the year.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "gotime.h"

enum std {
	STD_NONE,
	STD_LONG_MONTH, /* January */
	STD_MONTH, /* Jan */
	STD_NUM_MONTH, /* 1 */
	STD_ZERO_MONTH, /* 01 */
	STD_LONG_WEEKDAY, /* Monday */
	STD_WEEKDAY, /* Mon */
	STD_DAY, /* 2 */
	STD_UNDER_DAY, /* _2 */
	STD_ZERO_DAY, /* 02 */
	STD_UNDER_YDAY, /* __2 */
	STD_ZERO_YDAY, /* 002 */
	STD_HOUR, /* 15 */
	STD_HOUR12, /* 3 */
	STD_ZERO_HOUR12, /* 03 */
	STD_MINUTE, /* 4 */
	STD_ZERO_MINUTE, /* 04 */
	STD_SECOND, /* 5 */
	STD_ZERO_SECOND, /* 05 */
	STD_LONG_YEAR, /* 2006 */
	STD_YEAR, /* 06 */
	STD_PM, /* PM */
	STD_pm, /* pm */
	STD_TZ, /* MST */
	STD_ZONE, /* every numeric or ISO 8601 zone; see struct chunk */
	STD_FRAC, /* .000 .999 ,000 ,999 */
};

struct chunk {
	size_t prefix, len; /* text before the element, the element's length */
	enum std std;
	bool iso_z; /* a Z form: UTC prints as "Z" */
	bool colon, minutes, seconds; /* zone: 07:00 vs 0700, with minutes, with seconds */
	bool trim; /* .999: trailing zeros dropped */
	char sep; /* '.' or ',' */
	int digits; /* of a fraction */
};

static const char *const month_names[] = { "January",	"February", "March",	"April",
					   "May",	"June",	    "July",	"August",
					   "September", "October",  "November", "December" };
static const char *const day_names[] = { "Sunday",   "Monday", "Tuesday", "Wednesday",
					 "Thursday", "Friday", "Saturday" };

static bool at(const char *l, size_t n, size_t i, const char *word)
{
	size_t k = strlen(word);

	return n - i >= k && !memcmp(l + i, word, k);
}

static bool lower_at(const char *l, size_t n, size_t i)
{
	return i < n && l[i] >= 'a' && l[i] <= 'z';
}

static bool zone_at(const char *l, size_t n, size_t i, struct chunk *c)
{
	static const struct {
		const char *text;
		bool colon, minutes, seconds;
	} forms[] = {
		/* Go's order: the longest form that matches wins */
		{ "070000", false, true, true }, { "07:00:00", true, true, true },
		{ "0700", false, true, false },	 { "07:00", true, true, false },
		{ "07", false, false, false },
	};

	for (size_t k = 0; k < sizeof(forms) / sizeof(forms[0]); k++) {
		if (at(l, n, i + 1, forms[k].text)) {
			c->std = STD_ZONE;
			c->iso_z = l[i] == 'Z';
			c->colon = forms[k].colon;
			c->minutes = forms[k].minutes;
			c->seconds = forms[k].seconds;
			c->len = 1 + strlen(forms[k].text);
			return true;
		}
	}
	return false;
}

static void set(struct chunk *c, enum std std, size_t len)
{
	c->std = std;
	c->len = len;
}

/* Go's nextStdChunk: the first layout element at or after l[0]. */
static void next_chunk(const char *l, size_t n, struct chunk *c)
{
	static const enum std std0x[] = { STD_ZERO_MONTH,  STD_ZERO_DAY,    STD_ZERO_HOUR12,
					  STD_ZERO_MINUTE, STD_ZERO_SECOND, STD_YEAR };

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < n; i++) {
		c->prefix = i;
		switch (l[i]) {
		case 'J':
			if (at(l, n, i, "Jan")) {
				if (at(l, n, i, "January"))
					return set(c, STD_LONG_MONTH, 7);
				if (!lower_at(l, n, i + 3))
					return set(c, STD_MONTH, 3);
			}
			break;
		case 'M':
			if (at(l, n, i, "Mon")) {
				if (at(l, n, i, "Monday"))
					return set(c, STD_LONG_WEEKDAY, 6);
				if (!lower_at(l, n, i + 3))
					return set(c, STD_WEEKDAY, 3);
			}
			if (at(l, n, i, "MST"))
				return set(c, STD_TZ, 3);
			break;
		case '0':
			if (i + 1 < n && l[i + 1] >= '1' && l[i + 1] <= '6')
				return set(c, std0x[l[i + 1] - '1'], 2);
			if (at(l, n, i, "002"))
				return set(c, STD_ZERO_YDAY, 3);
			break;
		case '1':
			if (i + 1 < n && l[i + 1] == '5')
				return set(c, STD_HOUR, 2);
			return set(c, STD_NUM_MONTH, 1);
		case '2':
			if (at(l, n, i, "2006"))
				return set(c, STD_LONG_YEAR, 4);
			return set(c, STD_DAY, 1);
		case '_':
			if (i + 1 < n && l[i + 1] == '2') {
				if (at(l, n, i + 1, "2006")) {
					c->prefix = i + 1; /* a literal '_', then the year */
					return set(c, STD_LONG_YEAR, 4);
				}
				return set(c, STD_UNDER_DAY, 2);
			}
			if (at(l, n, i, "__2"))
				return set(c, STD_UNDER_YDAY, 3);
			break;
		case '3':
			return set(c, STD_HOUR12, 1);
		case '4':
			return set(c, STD_MINUTE, 1);
		case '5':
			return set(c, STD_SECOND, 1);
		case 'P':
			if (i + 1 < n && l[i + 1] == 'M')
				return set(c, STD_PM, 2);
			break;
		case 'p':
			if (i + 1 < n && l[i + 1] == 'm')
				return set(c, STD_pm, 2);
			break;
		case '-':
		case 'Z':
			if (zone_at(l, n, i, c))
				return;
			break;
		case '.':
		case ',':
			if (i + 1 < n && (l[i + 1] == '0' || l[i + 1] == '9')) {
				size_t j = i + 1;

				while (j < n && l[j] == l[i + 1])
					j++;
				if (!(j < n && l[j] >= '0' && l[j] <= '9')) {
					c->trim = l[i + 1] == '9';
					c->sep = l[i];
					c->digits = (int)(j - (i + 1));
					return set(c, STD_FRAC, j - i);
				}
			}
			break;
		}
	}
	c->prefix = n;
	c->std = STD_NONE;
}

struct out {
	char *p;
	size_t len, cap;
	bool over;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->over || n > o->cap - o->len) {
		o->over = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

/* Go's appendInt: decimal, zero-padded to width, '-' before the padding */
static void put_int(struct out *o, int64_t x, int width)
{
	char tmp[24];
	size_t i = sizeof(tmp);
	uint64_t u = x < 0 ? -(uint64_t)x : (uint64_t)x;

	do {
		tmp[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u > 0);
	/* at most 20 digits or padding, and the sign: always room in tmp */
	size_t w = width < 0 ? 0 : width > 20 ? 20 : (size_t)width;

	while (sizeof(tmp) - i < w)
		tmp[--i] = '0';
	if (x < 0)
		tmp[--i] = '-';
	put(o, tmp + i, sizeof(tmp) - i);
}

void gotime_civil(int64_t days, int64_t *year, int *month, int *day)
{
	int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;

	*day = (int)(doy - (153 * mp + 2) / 5 + 1);
	*month = (int)(mp < 10 ? mp + 3 : mp - 9);
	*year = yoe + era * 400 + (*month <= 2);
}

int64_t gotime_days(int64_t year, int month, int day)
{
	int64_t y = year - (month <= 2), era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

static void put_frac(struct out *o, const struct chunk *c, int64_t nanos)
{
	char digits[10];
	int n = c->digits > 9 ? 9 : c->digits;

	if (c->trim && (n == 0 || nanos == 0))
		return;
	for (int k = 8; k >= 0; k--, nanos /= 10)
		digits[k] = (char)('0' + nanos % 10);
	if (c->trim)
		while (n > 0 && digits[n - 1] == '0')
			n--;
	if (n == 0 && c->trim)
		return;
	put(o, &c->sep, 1);
	put(o, digits, (size_t)n);
}

int gotime_format(int64_t unix_ms, const char *layout, size_t llen, char *out, size_t outsz,
		  size_t *outlen)
{
	struct out o = { .p = out, .cap = outsz ? outsz - 1 : 0 };
	int64_t secs = unix_ms >= 0 ? unix_ms / 1000 : -((-unix_ms + 999) / 1000);
	int64_t nanos = (unix_ms - secs * 1000) * 1000000;
	int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	int64_t sod = secs - days * 86400, year, yday;
	int month, day, hour = (int)(sod / 3600), min = (int)(sod / 60 % 60), sec = (int)(sod % 60);
	int wday = (int)(((days + 4) % 7 + 7) % 7);

	if (outsz == 0)
		return -E2BIG;
	gotime_civil(days, &year, &month, &day);
	yday = days - gotime_days(year, 1, 1) + 1;
	while (llen > 0) {
		struct chunk c;

		next_chunk(layout, llen, &c);
		put(&o, layout, c.prefix);
		if (c.std == STD_NONE)
			break;
		switch (c.std) {
		case STD_YEAR:
			put_int(&o, (year < 0 ? -year : year) % 100, 2);
			break;
		case STD_LONG_YEAR:
			put_int(&o, year, 4);
			break;
		case STD_MONTH:
		case STD_LONG_MONTH:
			put(&o, month_names[month - 1],
			    c.std == STD_MONTH ? 3 : strlen(month_names[month - 1]));
			break;
		case STD_NUM_MONTH:
		case STD_ZERO_MONTH:
			put_int(&o, month, c.std == STD_ZERO_MONTH ? 2 : 0);
			break;
		case STD_WEEKDAY:
		case STD_LONG_WEEKDAY:
			put(&o, day_names[wday],
			    c.std == STD_WEEKDAY ? 3 : strlen(day_names[wday]));
			break;
		case STD_DAY:
		case STD_ZERO_DAY:
			put_int(&o, day, c.std == STD_ZERO_DAY ? 2 : 0);
			break;
		case STD_UNDER_DAY:
			if (day < 10)
				put(&o, " ", 1);
			put_int(&o, day, 0);
			break;
		case STD_UNDER_YDAY:
			if (yday < 100)
				put(&o, yday < 10 ? "  " : " ", yday < 10 ? 2 : 1);
			put_int(&o, yday, 0);
			break;
		case STD_ZERO_YDAY:
			put_int(&o, yday, 3);
			break;
		case STD_HOUR:
			put_int(&o, hour, 2);
			break;
		case STD_HOUR12:
		case STD_ZERO_HOUR12:
			put_int(&o, hour % 12 == 0 ? 12 : hour % 12,
				c.std == STD_ZERO_HOUR12 ? 2 : 0);
			break;
		case STD_MINUTE:
		case STD_ZERO_MINUTE:
			put_int(&o, min, c.std == STD_ZERO_MINUTE ? 2 : 0);
			break;
		case STD_SECOND:
		case STD_ZERO_SECOND:
			put_int(&o, sec, c.std == STD_ZERO_SECOND ? 2 : 0);
			break;
		case STD_PM:
			put(&o, hour >= 12 ? "PM" : "AM", 2);
			break;
		case STD_pm:
			put(&o, hour >= 12 ? "pm" : "am", 2);
			break;
		case STD_TZ:
			put(&o, "UTC", 3);
			break;
		case STD_ZONE:
			if (c.iso_z) {
				put(&o, "Z", 1);
				break;
			}
			put(&o, "+00", 3);
			if (c.minutes)
				put(&o, c.colon ? ":00" : "00", c.colon ? 3 : 2);
			if (c.seconds)
				put(&o, c.colon ? ":00" : "00", c.colon ? 3 : 2);
			break;
		case STD_FRAC:
			put_frac(&o, &c, nanos);
			break;
		case STD_NONE:
			break;
		}
		layout += c.prefix + c.len;
		llen -= c.prefix + c.len;
	}
	if (o.over) {
		out[0] = '\0';
		return -E2BIG;
	}
	out[o.len] = '\0';
	*outlen = o.len;
	return 0;
}

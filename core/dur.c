/* SPDX-License-Identifier: MIT */
/*
 * dur.c - Vault duration syntax.
 *
 * Hand-written rather than strtod(): strtod follows LC_NUMERIC (a "1,5h"
 * locale), accepts hex, exponents, "inf" and "nan", and rounds in binary.
 * Here a fraction is exact: each group is floored to the nanosecond (as
 * Go's time.ParseDuration, which Vault uses, does), the groups are summed
 * and the sum is truncated to whole seconds.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "dur.h"

#define DUR_NS	     1000000000ULL
#define DUR_SHOW_MAX 32 /* bytes of user input quoted in a message */

struct dur_scan {
	const char *p, *end;
	const char *shown; /* the input, trimmed and made printable */
	uint64_t total_ns;
};

static bool dur_is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool dur_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Copy n bytes of user input for a message: bounded, printable ASCII only. */
static void dur_show(char *out, size_t outsz, const char *p, size_t n)
{
	size_t i, max = outsz - 4; /* room for "..." and the NUL */

	for (i = 0; i < n && i < max; i++)
		out[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? p[i] : '?';
	if (i < n) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
}

/* Seconds per unit, or 0 for anything but exactly "d", "h", "m" or "s". */
static uint64_t dur_unit(const char *u, size_t n)
{
	if (n != 1)
		return 0;
	switch (u[0]) {
	case 'd':
		return 86400;
	case 'h':
		return 3600;
	case 'm':
		return 60;
	case 's':
		return 1;
	}
	return 0;
}

/*
 * floor(unit_ns * 0.<digits>), exactly, for any number of digits: long
 * division from the last digit, so nothing is lost to rounding. The carry
 * stays below unit_ns (<= 86400e9), far from overflow.
 */
static uint64_t dur_frac_ns(const char *digits, size_t n, uint64_t unit_ns)
{
	uint64_t carry = 0;

	while (n-- > 0)
		carry = ((uint64_t)(digits[n] - '0') * unit_ns + carry) / 10;
	return carry;
}

/* The unit run: everything up to the next number or blank, as Go reads it. */
static const char *dur_skip_unit(const char *p, const char *end)
{
	while (p < end && !dur_is_digit(*p) && *p != '.' && !dur_is_blank(*p))
		p++;
	return p;
}

/*
 * Add ip.<frac> units of mult seconds to sc->total_ns. DUR_MAX_SEC is a
 * whole number of days, so the first test is exact; after it each term is
 * <= ~3.2e18 ns and the running total is kept <= DUR_MAX_SEC + 1 s, so the
 * uint64_t sum cannot wrap.
 */
static int dur_add(struct dur_scan *sc, uint64_t ip, const char *frac, size_t nfrac, uint64_t mult,
		   struct parse_error *err)
{
	if (ip <= (uint64_t)DUR_MAX_SEC / mult) {
		sc->total_ns += ip * mult * DUR_NS + dur_frac_ns(frac, nfrac, mult * DUR_NS);
		if (sc->total_ns / DUR_NS <= (uint64_t)DUR_MAX_SEC)
			return 0;
	}
	perr_set(err, 0, 0, "bad duration \"%s\": longer than 100 years", sc->shown);
	return -EINVAL;
}

/* Parse one <number><unit> group at sc->p, or the whole input if bare. */
static int dur_group(struct dur_scan *sc, bool bare, struct parse_error *err)
{
	const char *num = sc->p, *frac = NULL, *unit, *p = sc->p, *end = sc->end;
	char what[DUR_SHOW_MAX + 4];
	uint64_t ip, mult = 1;
	size_t nfrac = 0;

	/* saturate: anything above the maximum is rejected by dur_add anyway */
	for (ip = 0; p < end && dur_is_digit(*p); p++)
		if (ip <= (uint64_t)DUR_MAX_SEC)
			ip = ip * 10 + (uint64_t)(*p - '0');
	if (p < end && *p == '.')
		for (frac = ++p; p < end && dur_is_digit(*p); p++)
			nfrac++;
	if (p == num) {
		if (dur_is_blank(*p)) {
			perr_set(err, 0, 0, "bad duration \"%s\": unexpected blank", sc->shown);
			return -EINVAL;
		}
		unit = p;
		p = dur_skip_unit(p, end);
		dur_show(what, sizeof(what), unit, (size_t)(p - unit));
		perr_set(err, 0, 0, "bad duration \"%s\": missing number before \"%s\"", sc->shown,
			 what);
		return -EINVAL;
	}
	if (p - num == 1 && *num == '.') {
		perr_set(err, 0, 0, "bad duration \"%s\": bad number \".\"", sc->shown);
		return -EINVAL;
	}
	unit = p;
	p = dur_skip_unit(p, end);
	if (bare) {
		/* the caller saw only digits: integer seconds */
	} else if (p == unit && p < end && dur_is_blank(*p)) {
		perr_set(err, 0, 0, "bad duration \"%s\": unexpected blank", sc->shown);
		return -EINVAL;
	} else if (p == unit) {
		dur_show(what, sizeof(what), num, (size_t)(unit - num));
		perr_set(err, 0, 0, "bad duration \"%s\": missing unit after \"%s\"", sc->shown,
			 what);
		return -EINVAL;
	} else if ((mult = dur_unit(unit, (size_t)(p - unit))) == 0) {
		dur_show(what, sizeof(what), unit, (size_t)(p - unit));
		perr_set(err, 0, 0, "bad duration \"%s\": unknown unit \"%s\"", sc->shown, what);
		return -EINVAL;
	}
	sc->p = p;
	return dur_add(sc, ip, frac, nfrac, mult, err);
}

int dur_parse(const char *s, int64_t *sec, struct parse_error *err)
{
	char shown[DUR_SHOW_MAX + 4];
	struct dur_scan sc = { .shown = shown };
	const char *q;
	bool bare = true;
	int r = -EINVAL;

	if (s == NULL)
		s = "";
	for (sc.p = s; dur_is_blank(*sc.p); sc.p++)
		;
	for (sc.end = sc.p + strlen(sc.p); sc.end > sc.p && dur_is_blank(sc.end[-1]); sc.end--)
		;
	dur_show(shown, sizeof(shown), sc.p, (size_t)(sc.end - sc.p));
	if (sc.p == sc.end) {
		perr_set(err, 0, 0, "empty duration");
		goto out;
	}
	if (*sc.p == '-') {
		perr_set(err, 0, 0, "bad duration \"%s\": negative durations are not allowed",
			 shown);
		goto out;
	}
	for (q = sc.p; q < sc.end; q++)
		bare = bare && dur_is_digit(*q);
	while (sc.p < sc.end)
		if ((r = dur_group(&sc, bare, err)) != 0)
			goto out;
	*sec = (int64_t)(sc.total_ns / DUR_NS);
	r = 0;
out:
	return r;
}

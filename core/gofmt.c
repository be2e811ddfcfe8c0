/* SPDX-License-Identifier: MIT */
/*
 * gofmt.c - Go's fmt.Sprintf for ints and strings (see gofmt.h).
 *
 * The structure follows Go's src/fmt (doPrintf, printArg, fmtInteger,
 * fmtString, badVerb) and strconv's quoting, so that each rule, down to
 * what a mistake prints, can be checked against Go's own test table.
 */
#include <errno.h>
#include <string.h>

#include "gofmt.h"
#include "gofmt_i.h"

#define GOFMT_TOO_LARGE 1000000 /* Go's tooLarge: widths and precisions above it are refused */

static const char udigits[] = "0123456789ABCDEFX";

struct flags {
	int wid, prec;
	bool wid_present, prec_present;
	bool minus, plus, sharp, space, zero;
	bool plus_v, sharp_v;
};

/* --- fmt's padding and formatters ---------------------------------------- */

static void pad_bytes(struct buf *b, const struct flags *f, int n)
{
	char c = f->zero && !f->minus ? '0' : ' ';

	for (; n > 0; n--)
		gofmt_putc(b, c);
}

/* fmt.pad/padString: width counts runes */
static void pad(struct buf *b, const struct flags *f, const char *s, size_t n)
{
	int width;

	if (!f->wid_present || f->wid == 0) {
		gofmt_put(b, s, n);
		return;
	}
	width = f->wid - (int)gofmt_rune_count(s, n);
	if (!f->minus) {
		pad_bytes(b, f, width);
		gofmt_put(b, s, n);
	} else {
		gofmt_put(b, s, n);
		pad_bytes(b, f, width);
	}
}

static void fmt_integer(struct buf *b, struct flags *f, uint64_t u, int base, bool is_signed,
			char verb, const char *digits)
{
	char tmp[2 * GOFMT_TOO_LARGE / 1000 + 80]; /* 2080: more than any result can use */
	bool negative = is_signed && (int64_t)u < 0;
	int prec = 0;
	size_t i = sizeof(tmp);
	struct flags nz = *f;

	if (negative)
		u = -u;
	if ((size_t)f->wid + (size_t)f->prec + 3 > sizeof(tmp)) {
		b->over = true; /* cannot fit the output (at most 1024 bytes) either */
		return;
	}
	if (f->prec_present) {
		prec = f->prec;
		if (prec == 0 && u == 0) {
			nz.zero = false;
			pad_bytes(b, &nz, f->wid);
			return;
		}
	} else if (f->zero && !f->minus && f->wid_present) {
		prec = f->wid;
		if (negative || f->plus || f->space)
			prec--;
	}
	do {
		tmp[--i] = digits[u % (uint64_t)base];
		u /= (uint64_t)base;
	} while (u > 0);
	while (i > 0 && prec > (int)(sizeof(tmp) - i))
		tmp[--i] = '0';
	if (f->sharp) {
		if (base == 2) {
			tmp[--i] = 'b';
			tmp[--i] = '0';
		} else if (base == 8 && tmp[i] != '0') {
			tmp[--i] = '0';
		} else if (base == 16) {
			tmp[--i] = digits[16];
			tmp[--i] = '0';
		}
	}
	if (verb == 'O') {
		tmp[--i] = 'o';
		tmp[--i] = '0';
	}
	if (negative)
		tmp[--i] = '-';
	else if (f->plus)
		tmp[--i] = '+';
	else if (f->space)
		tmp[--i] = ' ';
	nz.zero = false; /* zero padding was done above, as precision */
	pad(b, &nz, tmp + i, sizeof(tmp) - i);
}

/* fmt_unicode: U+0078, or with '#' U+0078 'x' */
static void fmt_unicode(struct buf *b, struct flags *f, uint64_t u)
{
	char hex[GOFMT_TOO_LARGE / 1000 + 40], whole[sizeof(hex) + 8];
	int prec = f->prec_present && f->prec > 4 ? f->prec : 4;
	size_t i = sizeof(hex);
	struct flags nz = *f;
	struct buf w = { .p = whole, .cap = sizeof(whole) };
	uint64_t v = u;

	if ((size_t)prec + 4 > sizeof(hex)) {
		b->over = true;
		return;
	}
	do {
		hex[--i] = udigits[v & 0xf];
		prec--;
		v >>= 4;
	} while (v > 0);
	for (; prec > 0; prec--)
		hex[--i] = '0';
	gofmt_puts(&w, "U+");
	gofmt_put(&w, hex + i, sizeof(hex) - i);
	if (f->sharp && u <= GOFMT_MAX_RUNE && gofmt_is_print((uint32_t)u)) {
		gofmt_puts(&w, " '");
		gofmt_put_rune(&w, (uint32_t)u);
		gofmt_putc(&w, '\'');
	}
	nz.zero = false;
	pad(b, &nz, whole, w.len);
}

static void fmt_string_padded_quote(struct buf *b, const struct flags *f, const char *s, size_t n)
{
	char tmp[1100];
	struct buf q = { .p = tmp, .cap = sizeof(tmp) };

	gofmt_quote(&q, s, n, f->plus);
	if (q.over) {
		b->over = true; /* longer than any result */
		return;
	}
	pad(b, f, tmp, q.len);
}

/* fmt.truncate: at most prec runes */
static size_t truncate_runes(const struct flags *f, const char *s, size_t n)
{
	size_t i = 0, w;

	if (!f->prec_present)
		return n;
	for (int k = 0; k < f->prec && i < n; k++) {
		gofmt_utf8_decode((const unsigned char *)s + i, n - i, &w);
		i += w;
	}
	return i;
}

static void fmt_q(struct buf *b, const struct flags *f, const char *s, size_t n)
{
	n = truncate_runes(f, s, n);
	if (f->sharp && gofmt_can_backquote(s, n)) {
		char tmp[1100];
		struct buf q = { .p = tmp, .cap = sizeof(tmp) };

		gofmt_putc(&q, '`');
		gofmt_put(&q, s, n);
		gofmt_putc(&q, '`');
		if (q.over)
			b->over = true;
		else
			pad(b, f, tmp, q.len);
		return;
	}
	fmt_string_padded_quote(b, f, s, n);
}

/* fmt_qc: a quoted character; an invalid one prints as U+FFFD */
static void fmt_qc(struct buf *b, const struct flags *f, uint64_t c)
{
	char tmp[16];
	struct buf q = { .p = tmp, .cap = sizeof(tmp) };
	uint32_t r = c > GOFMT_MAX_RUNE ? GOFMT_RUNE_ERR : (uint32_t)c;

	if (r >= 0xD800 && r <= 0xDFFF)
		r = GOFMT_RUNE_ERR;
	gofmt_putc(&q, '\'');
	gofmt_put_escaped_rune(&q, r, '\'', f->plus);
	gofmt_putc(&q, '\'');
	pad(b, f, tmp, q.len);
}

/* fmt_sbx: the bytes of a string in hex */
static void fmt_sx(struct buf *b, const struct flags *f, const char *s, size_t n,
		   const char *digits)
{
	size_t length = n;
	int width;

	if (f->prec_present && (size_t)f->prec < length)
		length = (size_t)f->prec;
	width = 2 * (int)length;
	if (width > 0) {
		if (f->space) {
			if (f->sharp)
				width *= 2;
			width += (int)length - 1;
		} else if (f->sharp) {
			width += 2;
		}
	} else {
		if (f->wid_present)
			pad_bytes(b, f, f->wid);
		return;
	}
	if (f->wid_present && f->wid > width && !f->minus)
		pad_bytes(b, f, f->wid - width);
	if (f->sharp) {
		gofmt_putc(b, '0');
		gofmt_putc(b, digits[16]);
	}
	for (size_t i = 0; i < length; i++) {
		unsigned char c = (unsigned char)s[i];

		if (f->space && i > 0) {
			gofmt_putc(b, ' ');
			if (f->sharp) {
				gofmt_putc(b, '0');
				gofmt_putc(b, digits[16]);
			}
		}
		gofmt_putc(b, digits[c >> 4]);
		gofmt_putc(b, digits[c & 0xf]);
	}
	if (f->wid_present && f->wid > width && f->minus)
		pad_bytes(b, f, f->wid - width);
}

/* --- printArg and doPrintf ----------------------------------------------- */

static void print_arg(struct buf *b, struct flags *f, const struct gofmt_arg *a, uint32_t verb);

static void bad_verb(struct buf *b, struct flags *f, const struct gofmt_arg *a, uint32_t verb)
{
	gofmt_puts(b, "%!");
	gofmt_put_rune(b, verb);
	gofmt_putc(b, '(');
	gofmt_puts(b, a->is_int ? "int=" : "string=");
	print_arg(b, f, a, 'v');
	gofmt_putc(b, ')');
}

static void print_arg(struct buf *b, struct flags *f, const struct gofmt_arg *a, uint32_t verb)
{
	if (a->is_int) {
		uint64_t u = (uint64_t)a->i;

		switch (verb) {
		case 'v':
		case 'd':
			fmt_integer(b, f, u, 10, true, (char)verb, gofmt_ldigits);
			return;
		case 'b':
			fmt_integer(b, f, u, 2, true, (char)verb, gofmt_ldigits);
			return;
		case 'o':
		case 'O':
			fmt_integer(b, f, u, 8, true, (char)verb, gofmt_ldigits);
			return;
		case 'x':
		case 'X':
			fmt_integer(b, f, u, 16, true, (char)verb,
				    verb == 'x' ? gofmt_ldigits : udigits);
			return;
		case 'c': {
			char tmp[8];
			struct buf r = { .p = tmp, .cap = sizeof(tmp) };

			gofmt_put_rune(&r, u > GOFMT_MAX_RUNE ? GOFMT_RUNE_ERR : (uint32_t)u);
			pad(b, f, tmp, r.len);
			return;
		}
		case 'q':
			fmt_qc(b, f, u);
			return;
		case 'U':
			fmt_unicode(b, f, u);
			return;
		}
	} else {
		size_t n;

		switch (verb) {
		case 'v':
			if (f->sharp_v) {
				fmt_q(b, f, a->s, a->len);
				return;
			}
			/* fall through */
		case 's':
			n = truncate_runes(f, a->s, a->len);
			pad(b, f, a->s, n);
			return;
		case 'x':
		case 'X':
			fmt_sx(b, f, a->s, a->len, verb == 'x' ? gofmt_ldigits : udigits);
			return;
		case 'q':
			fmt_q(b, f, a->s, a->len);
			return;
		}
	}
	bad_verb(b, f, a, verb);
}

static bool too_large(long x)
{
	return x > GOFMT_TOO_LARGE || x < -GOFMT_TOO_LARGE;
}

/* parsenum: digits at fmt[*i]; on overflow consumes everything (Go does) */
static bool parse_num(const char *fmt, size_t *i, size_t end, int *num)
{
	long v = 0;
	bool isnum = false;
	size_t k;

	*num = 0;
	for (k = *i; k < end && fmt[k] >= '0' && fmt[k] <= '9'; k++) {
		if (too_large(v)) {
			*i = end;
			return false;
		}
		v = v * 10 + (fmt[k] - '0');
		isnum = true;
	}
	*num = (int)v;
	*i = k;
	return isnum;
}

struct pstate {
	size_t argnum;
	bool reordered, good_argnum;
};

/* argNumber: an explicit [n] at fmt[*i] */
static bool arg_number(struct pstate *ps, const char *fmt, size_t *i, size_t end, size_t nargs)
{
	size_t k;

	if (*i >= end || fmt[*i] != '[')
		return false;
	ps->reordered = true;
	if (end - *i < 3) {
		*i += 1;
		ps->good_argnum = false;
		return false;
	}
	for (k = *i + 1; k < end; k++) {
		if (fmt[k] == ']') {
			size_t j = *i + 1;
			int idx;
			bool ok = parse_num(fmt, &j, k, &idx) && j == k;

			*i = k + 1;
			if (ok && idx - 1 >= 0 && (size_t)(idx - 1) < nargs) {
				ps->argnum = (size_t)(idx - 1);
				return true;
			}
			ps->good_argnum = false;
			return ok;
		}
	}
	*i += 1;
	ps->good_argnum = false;
	return false;
}

/* intFromArg: a '*' width or precision */
static bool int_from_arg(struct pstate *ps, const struct gofmt_arg *a, size_t n, int *num)
{
	bool is_int = false;

	*num = 0;
	if (ps->argnum < n) {
		if (a[ps->argnum].is_int && !too_large(a[ps->argnum].i)) {
			*num = (int)a[ps->argnum].i;
			is_int = true;
		}
		ps->argnum++;
	}
	return is_int;
}

static void do_printf(struct buf *b, const char *fmt, size_t end, const struct gofmt_arg *a,
		      size_t n)
{
	struct pstate ps = { 0 };
	size_t i = 0;

	while (i < end) {
		struct flags f = { 0 };
		bool after_index = false;
		size_t lasti = i, w;
		uint32_t verb;

		ps.good_argnum = true;
		while (i < end && fmt[i] != '%')
			i++;
		gofmt_put(b, fmt + lasti, i - lasti);
		if (i >= end)
			break;
		i++;
		/* flags, and the fast path of a plain lower-case verb */
		for (; i < end; i++) {
			char c = fmt[i];

			if (c == '#') {
				f.sharp = true;
			} else if (c == '0') {
				f.zero = true;
			} else if (c == '+') {
				f.plus = true;
			} else if (c == '-') {
				f.minus = true;
			} else if (c == ' ') {
				f.space = true;
			} else {
				if (c >= 'a' && c <= 'z' && ps.argnum < n) {
					if (c == 'v' || c == 'w') {
						f.sharp_v = f.sharp;
						f.sharp = false;
						f.plus_v = f.plus;
						f.plus = false;
					}
					print_arg(b, &f, &a[ps.argnum++], (uint32_t)c);
					i++;
					goto next;
				}
				break;
			}
		}
		after_index = arg_number(&ps, fmt, &i, end, n);
		if (i < end && fmt[i] == '*') {
			i++;
			f.wid_present = int_from_arg(&ps, a, n, &f.wid);
			if (!f.wid_present)
				gofmt_puts(b, "%!(BADWIDTH)");
			if (f.wid < 0) {
				f.wid = -f.wid;
				f.minus = true;
				f.zero = false;
			}
			after_index = false;
		} else {
			f.wid_present = parse_num(fmt, &i, end, &f.wid);
			if (after_index && f.wid_present)
				ps.good_argnum = false;
		}
		if (i + 1 < end && fmt[i] == '.') {
			i++;
			if (after_index)
				ps.good_argnum = false;
			after_index = arg_number(&ps, fmt, &i, end, n);
			if (i < end && fmt[i] == '*') {
				i++;
				f.prec_present = int_from_arg(&ps, a, n, &f.prec);
				if (f.prec < 0) {
					f.prec = 0;
					f.prec_present = false;
				}
				if (!f.prec_present)
					gofmt_puts(b, "%!(BADPREC)");
				after_index = false;
			} else {
				f.prec_present = parse_num(fmt, &i, end, &f.prec);
				if (!f.prec_present) {
					f.prec = 0;
					f.prec_present = true;
				}
			}
		}
		if (!after_index)
			after_index = arg_number(&ps, fmt, &i, end, n);
		if (i >= end) {
			gofmt_puts(b, "%!(NOVERB)");
			break;
		}
		verb = gofmt_utf8_decode((const unsigned char *)fmt + i, end - i, &w);
		i += w;
		if (verb == '%') {
			gofmt_putc(b, '%');
		} else if (!ps.good_argnum) {
			gofmt_puts(b, "%!");
			gofmt_put_rune(b, verb);
			gofmt_puts(b, "(BADINDEX)");
		} else if (ps.argnum >= n) {
			gofmt_puts(b, "%!");
			gofmt_put_rune(b, verb);
			gofmt_puts(b, "(MISSING)");
		} else {
			if (verb == 'v' || verb == 'w') {
				f.sharp_v = f.sharp;
				f.sharp = false;
				f.plus_v = f.plus;
				f.plus = false;
			}
			print_arg(b, &f, &a[ps.argnum++], verb);
		}
next:;
	}
	if (!ps.reordered && ps.argnum < n) {
		struct flags none = { 0 };

		gofmt_puts(b, "%!(EXTRA ");
		for (size_t k = ps.argnum; k < n; k++) {
			if (k > ps.argnum)
				gofmt_puts(b, ", ");
			gofmt_puts(b, a[k].is_int ? "int=" : "string=");
			print_arg(b, &none, &a[k], 'v');
		}
		gofmt_putc(b, ')');
	}
}

int gofmt_sprintf(const char *format, size_t flen, const struct gofmt_arg *args, size_t n,
		  char *out, size_t outsz, size_t *outlen)
{
	struct buf b = { .p = out, .cap = outsz ? outsz - 1 : 0 };

	if (outsz == 0)
		return -E2BIG;
	do_printf(&b, format, flen, args, n);
	if (b.over) {
		out[0] = '\0';
		return -E2BIG;
	}
	out[b.len] = '\0';
	*outlen = b.len;
	return 0;
}

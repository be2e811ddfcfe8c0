/* SPDX-License-Identifier: MIT */
/*
 * gofmt_str.c - the byte-level half of gofmt: an overflow-noting buffer,
 * UTF-8 decoding as Go's unicode/utf8 does it, and strconv's quoting.
 */
#include <string.h>

#include "gofmt.h"
#include "gofmt_i.h"

const char gofmt_ldigits[] = "0123456789abcdefx";

void gofmt_put(struct buf *b, const char *s, size_t n)
{
	if (b->over || n > b->cap - b->len) {
		b->over = true;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

void gofmt_putc(struct buf *b, char c)
{
	gofmt_put(b, &c, 1);
}

void gofmt_puts(struct buf *b, const char *s)
{
	gofmt_put(b, s, strlen(s));
}

/* utf8.DecodeRuneInString: an invalid or short sequence is RuneError of width 1. */
uint32_t gofmt_utf8_decode(const unsigned char *s, size_t n, size_t *width)
{
	uint32_t r;
	size_t need, i;

	*width = 1;
	if (n == 0)
		return GOFMT_RUNE_ERR;
	if (s[0] < 0x80)
		return s[0];
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 2, r = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		need = 3, r = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		need = 4, r = s[0] & 0x07;
	else
		return GOFMT_RUNE_ERR;
	if (n < need)
		return GOFMT_RUNE_ERR;
	for (i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return GOFMT_RUNE_ERR;
		r = (r << 6) | (s[i] & 0x3f);
	}
	if ((need == 3 && r < 0x800) || (need == 4 && (r < 0x10000 || r > GOFMT_MAX_RUNE)) ||
	    (r >= 0xD800 && r <= 0xDFFF))
		return GOFMT_RUNE_ERR;
	*width = need;
	return r;
}

void gofmt_put_rune(struct buf *b, uint32_t r)
{
	char e[4];

	if (r > GOFMT_MAX_RUNE || (r >= 0xD800 && r <= 0xDFFF))
		r = GOFMT_RUNE_ERR;
	if (r < 0x80) {
		gofmt_putc(b, (char)r);
	} else if (r < 0x800) {
		e[0] = (char)(0xc0 | (r >> 6));
		e[1] = (char)(0x80 | (r & 0x3f));
		gofmt_put(b, e, 2);
	} else if (r < 0x10000) {
		e[0] = (char)(0xe0 | (r >> 12));
		e[1] = (char)(0x80 | ((r >> 6) & 0x3f));
		e[2] = (char)(0x80 | (r & 0x3f));
		gofmt_put(b, e, 3);
	} else {
		e[0] = (char)(0xf0 | (r >> 18));
		e[1] = (char)(0x80 | ((r >> 12) & 0x3f));
		e[2] = (char)(0x80 | ((r >> 6) & 0x3f));
		e[3] = (char)(0x80 | (r & 0x3f));
		gofmt_put(b, e, 4);
	}
}

size_t gofmt_rune_count(const char *s, size_t n)
{
	size_t count = 0, w;

	for (size_t i = 0; i < n; i += w, count++)
		gofmt_utf8_decode((const unsigned char *)s + i, n - i, &w);
	return count;
}

/* strconv.IsPrint, exact for ASCII; see gofmt.h for the rest. */
bool gofmt_is_print(uint32_t r)
{
	if (r < 0x80)
		return r >= 0x20 && r < 0x7f;
	return !((r <= 0xa0) || r == 0xad || (r >= 0x600 && r <= 0x605) || r == 0x61c ||
		 r == 0x6dd || r == 0x70f || r == 0x180e || r == 0x1680 ||
		 (r >= 0x2000 && r <= 0x200f) || (r >= 0x2028 && r <= 0x202f) ||
		 (r >= 0x205f && r <= 0x206f) || r == 0x3000 || (r >= 0xd800 && r <= 0xf8ff) ||
		 (r >= 0xfdd0 && r <= 0xfdef) || r == 0xfeff || (r >= 0xfff9 && r <= 0xfffb) ||
		 (r & 0xfffe) == 0xfffe || (r >= 0xe0000 && r <= 0xe0fff) || r >= 0xf0000);
}

/* strconv's appendEscapedRune */
void gofmt_put_escaped_rune(struct buf *b, uint32_t r, char quote, bool ascii_only)
{
	static const char esc[] = "\aa\bb\ff\nn\rr\tt\vv";
	const char *e;
	int shift;

	if (r == (uint32_t)quote || r == '\\') {
		gofmt_putc(b, '\\');
		gofmt_putc(b, (char)r);
		return;
	}
	if (ascii_only ? (r < 0x80 && gofmt_is_print(r)) : gofmt_is_print(r)) {
		gofmt_put_rune(b, r);
		return;
	}
	if (r != 0 && r < 0x80 && (e = strchr(esc, (int)r)) != NULL && (e - esc) % 2 == 0) {
		gofmt_putc(b, '\\');
		gofmt_putc(b, e[1]);
		return;
	}
	if (r < ' ' || r == 0x7f) {
		gofmt_putc(b, '\\');
		gofmt_putc(b, 'x');
		gofmt_putc(b, gofmt_ldigits[r >> 4]);
		gofmt_putc(b, gofmt_ldigits[r & 0xf]);
		return;
	}
	if (r > GOFMT_MAX_RUNE || (r >= 0xD800 && r <= 0xDFFF))
		r = GOFMT_RUNE_ERR;
	gofmt_putc(b, '\\');
	gofmt_putc(b, r < 0x10000 ? 'u' : 'U');
	for (shift = r < 0x10000 ? 12 : 28; shift >= 0; shift -= 4)
		gofmt_putc(b, gofmt_ldigits[(r >> shift) & 0xf]);
}

/* strconv.Quote / QuoteToASCII into a fresh buffer q */
void gofmt_quote(struct buf *q, const char *s, size_t n, bool ascii_only)
{
	size_t w;

	gofmt_putc(q, '"');
	for (size_t i = 0; i < n; i += w) {
		uint32_t r = gofmt_utf8_decode((const unsigned char *)s + i, n - i, &w);

		if (w == 1 && r == GOFMT_RUNE_ERR) {
			unsigned char c = (unsigned char)s[i];

			gofmt_putc(q, '\\');
			gofmt_putc(q, 'x');
			gofmt_putc(q, gofmt_ldigits[c >> 4]);
			gofmt_putc(q, gofmt_ldigits[c & 0xf]);
			continue;
		}
		gofmt_put_escaped_rune(q, r, '"', ascii_only);
	}
	gofmt_putc(q, '"');
}

bool gofmt_can_backquote(const char *s, size_t n)
{
	size_t w;

	for (size_t i = 0; i < n; i += w) {
		uint32_t r = gofmt_utf8_decode((const unsigned char *)s + i, n - i, &w);

		if (w > 1) {
			if (r == 0xfeff)
				return false;
			continue;
		}
		if (r == GOFMT_RUNE_ERR || (r < ' ' && r != '\t') || r == '`' || r == 0x7f)
			return false;
	}
	return true;
}

size_t gofmt_rune_width(const char *s, size_t n)
{
	size_t w;

	gofmt_utf8_decode((const unsigned char *)s, n, &w);
	return w;
}

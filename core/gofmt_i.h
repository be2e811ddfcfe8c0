/* SPDX-License-Identifier: MIT */
/*
 * gofmt_i.h - what gofmt.c shares with gofmt_str.c: an output buffer that
 * notes an overflow instead of failing each write, UTF-8 as Go's
 * unicode/utf8 sees it, and strconv's quoting.
 */
#ifndef CREDFS_GOFMT_I_H
#define CREDFS_GOFMT_I_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GOFMT_RUNE_ERR 0xFFFD
#define GOFMT_MAX_RUNE 0x10FFFF

struct buf {
	char *p;
	size_t len, cap; /* cap excludes the NUL */
	bool over;
};

extern const char gofmt_ldigits[];

void gofmt_put(struct buf *b, const char *s, size_t n);
void gofmt_putc(struct buf *b, char c);
void gofmt_puts(struct buf *b, const char *s);
/* utf8.DecodeRuneInString: an invalid or short sequence is U+FFFD of width 1 */
uint32_t gofmt_utf8_decode(const unsigned char *s, size_t n, size_t *width);
/* utf8.AppendRune: an invalid rune is written as U+FFFD */
void gofmt_put_rune(struct buf *b, uint32_t r);
size_t gofmt_rune_count(const char *s, size_t n);
/* strconv.IsPrint (exact for ASCII, see gofmt.h) */
bool gofmt_is_print(uint32_t r);
/* strconv's appendEscapedRune, for quote '"' or '\'' */
void gofmt_put_escaped_rune(struct buf *b, uint32_t r, char quote, bool ascii_only);
/* strconv.Quote (ascii_only: QuoteToASCII) */
void gofmt_quote(struct buf *q, const char *s, size_t n, bool ascii_only);
/* strconv.CanBackquote */
bool gofmt_can_backquote(const char *s, size_t n);

#endif

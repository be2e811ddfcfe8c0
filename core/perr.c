/* SPDX-License-Identifier: MIT */
/*
 * perr.c - fill struct parse_error.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "perr.h"

/*
 * The text is shown to a person (shell, log), so a cut must not leave
 * half of a UTF-8 sequence at the end: drop a trailing incomplete one.
 */
static void perr_trim_utf8(char *s)
{
	size_t len = strlen(s), i = len, need;

	/* walk back over continuation bytes to the lead byte, at most 3 */
	while (i > 0 && len - i < 4 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
		i--;
	if (i == 0 || (unsigned char)s[i - 1] < 0xc0)
		return; /* ASCII or stray continuation bytes: leave as is */
	i--;
	if (((unsigned char)s[i] & 0xe0) == 0xc0)
		need = 2;
	else if (((unsigned char)s[i] & 0xf0) == 0xe0)
		need = 3;
	else
		need = 4;
	if (len - i < need)
		s[i] = '\0';
}

void perr_set(struct parse_error *err, int line, int col, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	err->line = line;
	err->col = col;
	va_start(ap, fmt);
	if (vsnprintf(err->text, sizeof(err->text), fmt, ap) < 0)
		err->text[0] = '\0';
	va_end(ap);
	perr_trim_utf8(err->text);
}

void perr_prefix(struct parse_error *err, const char *prefix)
{
	char buf[sizeof(err->text)];

	if (err == NULL || prefix == NULL)
		return;
	/* via a copy: err->text cannot be both source and destination */
	if (snprintf(buf, sizeof(buf), "%s: %s", prefix, err->text) < 0)
		return;
	perr_trim_utf8(buf);
	memcpy(err->text, buf, sizeof(err->text));
}

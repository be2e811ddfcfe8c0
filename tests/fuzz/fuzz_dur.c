/* SPDX-License-Identifier: MIT */
/*
 * fuzz_dur.c - libFuzzer target for dur_parse.
 *
 * Besides memory errors, checks the contract: a result is in
 * [0, DUR_MAX_SEC], *sec is untouched on failure, and the message is a
 * terminated string without control bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dur.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct parse_error err;
	int64_t sec = -42;
	char *s;
	size_t i;
	int r;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	memset(&err, 0xa5, sizeof(err));
	r = dur_parse(s, &sec, &err);
	if (r == 0 && (sec < 0 || sec > DUR_MAX_SEC))
		abort();
	if (r != 0) {
		if (sec != -42 || memchr(err.text, '\0', sizeof(err.text)) == NULL)
			abort();
		for (i = 0; err.text[i] != '\0'; i++)
			if ((unsigned char)err.text[i] < 0x20 || err.text[i] == 0x7f)
				abort();
	}
	free(s);
	return 0;
}

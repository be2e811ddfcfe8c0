/* SPDX-License-Identifier: MIT */
/*
 * fuzz_tmpl.c - libFuzzer target for tmpl_check, tmpl_uses and tmpl_render.
 *
 * Checks that the three agree: text that passes tmpl_check against the
 * known names renders, a used variable's value appears in the output,
 * and the reported length is the string's length.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tmpl.h"

#define FUZZ_PW "<pw:{{name}}>"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = { "name", "username", "password", "expiration", NULL };

static const struct tmpl_var vars[] = {
	{ "name", "v-x-y-0", 7 },
	{ "username", "", 0 },
	{ "password", FUZZ_PW, sizeof(FUZZ_PW) - 1 },
	{ "expiration", "2024-05-01 12:34:56+0000", 24 },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct parse_error err;
	char *s, *out = NULL;
	size_t outlen = 0;
	int checked, rendered;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	checked = tmpl_check(s, names, &err);
	rendered = tmpl_render(s, vars, 4, &out, &outlen, &err);
	if (checked != rendered || (rendered != 0 && rendered != -EINVAL))
		abort();
	if (rendered == 0) {
		if (outlen != strlen(out))
			abort();
		if (tmpl_uses(s, "password") && strstr(out, FUZZ_PW) == NULL)
			abort();
		if (tmpl_uses(s, "expiration") && strstr(out, vars[3].value) == NULL)
			abort();
		tmpl_free(out);
	} else if (out != NULL) {
		abort();
	}
	free(s);
	return 0;
}

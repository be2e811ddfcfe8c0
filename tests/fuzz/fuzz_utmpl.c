/* SPDX-License-Identifier: MIT */
/*
 * fuzz_utmpl.c - libFuzzer target for utmpl_render (username_template).
 *
 * Whatever the template, the result is an error (-EINVAL with a message)
 * or a name PostgreSQL and the role's quoting can take: 1 to 63 bytes of
 * printable ASCII without space, quotes, backslash or '$'.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "uname.h"
#include "utmpl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct utmpl_data d = { "fu\"zz'$", "role;--", 1700000000000 };
	struct parse_error err;
	char out[UNAME_MAX + 1], *s;
	int r;

	if (sodium_init() < 0 || (s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	memset(&err, 0, sizeof(err));
	r = utmpl_render(s, &d, out, sizeof(out), &err);
	if (r == 0) {
		size_t n = strlen(out);

		if (n == 0 || n > UNAME_MAX || strpbrk(out, " \"'\\$"))
			abort();
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)out[i] <= ' ' || (unsigned char)out[i] >= 0x7f)
				abort();
	} else if (r != -EINVAL || err.text[0] == '\0') {
		abort();
	}
	free(s);
	return 0;
}

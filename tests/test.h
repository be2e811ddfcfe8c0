/* SPDX-License-Identifier: MIT */
/*
 * test.h - the tiny unit test harness shared by tests/unit/test_*.c.
 *
 *   static void test_x(void) { CHECK(1 + 1 == 2); CHECK_STR_EQ(a, "b"); }
 *   int main(void) { RUN(test_x); return DONE(); }
 *
 * Prints one line per failed check and a final "N passed, N failed".
 */
#ifndef CREDFS_TEST_H
#define CREDFS_TEST_H

#include <stdio.h>
#include <string.h>

static int t_pass, t_fail, t_bad;

#define CHECK(c)                                                                              \
	do {                                                                                  \
		if (!(c)) {                                                                   \
			t_bad = 1;                                                            \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #c); \
		}                                                                             \
	} while (0)

#define CHECK_INT_EQ(a, b)                                                                    \
	do {                                                                                  \
		long long _a = (long long)(a), _b = (long long)(b);                           \
		if (_a != _b) {                                                               \
			t_bad = 1;                                                            \
			fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__, \
				__LINE__, #a, _a, #b, _b);                                    \
		}                                                                             \
	} while (0)

#define CHECK_STR_EQ(a, b)                                                                  \
	do {                                                                                \
		const char *_a = (a), *_b = (b);                                            \
		if (!_a || !_b || strcmp(_a, _b) != 0) {                                    \
			t_bad = 1;                                                          \
			fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, \
				__LINE__, #a, _a ? _a : "(null)", _b ? _b : "(null)");      \
		}                                                                           \
	} while (0)

#define RUN(fn)                                            \
	do {                                               \
		t_bad = 0;                                 \
		fn();                                      \
		if (t_bad) {                               \
			t_fail++;                          \
			fprintf(stderr, "FAIL %s\n", #fn); \
		} else {                                   \
			t_pass++;                          \
		}                                          \
	} while (0)

#define DONE() (printf("%d passed, %d failed\n", t_pass, t_fail), t_fail != 0)

#endif

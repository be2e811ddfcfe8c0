/* SPDX-License-Identifier: MIT */
/*
 * test_gofmt.c - Go's fmt.Sprintf for ints and strings. The expected
 * strings are Go's own (src/fmt/fmt_test.go), mistakes included.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "gofmt.h"
#include "test.h"

#define I(v) ((struct gofmt_arg){ .is_int = true, .i = (v) })
#define S(v) ((struct gofmt_arg){ .s = (v), .len = sizeof(v) - 1 })

static const char *go(const char *format, size_t n, const struct gofmt_arg *a)
{
	static char out[1100];
	size_t len = 0;

	if (gofmt_sprintf(format, strlen(format), a, n, out, sizeof(out), &len) != 0)
		return "E2BIG";
	if (len != strlen(out))
		return "length mismatch";
	return out;
}

#define GO1(f, a, want) CHECK_STR_EQ(go(f, 1, (struct gofmt_arg[]){ a }), want)
#define GO0(f, want)	CHECK_STR_EQ(go(f, 0, NULL), want)

static void test_verbs(void)
{
	GO1("%s", S("abc"), "abc");
	GO1("%v", S("abc"), "abc");
	GO1("%d", I(12345), "12345");
	GO1("%v", I(-12345), "-12345");
	GO1("%x", S("xyz"), "78797a");
	GO1("%X", S("xyz"), "78797A");
	GO1("% x", S("xyz"), "78 79 7a");
	GO1("%#x", S("xyz"), "0x78797a");
	GO1("%# x", S("xyz"), "0x78 0x79 0x7a");
	GO1("%x", I(0x12abcdef), "12abcdef");
	GO1("%X", I(0x12abcdef), "12ABCDEF");
	GO1("%x", I(-42), "-2a");
	GO1("%#X", I(0), "0X0");
	GO1("%b", I(-6), "-110");
	GO1("%#b", I(7), "0b111");
	GO1("%o", I(01234), "1234");
	GO1("%#o", I(-01234), "-01234");
	GO1("%O", I(-01234), "-0o1234");
	GO1("%c", I(0x672c), "\xe6\x9c\xac");
	GO1("%c", I(-1), "\xef\xbf\xbd");
	GO1("%U", I(0x263a), "U+263A");
	GO1("%#U", I(0x263a), "U+263A '\xe2\x98\xba'");
	GO1("%#U", I('\n'), "U+000A");
	GO1("%#14.6U", I(0x2318), "  U+002318 '\xe2\x8c\x98'");
	GO0("100%%", "100%");
	GO1("%d%%", I(5), "5%");
}

static void test_quote(void)
{
	GO1("%q", S(""), "\"\"");
	GO1("%#q", S(""), "``");
	GO1("%q", S("\""), "\"\\\"\"");
	GO1("%#q", S("\""), "`\"`");
	GO1("%q", S("`"), "\"`\"");
	GO1("%q", S("\n"), "\"\\n\"");
	GO1("%q", S("\\n"), "\"\\\\n\"");
	GO1("%#q", S("\\n"), "`\\n`");
	GO1("%q", S("abc"), "\"abc\"");
	GO1("%#q", S("abc"), "`abc`");
	GO1("%q", S("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"),
	    "\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\"");
	GO1("%+q", S("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"), "\"\\u65e5\\u672c\\u8a9e\"");
	GO1("%q", S("\a\b\f\n\r\t\v\"\\"), "\"\\a\\b\\f\\n\\r\\t\\v\\\"\\\\\"");
	GO1("%q",
	    S("abc\xff"
	      "def"),
	    "\"abc\\xffdef\"");
	GO1("%q", S("\xf4\x8f\xbf\xbf"), "\"\\U0010ffff\"");
	GO1("%q", S("\x01\x7f"), "\"\\x01\\x7f\"");
	GO1("%q", S("it's"), "\"it's\"");
	GO1("%10q", S("\xe2\x8c\x98"), "       \"\xe2\x8c\x98\"");
	GO1("%+10q", S("\xe2\x8c\x98"), "  \"\\u2318\"");
	GO1("%-10q", S("\xe2\x8c\x98"), "\"\xe2\x8c\x98\"       ");
	GO1("%010q", S("\xe2\x8c\x98"), "0000000\"\xe2\x8c\x98\"");
	GO1("%-010q", S("\xe2\x8c\x98"), "\"\xe2\x8c\x98\"       ");
	GO1("%#8q", S("\n"), "    \"\\n\"");
	GO1("%#-8q", S("\t"), "`\t`     ");
	/* integers quote as characters; an invalid one is U+FFFD */
	GO1("%q", I(0), "'\\x00'");
	GO1("%q", I('"'), "'\"'");
	GO1("%q", I('\''), "'\\''");
	GO1("%q", I('x'), "'x'");
	GO1("%q", I(0xff), "'\xc3\xbf'");
	GO1("%+q", I(0xff), "'\\u00ff'");
	GO1("%q", I('\n'), "'\\n'");
	GO1("%q", I(-1), "'\xef\xbf\xbd'");
	GO1("%q", I(0xDC80), "'\xef\xbf\xbd'");
	GO1("%q", I(0x110000), "'\xef\xbf\xbd'");
	GO1("%q", I(0x10ffff), "'\\U0010ffff'");
}

static void test_width_precision(void)
{
	GO1("%5s", S("abc"), "  abc");
	GO1("%2s", S("\xe2\x98\xba"), " \xe2\x98\xba");
	GO1("%-5s", S("abc"), "abc  ");
	GO1("%05s", S("abc"), "00abc");
	GO1("%0-5s", S("abc"), "abc  ");
	GO1("%5s", S("abcdefghijklmnopqrstuvwxyz"), "abcdefghijklmnopqrstuvwxyz");
	GO1("%.5s", S("abcdefghijklmnopqrstuvwxyz"), "abcde");
	GO1("%.0s", S("\xe6\x97\xa5\xe6\x9c\xac"), "");
	GO1("%.1s", S("\xe6\x97\xa5\xe6\x9c\xac"), "\xe6\x97\xa5");
	GO1("%20.5s", S("qwertyuiop"), "               qwert");
	GO1("%-20.5s", S("qwertyuiop"), "qwert               ");
	GO1("%08q", S("abc"), "000\"abc\"");
	GO1("%.5q", S("abcdefghijklmnopqrstuvwxyz"), "\"abcde\"");
	GO1("%.5x", S("abcdefghijklmnopqrstuvwxyz"), "6162636465");
	GO1("%.1x", S("\xe6\x97\xa5"), "e6");
	GO1("%2x", S(""), "  ");
	GO1("% 02x", S(""), "00");
	GO1("%#08x", S("\xab"), "00000xab");
	GO1("% 010x", S("\xab\xcd"), "00000ab cd");
	GO1("%# 010x", S("\xab\xcd"), "00xab 0xcd");
	GO1("%# -010X", S("\xab\xcd"), "0XAB 0XCD ");
	GO1("%.d", I(0), "");
	GO1("%6.0d", I(0), "      ");
	GO1("%06.0d", I(0), "      ");
	GO1("% d", I(12345), " 12345");
	GO1("%+d", I(12345), "+12345");
	GO1("%+d", I(-12345), "-12345");
	GO1("%10d", I(-12345), "    -12345");
	GO1("%010d", I(-12345), "-000012345");
	GO1("%020.8d", I(-1234), "           -00001234");
	GO1("%-20.8d", I(-1234), "-00001234           ");
	GO1("%-#20.8x", I(0x1234abc), "0x01234abc          ");
	GO1("%-#20.8o", I(01234), "00001234            ");
	GO1("%+v", I(5), "5"); /* %+v is the struct-field form: no sign */
	GO1("%#v", S("foo"), "\"foo\"");
	GO1("%#v", I(1000000000), "1000000000");
	CHECK_STR_EQ(go("%*d", 2, (struct gofmt_arg[]){ I(4), I(7) }), "   7");
	CHECK_STR_EQ(go("%-*d", 2, (struct gofmt_arg[]){ I(4), I(7) }), "7   ");
	CHECK_STR_EQ(go("%*d", 2, (struct gofmt_arg[]){ I(-4), I(7) }), "7   ");
	CHECK_STR_EQ(go("%.*d", 2, (struct gofmt_arg[]){ I(3), I(7) }), "007");
	CHECK_STR_EQ(go("%*d", 2, (struct gofmt_arg[]){ S("x"), I(7) }), "%!(BADWIDTH)7");
	CHECK_STR_EQ(go("%.*d", 2, (struct gofmt_arg[]){ S("x"), I(7) }), "%!(BADPREC)7");
	CHECK_STR_EQ(go("%*d", 2, (struct gofmt_arg[]){ I(10000000), I(7) }), "%!(BADWIDTH)7");
}

static void test_mistakes(void)
{
	GO1("%d", S("hi"), "%!d(string=hi)");
	GO1("%s", I(5), "%!s(int=5)");
	GO1("%z", I(5), "%!z(int=5)");
	GO1("%5z", I(5), "%!z(int=    5)");
	GO1("%c", S("x"), "%!c(string=x)");
	GO0("%s", "%!s(MISSING)");
	GO0("%d %d", "%!d(MISSING) %!d(MISSING)");
	GO1("", S("x"), "%!(EXTRA string=x)");
	GO1("no args", S("hello"), "no args%!(EXTRA string=hello)");
	CHECK_STR_EQ(go("%s", 3, (struct gofmt_arg[]){ S("a"), S("x"), I(5) }),
		     "a%!(EXTRA string=x, int=5)");
	GO1("%s %", S("hello"), "hello %!(NOVERB)");
	GO1("%s %.2", S("hello"), "hello %!(NOVERB)");
	GO1("%010.2", S("12345"), "%!(NOVERB)%!(EXTRA string=12345)");
	GO1("%017091901790959340919092959340919017929593813360", I(0), "%!(NOVERB)%!(EXTRA int=0)");
	GO1("%184467440737095516170v", I(0), "%!(NOVERB)%!(EXTRA int=0)");
	GO1("%.", I(3), "%!.(int=3)");
	GO1("%-", I(3), "%!(NOVERB)%!(EXTRA int=3)");
	GO1("%\xe2\x98\xba", I(3), "%!\xe2\x98\xba(int=3)");
}

static void test_reordered(void)
{
	struct gofmt_arg one_two[] = { I(1), I(2) }, three[] = { I(1), I(2), I(3) };

	CHECK_STR_EQ(go("%[1]d", 2, one_two), "1");
	CHECK_STR_EQ(go("%[2]d", 2, one_two), "2");
	CHECK_STR_EQ(go("%[2]d %[1]d", 2, one_two), "2 1");
	CHECK_STR_EQ(go("%[2]*[1]d", 2, (struct gofmt_arg[]){ I(12), I(2) }), "12");
	CHECK_STR_EQ(go("%[3]d %d", 3, three), "3 %!d(MISSING)");
	CHECK_STR_EQ(go("%[3]d", 2, one_two), "%!d(BADINDEX)");
	CHECK_STR_EQ(go("%[]d", 2, one_two), "%!d(BADINDEX)");
	CHECK_STR_EQ(go("%[-3]d", 2, one_two), "%!d(BADINDEX)");
	CHECK_STR_EQ(go("%[99]d", 2, one_two), "%!d(BADINDEX)");
	CHECK_STR_EQ(go("%[d", 2, one_two), "%!d(BADINDEX)");
	CHECK_STR_EQ(go("%[1]d %[1]d", 2, one_two), "1 1"); /* reordered: no EXTRA */
	CHECK_STR_EQ(go("%d %d %d %#[1]o %#o", 3, (struct gofmt_arg[]){ I(11), I(12), I(13) }),
		     "11 12 13 013 014");
	CHECK_STR_EQ(go("%[5]d %[2]d %d", 3, three), "%!d(BADINDEX) 2 3");
	CHECK_STR_EQ(go("%.[]", 0, NULL), "%!](BADINDEX)");
}

static void test_too_long(void)
{
	char out[9]; /* 8 bytes and the NUL */
	size_t len = 99;
	struct gofmt_arg a[] = { S("abcdefgh") };

	CHECK_INT_EQ(gofmt_sprintf("%s", 2, a, 1, out, 8, &len), -E2BIG);
	CHECK_INT_EQ(gofmt_sprintf("%s", 2, a, 1, out, sizeof(out), &len), 0);
	CHECK_INT_EQ(len, 8);
	CHECK_INT_EQ(gofmt_sprintf("%900000d", 4, (struct gofmt_arg[]){ I(1) }, 1, out, sizeof(out),
				   &len),
		     -E2BIG);
}

int main(void)
{
	RUN(test_verbs);
	RUN(test_quote);
	RUN(test_width_precision);
	RUN(test_mistakes);
	RUN(test_reordered);
	RUN(test_too_long);
	return DONE();
}

/* SPDX-License-Identifier: MIT */
/*
 * test_utmpl.c - username_template: Vault's templates render as Vault
 * renders them, and every malformed or unusable template is refused.
 */
#include <errno.h>
#include <regex.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "test.h"
#include "uname.h"
#include "utmpl.h"

static const struct utmpl_data data = { "psql", "readonly", 1700000000123 };

static const char *render_with(const char *src, const struct utmpl_data *d)
{
	static char out[UNAME_MAX + 1];
	struct parse_error err = { 0 };
	int r = utmpl_render(src, d, out, sizeof(out), &err);

	if (r != 0) {
		snprintf(out, sizeof(out), "ERR %.58s", err.text);
		return out;
	}
	return out;
}

static const char *render(const char *src)
{
	return render_with(src, &data);
}

static int matches(const char *s, const char *re_text)
{
	regex_t re;
	int ok;

	if (regcomp(&re, re_text, REG_EXTENDED | REG_NOSUB) != 0)
		return 0;
	ok = regexec(&re, s, 0, NULL, 0) == 0;
	regfree(&re);
	return ok;
}

/* The error text of a refused template. */
static const char *refusal(const char *src)
{
	static struct parse_error err;
	char out[UNAME_MAX + 1];

	memset(&err, 0, sizeof(err));
	CHECK_INT_EQ(utmpl_render(src, &data, out, sizeof(out), &err), -EINVAL);
	CHECK_INT_EQ(utmpl_check(src, &err), -EINVAL);
	CHECK(err.text[0] != '\0');
	return err.text;
}

static void test_vault_default(void)
{
	/* Vault's default PostgreSQL template, verbatim */
	const char *t = "{{ printf \"v-%s-%s-%s-%s\" (.DisplayName | truncate 8) "
			"(.RoleName | truncate 8) (random 20) (unix_time) | truncate 63 }}";
	const char *s = render(t);

	CHECK(matches(s, "^v-psql-readonly-[A-Za-z0-9]{20}-1700000000$"));
	CHECK_INT_EQ(utmpl_check(t, NULL), 0);
	/* the same shape as the built-in generator */
	CHECK(matches(
		render_with(t, &(struct utmpl_data){ "kubernetes-ns", "a-long-role-name", 0 }),
		"^v-kubernet-a-long-r-[A-Za-z0-9]{20}-0$"));
}

static void test_functions(void)
{
	CHECK_STR_EQ(render("app_{{.RoleName}}"), "app_readonly");
	CHECK_STR_EQ(render("{{ .RoleName | uppercase }}"), "READONLY");
	CHECK_STR_EQ(render("{{ \"AbC\" | lowercase }}"), "abc");
	CHECK_STR_EQ(render("{{ .RoleName | replace \"o\" \"0\" }}"), "read0nly");
	CHECK_STR_EQ(render("{{ truncate 4 .RoleName }}"), "read");
	CHECK_STR_EQ(render("{{ .RoleName | truncate 100 }}"), "readonly");
	CHECK_STR_EQ(render("{{ unix_time }}"), "1700000000");
	CHECK_STR_EQ(render("{{ unix_time_millis }}"), "1700000000123");
	CHECK_STR_EQ(render("{{ printf \"%s-%d-%v%%\" .DisplayName 42 7 }}"), "psql-42-7%");
	CHECK_STR_EQ(render("{{ \"x\" | sha256 | truncate 16 }}"), "2d711642b726b044");
	CHECK_STR_EQ(render("{{ \"hello\" | base64 }}"), "aGVsbG8=");
	CHECK_STR_EQ(render("{{ `x}}y` }}"), "x}}y");
	CHECK(matches(render("{{ random 12 }}"), "^[A-Za-z0-9]{12}$"));
	CHECK(matches(render("u-{{ uuid }}"),
		      "^u-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"));
	/* truncate_sha256: the head, then 8 hex digits of the tail's hash */
	CHECK_STR_EQ(render("{{ \"abcdefghijkl\" | truncate_sha256 10 }}"), "ab3615b840");
	CHECK_STR_EQ(render("{{ \"abc\" | truncate_sha256 10 }}"), "abc");
	/* nested pipelines, trim markers, comments */
	CHECK_STR_EQ(render("{{ printf \"%s_%s\" (.RoleName | truncate 2 | uppercase) "
			    "(\"zz\") }}"),
		     "RE_zz");
	CHECK_STR_EQ(render("a  {{- \"b\" -}}  c"), "abc");
	CHECK_STR_EQ(render("x{{/* a comment */}}y"), "xy");
	CHECK_STR_EQ(render("{{-3}}"), "-3");
}

static void test_fields_sanitized(void)
{
	const struct utmpl_data hostile = { "x\";DROP", "r'$", 0 };

	/* only what could break a quoted name or literal becomes '_' */
	CHECK_STR_EQ(render_with("{{.DisplayName}}-{{.RoleName}}", &hostile), "x_;DROP-r__");
	CHECK_STR_EQ(render_with("{{.DisplayName}}", &(struct utmpl_data){ NULL, "r", 0 }),
		     "unknown");
	CHECK_STR_EQ(render_with("{{.DisplayName}}",
				 &(struct utmpl_data){ "\xc3\xa9t\xc3\xa9", "r", 0 }),
		     "__t__");
	CHECK_STR_EQ(render_with("{{.DisplayName}}", &(struct utmpl_data){ "a b\\c\td", "r", 0 }),
		     "a_b_c_d");
	/* and every other byte stays, as in Vault */
	CHECK_STR_EQ(render_with("{{.DisplayName}}.{{.RoleName}}",
				 &(struct utmpl_data){ "python3.11", "db.app@x+y:z/%#{}", 0 }),
		     "python3.11.db.app@x+y:z/%#{}");
}

/* Vault's sdk/helper/template tests (funcs_test.go, template_test.go) */
static void test_vault_funcs(void)
{
	static const struct {
		int n;
		const char *want;
	} trunc[] = { { 1, "f" },	  { 5, "fooba" },      { 8, "foobarba" },
		      { 9, "foobarbaz" }, { 10, "foobarbaz" }, { 100, "foobarbaz" } },
	  trunc_sha[] = { { 9, "t4bb25641" },
			  { 12, "this704cd12b" },
			  { 22, "thisisareallyl7f978be6" },
			  { 23, "thisisareallylongstring" },
			  { 24, "thisisareallylongstring" },
			  { 100, "thisisareallylongstring" } };
	char t[128];

	for (size_t i = 0; i < sizeof(trunc) / sizeof(trunc[0]); i++) {
		snprintf(t, sizeof(t), "{{ truncate %d \"foobarbaz\" }}", trunc[i].n);
		CHECK_STR_EQ(render(t), trunc[i].want);
	}
	for (size_t i = 0; i < sizeof(trunc_sha) / sizeof(trunc_sha[0]); i++) {
		snprintf(t, sizeof(t), "{{ \"thisisareallylongstring\" | truncate_sha256 %d }}",
			 trunc_sha[i].n);
		CHECK_STR_EQ(render(t), trunc_sha[i].want);
	}
	/* sha256 is 64 hex digits, one more than a name holds: compare 63 */
	CHECK_STR_EQ(render("{{ \"\" | sha256 | truncate 63 }}"),
		     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85");
	CHECK_STR_EQ(render("{{ \"foobar\" | sha256 | truncate 63 }}"),
		     "c3ab8ff13720e8ad9047dd39466b3c8974e592c2fa383d4a3960714caef0c4f");
	CHECK_STR_EQ(render("{{ \"mystring\" | sha256 | truncate 63 }}"),
		     "bd3ff47540b31e62d4ca6b07794e5a886b0f655fc322730f26ecd65cc7dd5c9");
	CHECK_STR_EQ(render("x{{ \"\" | uppercase }}"), "x");
	CHECK_STR_EQ(render("{{ \"foobar\" | uppercase }}"), "FOOBAR");
	CHECK_STR_EQ(render("{{ \"fOoBaR\" | uppercase }}"), "FOOBAR");
	CHECK_STR_EQ(render("{{ \"FOOBAR\" | lowercase }}"), "foobar");
	CHECK_STR_EQ(render("{{ \"fOoBaR\" | lowercase }}"), "foobar");
	CHECK_STR_EQ(render("x{{ \"\" | replace \"\" \"\" }}"), "x");
	CHECK_STR_EQ(render("{{ \"foobar\" | replace \".\" \"_\" }}"), "foobar");
	CHECK_STR_EQ(render("{{ \"foo.bar\" | replace \".\" \"_\" }}"), "foo_bar");
	CHECK_STR_EQ(render("{{ \"foo.bar.baz\" | replace \".\" \"_\" }}"), "foo_bar_baz");
	CHECK_STR_EQ(render("{{ \"foo.bar\" | replace \".\" \"\" }}"), "foobar");
	CHECK_STR_EQ(render("{{ \"foobarbaz\" | replace \"bar\" \"_\" }}"), "foo_baz");
	/* strings.ReplaceAll with an empty OLD: before every character and at the end */
	CHECK_STR_EQ(render("{{ \"abc\" | replace \"\" \"-\" }}"), "-a-b-c-");
	for (int n = 1; n <= 63; n++) {
		char re[32];

		snprintf(t, sizeof(t), "{{random %d}}", n);
		snprintf(re, sizeof(re), "^[a-zA-Z0-9]{%d}$", n);
		CHECK(matches(render(t), re));
	}
	CHECK(matches(
		render("{{uuid}}"),
		"^[a-zA-Z0-9]{8}-[a-zA-Z0-9]{4}-[a-zA-Z0-9]{4}-[a-zA-Z0-9]{4}-[a-zA-Z0-9]{12}$"));
	CHECK_STR_EQ(render("this_is_a_template"), "this_is_a_template");
}

/* "template with builtin functions", each line made a usable name */
static void test_vault_builtins(void)
{
#define STR "\"Some string with Multiple Capitals LETTERS\""
	CHECK_STR_EQ(render("{{" STR " | truncate 10 | replace \" \" \"_\"}}"), "Some_strin");
	CHECK_STR_EQ(render("{{" STR " | uppercase | replace \" \" \"_\"}}"),
		     "SOME_STRING_WITH_MULTIPLE_CAPITALS_LETTERS");
	CHECK_STR_EQ(render("{{" STR " | lowercase | replace \" \" \"_\"}}"),
		     "some_string_with_multiple_capitals_letters");
	CHECK_STR_EQ(render("{{" STR " | replace \" \" \".\"}}"),
		     "Some.string.with.Multiple.Capitals.LETTERS");
	CHECK_STR_EQ(render("{{" STR " | sha256 | truncate 63}}"),
		     "da9872dd96609c72897defa11fe81017a62c3f44339d9d3b43fe37540ede360");
	CHECK_STR_EQ(render("{{" STR " | base64}}"),
		     "U29tZSBzdHJpbmcgd2l0aCBNdWx0aXBsZSBDYXBpdGFscyBMRVRURVJT");
	CHECK_STR_EQ(render("{{" STR " | truncate_sha256 20 | replace \" \" \"_\"}}"),
		     "Some_string_6841cf80");
#undef STR
}

/* plugins/database/postgresql: TestUsernameGeneration, TestNewUser_CustomUsername */
static void test_vault_usernames(void)
{
	static const struct {
		const char *display, *role, *re;
	} cases[] = {
		{ "token", "myrole", "^v-token-myrole-[a-zA-Z0-9]{20}-[0-9]{10}$" },
		{ "token-foo", "myrole", "^v-token-fo-myrole-[a-zA-Z0-9]{20}-[0-9]{10}$" },
		{ "token_foo", "myrole", "^v-token_fo-myrole-[a-zA-Z0-9]{20}-[0-9]{10}$" },
		{ "token.foo", "myrole", "^v-token\\.fo-myrole-[a-zA-Z0-9]{20}-[0-9]{10}$" },
		{ "token", "myrole-foo", "^v-token-myrole-f-[a-zA-Z0-9]{20}-[0-9]{10}$" },
		{ "token", "myrole_foo", "^v-token-myrole_f-[a-zA-Z0-9]{20}-[0-9]{10}$" },
		{ "token", "myrole.foo", "^v-token-myrole\\.f-[a-zA-Z0-9]{20}-[0-9]{10}$" },
		{ "displayname", "longrolename",
		  "^v-displayn-longrole-[a-zA-Z0-9]{20}-[0-9]{10}$" },
	};
	const char *def = "{{ printf \"v-%s-%s-%s-%s\" (.DisplayName | truncate 8) "
			  "(.RoleName | truncate 8) (random 20) (unix_time) | truncate 63 }}";
	const struct utmpl_data dn = { "displayname", "longrolename", 1700000000123 };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct utmpl_data d = { cases[i].display, cases[i].role, 1700000000123 };
		char name[UNAME_MAX + 1];

		CHECK(matches(render_with(def, &d), cases[i].re));
		/* the built-in generator makes the same shape */
		CHECK_INT_EQ(uname_generate(d.display, d.role, 1700000000, name), 0);
		CHECK(matches(name, cases[i].re));
	}
	CHECK_STR_EQ(render_with("foo-bar", &dn), "foo-bar");
	CHECK(matches(render_with("foobar-{{.DisplayName | truncate 8}}-{{.RoleName | truncate "
				  "8}}-{{random 20}}-{{unix_time}}",
				  &dn),
		      "^foobar-displayn-longrole-[a-zA-Z0-9]{20}-[0-9]{10}$"));
	CHECK(matches(render_with("foobar_{{random 10}}-{{.RoleName | uppercase}}.{{unix_time}}x{{"
				  ".DisplayName | truncate 5}}",
				  &dn),
		      "^foobar_[a-zA-Z0-9]{10}-LONGROLENAME\\.[0-9]{10}xdispl$"));
}

/* timestamp: Go's reference-time layouts, on the injected clock, in UTC */
static void test_timestamp(void)
{
	const struct utmpl_data d = { "psql", "ro", 1234567890123 };

	CHECK_STR_EQ(render_with("{{timestamp \"2006-01-02T15:04:05Z\"}}", &d),
		     "2009-02-13T23:31:30Z");
	CHECK_STR_EQ(render_with("{{timestamp \"2006-01-02T15:04:05.000Z\"}}", &d),
		     "2009-02-13T23:31:30.123Z");
	CHECK_STR_EQ(render_with("v-{{.RoleName}}-{{timestamp \"20060102T150405Z07:00\"}}", &d),
		     "v-ro-20090213T233130Z");
	CHECK_STR_EQ(render_with("{{ printf \"%s_%s\" (timestamp \"Jan02\") (unix_time) }}", &d),
		     "Feb13_1234567890");
	CHECK(matches(render("{{timestamp \"2006-01-02T15:04:05.000Z\"}}"),
		      "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$"));
	/* a layout with a space makes no usable name */
	CHECK(strstr(refusal("{{timestamp \"2006-01-02 15:04\"}}"), "not printable"));
}

/* printf is Go's, down to its mistakes (unix_time is a string, as in Vault) */
static void test_printf(void)
{
	CHECK_STR_EQ(render("{{ printf \"%x\" 255 }}"), "ff");
	CHECK_STR_EQ(render("{{ printf \"%x\" .RoleName }}"), "726561646f6e6c79");
	CHECK_STR_EQ(render("{{ printf \"%q\" .RoleName | replace `\"` `` }}"), "readonly");
	CHECK_STR_EQ(render("{{ printf \"%05d-%.4s\" 42 .RoleName }}"), "00042-read");
	CHECK_STR_EQ(render("{{ printf \"%d\" \"hi\" }}"), "%!d(string=hi)");
	CHECK_STR_EQ(render("{{ printf \"%d\" unix_time }}"), "%!d(string=1700000000)");
	CHECK_STR_EQ(render("{{ printf \"%s\" 5 }}"), "%!s(int=5)");
	CHECK_STR_EQ(render("{{ printf \"%s-%s\" .RoleName }}"), "readonly-%!s(MISSING)");
	CHECK_STR_EQ(render("{{ printf \"x\" | printf \"%s%%\" }}"), "x%");
	CHECK_STR_EQ(render("{{ printf \"%!(EXTRA\" }}"), "%!!(MISSING)(EXTRA");
}

static void test_refused(void)
{
	CHECK(strstr(refusal("{{ nosuch }}"), "unknown function"));
	CHECK(strstr(refusal("{{ .Nope }}"), "unknown field"));
	CHECK(strstr(refusal("{{ timestamp }}"), "wrong number of arguments"));
	CHECK(strstr(refusal("{{ timestamp 2006 }}"), "expected a string"));
	CHECK(strstr(refusal("{{ truncate -1 \"foobarbaz\" }}"), "out of range"));
	CHECK(strstr(refusal("{{ truncate_sha256 -1 \"thisisareallylongstring\" }}"),
		     "out of range"));
	CHECK(strstr(refusal("{{ truncate_sha256 0 \"thisisareallylongstring\" }}"),
		     "out of range"));
	CHECK(strstr(refusal("{{ .RoleName "), "expected }}"));
	CHECK(strstr(refusal("{{ \"abc }}"), "unterminated string"));
	CHECK(strstr(refusal("{{ }}"), "empty action"));
	CHECK(strstr(refusal("{{ (.RoleName }}"), "expected )"));
	CHECK(strstr(refusal("{{ truncate 0 .RoleName }}"), "out of range"));
	CHECK(strstr(refusal("{{ truncate_sha256 8 .RoleName }}"), "out of range"));
	CHECK(strstr(refusal("{{ truncate \"8\" .RoleName }}"), "expected a number"));
	CHECK(strstr(refusal("{{ uppercase 5 }}"), "expected a string"));
	CHECK(strstr(refusal("{{ truncate 8 }}"), "wrong number of arguments"));
	/* Go's printf mistakes print; one with a space is no usable name */
	CHECK(strstr(refusal("{{ printf \"%s\" .RoleName .RoleName }}"), "not printable"));
	CHECK(strstr(refusal("{{ .RoleName | \"x\" }}"), "piped value"));
	CHECK(strstr(refusal("{{ \"x\" \"y\" }}"), "takes no arguments"));
	CHECK(strstr(refusal("{{ \"\\q\" }}"), "unknown escape"));
	CHECK(strstr(refusal("{{ random 1025 }}"), "out of range"));
	CHECK(strstr(refusal("{{/* open"), "unterminated comment"));
	CHECK(strstr(refusal("(((((((((((((((((({{ (((((((((((((((((((1))))))))))))))))))) }}"),
		     "nested too deep"));
	/* results that are no usable name */
	CHECK(strstr(refusal(""), "empty"));
	CHECK(strstr(refusal("{{ random 64 }}"), "63"));
	CHECK(strstr(refusal("a b"), "not printable"));
	CHECK(strstr(refusal("a\"b"), "not printable"));
	CHECK(strstr(refusal("a'b"), "not printable"));
	CHECK(strstr(refusal("a$b"), "not printable"));
	CHECK(strstr(refusal("{{ \"a\\nb\" }}"), "not printable"));
	CHECK(strstr(refusal("{{ printf \"%s%s%s%s\" (random 1000) (random 1000) (random 1000) "
			     "(random 1000) }}"),
		     "1024"));
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	RUN(test_vault_default);
	RUN(test_functions);
	RUN(test_fields_sanitized);
	RUN(test_vault_funcs);
	RUN(test_vault_builtins);
	RUN(test_vault_usernames);
	RUN(test_timestamp);
	RUN(test_printf);
	RUN(test_refused);
	return DONE();
}

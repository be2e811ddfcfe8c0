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

	CHECK_STR_EQ(render_with("{{.DisplayName}}-{{.RoleName}}", &hostile), "x__DROP-r__");
	CHECK_STR_EQ(render_with("{{.DisplayName}}", &(struct utmpl_data){ NULL, "r", 0 }),
		     "unknown");
	CHECK_STR_EQ(render_with("{{.DisplayName}}",
				 &(struct utmpl_data){ "\xc3\xa9t\xc3\xa9", "r", 0 }),
		     "__t__");
}

static void test_refused(void)
{
	CHECK(strstr(refusal("{{ nosuch }}"), "unknown function"));
	CHECK(strstr(refusal("{{ .Nope }}"), "unknown field"));
	CHECK(strstr(refusal("{{ timestamp \"2006\" }}"), "use unix_time"));
	CHECK(strstr(refusal("{{ .RoleName "), "expected }}"));
	CHECK(strstr(refusal("{{ \"abc }}"), "unterminated string"));
	CHECK(strstr(refusal("{{ }}"), "empty action"));
	CHECK(strstr(refusal("{{ (.RoleName }}"), "expected )"));
	CHECK(strstr(refusal("{{ truncate 0 .RoleName }}"), "out of range"));
	CHECK(strstr(refusal("{{ truncate_sha256 8 .RoleName }}"), "out of range"));
	CHECK(strstr(refusal("{{ truncate \"8\" .RoleName }}"), "expected a number"));
	CHECK(strstr(refusal("{{ uppercase 5 }}"), "expected a string"));
	CHECK(strstr(refusal("{{ truncate 8 }}"), "wrong number of arguments"));
	CHECK(strstr(refusal("{{ printf \"%s %s\" .RoleName }}"), "more verbs"));
	CHECK(strstr(refusal("{{ printf \"%s\" .RoleName .RoleName }}"), "more arguments"));
	CHECK(strstr(refusal("{{ printf \"%x\" 5 }}"), "only %s"));
	CHECK(strstr(refusal("{{ printf \"%d\" .RoleName }}"), "%d of a string"));
	CHECK(strstr(refusal("{{ .RoleName | \"x\" }}"), "piped value"));
	CHECK(strstr(refusal("{{ \"x\" \"y\" }}"), "takes no arguments"));
	CHECK(strstr(refusal("{{ replace \"\" \"x\" .RoleName }}"), "nothing to replace"));
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
	RUN(test_refused);
	return DONE();
}

/* SPDX-License-Identifier: MIT */
/*
 * test_tmpl.c - {{variable}} substitution.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tmpl.h"
#include "test.h"

#define PW "s3cr3t-'pw'-{{name}}"

static const char *const create_vars[] = { "name", "username", "password", "expiration", NULL };

static const struct tmpl_var vars[] = {
	{ "name", "v-app-ro-Ab12-1700000000", sizeof("v-app-ro-Ab12-1700000000") - 1 },
	{ "username", "v-app-ro-Ab12-1700000000", sizeof("v-app-ro-Ab12-1700000000") - 1 },
	{ "password", PW, sizeof(PW) - 1 },
	{ "expiration", "2024-05-01 12:34:56+0000", sizeof("2024-05-01 12:34:56+0000") - 1 },
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

/* Rendered text (static copy) or "ERR: <message>". */
static const char *render(const char *text)
{
	static char buf[1024];
	struct parse_error err;
	char *out = (char *)"untouched";
	size_t len = 99999;
	int r;

	memset(&err, 0, sizeof(err));
	r = tmpl_render(text, vars, NVARS, &out, &len, &err);
	if (r != 0) {
		CHECK_INT_EQ(r, -EINVAL);
		CHECK_STR_EQ(out, "untouched");
		CHECK_INT_EQ(len, 99999);
		snprintf(buf, sizeof(buf), "ERR: %s", err.text);
		return buf;
	}
	CHECK_INT_EQ(len, strlen(out));
	snprintf(buf, sizeof(buf), "%s", out);
	tmpl_free(out);
	return buf;
}

static const char *check(const char *text, int *line, int *col)
{
	static struct parse_error err;

	memset(&err, 0, sizeof(err));
	if (tmpl_check(text, create_vars, &err) == 0)
		return "ok";
	*line = err.line;
	*col = err.col;
	return err.text;
}

static void test_render_basic(void)
{
	CHECK_STR_EQ(render(""), "");
	CHECK_STR_EQ(render("no variables"), "no variables");
	CHECK_STR_EQ(render("{{name}}"), "v-app-ro-Ab12-1700000000");
	CHECK_STR_EQ(render("CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' "
			    "VALID UNTIL '{{expiration}}';"),
		     "CREATE ROLE \"v-app-ro-Ab12-1700000000\" WITH LOGIN PASSWORD '" PW "' "
		     "VALID UNTIL '2024-05-01 12:34:56+0000';");
	CHECK_STR_EQ(render("{{username}}{{name}}"),
		     "v-app-ro-Ab12-1700000000v-app-ro-Ab12-1700000000");
}

static void test_spaces(void)
{
	CHECK_STR_EQ(render("[{{ name }}]"), "[v-app-ro-Ab12-1700000000]");
	CHECK_STR_EQ(render("[{{name }}]"), "[v-app-ro-Ab12-1700000000]");
	CHECK_STR_EQ(render("[{{\tname\t}}]"), "[v-app-ro-Ab12-1700000000]");
	CHECK_STR_EQ(render("[{{   expiration}}]"), "[2024-05-01 12:34:56+0000]");
	CHECK_STR_EQ(render("{{ na me }}"), "ERR: bad template variable {{na me}}: names are "
					    "lowercase letters and '_'");
	/* a newline is not a blank inside braces */
	CHECK(strncmp(render("{{name\n}}"), "ERR: bad template variable", 26) == 0);
}

static void test_multiple(void)
{
	CHECK_STR_EQ(render("GRANT x TO \"{{name}}\"; ALTER ROLE \"{{name}}\"; {{name}}"),
		     "GRANT x TO \"v-app-ro-Ab12-1700000000\"; ALTER ROLE "
		     "\"v-app-ro-Ab12-1700000000\"; v-app-ro-Ab12-1700000000");
	CHECK_STR_EQ(render("{{name}}{{name}}{{name}}"),
		     "v-app-ro-Ab12-1700000000v-app-ro-Ab12-1700000000v-app-ro-Ab12-1700000000");
}

static void test_literal_braces(void)
{
	/* not name-like: copied unchanged (array literals, JSON) */
	CHECK_STR_EQ(render("SELECT '{{1,2},{3,4}}'::int[]"), "SELECT '{{1,2},{3,4}}'::int[]");
	CHECK_STR_EQ(render("'{{}}'"), "'{{}}'");
	CHECK_STR_EQ(render("{{ }}"), "{{ }}");
	CHECK_STR_EQ(render("{{1}}"), "{{1}}");
	CHECK_STR_EQ(render("}} alone {"), "}} alone {");
	CHECK_STR_EQ(render("{name}"), "{name}");
	/* extra braces around a variable stay */
	CHECK_STR_EQ(render("{{{name}}}"), "{v-app-ro-Ab12-1700000000}");
	CHECK_STR_EQ(render("{{{{name}}}}"), "{{v-app-ro-Ab12-1700000000}}");
	CHECK_STR_EQ(render("{{1,{{name}}}}"), "{{1,v-app-ro-Ab12-1700000000}}");
}

static void test_unknown(void)
{
	int line = -1, col = -1;

	CHECK_STR_EQ(render("{{foo}}"), "ERR: unknown template variable {{foo}}");
	CHECK_STR_EQ(check("a\n  {{ foo }}", &line, &col), "unknown template variable {{foo}}");
	CHECK_INT_EQ(line, 2);
	CHECK_INT_EQ(col, 3);
	CHECK_STR_EQ(check("{{name}} {{password}} {{expiration}} {{username}}", &line, &col), "ok");
	{
		/* a variable credfs knows, where the statements do not have it */
		static const char *const revoke_vars[] = { "name", "username", NULL };
		struct parse_error err;

		memset(&err, 0, sizeof(err));
		CHECK(tmpl_check("ALTER ROLE x PASSWORD '{{password}}'", revoke_vars, &err) != 0);
		CHECK_STR_EQ(err.text,
			     "template variable {{password}} is not available in these statements");
	}
	CHECK_STR_EQ(check("{{Name}}", &line, &col),
		     "bad template variable {{Name}}: names are lowercase letters and '_'");
	CHECK_STR_EQ(check("{{ .RoleName }}", &line, &col),
		     "bad template variable {{.RoleName}}: names are lowercase letters and '_'");
	CHECK_STR_EQ(check("{{user-name}}", &line, &col),
		     "bad template variable {{user-name}}: names are lowercase letters and '_'");
	CHECK_STR_EQ(check("{{name1}}", &line, &col),
		     "bad template variable {{name1}}: names are lowercase letters and '_'");
	CHECK_INT_EQ(line, 1);
	CHECK_INT_EQ(col, 1);
	/* nothing allowed */
	CHECK_INT_EQ(tmpl_check("{{name}}", NULL, NULL), -EINVAL);
	CHECK_INT_EQ(tmpl_check("plain", NULL, NULL), 0);
	CHECK_INT_EQ(tmpl_check(NULL, create_vars, NULL), 0);
	/* a prefix of an allowed name is not allowed */
	CHECK_INT_EQ(tmpl_check("{{nam}}", create_vars, NULL), -EINVAL);
	CHECK_INT_EQ(tmpl_check("{{names}}", create_vars, NULL), -EINVAL);
}

static void test_unterminated(void)
{
	int line = -1, col = -1;

	CHECK_STR_EQ(render("x {{name"), "ERR: unterminated {{");
	CHECK_STR_EQ(render("{{name}"), "ERR: unterminated {{");
	CHECK_STR_EQ(render("{{"), "ERR: unterminated {{");
	CHECK_STR_EQ(render("{{name}} {{"), "ERR: unterminated {{");
	CHECK_STR_EQ(check("ok {{name}}\nnext\n\t{{ password", &line, &col), "unterminated {{");
	CHECK_INT_EQ(line, 3);
	CHECK_INT_EQ(col, 2);
	/* the closing braces must come after the opening ones */
	CHECK_STR_EQ(render("}}{{"), "ERR: unterminated {{");
	CHECK_STR_EQ(render("{{}"), "ERR: unterminated {{");
}

static void test_uses(void)
{
	CHECK_INT_EQ(tmpl_uses("ALTER ROLE \"{{name}}\"", "name"), 1);
	CHECK_INT_EQ(tmpl_uses("ALTER ROLE \"{{ name }}\"", "name"), 1);
	CHECK_INT_EQ(tmpl_uses("ALTER ROLE \"{{name}}\"", "password"), 0);
	CHECK_INT_EQ(tmpl_uses("ALTER ROLE \"{{username}}\"", "name"), 0);
	CHECK_INT_EQ(tmpl_uses("name password", "name"), 0);
	CHECK_INT_EQ(tmpl_uses("{{names}}", "name"), 0);
	CHECK_INT_EQ(tmpl_uses("", "name"), 0);
	CHECK_INT_EQ(tmpl_uses(NULL, "name"), 0);
	CHECK_INT_EQ(tmpl_uses("{{name}}", NULL), 0);
	/* a bad variable is skipped; later ones still count */
	CHECK_INT_EQ(tmpl_uses("{{Bad}} {{password}}", "password"), 1);
	CHECK_INT_EQ(tmpl_uses("{{password}} {{", "password"), 1);
	CHECK_INT_EQ(tmpl_uses("{{ {{password}}", "password"), 1);
}

static void test_secret_values(void)
{
	/* the value is copied verbatim and never re-scanned for variables */
	CHECK_STR_EQ(render("'{{password}}'"), "'" PW "'");
	CHECK(strstr(render("'{{password}}'"), "v-app-ro") == NULL);
}

static void test_values_edge(void)
{
	struct tmpl_var v[3] = {
		{ "name", "", 0 },
		{ "password", "ab\0cd", 5 },
		{ "expiration", "abcdef", 3 }, /* len, not strlen, counts */
	};
	struct parse_error err;
	char *out = NULL;
	size_t len = 0;

	CHECK_INT_EQ(tmpl_render("<{{name}}>", v, 3, &out, &len, &err), 0);
	CHECK_STR_EQ(out, "<>");
	CHECK_INT_EQ(len, 2);
	tmpl_free(out);
	CHECK_INT_EQ(tmpl_render("<{{expiration}}>", v, 3, &out, &len, &err), 0);
	CHECK_STR_EQ(out, "<abc>");
	tmpl_free(out);
	out = NULL;
	/* a NUL inside a value would truncate the statement */
	CHECK_INT_EQ(tmpl_render("'{{password}}'", v, 3, &out, &len, &err), -EINVAL);
	CHECK_STR_EQ(err.text, "value of {{password}} contains a NUL byte");
	CHECK(out == NULL);
	/* a NUL-containing value that is not used is fine */
	CHECK_INT_EQ(tmpl_render("{{name}}", v, 3, &out, &len, &err), 0);
	tmpl_free(out);
	/* first duplicate wins; no vars at all */
	v[1].name = "name";
	v[1].value = "second";
	v[1].len = 6;
	CHECK_INT_EQ(tmpl_render("{{name}}", v + 1, 1, &out, &len, &err), 0);
	CHECK_STR_EQ(out, "second");
	tmpl_free(out);
	CHECK_INT_EQ(tmpl_render("{{name}}", NULL, 0, &out, &len, &err), -EINVAL);
	CHECK_INT_EQ(tmpl_render("plain", NULL, 0, &out, &len, NULL), 0);
	CHECK_STR_EQ(out, "plain");
	tmpl_free(out);
	tmpl_free(NULL);
}

static void test_large(void)
{
	static char text[20000], want[200000];
	struct parse_error err;
	size_t i, len;
	char *out;

	text[0] = want[0] = '\0';
	for (i = 0; i < 1000; i++) {
		strcat(text, "{{password}};");
		strcat(want, PW ";");
	}
	CHECK_INT_EQ(tmpl_render(text, vars, NVARS, &out, &len, &err), 0);
	CHECK_INT_EQ(len, strlen(want));
	CHECK_STR_EQ(out, want);
	tmpl_free(out);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	RUN(test_render_basic);
	RUN(test_spaces);
	RUN(test_multiple);
	RUN(test_literal_braces);
	RUN(test_unknown);
	RUN(test_unterminated);
	RUN(test_uses);
	RUN(test_secret_values);
	RUN(test_values_edge);
	RUN(test_large);
	return DONE();
}

/* SPDX-License-Identifier: MIT */
/*
 * test_params.c - the two input forms (JSON and key=value), the typed
 * getters and name validation.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "params.h"
#include "secret.h"
#include "test.h"

/* Parse a NUL-terminated document; *out is NULL unless the parser set it. */
static int parse(const char *doc, bool final, json_t **out, struct parse_error *err)
{
	*out = NULL;
	memset(err, 0, sizeof(*err));
	return params_parse(doc, strlen(doc), final, out, err);
}

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static void test_kv_basic(void)
{
	struct parse_error err;
	json_t *o;

	CHECK_INT_EQ(parse("db_name=wizard\ndefault_ttl=1h\n", true, &o, &err), 0);
	CHECK(json_is_object(o));
	CHECK_INT_EQ(json_object_size(o), 2);
	CHECK_STR_EQ(str(o, "db_name"), "wizard");
	CHECK_STR_EQ(str(o, "default_ttl"), "1h");
	json_decref(o);

	/* no final newline, blanks around key and value, CRLF, values with '=' */
	CHECK_INT_EQ(parse("  a = 1 \r\nurl=host=x user=y\nb=two words", true, &o, &err), 0);
	CHECK_STR_EQ(str(o, "a"), "1");
	CHECK_STR_EQ(str(o, "url"), "host=x user=y");
	CHECK_STR_EQ(str(o, "b"), "two words");
	json_decref(o);

	/* an empty value is a value; every value is a JSON string */
	CHECK_INT_EQ(parse("a=\nb=4\nc=true\n", true, &o, &err), 0);
	CHECK_STR_EQ(str(o, "a"), "");
	CHECK(json_is_string(json_object_get(o, "b")));
	CHECK(json_is_string(json_object_get(o, "c")));
	json_decref(o);
}

static void test_kv_comments_blank(void)
{
	struct parse_error err;
	json_t *o;

	CHECK_INT_EQ(
		parse("# a comment\n\n   \na=1\n  # indented comment\n\t\nb=2 # not a comment\n",
		      true, &o, &err),
		0);
	CHECK_INT_EQ(json_object_size(o), 2);
	CHECK_STR_EQ(str(o, "a"), "1");
	CHECK_STR_EQ(str(o, "b"), "2 # not a comment");
	json_decref(o);

	/* only comments: an empty document */
	CHECK_INT_EQ(parse("# nothing\n# here\n", true, &o, &err), -EINVAL);
	CHECK(o == NULL);
	CHECK(strstr(err.text, "empty") != NULL);
}

static void test_kv_continuation(void)
{
	struct parse_error err;
	json_t *o;
	const char *v;

	CHECK_INT_EQ(parse("a=one \\\n  two \\\n three\nb=3\n", true, &o, &err), 0);
	v = str(o, "a");
	CHECK(v != NULL);
	if (v) {
		CHECK(strncmp(v, "one", 3) == 0);
		CHECK(strlen(v) > 5 && strcmp(v + strlen(v) - 5, "three") == 0);
		CHECK(strstr(v, "two") != NULL);
		CHECK(strchr(v, '\n') == NULL);
		CHECK(strchr(v, '\\') == NULL);
	}
	CHECK_STR_EQ(str(o, "b"), "3");
	json_decref(o);

	/* a backslash not before a newline is kept */
	CHECK_INT_EQ(parse("a=C:\\dir\nb=x\\", true, &o, &err), 0);
	CHECK_STR_EQ(str(o, "a"), "C:\\dir");
	CHECK_STR_EQ(str(o, "b"), "x\\");
	json_decref(o);

	/* line numbers in errors count the physical lines */
	CHECK_INT_EQ(parse("a=1 \\\n2 \\\n3\nno equals sign\n", true, &o, &err), -EINVAL);
	CHECK_INT_EQ(err.line, 4);
	CHECK(strstr(err.text, "key=value") != NULL);
}

/* The seed's role, as a file: the two-statement line joined with "\". */
static void test_kv_seed_role(void)
{
	static const char doc[] =
		"db_name=wizard\n"
		"creation_statements=CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' "
		"VALID UNTIL '{{expiration}}'; \\\n"
		"      GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{{name}}\";\n"
		"revocation_statements=ALTER ROLE \"{{name}}\" NOLOGIN;\n"
		"default_ttl=\"1h\"\n"
		"max_ttl=\"24h\"\n";
	struct parse_error err;
	char **v = NULL;
	size_t n = 0;
	int64_t d;
	json_t *o;

	CHECK_INT_EQ(parse(doc, true, &o, &err), 0);
	CHECK_INT_EQ(json_object_size(o), 5);
	CHECK_INT_EQ(params_get_stmts(o, "creation_statements", &v, &n, &err), 0);
	CHECK_INT_EQ(n, 2);
	if (n == 2) {
		CHECK_STR_EQ(v[0], "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' "
				   "VALID UNTIL '{{expiration}}'");
		CHECK_STR_EQ(v[1], "GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{{name}}\"");
		CHECK(v[2] == NULL);
	}
	params_strv_free(v);
	CHECK_INT_EQ(params_get_dur(o, "default_ttl", &d, &err), 0);
	CHECK_INT_EQ(d, 3600);
	CHECK_INT_EQ(params_get_dur(o, "max_ttl", &d, &err), 0);
	CHECK_INT_EQ(d, 86400);
	json_decref(o);
}

static void test_kv_quotes(void)
{
	struct parse_error err;
	json_t *o;

	CHECK_INT_EQ(parse("allowed_roles=\"*\"\nusername=\"postgres\"\n", true, &o, &err), 0);
	CHECK_STR_EQ(str(o, "allowed_roles"), "*");
	CHECK_STR_EQ(str(o, "username"), "postgres");
	json_decref(o);

	/* only one plain pair of quotes is dropped */
	CHECK_INT_EQ(parse("a=\"\"\nb=\"x\"y\"\nc=\"x\nd='q'\ne=\"\"\"\"\n", true, &o, &err), 0);
	CHECK_STR_EQ(str(o, "a"), "");
	CHECK_STR_EQ(str(o, "b"), "\"x\"y\"");
	CHECK_STR_EQ(str(o, "c"), "\"x");
	CHECK_STR_EQ(str(o, "d"), "'q'");
	CHECK_STR_EQ(str(o, "e"), "\"\"\"\"");
	json_decref(o);
}

static void test_kv_errors(void)
{
	struct parse_error err;
	json_t *o;

	CHECK_INT_EQ(parse("a=1\na=2\n", true, &o, &err), -EINVAL);
	CHECK(o == NULL);
	CHECK_INT_EQ(err.line, 2);
	CHECK(strstr(err.text, "duplicate") != NULL);
	CHECK(strstr(err.text, "a") != NULL);

	/* a duplicate is a duplicate after trimming */
	CHECK_INT_EQ(parse("a=1\n a =2\n", true, &o, &err), -EINVAL);

	CHECK_INT_EQ(parse("a=1\njust words\n", true, &o, &err), -EINVAL);
	CHECK_INT_EQ(err.line, 2);

	CHECK_INT_EQ(parse("=value\n", true, &o, &err), -EINVAL);
	CHECK(strstr(err.text, "empty key") != NULL);
	CHECK_INT_EQ(parse("  = value\n", true, &o, &err), -EINVAL);

	/* invalid UTF-8 cannot become a JSON string */
	CHECK_INT_EQ(parse("a=caf\xe9\n", true, &o, &err), -EINVAL);
	CHECK(o == NULL);
}

static void test_kv_incomplete(void)
{
	struct parse_error err;
	json_t *o;

	/* an unfinished last line is left for later */
	CHECK_INT_EQ(parse("a=1\nb=2\nc=thr", false, &o, &err), 1);
	CHECK(json_is_object(o));
	CHECK_INT_EQ(json_object_size(o), 2);
	CHECK(json_object_get(o, "c") == NULL);
	json_decref(o);
	/* the same bytes at close: the last line counts */
	CHECK_INT_EQ(parse("a=1\nb=2\nc=thr", true, &o, &err), 0);
	CHECK_STR_EQ(str(o, "c"), "thr");
	json_decref(o);
	/* a line without '=' that is not finished is not an error yet */
	CHECK_INT_EQ(parse("a=1\nfoo", false, &o, &err), 1);
	json_decref(o);
	/* whole lines only: complete */
	CHECK_INT_EQ(parse("a=1\n", false, &o, &err), 0);
	CHECK_INT_EQ(json_object_size(o), 1);
	json_decref(o);
	/* no whole line yet */
	CHECK_INT_EQ(parse("a=", false, &o, &err), 1);
	if (o)
		CHECK_INT_EQ(json_object_size(o), 0);
	json_decref(o);
	/* an error in a complete line is reported while writing */
	CHECK_INT_EQ(parse("a=1\na=2\nb", false, &o, &err), -EINVAL);
}

/*
 * A last line that ends in "\<newline>" continues on a line not written
 * yet: while writing it is unfinished (return 1, not in *out), so its
 * partial value (here an unterminated SQL string) is not judged early.
 */
static void test_kv_incomplete_continuation(void)
{
	struct parse_error err;
	json_t *o;

	CHECK_INT_EQ(parse("db_name=x\nrevocation_statements=SELECT 'a \\\n", false, &o, &err), 1);
	CHECK(o != NULL);
	if (o) {
		CHECK_STR_EQ(str(o, "db_name"), "x");
		CHECK(json_object_get(o, "revocation_statements") == NULL);
	}
	json_decref(o);
	CHECK_INT_EQ(parse("db_name=x\nrevocation_statements=SELECT 'a \\\nb';\n", false, &o, &err),
		     0);
	json_decref(o);
}

static void test_json_basic(void)
{
	struct parse_error err;
	char **v = NULL;
	size_t n = 0;
	json_t *o;

	CHECK_INT_EQ(parse("  \n{\"db_name\": \"wizard\", \"default_ttl\": 3600,"
			   " \"creation_statements\": [\"A\", \"B\"], \"x\": null}\n",
			   true, &o, &err),
		     0);
	CHECK(json_is_object(o));
	CHECK_STR_EQ(str(o, "db_name"), "wizard");
	CHECK(json_is_integer(json_object_get(o, "default_ttl")));
	CHECK_INT_EQ(params_get_stmts(o, "creation_statements", &v, &n, &err), 0);
	CHECK_INT_EQ(n, 2);
	params_strv_free(v);
	json_decref(o);

	/* a JSON document, even with '=' in it, is not key=value */
	CHECK_INT_EQ(parse("{\"connection_url\": \"host=h user=u\"}", true, &o, &err), 0);
	CHECK_STR_EQ(str(o, "connection_url"), "host=h user=u");
	json_decref(o);

	/* a key=value document whose value starts with '{' is key=value */
	CHECK_INT_EQ(parse("a={\"b\": 1}\n", true, &o, &err), 0);
	CHECK_STR_EQ(str(o, "a"), "{\"b\": 1}");
	json_decref(o);

	CHECK_INT_EQ(parse("{}", true, &o, &err), 0);
	CHECK_INT_EQ(json_object_size(o), 0);
	json_decref(o);
}

static void test_json_errors(void)
{
	struct parse_error err;
	json_t *o;

	CHECK_INT_EQ(parse("{\"a\": 1, \"a\": 2}", true, &o, &err), -EINVAL);
	CHECK(o == NULL);
	CHECK(strstr(err.text, "malformed JSON") != NULL);

	CHECK_INT_EQ(parse("{\n  \"a\": 1,\n  \"b\" 2\n}\n", true, &o, &err), -EINVAL);
	CHECK(o == NULL);
	CHECK_INT_EQ(err.line, 3);
	CHECK(err.col > 0);
	CHECK(strstr(err.text, "malformed JSON") != NULL);

	CHECK_INT_EQ(parse("{\"a\": }", true, &o, &err), -EINVAL);
	CHECK_INT_EQ(err.line, 1);
	CHECK(err.col >= 6);

	/* not an object */
	CHECK_INT_EQ(parse("[1, 2]", true, &o, &err), -EINVAL);
	CHECK_INT_EQ(parse("\"text\"", true, &o, &err), -EINVAL); /* key=value without = */

	/* an incomplete document at close is malformed */
	CHECK_INT_EQ(parse("{\"a\": 1", true, &o, &err), -EINVAL);
	CHECK(o == NULL);
	CHECK_INT_EQ(err.line, 1);
	CHECK(err.col > 0);
	/* trailing garbage */
	CHECK_INT_EQ(parse("{\"a\": 1} x", true, &o, &err), -EINVAL);
}

static void test_json_incomplete(void)
{
	static const char *const parts[] = {
		"{",	      "{\"a\"",	       "{\"a\": ",	 "{\"a\": \"unfinished",
		"{\"a\": 1,", "{\"a\": [1, 2", "{\"a\": 1,\n  ", "{\"a\": tr",
	};
	struct parse_error err;
	json_t *o;

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		int r = parse(parts[i], false, &o, &err);

		if (r != 1)
			fprintf(stderr, "part %zu \"%s\": %d\n", i, parts[i], r);
		CHECK_INT_EQ(r, 1);
		CHECK(o == NULL);
		CHECK_INT_EQ(parse(parts[i], true, &o, &err), -EINVAL);
		CHECK(o == NULL);
	}
	/* malformed before the end is an error even while writing */
	CHECK_INT_EQ(parse("{\"a\": ]  , \"b\": 1", false, &o, &err), -EINVAL);
	CHECK_INT_EQ(parse("{\"a\": 1, \"a\": 2", false, &o, &err), -EINVAL);
	/* a complete document while writing is complete */
	CHECK_INT_EQ(parse("{\"a\": 1}", false, &o, &err), 0);
	json_decref(o);
}

static void test_empty(void)
{
	struct parse_error err;
	json_t *o;

	CHECK_INT_EQ(parse("", true, &o, &err), -EINVAL);
	CHECK(o == NULL);
	CHECK(strstr(err.text, "empty") != NULL);
	CHECK_INT_EQ(parse(" \n\t\n", true, &o, &err), -EINVAL);
	CHECK(o == NULL);
	CHECK_INT_EQ(parse("", false, &o, &err), 1);
	CHECK(o == NULL);
	CHECK_INT_EQ(parse("  \n", false, &o, &err), 1);
	CHECK(o == NULL);
	CHECK_INT_EQ(params_parse(NULL, 0, true, &o, &err), -EINVAL);
}

static void test_nul_bytes(void)
{
	static const char kv[] = "a=b\0c\nd=e\n";
	static const char js[] = "{\"a\": \"b\0c\"}";
	struct parse_error err;
	json_t *o = NULL;

	CHECK_INT_EQ(params_parse(kv, sizeof(kv) - 1, true, &o, &err), -EINVAL);
	CHECK(o == NULL);
	CHECK(strstr(err.text, "NUL") != NULL);
	CHECK_INT_EQ(params_parse(kv, sizeof(kv) - 1, false, &o, &err), -EINVAL);
	CHECK(o == NULL);
	CHECK_INT_EQ(params_parse(js, sizeof(js) - 1, true, &o, &err), -EINVAL);
	CHECK(o == NULL);
	/* an escaped NUL is not a NUL byte but still refused */
	CHECK_INT_EQ(parse("{\"a\": \"b\\u0000c\"}", true, &o, &err), -EINVAL);
	CHECK(o == NULL);
}

static void test_size_limit(void)
{
	size_t len = PARAMS_MAX_DOC + 1;
	char *big = malloc(len);
	struct parse_error err;
	json_t *o = NULL;

	if (!big) {
		CHECK(0);
		return;
	}
	/* exactly PARAMS_MAX_DOC: accepted */
	memset(big, 'x', len);
	memcpy(big, "a=", 2);
	big[PARAMS_MAX_DOC - 1] = '\n';
	CHECK_INT_EQ(params_parse(big, PARAMS_MAX_DOC, true, &o, &err), 0);
	CHECK_INT_EQ(json_string_length(json_object_get(o, "a")), PARAMS_MAX_DOC - 3);
	json_decref(o);
	o = NULL;
	/* one more byte: refused, final or not, JSON or not */
	big[PARAMS_MAX_DOC] = '\n';
	CHECK_INT_EQ(params_parse(big, len, true, &o, &err), -EINVAL);
	CHECK(o == NULL);
	CHECK(strstr(err.text, "larger") != NULL);
	CHECK_INT_EQ(params_parse(big, len, false, &o, &err), -EINVAL);
	big[0] = '{';
	CHECK_INT_EQ(params_parse(big, len, false, &o, &err), -EINVAL);
	CHECK(o == NULL);
	free(big);
}

static void test_check_keys(void)
{
	static const char *const known[] = { "a", "b", NULL };
	struct parse_error err;
	json_t *o = json_pack("{s:i, s:i}", "a", 1, "b", 2);

	CHECK_INT_EQ(params_check_keys(o, known, &err), 0);
	json_object_set_new(o, "zebra", json_true());
	CHECK_INT_EQ(params_check_keys(o, known, &err), -EINVAL);
	CHECK(strstr(err.text, "zebra") != NULL);
	CHECK(strstr(err.text, "unknown") != NULL);
	json_decref(o);
}

static void test_get_str(void)
{
	struct parse_error err;
	const char *s = "untouched";
	json_t *o = json_pack("{s:s, s:i, s:n}", "a", "x", "i", 4, "z");

	CHECK_INT_EQ(params_get_str(o, "a", &s, &err), 0);
	CHECK_STR_EQ(s, "x");
	s = "untouched";
	CHECK_INT_EQ(params_get_str(o, "missing", &s, &err), 1);
	CHECK_STR_EQ(s, "untouched");
	CHECK_INT_EQ(params_get_str(o, "z", &s, &err), 1); /* null is absent */
	CHECK_STR_EQ(s, "untouched");
	CHECK_INT_EQ(params_get_str(o, "i", &s, &err), -EINVAL);
	CHECK_STR_EQ(err.text, "i: expected a string");
	CHECK_STR_EQ(s, "untouched");
	json_decref(o);
}

static void test_get_bool(void)
{
	struct parse_error err;
	json_t *o = json_pack("{s:b, s:b, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:n}", "jt", 1, "jf",
			      0, "st", "true", "sf", "false", "s1", "1", "s0", "0", "yes", "yes",
			      "int", 1, "empty", "", "null");
	bool b;

	b = false;
	CHECK_INT_EQ(params_get_bool(o, "jt", &b, &err), 0);
	CHECK(b);
	CHECK_INT_EQ(params_get_bool(o, "jf", &b, &err), 0);
	CHECK(!b);
	CHECK_INT_EQ(params_get_bool(o, "st", &b, &err), 0);
	CHECK(b);
	CHECK_INT_EQ(params_get_bool(o, "sf", &b, &err), 0);
	CHECK(!b);
	CHECK_INT_EQ(params_get_bool(o, "s1", &b, &err), 0);
	CHECK(b);
	CHECK_INT_EQ(params_get_bool(o, "s0", &b, &err), 0);
	CHECK(!b);
	b = true;
	CHECK_INT_EQ(params_get_bool(o, "missing", &b, &err), 1);
	CHECK(b);
	CHECK_INT_EQ(params_get_bool(o, "null", &b, &err), 1);
	CHECK(b);
	CHECK_INT_EQ(params_get_bool(o, "yes", &b, &err), -EINVAL);
	CHECK(b);
	CHECK(strncmp(err.text, "yes: ", 5) == 0);
	CHECK_INT_EQ(params_get_bool(o, "int", &b, &err), -EINVAL);
	CHECK_INT_EQ(params_get_bool(o, "empty", &b, &err), -EINVAL);
	json_decref(o);
}

static void test_get_int(void)
{
	struct parse_error err;
	json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:s, s:f, s:b, s:s, s:i, s:s, s:s}", "j", 4,
			      "s", "4", "neg", "-3", "junk", "4x", "empty", "", "real", 4.5, "bool",
			      1, "huge", "99999999999999999999", "big", 1001, "hex", "0x10",
			      "space", "4 ");
	int64_t v = 77;

	CHECK_INT_EQ(params_get_int(o, "j", 1, 1000, &v, &err), 0);
	CHECK_INT_EQ(v, 4);
	v = 77;
	CHECK_INT_EQ(params_get_int(o, "s", 1, 1000, &v, &err), 0);
	CHECK_INT_EQ(v, 4);
	CHECK_INT_EQ(params_get_int(o, "neg", -1000, 1000, &v, &err), 0);
	CHECK_INT_EQ(v, -3);
	v = 77;
	CHECK_INT_EQ(params_get_int(o, "missing", 1, 1000, &v, &err), 1);
	CHECK_INT_EQ(v, 77);
	CHECK_INT_EQ(params_get_int(o, "neg", 1, 1000, &v, &err), -EINVAL);
	CHECK(strstr(err.text, "out of range") != NULL);
	CHECK_INT_EQ(params_get_int(o, "big", 1, 1000, &v, &err), -EINVAL);
	CHECK_INT_EQ(params_get_int(o, "junk", 1, 1000, &v, &err), -EINVAL);
	CHECK_STR_EQ(err.text, "junk: expected an integer");
	CHECK_INT_EQ(params_get_int(o, "empty", 1, 1000, &v, &err), -EINVAL);
	CHECK_INT_EQ(params_get_int(o, "real", 1, 1000, &v, &err), -EINVAL);
	CHECK_INT_EQ(params_get_int(o, "bool", 0, 1000, &v, &err), -EINVAL);
	CHECK_INT_EQ(params_get_int(o, "huge", INT64_MIN, INT64_MAX, &v, &err), -EINVAL);
	CHECK_INT_EQ(params_get_int(o, "hex", 0, 1000, &v, &err), -EINVAL);
	CHECK_INT_EQ(params_get_int(o, "space", 0, 1000, &v, &err), -EINVAL);
	CHECK_INT_EQ(v, 77);
	json_decref(o);
}

static void test_get_dur(void)
{
	struct parse_error err;
	json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:s, s:i, s:s, s:b, s:f, s:s}", "j", 3600, "h",
			      "1h", "hm", "1h30m", "s", "90s", "n", "3600", "neg", -1, "bad", "1x",
			      "bool", 1, "real", 1.5, "empty", "");
	int64_t v = 77;

	CHECK_INT_EQ(params_get_dur(o, "j", &v, &err), 0);
	CHECK_INT_EQ(v, 3600);
	CHECK_INT_EQ(params_get_dur(o, "h", &v, &err), 0);
	CHECK_INT_EQ(v, 3600);
	CHECK_INT_EQ(params_get_dur(o, "hm", &v, &err), 0);
	CHECK_INT_EQ(v, 5400);
	CHECK_INT_EQ(params_get_dur(o, "s", &v, &err), 0);
	CHECK_INT_EQ(v, 90);
	CHECK_INT_EQ(params_get_dur(o, "n", &v, &err), 0);
	CHECK_INT_EQ(v, 3600);
	v = 77;
	CHECK_INT_EQ(params_get_dur(o, "missing", &v, &err), 1);
	CHECK_INT_EQ(v, 77);
	CHECK_INT_EQ(params_get_dur(o, "neg", &v, &err), -EINVAL);
	CHECK(strncmp(err.text, "neg: ", 5) == 0);
	CHECK_INT_EQ(params_get_dur(o, "bad", &v, &err), -EINVAL);
	CHECK(strncmp(err.text, "bad: ", 5) == 0);
	CHECK_INT_EQ(params_get_dur(o, "bool", &v, &err), -EINVAL);
	CHECK_INT_EQ(params_get_dur(o, "real", &v, &err), -EINVAL);
	CHECK_INT_EQ(params_get_dur(o, "empty", &v, &err), -EINVAL);
	CHECK_INT_EQ(v, 77);
	json_decref(o);
}

static void test_get_list(void)
{
	struct parse_error err;
	json_t *o = json_pack("{s:[s,s], s:s, s:s, s:s, s:[], s:[s,s], s:[s,i], s:i, s:s}", "arr",
			      "a", "b", "comma", "a, b", "messy", " a ,, b ,\t", "star", "*",
			      "none", "empties", "", "x", "mixed", "a", 1, "int", 5, "empty", "");
	char **v = NULL;
	size_t n = 99;

	CHECK_INT_EQ(params_get_list(o, "arr", &v, &n, &err), 0);
	CHECK_INT_EQ(n, 2);
	CHECK_STR_EQ(v[0], "a");
	CHECK_STR_EQ(v[1], "b");
	CHECK(v[2] == NULL);
	params_strv_free(v);
	CHECK_INT_EQ(params_get_list(o, "comma", &v, &n, &err), 0);
	CHECK_INT_EQ(n, 2);
	CHECK_STR_EQ(v[0], "a");
	CHECK_STR_EQ(v[1], "b");
	params_strv_free(v);
	CHECK_INT_EQ(params_get_list(o, "messy", &v, &n, &err), 0);
	CHECK_INT_EQ(n, 2);
	CHECK_STR_EQ(v[0], "a");
	CHECK_STR_EQ(v[1], "b");
	params_strv_free(v);
	CHECK_INT_EQ(params_get_list(o, "star", &v, &n, &err), 0);
	CHECK_INT_EQ(n, 1);
	CHECK_STR_EQ(v[0], "*");
	params_strv_free(v);
	CHECK_INT_EQ(params_get_list(o, "none", &v, &n, &err), 0);
	CHECK_INT_EQ(n, 0);
	CHECK(v && v[0] == NULL);
	params_strv_free(v);
	CHECK_INT_EQ(params_get_list(o, "empty", &v, &n, &err), 0);
	CHECK_INT_EQ(n, 0);
	params_strv_free(v);
	CHECK_INT_EQ(params_get_list(o, "empties", &v, &n, &err), 0);
	CHECK_INT_EQ(n, 1);
	CHECK_STR_EQ(v[0], "x");
	params_strv_free(v);
	v = NULL;
	n = 99;
	CHECK_INT_EQ(params_get_list(o, "missing", &v, &n, &err), 1);
	CHECK(v == NULL);
	CHECK_INT_EQ(n, 99);
	CHECK_INT_EQ(params_get_list(o, "mixed", &v, &n, &err), -EINVAL);
	CHECK(v == NULL);
	CHECK(strncmp(err.text, "mixed: ", 7) == 0);
	CHECK_INT_EQ(params_get_list(o, "int", &v, &n, &err), -EINVAL);
	CHECK(v == NULL);
	json_decref(o);
	params_strv_free(NULL);
}

static void test_get_stmts(void)
{
	struct parse_error err;
	json_t *o = json_pack("{s:s, s:[s,s], s:s, s:s, s:[i], s:s, s:b}", "one",
			      "CREATE ROLE \"{{name}}\"; GRANT x TO \"{{name}}\";", "arr", "A; B",
			      "C", "quoted", "SELECT ';'; SELECT $$;$$", "open",
			      "SELECT 'unterminated", "ints", 1, "blank", "  ;; ", "bool", 1);
	char **v = NULL;
	size_t n = 0;

	CHECK_INT_EQ(params_get_stmts(o, "one", &v, &n, &err), 0);
	CHECK_INT_EQ(n, 2);
	CHECK_STR_EQ(v[0], "CREATE ROLE \"{{name}}\"");
	CHECK_STR_EQ(v[1], "GRANT x TO \"{{name}}\"");
	CHECK(v[2] == NULL);
	params_strv_free(v);
	CHECK_INT_EQ(params_get_stmts(o, "arr", &v, &n, &err), 0);
	CHECK_INT_EQ(n, 3);
	CHECK_STR_EQ(v[0], "A");
	CHECK_STR_EQ(v[1], "B");
	CHECK_STR_EQ(v[2], "C");
	params_strv_free(v);
	CHECK_INT_EQ(params_get_stmts(o, "quoted", &v, &n, &err), 0);
	CHECK_INT_EQ(n, 2);
	CHECK_STR_EQ(v[0], "SELECT ';'");
	CHECK_STR_EQ(v[1], "SELECT $$;$$");
	params_strv_free(v);
	CHECK_INT_EQ(params_get_stmts(o, "blank", &v, &n, &err), 0);
	CHECK_INT_EQ(n, 0);
	params_strv_free(v);
	v = NULL;
	CHECK_INT_EQ(params_get_stmts(o, "open", &v, &n, &err), -EINVAL);
	CHECK(v == NULL);
	CHECK(strncmp(err.text, "open: ", 6) == 0);
	CHECK_INT_EQ(params_get_stmts(o, "ints", &v, &n, &err), -EINVAL);
	CHECK_INT_EQ(params_get_stmts(o, "bool", &v, &n, &err), -EINVAL);
	CHECK_INT_EQ(params_get_stmts(o, "missing", &v, &n, &err), 1);
	CHECK(v == NULL);
	json_decref(o);
}

/* key=value strings and native JSON give the same typed values */
static void test_both_forms_agree(void)
{
	struct parse_error err;
	json_t *kv, *js;
	bool b1 = false, b2 = false;
	int64_t i1 = 0, i2 = 0, d1 = 0, d2 = 0;
	char **l1 = NULL, **l2 = NULL;
	size_t n1 = 0, n2 = 0;

	CHECK_INT_EQ(parse("v=true\nm=4\nt=1h\nr=a,b\n", true, &kv, &err), 0);
	CHECK_INT_EQ(parse("{\"v\": true, \"m\": 4, \"t\": 3600, \"r\": [\"a\", \"b\"]}", true, &js,
			   &err),
		     0);
	CHECK_INT_EQ(params_get_bool(kv, "v", &b1, &err), 0);
	CHECK_INT_EQ(params_get_bool(js, "v", &b2, &err), 0);
	CHECK(b1 && b2);
	CHECK_INT_EQ(params_get_int(kv, "m", 1, 10, &i1, &err), 0);
	CHECK_INT_EQ(params_get_int(js, "m", 1, 10, &i2, &err), 0);
	CHECK_INT_EQ(i1, i2);
	CHECK_INT_EQ(params_get_dur(kv, "t", &d1, &err), 0);
	CHECK_INT_EQ(params_get_dur(js, "t", &d2, &err), 0);
	CHECK_INT_EQ(d1, d2);
	CHECK_INT_EQ(params_get_list(kv, "r", &l1, &n1, &err), 0);
	CHECK_INT_EQ(params_get_list(js, "r", &l2, &n2, &err), 0);
	CHECK_INT_EQ(n1, n2);
	for (size_t i = 0; i < n1 && i < n2; i++)
		CHECK_STR_EQ(l1[i], l2[i]);
	params_strv_free(l1);
	params_strv_free(l2);
	json_decref(kv);
	json_decref(js);
}

static void test_strv_json(void)
{
	char *v[] = { "a", "b c", NULL };
	json_t *a = params_strv_json(v, 2);

	CHECK(json_is_array(a));
	CHECK_INT_EQ(json_array_size(a), 2);
	CHECK_STR_EQ(json_string_value(json_array_get(a, 1)), "b c");
	json_decref(a);
	a = params_strv_json(v, 0);
	CHECK(json_is_array(a) && json_array_size(a) == 0);
	json_decref(a);
}

static int name_ok(const char *name)
{
	struct parse_error err = { 0 };
	int r = params_name_valid(name, &err);

	if (r != 0 && r != -EINVAL)
		CHECK(0);
	if (r != 0)
		CHECK(err.text[0] != '\0');
	return r == 0;
}

static void test_name_valid(void)
{
	char n64[65], n65[66];

	CHECK(name_ok("db-app"));
	CHECK(name_ok("wizard"));
	CHECK(name_ok("a"));
	CHECK(name_ok("_"));
	CHECK(name_ok("A1_b.c-d"));
	CHECK(name_ok("a..b"));
	CHECK(name_ok("9"));
	memset(n64, 'x', 64);
	n64[64] = '\0';
	CHECK(name_ok(n64));
	memset(n65, 'x', 65);
	n65[65] = '\0';
	CHECK(!name_ok(n65));

	CHECK(!name_ok(""));
	CHECK(!name_ok("."));
	CHECK(!name_ok(".."));
	CHECK(!name_ok(".a"));
	CHECK(!name_ok("a."));
	CHECK(!name_ok("-a"));
	CHECK(!name_ok("a-"));
	CHECK(!name_ok("a/b"));
	CHECK(!name_ok("/"));
	CHECK(!name_ok("a;b"));
	CHECK(!name_ok("a b"));
	CHECK(!name_ok("a\"b"));
	CHECK(!name_ok("a'b"));
	CHECK(!name_ok("a\nb"));
	CHECK(!name_ok("a\tb"));
	CHECK(!name_ok("\x01"));
	CHECK(!name_ok("a\x7f"));
	CHECK(!name_ok("caf\xc3\xa9"));
	CHECK(!name_ok("\xff\xfe"));
	CHECK(!name_ok("a*"));
	CHECK(!name_ok("{{name}}"));
	CHECK_INT_EQ(params_name_valid("a/b", NULL), -EINVAL);
}

int main(void)
{
	if (secret_init() != 0) {
		fprintf(stderr, "secret_init failed\n");
		return 1;
	}
	RUN(test_kv_basic);
	RUN(test_kv_comments_blank);
	RUN(test_kv_continuation);
	RUN(test_kv_seed_role);
	RUN(test_kv_quotes);
	RUN(test_kv_errors);
	RUN(test_kv_incomplete);
	RUN(test_kv_incomplete_continuation);
	RUN(test_json_basic);
	RUN(test_json_errors);
	RUN(test_json_incomplete);
	RUN(test_empty);
	RUN(test_nul_bytes);
	RUN(test_size_limit);
	RUN(test_check_keys);
	RUN(test_get_str);
	RUN(test_get_bool);
	RUN(test_get_int);
	RUN(test_get_dur);
	RUN(test_get_list);
	RUN(test_get_stmts);
	RUN(test_both_forms_agree);
	RUN(test_strv_json);
	RUN(test_name_valid);
	return DONE();
}

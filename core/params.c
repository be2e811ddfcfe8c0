/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dur.h"
#include "params.h"
#include "secret.h"
#include "sqlsplit.h"

static int params_parse_json(const char *buf, size_t len, bool final, json_t **out,
			     struct parse_error *err)
{
	json_error_t jerr;
	json_t *doc;

	doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc) {
		/* An error at the very end means "not finished yet" while writing. */
		if (!final && jerr.position >= (int)len)
			return 1;
		perr_set(err, jerr.line, jerr.column, "malformed JSON: %s", jerr.text);
		return -EINVAL;
	}
	if (!json_is_object(doc)) {
		json_decref(doc);
		perr_set(err, 1, 1, "expected a JSON object");
		return -EINVAL;
	}
	*out = doc;
	return 0;
}

static char *params_trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* One key=value line; line is writable and NUL-terminated. */
static int params_kv_line(char *line, int lineno, json_t *obj, struct parse_error *err)
{
	char *eq, *key, *val;
	size_t vlen;

	line = params_trim(line);
	if (!*line || *line == '#')
		return 0;
	eq = strchr(line, '=');
	if (!eq) {
		perr_set(err, lineno, 1, "expected key=value");
		return -EINVAL;
	}
	*eq = '\0';
	key = params_trim(line);
	val = params_trim(eq + 1);
	if (!*key) {
		perr_set(err, lineno, 1, "empty key");
		return -EINVAL;
	}
	/* `allowed_roles="*"` copied from a shell command: drop one plain pair of quotes. */
	vlen = strlen(val);
	if (vlen >= 2 && val[0] == '"' && val[vlen - 1] == '"' && !memchr(val + 1, '"', vlen - 2)) {
		val[vlen - 1] = '\0';
		val++;
	}
	if (json_object_get(obj, key)) {
		perr_set(err, lineno, 1, "duplicate key %.64s", key);
		return -EINVAL;
	}
	if (json_object_set_new(obj, key, json_string(val)) != 0) {
		perr_set(err, lineno, 1, "%.64s: value is not valid UTF-8", key);
		return -EINVAL;
	}
	return 0;
}

static int params_parse_kv(const char *buf, size_t len, bool final, json_t **out,
			   struct parse_error *err)
{
	json_t *obj = NULL;
	char *copy = NULL, *p, *nl, *w;
	size_t upto = len;
	int r = -ENOMEM, lineno = 1, first, incomplete = 0;

	if (!final) {
		/* Only whole lines count while the writer is still writing. */
		while (upto > 0 && buf[upto - 1] != '\n')
			upto--;
		/* ... and a line ending in "\" goes on in the next one. */
		while (upto >= 2 && buf[upto - 2] == '\\') {
			upto--;
			while (upto > 0 && buf[upto - 1] != '\n')
				upto--;
		}
		incomplete = upto != len;
	}
	if (memchr(buf, '\0', upto)) {
		perr_set(err, 0, 0, "document contains a NUL byte");
		return -EINVAL;
	}
	if (!(copy = malloc(upto + 1)) || !(obj = json_object()))
		goto out;
	memcpy(copy, buf, upto);
	copy[upto] = '\0';
	for (p = copy; *p; p = nl) {
		first = lineno;
		/* Join "\<newline>" continuations into one logical line. */
		for (w = nl = p; *nl && *nl != '\n'; nl++) {
			if (nl[0] == '\\' && nl[1] == '\n') {
				*w++ = ' ';
				nl++;
				lineno++;
				continue;
			}
			*w++ = *nl;
		}
		if (*nl)
			nl++;
		*w = '\0';
		lineno++;
		if ((r = params_kv_line(p, first, obj, err)) != 0)
			goto out;
	}
	if (final && json_object_size(obj) == 0) {
		perr_set(err, 0, 0, "empty document");
		r = -EINVAL;
		goto out;
	}
	*out = obj;
	obj = NULL; /* transferred */
	r = incomplete;
out:
	json_decref(obj);
	if (copy) {
		secret_wipe(copy, upto);
		free(copy);
	}
	return r;
}

int params_parse(const char *buf, size_t len, bool final, json_t **out, struct parse_error *err)
{
	size_t i = 0;

	if (len > PARAMS_MAX_DOC) {
		perr_set(err, 0, 0, "document larger than %d bytes", PARAMS_MAX_DOC);
		return -EINVAL;
	}
	while (i < len && isspace((unsigned char)buf[i]))
		i++;
	if (i == len) {
		if (!final)
			return 1;
		perr_set(err, 0, 0, "empty document");
		return -EINVAL;
	}
	if (buf[i] == '{')
		return params_parse_json(buf, len, final, out, err);
	return params_parse_kv(buf, len, final, out, err);
}

int params_check_keys(json_t *obj, const char *const *known, struct parse_error *err)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v)
	{
		const char *const *k;

		for (k = known; *k; k++)
			if (strcmp(*k, key) == 0)
				break;
		if (!*k) {
			perr_set(err, 0, 0, "unknown parameter \"%.64s\"", key);
			return -EINVAL;
		}
	}
	return 0;
}

static json_t *params_get(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_null(v) ? NULL : v;
}

int params_get_str(json_t *obj, const char *key, const char **out, struct parse_error *err)
{
	json_t *v = params_get(obj, key);

	if (!v)
		return 1;
	if (!json_is_string(v)) {
		perr_set(err, 0, 0, "%s: expected a string", key);
		return -EINVAL;
	}
	*out = json_string_value(v);
	return 0;
}

int params_get_bool(json_t *obj, const char *key, bool *out, struct parse_error *err)
{
	json_t *v = params_get(obj, key);
	const char *s;

	if (!v)
		return 1;
	if (json_is_boolean(v)) {
		*out = json_is_true(v);
		return 0;
	}
	s = json_is_string(v) ? json_string_value(v) : "";
	if (!strcmp(s, "true") || !strcmp(s, "1")) {
		*out = true;
		return 0;
	}
	if (!strcmp(s, "false") || !strcmp(s, "0")) {
		*out = false;
		return 0;
	}
	perr_set(err, 0, 0, "%s: expected true or false", key);
	return -EINVAL;
}

int params_get_int(json_t *obj, const char *key, int64_t min, int64_t max, int64_t *out,
		   struct parse_error *err)
{
	json_t *v = params_get(obj, key);
	long long x;
	char *end;

	if (!v)
		return 1;
	if (json_is_integer(v)) {
		x = json_integer_value(v);
	} else if (json_is_string(v) && *json_string_value(v)) {
		errno = 0;
		x = strtoll(json_string_value(v), &end, 10);
		if (errno || *end) {
			perr_set(err, 0, 0, "%s: expected an integer", key);
			return -EINVAL;
		}
	} else {
		perr_set(err, 0, 0, "%s: expected an integer", key);
		return -EINVAL;
	}
	if (x < min || x > max) {
		perr_set(err, 0, 0, "%s: %lld is out of range [%lld, %lld]", key, x, (long long)min,
			 (long long)max);
		return -EINVAL;
	}
	*out = x;
	return 0;
}

int params_get_dur(json_t *obj, const char *key, int64_t *out, struct parse_error *err)
{
	json_t *v = params_get(obj, key);
	int r;

	if (!v)
		return 1;
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0 || json_integer_value(v) > DUR_MAX_SEC) {
			perr_set(err, 0, 0, "%s: duration out of range", key);
			return -EINVAL;
		}
		*out = json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v)) {
		perr_set(err, 0, 0, "%s: expected a duration", key);
		return -EINVAL;
	}
	if ((r = dur_parse(json_string_value(v), out, err)) != 0) {
		perr_prefix(err, key);
		return r;
	}
	return 0;
}

/* Append a new copy of s[0..n-1] to the vector *v of *len strings. */
static int params_strv_push(char ***v, size_t *len, const char *s, size_t n)
{
	char **nv = realloc(*v, (*len + 2) * sizeof(**v));

	if (!nv)
		return -ENOMEM;
	*v = nv;
	if (!(nv[*len] = strndup(s, n)))
		return -ENOMEM;
	nv[++*len] = NULL;
	return 0;
}

static int params_split_commas(const char *s, char ***v, size_t *n)
{
	int r;

	while (*s) {
		const char *e = strchr(s, ',');
		const char *b = s, *t;

		if (!e)
			e = s + strlen(s);
		while (b < e && isspace((unsigned char)*b))
			b++;
		for (t = e; t > b && isspace((unsigned char)t[-1]); t--)
			;
		if (t > b && (r = params_strv_push(v, n, b, t - b)) != 0)
			return r;
		s = *e ? e + 1 : e;
	}
	return 0;
}

static int params_split_sql(const char *key, const char *s, char ***v, size_t *n,
			    struct parse_error *err)
{
	char **stmts = NULL;
	size_t ns = 0;
	int r;

	if ((r = sqlsplit(s, strlen(s), &stmts, &ns, err)) != 0) {
		perr_prefix(err, key);
		return r;
	}
	for (size_t i = 0; i < ns && r == 0; i++)
		r = params_strv_push(v, n, stmts[i], strlen(stmts[i]));
	sqlsplit_free(stmts, ns);
	return r;
}

static int params_get_vec(json_t *obj, const char *key, bool sql, char ***out, size_t *n,
			  struct parse_error *err)
{
	json_t *v = params_get(obj, key), *item;
	char **vec = NULL;
	size_t len = 0, i;
	int r = 0;

	if (!v)
		return 1;
	if (!(vec = calloc(1, sizeof(*vec))))
		return -ENOMEM;
	if (json_is_string(v)) {
		r = sql ? params_split_sql(key, json_string_value(v), &vec, &len, err)
			: params_split_commas(json_string_value(v), &vec, &len);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, item)
		{
			if (!json_is_string(item)) {
				perr_set(err, 0, 0, "%s: expected a list of strings", key);
				r = -EINVAL;
				break;
			}
			if (sql)
				r = params_split_sql(key, json_string_value(item), &vec, &len, err);
			else if (*json_string_value(item))
				r = params_strv_push(&vec, &len, json_string_value(item),
						     json_string_length(item));
			if (r)
				break;
		}
	} else {
		perr_set(err, 0, 0, "%s: expected a string or a list of strings", key);
		r = -EINVAL;
	}
	if (r) {
		params_strv_free(vec);
		return r;
	}
	*out = vec;
	*n = len;
	return 0;
}

int params_get_list(json_t *obj, const char *key, char ***out, size_t *n, struct parse_error *err)
{
	return params_get_vec(obj, key, false, out, n, err);
}

int params_get_stmts(json_t *obj, const char *key, char ***out, size_t *n, struct parse_error *err)
{
	return params_get_vec(obj, key, true, out, n, err);
}

void params_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

json_t *params_strv_json(char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static int params_word(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

int params_name_valid(const char *name, struct parse_error *err)
{
	size_t n = strlen(name);

	if (n == 0 || n > 64) {
		perr_set(err, 0, 0, "name must have 1 to 64 characters");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (params_word(name[i]) ||
		    ((name[i] == '-' || name[i] == '.') && i > 0 && i < n - 1))
			continue;
		perr_set(err, 0, 0, "name may use only letters, digits, '_', and inner '-' or '.'");
		return -EINVAL;
	}
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * params.h - the two input forms of config/ and roles/ files, and typed
 * access to their values.
 *
 * A document is either a JSON object with Vault's parameter names (the body
 * of the `vault write database/...` API call) or `key=value` lines (the
 * `vault write` CLI form: a value runs to the end of its line, blank lines
 * and lines starting with '#' are skipped, a '\' before the newline joins
 * the next line). Both become one JSON object; in the key=value form every
 * value is a JSON string, and the typed getters below accept either form
 * ("true" and true, "4" and 4, "1h" and 3600, "a,b" and ["a","b"]).
 */
#ifndef CREDFS_PARAMS_H
#define CREDFS_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "perr.h"

#define PARAMS_MAX_DOC (1024 * 1024) /* bytes in one document */

/* Flags of role_from_params and dbconf_from_params. */
#define PARAMS_FINAL   (1U << 0) /* the document is complete: required keys are checked */
#define PARAMS_RESTORE (1U << 1) /* from the state: rules added since it was written warn */

/*
 * params_parse - parse buf[0..len-1] into *out (a new reference).
 * final: the document is complete (at close). When not final, an
 * incomplete JSON document or an unfinished last key=value line is not an
 * error: the return value is 1 and *out is NULL (JSON) or holds only the
 * complete lines (key=value).
 * Returns 0 (complete), 1 (incomplete, see above), or -EINVAL with err set:
 * malformed JSON, not an object, a duplicate or empty key, a line without
 * '=', a document larger than PARAMS_MAX_DOC, an empty document (final).
 */
int params_parse(const char *buf, size_t len, bool final, json_t **out, struct parse_error *err)
	__attribute__((warn_unused_result));

/*
 * params_check_keys - -EINVAL (err names the key) if obj has a key that is
 * not in known (a NULL-terminated list).
 */
int params_check_keys(json_t *obj, const char *const *known, struct parse_error *err)
	__attribute__((warn_unused_result));

/*
 * Typed getters. Each returns 0 and writes *out when key is present, 1 and
 * leaves *out alone when it is absent (or JSON null), or -EINVAL with err
 * set ("KEY: expected a boolean") when the value has the wrong type.
 */

/* params_get_str - *out is borrowed from obj. */
int params_get_str(json_t *obj, const char *key, const char **out, struct parse_error *err);
int params_get_bool(json_t *obj, const char *key, bool *out, struct parse_error *err);
/* params_get_int - integers in [min, max]. */
int params_get_int(json_t *obj, const char *key, int64_t min, int64_t max, int64_t *out,
		   struct parse_error *err);
/* params_get_dur - seconds: a JSON integer or a duration string (dur.h). */
int params_get_dur(json_t *obj, const char *key, int64_t *out, struct parse_error *err);

/*
 * params_get_list - a JSON array of strings or a comma-separated string
 * (items trimmed, empty items dropped). *out is a new NULL-terminated array
 * of new strings (free with params_strv_free), *n its length.
 */
int params_get_list(json_t *obj, const char *key, char ***out, size_t *n, struct parse_error *err);

/*
 * params_get_stmts - SQL statements: a JSON array of strings or one string;
 * each string is split into statements with sqlsplit (a ';' inside quotes,
 * identifiers, comments or dollar quotes does not split). *out as above.
 */
int params_get_stmts(json_t *obj, const char *key, char ***out, size_t *n, struct parse_error *err);

/* params_strv_free - free a string vector from the getters (NULL-safe). */
void params_strv_free(char **v);

/* params_strv_json - a new JSON array of the n strings of v. */
json_t *params_strv_json(char *const *v, size_t n);

/*
 * params_name_valid - 0 if name is a valid connection or role name (Vault's
 * \w([\w.-]*\w)?, 1 to 64 bytes), else -EINVAL with err set.
 */
int params_name_valid(const char *name, struct parse_error *err);

#endif

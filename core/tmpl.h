/* SPDX-License-Identifier: MIT */
/*
 * tmpl.h - {{variable}} substitution in statements and connection URLs.
 *
 * A variable is "{{" NAME "}}" where NAME is [a-z_]+, optionally surrounded
 * by blanks inside the braces ("{{ name }}"). Substitution is literal (no
 * quoting is added: the statement author writes "{{name}}" or
 * '{{password}}', exactly as with Vault). Text outside variables is copied
 * unchanged; a lone "{{" with no closing "}}" is an error.
 *
 * Between "{{" and the first "}}" after it, trimmed: [a-z_]+ is a
 * variable; anything else that starts like a name ([A-Za-z_.], as in
 * "{{Name}}", "{{.RoleName}}", "{{na me}}") is an error, so a typo never
 * reaches SQL; the rest ("{{1,2},{3,4}}", an array literal; "{{}}") is
 * text. Errors carry the line/col (1-based, col in bytes) of the "{{".
 * Values are substituted once and never scanned for variables.
 *
 * Pure and reentrant: no global state.
 */
#ifndef CREDFS_TMPL_H
#define CREDFS_TMPL_H

#include <stddef.h>
#include "perr.h"

struct tmpl_var {
	const char *name; /* borrowed, e.g. "name" */
	const char *value; /* borrowed; may be a secret */
	size_t len; /* bytes of value */
};

/*
 * tmpl_check - verify that every variable used in text is one of allowed
 * (a NULL-terminated list of names). Returns 0, or -EINVAL with err set
 * ("unknown template variable {{foo}}", "unterminated {{", ...).
 */
int tmpl_check(const char *text, const char *const *allowed, struct parse_error *err)
	__attribute__((warn_unused_result));

/*
 * tmpl_uses - 1 if text uses the variable name, else 0.
 */
int tmpl_uses(const char *text, const char *name);

/*
 * tmpl_render - substitute vars into text.
 * On success *out is a new NUL-terminated malloc'd string (*outlen bytes,
 * without the NUL); the caller releases it with tmpl_free() because it may
 * hold a secret. A variable not in vars, or whose value contains a NUL
 * byte (it would silently cut the statement short), is -EINVAL (err set).
 * -ENOMEM on allocation failure. *out and *outlen are written only on
 * success; nothing holding a value is left behind on failure.
 */
int tmpl_render(const char *text, const struct tmpl_var *vars, size_t nvars, char **out,
		size_t *outlen, struct parse_error *err) __attribute__((warn_unused_result));

/* tmpl_free - wipe and free a string from tmpl_render (NULL-safe). */
void tmpl_free(char *s);

#endif

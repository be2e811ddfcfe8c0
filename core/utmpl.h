/* SPDX-License-Identifier: MIT */
/*
 * utmpl.h - username_template: the part of Go's text/template that Vault's
 * username templates use, so a template written for Vault works unchanged:
 *
 *     {{ printf "v-%s-%s-%s-%s" (.DisplayName | truncate 8) (.RoleName | truncate 8)
 *        (random 20) (unix_time) | truncate 63 }}
 *
 * Text outside {{ }} is copied. An action is a pipeline of commands joined
 * by '|', each command's result passed as the last argument of the next.
 * Operands: "strings" (Go escapes), `raw strings`, integers, .DisplayName
 * (the opening process's command name), .RoleName, (pipelines) and niladic
 * functions. {{- and -}} trim the whitespace beside them; Go's comment
 * actions are skipped. Functions, with Vault's semantics: printf (Go's
 * fmt.Sprintf, see gofmt.h), random N (base62), truncate N,
 * truncate_sha256 N, sha256, base64, uppercase, lowercase, replace OLD NEW,
 * uuid, unix_time, unix_time_millis, timestamp LAYOUT (Go's reference-time
 * layout, in UTC, see gotime.h). Like Vault's, unix_time, unix_time_millis
 * and random return strings.
 *
 * A username goes into SQL through the role's own statements ("{{name}}",
 * '{{name}}', dollar-quoted bodies), so the result must be 1 to 63 bytes
 * that uname_byte_ok accepts: printable ASCII without space, '"', '\'',
 * '\\' or '$'. .DisplayName and .RoleName keep every other byte, as Vault
 * does ("token.foo" stays "token.foo"); the refused ones become '_' before
 * use, because a command name is chosen by whoever runs the program.
 */
#ifndef CREDFS_UTMPL_H
#define CREDFS_UTMPL_H

#include <stddef.h>
#include <stdint.h>

#include "perr.h"

#define UTMPL_VALUE_MAX 1024 /* bytes of any value along the way */

struct utmpl_data {
	const char *display; /* NULL or "" becomes "unknown" */
	const char *role;
	int64_t now_ms; /* the clock: unix_time, unix_time_millis, timestamp (UTC) */
};

/*
 * utmpl_render - render src into out (outsz >= 64). 0, or -EINVAL with err
 * saying why (a syntax error, an unknown function, a result that is not a
 * usable name), or -ENOMEM.
 */
int utmpl_render(const char *src, const struct utmpl_data *d, char *out, size_t outsz,
		 struct parse_error *err) __attribute__((warn_unused_result));

/* utmpl_check - render src once with sample data, as Vault validates a template. */
int utmpl_check(const char *src, struct parse_error *err) __attribute__((warn_unused_result));

#endif

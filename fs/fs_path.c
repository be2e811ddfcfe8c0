/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fs.h"

static int fs_path_part(const char **s, char *out, size_t n)
{
	size_t len = strcspn(*s, "/");

	if (len == 0 || len >= n)
		return -ENOENT;
	memcpy(out, *s, len);
	out[len] = '\0';
	*s += len;
	if (**s == '/')
		(*s)++;
	return 0;
}

int fs_path_parse(const char *path, struct fs_path *p)
{
	const char *s = path;

	memset(p, 0, sizeof(*p));
	while (*s == '/')
		s++;
	if (!*s) {
		p->node = FS_ROOT;
		return 0;
	}
	if (fs_path_part(&s, p->top, sizeof(p->top)) != 0)
		return -ENOENT;
	if (!strcmp(p->top, "errors")) {
		p->node = FS_ERRORS;
		return *s ? -ENOTDIR : 0;
	}
	if (strcmp(p->top, "config") && strcmp(p->top, "roles") && strcmp(p->top, "creds") &&
	    strcmp(p->top, "rotate-root") && strcmp(p->top, "leases"))
		return -ENOENT;
	if (!*s) {
		p->node = FS_DIR;
		return 0;
	}
	if (fs_path_part(&s, p->name, sizeof(p->name)) != 0)
		return -ENOENT;
	if (!strcmp(p->top, "leases")) {
		if (!*s) {
			p->node = FS_LEASE_DIR;
			return 0;
		}
		if (fs_path_part(&s, p->id, sizeof(p->id)) != 0 || *s)
			return -ENOENT;
		p->node = FS_LEASE;
		return 0;
	}
	if (*s)
		return -ENOTDIR;
	p->node = !strcmp(p->top, "config")  ? FS_CONFIG
		  : !strcmp(p->top, "roles") ? FS_ROLE
		  : !strcmp(p->top, "creds") ? FS_CREDS
					     : FS_ROTATE;
	return 0;
}

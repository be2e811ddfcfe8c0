/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
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
	char role[CREDFMT_ROLE_MAX];
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
	if (!strcmp(p->top, "errors") || !strcmp(p->top, "metrics")) {
		p->node = !strcmp(p->top, "errors") ? FS_ERRORS : FS_METRICS;
		return *s ? -ENOTDIR : 0;
	}
	if (!strcmp(p->top, "fleet")) {
		p->node = FS_DIR;
		return *s ? fs_fleet_parse(s, p) : 0;
	}
	if (strcmp(p->top, "config") && strcmp(p->top, "roles") && strcmp(p->top, "creds") &&
	    strcmp(p->top, "rotate-root") && strcmp(p->top, "leases") &&
	    strcmp(p->top, "static-roles") && strcmp(p->top, "static-creds") &&
	    strcmp(p->top, "rotate-role") && strcmp(p->top, "reset"))
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
	if (!strcmp(p->top, "creds") && credfmt_dir_from_name(p->name, role, sizeof(role)) == 0) {
		/* creds/ROLE.d and creds/ROLE.d/KEY */
		p->node = FS_CREDS_DIR;
		if (!*s)
			return 0;
		if (fs_path_part(&s, p->id, sizeof(p->id)) != 0 || *s)
			return -ENOENT;
		p->node = FS_CREDS_KEY;
		return 0;
	}
	if (*s)
		return -ENOTDIR;
	p->node = !strcmp(p->top, "config")	    ? FS_CONFIG
		  : !strcmp(p->top, "roles")	    ? FS_ROLE
		  : !strcmp(p->top, "creds")	    ? FS_CREDS
		  : !strcmp(p->top, "static-roles") ? FS_STATIC
		  : !strcmp(p->top, "static-creds") ? FS_SCREDS
		  : !strcmp(p->top, "rotate-role")  ? FS_ROTATE_ROLE
		  : !strcmp(p->top, "reset")	    ? FS_RESET
						    : FS_ROTATE;
	return 0;
}

int fs_path_child(const struct fs_path *dir, const char *name, struct fs_path *out)
{
	char path[PATH_MAX];

	if (!fs_is_dir(dir))
		return -ENOTDIR;
	if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return -ENOENT;
	fs_path_str(dir, path, sizeof(path) - 256);
	if (strlen(name) > 255)
		return -ENOENT;
	strcat(path, *path ? "/" : "");
	strcat(path, name);
	return fs_path_parse(path, out);
}

void fs_path_str(const struct fs_path *p, char *out, size_t n)
{
	switch (p->node) {
	case FS_ROOT:
	case FS_NONE:
		snprintf(out, n, "%s", "");
		break;
	case FS_DIR:
	case FS_ERRORS:
	case FS_METRICS:
		snprintf(out, n, "%s", p->top);
		break;
	case FS_LEASE:
	case FS_CREDS_KEY:
	case FS_FLEET_ROLE:
	case FS_FLEET_NODE:
		snprintf(out, n, "%s/%s/%s", p->top, p->name, p->id);
		break;
	case FS_FLEET_LEASE:
		snprintf(out, n, "%s/%s/%s/%s", p->top, p->name, p->id, p->sub);
		break;
	default:
		snprintf(out, n, "%s/%s", p->top, p->name);
		break;
	}
}

ino_t fs_path_ino(const struct fs_path *p)
{
	static const char *const fixed[] = { "config",	    "roles",	    "creds",
					     "rotate-root", "leases",	    "errors",
					     "metrics",	    "static-roles", "static-creds",
					     "rotate-role", "reset",	    "fleet" };
	char path[PATH_MAX];
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	if (p->node == FS_ROOT)
		return FS_INO_ROOT;
	if (p->node == FS_DIR || p->node == FS_ERRORS || p->node == FS_METRICS) {
		for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
			if (!strcmp(p->top, fixed[i]))
				return FS_INO_CONFIG + i;
	}
	fs_path_str(p, path, sizeof(path));
	for (const char *s = path; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h < FS_INO_FIRST_DYNAMIC ? h + FS_INO_FIRST_DYNAMIC : h;
}

/* SPDX-License-Identifier: MIT */
/*
 * fs_fleet.c - fleet/ (with --fleet): fleet/leases/ROLE/ID, every node's
 * leases (read-only JSON; rm revokes), and fleet/nodes/NAME. Paths and
 * attributes only: the engine reads the control store.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs.h"

static int fs_fleet_part(const char **s, char *out, size_t n)
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

int fs_fleet_parse(const char *s, struct fs_path *p)
{
	bool leases;

	if (fs_fleet_part(&s, p->name, sizeof(p->name)) != 0)
		return -ENOENT;
	if (strcmp(p->name, "leases") && strcmp(p->name, "nodes"))
		return -ENOENT;
	leases = !strcmp(p->name, "leases");
	p->node = FS_FLEET_SUB;
	if (!*s)
		return 0;
	if (fs_fleet_part(&s, p->id, sizeof(p->id)) != 0)
		return -ENOENT;
	p->node = leases ? FS_FLEET_ROLE : FS_FLEET_NODE;
	if (!*s)
		return 0;
	if (!leases)
		return -ENOTDIR;
	if (fs_fleet_part(&s, p->sub, sizeof(p->sub)) != 0 || *s)
		return -ENOENT;
	p->node = FS_FLEET_LEASE;
	return 0;
}

static bool fs_fleet_has(json_t *names, const char *name)
{
	size_t i;
	json_t *v;
	bool yes = false;

	json_array_foreach(names, i, v) yes |= !strcmp(json_string_value(v), name);
	json_decref(names);
	return yes;
}

int fs_fleet_attr(struct fs_ctx *c, const struct fs_path *p, struct stat *st)
{
	char *buf = NULL;
	size_t len = 0;
	int r;

	if (!engine_has_fleet(c->engine))
		return -ENOENT;
	switch (p->node) {
	case FS_DIR:
	case FS_FLEET_SUB:
		fs_stat_base(c, p, st, S_IFDIR | 0700);
		return 0;
	case FS_FLEET_ROLE:
		if (!fs_fleet_has(engine_fleet_names(c->engine, false, NULL), p->id))
			return -ENOENT;
		fs_stat_base(c, p, st, S_IFDIR | 0700);
		return 0;
	case FS_FLEET_LEASE:
	case FS_FLEET_NODE:
		r = engine_fleet_read(c->engine, p->node == FS_FLEET_LEASE ? p->id : NULL,
				      p->node == FS_FLEET_LEASE ? p->sub : p->id, &buf, &len);
		if (r != 0)
			return r;
		free(buf);
		fs_stat_base(c, p, st, S_IFREG | 0400);
		st->st_size = len;
		return 0;
	default:
		return -ENOENT;
	}
}

json_t *fs_fleet_names(struct fs_ctx *c, const struct fs_path *p)
{
	if (!engine_has_fleet(c->engine))
		return json_array();
	switch (p->node) {
	case FS_DIR:
		return json_pack("[s, s]", "leases", "nodes");
	case FS_FLEET_SUB:
		return engine_fleet_names(c->engine, !strcmp(p->name, "nodes"), NULL);
	case FS_FLEET_ROLE:
		return engine_fleet_names(c->engine, false, p->id);
	default:
		return NULL;
	}
}

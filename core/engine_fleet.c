/* SPDX-License-Identifier: MIT */
/*
 * engine_fleet.c - the engine's side of several hosts: joining the fleet
 * and the fleet/ tree (fleet.h does the work).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_i.h"
#include "log.h"
#include "timefmt.h"

/* A lease of a dead node that this one revoked: audited here like its own. */
static void engine_fleet_audit(void *ctx, const char *action, const struct lease *l,
			       const char *err)
{
	engine_metrics_job(ctx, action, l, err);
	(void)engine_audit(ctx, action, NULL, 0, l, NULL, NULL, err);
}

/* A definition of the engine's that another node wrote: a static role, a root rotation time. */
static int engine_fleet_apply(void *ctx, const char *kind, const char *name, json_t *doc,
			      char *errbuf)
{
	struct engine *e = ctx;

	if (!strcmp(kind, "static"))
		return engine_static_apply(e, name, doc, errbuf);
	if (!strcmp(kind, "rootrot"))
		return doc ? engine_root_apply(e, name,
					       json_integer_value(json_object_get(doc, "at")),
					       errbuf)
			   : 0;
	return 0; /* a kind this credfs does not know: left to the nodes that do */
}

/* This node's static roles and root rotation times, to seed a fleet that lacks them. */
static json_t *engine_fleet_collect(void *ctx)
{
	json_t *all = engine_static_collect(ctx);

	engine_root_collect(ctx, all);
	return all;
}

int engine_open_fleet(struct engine *e, const char *conninfo, const char *key_file,
		      const char *node, const char *schema, int grace_s, int retention_s,
		      char *errbuf)
{
	struct fleet_opts o = {
		.conninfo = conninfo,
		.key_file = key_file,
		.node = node,
		.schema = schema,
		.grace_s = grace_s,
		.retention_s = retention_s,
		.extra = &(struct fleet_extra){ .apply = engine_fleet_apply,
						.collect = engine_fleet_collect,
						.ctx = e },
	};

	int r = fleet_open(&o, e->reg, e->svc, &e->fleet, errbuf);

	if (r == 0)
		fleet_set_audit(e->fleet, engine_fleet_audit, e);
	return r;
}

bool engine_has_fleet(struct engine *e)
{
	return e->fleet != NULL;
}

json_t *engine_fleet_names(struct engine *e, bool nodes, const char *role)
{
	if (!e->fleet)
		return json_array();
	if (nodes)
		return fleet_node_names(e->fleet);
	return role ? fleet_lease_ids(e->fleet, role) : fleet_lease_roles(e->fleet);
}

int engine_fleet_read(struct engine *e, const char *role, const char *id, char **out, size_t *len)
{
	json_t *j;

	if (!e->fleet)
		return -ENOENT;
	j = role ? fleet_lease_json(e->fleet, role, id) : fleet_node_json(e->fleet, id);
	if (!j)
		return -ENOENT;
	return engine_dump(j, out, len);
}

int engine_fleet_revoke(struct engine *e, const char *role, const char *id, uid_t uid)
{
	bool local = false;
	int r;

	if (!e->fleet)
		return -ENOENT;
	if ((r = fleet_lease_revoke(e->fleet, role, id, &local)) != 0 || !local)
		return r;
	return engine_lease_revoke(e, role, id, uid);
}

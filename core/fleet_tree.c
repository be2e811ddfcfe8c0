/* SPDX-License-Identifier: MIT */
/*
 * fleet_tree.c - what fleet/leases/ROLE/ID and fleet/nodes/NAME show: a
 * cache of the store's lease rows (every unrevoked row: refreshed only by
 * a read that finds it older than a second, so that idle nodes do not read
 * the whole table every tick), nodes read directly.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet_i.h"
#include "log.h"
#include "timefmt.h"

#define FLEET_READ_AGE_MS 1000

static json_t *fleet_time(int64_t ms)
{
	char buf[TIMEFMT_LEN];

	if (!ms)
		return json_null();
	timefmt_rfc3339(ms, buf);
	return json_string(buf);
}

static json_t *fleet_row_json(PGresult *res, int i)
{
	json_t *holder = fleet_str(res, i, 8) ? json_loads(fleet_str(res, i, 8), 0, NULL) : NULL;
	const char *role = PQgetvalue(res, i, 2), *id = PQgetvalue(res, i, 0);
	char lid[400];

	snprintf(lid, sizeof(lid), "database/creds/%s/%s", role, id);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:s?, s:b, s:s, s:I,"
			 " s:s?}",
			 "id", id, "lease_id", lid, "node", PQgetvalue(res, i, 1), "role", role,
			 "username", PQgetvalue(res, i, 3), "state", PQgetvalue(res, i, 4),
			 "issued", fleet_time(fleet_i64(res, i, 5)), "valid_until",
			 fleet_time(fleet_i64(res, i, 6)), "let_go_at",
			 fleet_time(fleet_i64(res, i, 7)), "holder", holder ? holder : json_null(),
			 "claimed_by", fleet_str(res, i, 9), "revoke_requested",
			 PQgetvalue(res, i, 10)[0] == 't', "connection", PQgetvalue(res, i, 11),
			 "connection_version", (json_int_t)fleet_i64(res, i, 12),
			 "connection_target", fleet_str(res, i, 13));
}

void fleet_lease_refresh(struct fleet *f, int64_t max_age_ms)
{
	json_t *all = NULL;
	PGresult *res;
	bool fresh;

	pthread_mutex_lock(&f->mu);
	fresh = f->leases_at && fleet_mono() - f->leases_at <= max_age_ms;
	pthread_mutex_unlock(&f->mu);
	if (fresh)
		return;
	res = fleet_query(
		f,
		"SELECT id, node, role, username, state,"
		" (extract(epoch FROM issued) * 1000)::bigint,"
		" (extract(epoch FROM valid_until) * 1000)::bigint,"
		" (extract(epoch FROM let_go_at) * 1000)::bigint, holder::text, claimed_by,"
		" revoke_requested, connection, connection_version, connection_target FROM @.leases"
		" WHERE state <> 'revoked'",
		0, NULL);
	if (!res || !(all = json_object())) {
		PQclear(res);
		return;
	}
	for (int i = 0; i < PQntuples(res); i++)
		json_object_set_new(all, PQgetvalue(res, i, 0), fleet_row_json(res, i));
	PQclear(res);
	pthread_mutex_lock(&f->mu);
	json_decref(f->leases);
	f->leases = all;
	f->leases_at = fleet_mono();
	pthread_mutex_unlock(&f->mu);
}

json_t *fleet_lease_roles(struct fleet *f)
{
	json_t *roles = json_object(), *out = json_array(), *row;
	const char *id, *k;

	fleet_lease_refresh(f, FLEET_READ_AGE_MS);
	pthread_mutex_lock(&f->mu);
	json_object_foreach(f->leases, id, row) json_object_set(
		roles, json_string_value(json_object_get(row, "role")), json_true());
	pthread_mutex_unlock(&f->mu);
	json_object_foreach(roles, k, row) json_array_append_new(out, json_string(k));
	json_decref(roles);
	return out;
}

json_t *fleet_lease_ids(struct fleet *f, const char *role)
{
	json_t *out = json_array(), *row;
	const char *id;

	fleet_lease_refresh(f, FLEET_READ_AGE_MS);
	pthread_mutex_lock(&f->mu);
	json_object_foreach(f->leases, id,
			    row) if (!strcmp(json_string_value(json_object_get(row, "role")), role))
		json_array_append_new(out, json_string(id));
	pthread_mutex_unlock(&f->mu);
	return out;
}

json_t *fleet_lease_json(struct fleet *f, const char *role, const char *id)
{
	json_t *row, *out = NULL;

	fleet_lease_refresh(f, FLEET_READ_AGE_MS);
	pthread_mutex_lock(&f->mu);
	row = json_object_get(f->leases, id);
	if (row && !strcmp(json_string_value(json_object_get(row, "role")), role))
		out = json_deep_copy(row);
	pthread_mutex_unlock(&f->mu);
	return out;
}

int fleet_lease_revoke(struct fleet *f, const char *role, const char *id, bool *local)
{
	json_t *row = fleet_lease_json(f, role, id);
	const char *v[] = { id };
	PGresult *res;
	int r = -ENOENT;

	*local = false;
	if (!row)
		return r;
	if (!strcmp(json_string_value(json_object_get(row, "node")), f->node) &&
	    json_is_null(json_object_get(row, "claimed_by"))) {
		*local = true;
		r = 0;
		goto out;
	}
	res = fleet_query(f, "UPDATE @.leases SET revoke_requested = true WHERE id = $1", 1, v);
	r = res ? 0 : -EIO;
	if (res)
		log_info("lease %s: revocation requested from node %s", id,
			 json_string_value(json_object_get(row, "node")));
	PQclear(res);
	pthread_mutex_lock(&f->mu);
	f->leases_at = 0; /* show it at once */
	pthread_mutex_unlock(&f->mu);
out:
	json_decref(row);
	return r;
}

/* Every node (name NULL) or one: (node, heartbeat ms, alive). */
static PGresult *fleet_nodes(struct fleet *f, const char *name)
{
	char grace[24];
	const char *v[] = { grace, name };
	PGresult *res;

	snprintf(grace, sizeof(grace), "%.3f", f->grace_ms / 1000.0);
	res = fleet_query(f,
			  "SELECT node, (extract(epoch FROM heartbeat) * 1000)::bigint,"
			  " heartbeat >= now() - make_interval(secs => $1::double precision),"
			  " (extract(epoch FROM started) * 1000)::bigint FROM @.nodes"
			  " WHERE $2::text IS NULL OR node = $2 ORDER BY node",
			  2, v);
	return res;
}

json_t *fleet_node_names(struct fleet *f)
{
	PGresult *res = fleet_nodes(f, NULL);
	json_t *out = json_array();

	for (int i = 0; res && out && i < PQntuples(res); i++)
		json_array_append_new(out, json_string(PQgetvalue(res, i, 0)));
	PQclear(res);
	return out;
}

json_t *fleet_node_json(struct fleet *f, const char *name)
{
	PGresult *res = fleet_nodes(f, name);
	json_t *out = NULL;

	if (res && PQntuples(res) == 1)
		out = json_pack("{s:s, s:o, s:b, s:o, s:b}", "node", PQgetvalue(res, 0, 0),
				"heartbeat", fleet_time(fleet_i64(res, 0, 1)), "alive",
				PQgetvalue(res, 0, 2)[0] == 't', "started",
				fleet_time(fleet_i64(res, 0, 3)), "self",
				!strcmp(PQgetvalue(res, 0, 0), f->node));
	PQclear(res);
	return out;
}

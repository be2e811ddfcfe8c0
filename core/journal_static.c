/* SPDX-License-Identifier: MIT */
/*
 * journal_static.c - replaying the records of static roles and of root
 * rotation times (journal.h). A journal without them (an older credfs)
 * restores as before; an older credfs skips them.
 */
#include <string.h>

#include "journal_i.h"
#include "static.h"

/* The state of static role name, made when missing (borrowed). */
static json_t *jn_static(struct jn_replay *rs, const char *name)
{
	json_t *o = json_object_get(rs->statics, name);

	if (!o && (o = json_object()))
		json_object_set_new(rs->statics, name, o);
	return o;
}

bool jn_replay_extra(struct jn_replay *rs, const char *t, const char *name, json_t *rec)
{
	json_t *o;

	if (!strcmp(t, "rootrot")) {
		json_object_set(rs->roots, name, json_object_get(rec, "at"));
		return true;
	}
	if (strcmp(t, "sdef") && strcmp(t, "sdel") && strcmp(t, "spend") && strcmp(t, "spw") &&
	    strcmp(t, "sclear"))
		return false;
	if (!strcmp(t, "sdel")) {
		json_object_del(rs->statics, name);
		return true;
	}
	if ((o = jn_static(rs, name)))
		static_state_fold(o, t, rec);
	return true;
}

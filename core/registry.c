/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crash.h"
#include "log.h"
#include "registry.h"

/* One version of a connection. */
struct reg_conn {
	char *name;
	uint64_t version;
	bool current; /* protected by g->mu; false: retired, kept for its leases */
	struct conn_pool *pool; /* protected by g->mu; its definition is the connection's */
	struct secret *pending; /* protected by g->mu: a rotation not known to have happened */
	struct reg_conn *next;
};

struct reg_role {
	struct role *role; /* the current version */
	struct reg_role *next;
};

struct registry {
	pthread_mutex_t mu; /* the lists */
	pthread_mutex_t wmu; /* serializes changes, rotations and snapshots */
	struct reg_conn *conns; /* protected by mu */
	struct reg_role *roles; /* protected by mu */
	uint64_t role_version; /* protected by wmu */
	registry_count_fn *count;
	void *count_ctx;
	struct registry_observer o; /* set before any change */
};

struct registry *registry_new(registry_count_fn *count, void *ctx)
{
	struct registry *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	pthread_mutex_init(&g->mu, NULL);
	pthread_mutex_init(&g->wmu, NULL);
	g->count = count;
	g->count_ctx = ctx;
	return g;
}

static void reg_conn_free(struct reg_conn *c)
{
	if (!c)
		return;
	free(c->name);
	conn_pool_unref(c->pool);
	secret_free(c->pending);
	free(c);
}

void registry_free(struct registry *g)
{
	if (!g)
		return;
	for (struct reg_conn *c = g->conns, *n; c; c = n) {
		n = c->next;
		reg_conn_free(c);
	}
	for (struct reg_role *r = g->roles, *n; r; r = n) {
		n = r->next;
		role_unref(r->role);
		free(r);
	}
	pthread_mutex_destroy(&g->wmu);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

void registry_set_observer(struct registry *g, const struct registry_observer *o)
{
	g->o = *o;
}

void registry_get_observer(struct registry *g, struct registry_observer *o)
{
	*o = g->o;
}

void registry_hold(struct registry *g, bool hold)
{
	if (hold)
		pthread_mutex_lock(&g->wmu);
	else
		pthread_mutex_unlock(&g->wmu);
}

/* version 0: the current one. */
static struct reg_conn *reg_find_conn_locked(struct registry *g, const char *name, uint64_t version)
{
	for (struct reg_conn *c = g->conns; c; c = c->next)
		if (!strcmp(c->name, name) && (version ? c->version == version : c->current))
			return c;
	return NULL;
}

static struct reg_role **reg_find_role_locked(struct registry *g, const char *name)
{
	struct reg_role **pp;

	for (pp = &g->roles; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->role->name, name))
			return pp;
	return pp;
}

static bool reg_same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Whether a and b reach the same server as the same user. */
static bool reg_same_server(const struct dbconf *a, const struct dbconf *b)
{
	return reg_same_str(a->connection_url, b->connection_url) &&
	       reg_same_str(a->username, b->username);
}

static void reg_unlink_conn_locked(struct registry *g, struct reg_conn *c)
{
	struct reg_conn **pp;

	for (pp = &g->conns; *pp && *pp != c; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = c->next;
}

/* --- connections -------------------------------------------------------------- */

/*
 * A rewrite that leaves out the password keeps the current one (same
 * user): `jq` edits of a read-back definition, which never carries the
 * password, must not lock credfs out after a root rotation. A rotation
 * not known to have happened stays pending across such a rewrite.
 */
static struct dbconf *reg_inherit_locked(struct reg_conn *cur, struct dbconf *c,
					 struct secret **pending)
{
	struct dbconf *curc, *nc = c;

	*pending = NULL;
	if (!cur)
		return c;
	curc = conn_pool_conf(cur->pool);
	if (reg_same_str(curc->username, c->username)) {
		if (cur->pending && reg_same_server(curc, c))
			*pending = secret_dup(cur->pending);
		if (!c->password && curc->password &&
		    (nc = dbconf_with_password(c, secret_dup(curc->password))))
			dbconf_unref(c); /* replaced by nc */
	}
	dbconf_unref(curc);
	return nc ? nc : c;
}

int registry_conn_write(struct registry *g, struct dbconf *c, char *errbuf)
{
	struct reg_conn *cur, *n = NULL, *old = NULL;
	struct secret *pending = NULL;
	uint64_t version = 1;
	struct dbconf *curc = NULL;
	int r = -ENOMEM;

	pthread_mutex_lock(&g->wmu);
	pthread_mutex_lock(&g->mu);
	cur = reg_find_conn_locked(g, c->name, 0);
	c = reg_inherit_locked(cur, c, &pending);
	for (struct reg_conn *x = g->conns; x; x = x->next)
		if (!strcmp(x->name, c->name) && x->version >= version)
			version = x->version + 1;
	if (cur && (curc = conn_pool_conf(cur->pool)) && reg_same_server(curc, c))
		version = cur->version;
	pthread_mutex_unlock(&g->mu);
	if (c->verify_connection && (r = conn_verify(c, errbuf)) != 0)
		goto out;
	r = -ENOMEM;
	snprintf(errbuf, REGISTRY_ERRLEN, "out of memory");
	if (!(n = calloc(1, sizeof(*n))) || !(n->name = strdup(c->name)) ||
	    !(n->pool = conn_pool_new(c)))
		goto out;
	n->version = version;
	n->current = true;
	if (g->o.conn_put && (r = g->o.conn_put(g->o.ctx, c->name, version, c, pending)) != 0) {
		snprintf(errbuf, REGISTRY_ERRLEN,
			 "cannot record the change in the state directory");
		r = -EIO;
		goto out;
	}
	n->pending = pending;
	pending = NULL; /* transferred */
	pthread_mutex_lock(&g->mu);
	if ((cur = reg_find_conn_locked(g, c->name, 0))) {
		cur->current = false;
		/* Another server: the old version stays while leases need it. */
		if (cur->version == version || !g->count ||
		    g->count(g->count_ctx, cur->name, cur->version) == 0) {
			reg_unlink_conn_locked(g, cur);
			old = cur;
		} else {
			log_info("config/%s: version %llu kept for its leases", cur->name,
				 (unsigned long long)cur->version);
		}
	}
	n->next = g->conns;
	g->conns = n;
	n = NULL; /* transferred */
	pthread_mutex_unlock(&g->mu);
	log_info("config/%s: written (version %llu)", c->name, (unsigned long long)version);
	r = 0;
out:
	pthread_mutex_unlock(&g->wmu);
	reg_conn_free(old);
	reg_conn_free(n);
	secret_free(pending);
	dbconf_unref(curc);
	dbconf_unref(c);
	return r;
}

struct dbconf *registry_conf(struct registry *g, const char *name)
{
	struct conn_pool *p = registry_pool(g, name, 0, NULL);
	struct dbconf *c = p ? conn_pool_conf(p) : NULL;

	conn_pool_unref(p);
	return c;
}

struct conn_pool *registry_pool(struct registry *g, const char *name, uint64_t version,
				uint64_t *version_out)
{
	struct conn_pool *p = NULL;
	struct reg_conn *c;

	if (!name)
		return NULL;
	pthread_mutex_lock(&g->mu);
	if ((c = reg_find_conn_locked(g, name, version))) {
		p = conn_pool_ref(c->pool);
		if (version_out)
			*version_out = c->version;
	}
	pthread_mutex_unlock(&g->mu);
	return p;
}

void registry_retire(struct registry *g, const char *name, uint64_t version)
{
	struct reg_conn *c;

	pthread_mutex_lock(&g->mu);
	c = name ? reg_find_conn_locked(g, name, version) : NULL;
	if (c && !c->current && g->count && g->count(g->count_ctx, name, version) == 0) {
		reg_unlink_conn_locked(g, c);
		log_info("config/%s: version %llu retired, its last lease is gone", name,
			 (unsigned long long)version);
	} else {
		c = NULL;
	}
	pthread_mutex_unlock(&g->mu);
	reg_conn_free(c);
}

/* --- rotation ------------------------------------------------------------------ */

/* Record c at its version with pending (borrowed, may be NULL); the caller holds wmu. */
static int reg_record_conn(struct registry *g, struct reg_conn *rc, const struct dbconf *c,
			   const struct secret *pending)
{
	return g->o.conn_put ? g->o.conn_put(g->o.ctx, rc->name, rc->version, c, pending) : 0;
}

/* Try the pending password, then the current one: keep what PostgreSQL accepts. */
static void reg_resolve_locked_w(struct registry *g, struct reg_conn *rc)
{
	char errbuf[CONN_ERRLEN];
	struct dbconf *c, *nc = NULL;
	struct secret *pw;

	pthread_mutex_lock(&g->mu);
	pw = rc->pending ? secret_dup(rc->pending) : NULL;
	c = conn_pool_conf(rc->pool);
	pthread_mutex_unlock(&g->mu);
	if (pw && (nc = dbconf_with_password(c, pw)) && conn_verify(nc, errbuf) == 0) {
		struct conn_pool *np = conn_pool_new(nc), *op = NULL;

		if (np && reg_record_conn(g, rc, nc, NULL) == 0) {
			log_info("config/%s: the interrupted root rotation took effect", rc->name);
			pthread_mutex_lock(&g->mu);
			op = rc->pool;
			rc->pool = np;
			np = NULL; /* transferred */
			secret_free(rc->pending);
			rc->pending = NULL;
			pthread_mutex_unlock(&g->mu);
		}
		conn_pool_unref(np);
		conn_pool_unref(op);
	} else if (pw && conn_verify(c, errbuf) == 0) {
		if (reg_record_conn(g, rc, c, NULL) == 0) {
			log_info("config/%s: the interrupted root rotation did not happen",
				 rc->name);
			pthread_mutex_lock(&g->mu);
			secret_free(rc->pending);
			rc->pending = NULL;
			pthread_mutex_unlock(&g->mu);
		}
	} else if (pw) {
		log_warn("config/%s: cannot tell which root password is current yet: %s", rc->name,
			 errbuf);
	}
	dbconf_unref(nc);
	dbconf_unref(c);
}

bool registry_has_pending(struct registry *g)
{
	bool any = false;

	pthread_mutex_lock(&g->mu);
	for (struct reg_conn *c = g->conns; c; c = c->next)
		any |= c->pending != NULL;
	pthread_mutex_unlock(&g->mu);
	return any;
}

void registry_resolve_pending(struct registry *g)
{
	if (!registry_has_pending(g))
		return;
	pthread_mutex_lock(&g->wmu);
	/* The list changes only under wmu, which this thread holds. */
	for (struct reg_conn *c = g->conns; c; c = c->next)
		if (c->pending)
			reg_resolve_locked_w(g, c);
	pthread_mutex_unlock(&g->wmu);
}

int registry_rotate_root(struct registry *g, const char *name, char *errbuf)
{
	struct dbconf *c = NULL, *nc = NULL;
	struct secret *pw = NULL;
	struct reg_conn *rc;
	int r = -ENOENT;

	pthread_mutex_lock(&g->wmu);
	pthread_mutex_lock(&g->mu);
	if ((rc = reg_find_conn_locked(g, name, 0)))
		c = conn_pool_conf(rc->pool);
	pthread_mutex_unlock(&g->mu);
	if (!rc) {
		snprintf(errbuf, REGISTRY_ERRLEN, "no such connection");
		goto out;
	}
	r = -ENOMEM;
	snprintf(errbuf, REGISTRY_ERRLEN, "out of memory");
	if (!(pw = secret_password(c->password_length)))
		goto out;
	/* The new password is durable before ALTER ROLE runs. */
	if (g->o.rotate_intent && g->o.rotate_intent(g->o.ctx, name, pw) != 0) {
		snprintf(errbuf, REGISTRY_ERRLEN,
			 "cannot record the rotation in the state directory");
		r = -EIO;
		goto out;
	}
	pthread_mutex_lock(&g->mu);
	secret_free(rc->pending);
	rc->pending = secret_dup(pw);
	pthread_mutex_unlock(&g->mu);
	crash_point("rotate-after-intent");
	if ((r = conn_rotate_root(rc->pool, pw, &nc, errbuf)) != 0) {
		/* It may or may not have happened: ask PostgreSQL. */
		reg_resolve_locked_w(g, rc);
		r = r == -EINVAL ? -EINVAL : -EIO;
		goto out;
	}
	crash_point("rotate-after-alter");
	pthread_mutex_lock(&g->mu);
	secret_free(rc->pending);
	rc->pending = NULL;
	pthread_mutex_unlock(&g->mu);
	if (reg_record_conn(g, rc, nc, NULL) != 0)
		log_err("rotate-root/%s: rotated, but the new password is only in the rotation "
			"record",
			name);
	log_info("rotate-root/%s: root password rotated", name);
	r = 0;
out:
	pthread_mutex_unlock(&g->wmu);
	secret_free(pw);
	dbconf_unref(nc);
	dbconf_unref(c);
	return r;
}

/* --- roles ------------------------------------------------------------------------ */

int registry_role_write(struct registry *g, struct role *ro, char *errbuf)
{
	struct reg_role **pp, *n = calloc(1, sizeof(*n));
	struct role *old = NULL;
	int r = 0;

	if (!n) {
		role_unref(ro);
		snprintf(errbuf, REGISTRY_ERRLEN, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_lock(&g->wmu);
	ro->version = ++g->role_version;
	if (g->o.role_put && g->o.role_put(g->o.ctx, ro) != 0) {
		snprintf(errbuf, REGISTRY_ERRLEN,
			 "cannot record the change in the state directory");
		r = -EIO;
		goto out;
	}
	pthread_mutex_lock(&g->mu);
	pp = reg_find_role_locked(g, ro->name);
	if (*pp) {
		old = (*pp)->role;
		(*pp)->role = ro;
	} else {
		n->role = ro;
		n->next = g->roles;
		g->roles = n;
		n = NULL; /* transferred */
	}
	ro = NULL; /* transferred */
	pthread_mutex_unlock(&g->mu);
out:
	pthread_mutex_unlock(&g->wmu);
	role_unref(ro);
	role_unref(old);
	free(n);
	return r;
}

struct role *registry_role(struct registry *g, const char *name)
{
	struct reg_role **pp;
	struct role *ro = NULL;

	pthread_mutex_lock(&g->mu);
	if (*(pp = reg_find_role_locked(g, name)))
		ro = role_ref((*pp)->role);
	pthread_mutex_unlock(&g->mu);
	return ro;
}

/* --- both ---------------------------------------------------------------------------- */

bool registry_exists(struct registry *g, enum registry_kind kind, const char *name)
{
	bool yes;

	pthread_mutex_lock(&g->mu);
	yes = kind == REGISTRY_CONN ? reg_find_conn_locked(g, name, 0) != NULL
				    : *reg_find_role_locked(g, name) != NULL;
	pthread_mutex_unlock(&g->mu);
	return yes;
}

int registry_delete(struct registry *g, enum registry_kind kind, const char *name, char *errbuf)
{
	struct reg_conn *rc = NULL;
	struct reg_role *rr = NULL, **pp;
	size_t live;
	int r = -ENOENT;

	pthread_mutex_lock(&g->wmu);
	if (!registry_exists(g, kind, name))
		goto out;
	live = kind == REGISTRY_CONN && g->count ? g->count(g->count_ctx, name, 0) : 0;
	if (live) {
		snprintf(errbuf, REGISTRY_ERRLEN,
			 "%zu live lease(s) still need this connection to be revoked", live);
		r = -EBUSY;
		goto out;
	}
	if (g->o.deleted && g->o.deleted(g->o.ctx, kind, name) != 0) {
		snprintf(errbuf, REGISTRY_ERRLEN,
			 "cannot record the change in the state directory");
		r = -EIO;
		goto out;
	}
	pthread_mutex_lock(&g->mu);
	if (kind == REGISTRY_CONN) {
		/* No lease uses any version: drop them all. */
		for (struct reg_conn **cp = &g->conns; (rc = *cp);) {
			if (strcmp(rc->name, name) != 0) {
				cp = &rc->next;
				continue;
			}
			*cp = rc->next;
			reg_conn_free(rc);
		}
	} else if ((rr = *(pp = reg_find_role_locked(g, name)))) {
		*pp = rr->next;
	}
	pthread_mutex_unlock(&g->mu);
	r = 0;
out:
	pthread_mutex_unlock(&g->wmu);
	if (rr) {
		role_unref(rr->role);
		free(rr);
	}
	return r;
}

json_t *registry_names(struct registry *g, enum registry_kind kind)
{
	json_t *a = json_array();

	pthread_mutex_lock(&g->mu);
	if (kind == REGISTRY_CONN) {
		for (struct reg_conn *c = g->conns; a && c; c = c->next)
			if (c->current)
				json_array_append_new(a, json_string(c->name));
	} else {
		for (struct reg_role *r = g->roles; a && r; r = r->next)
			json_array_append_new(a, json_string(r->role->name));
	}
	pthread_mutex_unlock(&g->mu);
	return a;
}

void registry_foreach(struct registry *g, registry_conn_fn *cf, registry_role_fn *rf, void *ctx)
{
	pthread_mutex_lock(&g->mu);
	for (struct reg_conn *c = g->conns; cf && c; c = c->next) {
		struct dbconf *conf = conn_pool_conf(c->pool);

		cf(ctx, c->name, c->version, c->current, conf, c->pending);
		dbconf_unref(conf);
	}
	for (struct reg_role *r = g->roles; rf && r; r = r->next)
		rf(ctx, r->role);
	pthread_mutex_unlock(&g->mu);
}

/* --- restoring ---------------------------------------------------------------------- */

int registry_restore_conn(struct registry *g, const char *name, uint64_t version, bool current,
			  struct dbconf *c, struct secret *pending)
{
	struct reg_conn *n = calloc(1, sizeof(*n));

	if (!n || !(n->name = strdup(name)) || !(n->pool = conn_pool_new(c))) {
		reg_conn_free(n);
		dbconf_unref(c);
		secret_free(pending);
		return -ENOMEM;
	}
	dbconf_unref(c);
	n->version = version;
	n->current = current;
	n->pending = pending;
	pthread_mutex_lock(&g->mu);
	n->next = g->conns;
	g->conns = n;
	pthread_mutex_unlock(&g->mu);
	return 0;
}

int registry_restore_role(struct registry *g, struct role *ro)
{
	struct reg_role *n = calloc(1, sizeof(*n));

	if (!n) {
		role_unref(ro);
		return -ENOMEM;
	}
	n->role = ro;
	pthread_mutex_lock(&g->mu);
	n->next = g->roles;
	g->roles = n;
	pthread_mutex_unlock(&g->mu);
	return 0;
}

void registry_restore_done(struct registry *g, uint64_t max_role_version)
{
	struct reg_conn **pp, *c;

	pthread_mutex_lock(&g->wmu);
	g->role_version = max_role_version;
	pthread_mutex_lock(&g->mu);
	for (pp = &g->conns; (c = *pp);) {
		if (!c->current && g->count && g->count(g->count_ctx, c->name, c->version) == 0) {
			*pp = c->next;
			reg_conn_free(c);
			continue;
		}
		pp = &c->next;
	}
	pthread_mutex_unlock(&g->mu);
	pthread_mutex_unlock(&g->wmu);
}

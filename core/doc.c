/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doc.h"
#include "params.h"
#include "secret.h"
#include "timefmt.h"

struct doc_name {
	enum doc_kind kind;
	char name[256];
	int opens;
	int64_t until; /* monotonic ms: visible until then once opens is 0 */
	struct doc_name *next;
};

struct docset {
	pthread_mutex_t mu;
	struct doc_name *names; /* protected by mu */
};

struct doc {
	struct engine *e;
	struct docset *ds;
	enum doc_kind kind;
	char name[256];
	uid_t uid;
	bool created;
	pthread_mutex_t mu;
	char *buf; /* protected by mu */
	size_t len, cap; /* protected by mu */
	bool dirty; /* protected by mu: written since last applied */
	size_t applied_len; /* protected by mu: len when a JSON document was last applied */
	bool rotated; /* protected by mu */
	int failed; /* protected by mu: -errno once rejected */
};

struct docset *docset_new(void)
{
	struct docset *ds = calloc(1, sizeof(*ds));

	if (ds)
		pthread_mutex_init(&ds->mu, NULL);
	return ds;
}

void docset_free(struct docset *ds)
{
	if (!ds)
		return;
	for (struct doc_name *n = ds->names, *next; n; n = next) {
		next = n->next;
		free(n);
	}
	pthread_mutex_destroy(&ds->mu);
	free(ds);
}

/* Count a writer of a created name in (+1) or out (-1). */
static void docset_count(struct docset *ds, enum doc_kind kind, const char *name, int delta)
{
	int64_t now = timefmt_mono_ms();
	struct doc_name **pp, *n;

	pthread_mutex_lock(&ds->mu);
	for (pp = &ds->names; (n = *pp);) {
		if (n->opens <= 0 && n->until < now) {
			*pp = n->next;
			free(n);
			continue;
		}
		if (n->kind == kind && !strcmp(n->name, name))
			break;
		pp = &n->next;
	}
	if (!n && delta > 0 && (n = calloc(1, sizeof(*n)))) {
		n->kind = kind;
		snprintf(n->name, sizeof(n->name), "%s", name);
		n->next = ds->names;
		ds->names = n;
	}
	if (n) {
		n->opens += delta;
		n->until = now + DOC_NAME_LINGER_MS;
	}
	pthread_mutex_unlock(&ds->mu);
}

bool docset_has(struct docset *ds, enum doc_kind kind, const char *name)
{
	int64_t now = timefmt_mono_ms();
	struct doc_name *n;

	pthread_mutex_lock(&ds->mu);
	for (n = ds->names; n; n = n->next)
		if (n->kind == kind && !strcmp(n->name, name) && (n->opens > 0 || n->until >= now))
			break;
	pthread_mutex_unlock(&ds->mu);
	return n != NULL;
}

struct doc *doc_new(struct engine *e, struct docset *ds, enum doc_kind kind, const char *name,
		    uid_t uid, bool created)
{
	struct doc *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->e = e;
	d->ds = ds;
	d->kind = kind;
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->uid = uid;
	d->created = created;
	pthread_mutex_init(&d->mu, NULL);
	if (created)
		docset_count(ds, kind, name, 1);
	return d;
}

void doc_free(struct doc *d)
{
	if (!d)
		return;
	if (d->created)
		docset_count(d->ds, d->kind, d->name, -1);
	if (d->buf) {
		secret_wipe(d->buf, d->cap);
		free(d->buf);
	}
	pthread_mutex_destroy(&d->mu);
	free(d);
}

static enum engine_kind doc_engine_kind(const struct doc *d)
{
	return d->kind == DOC_CONFIG ? ENGINE_CONFIG
	       : d->kind == DOC_ROLE ? ENGINE_ROLE
				     : ENGINE_STATIC;
}

/* A write-only file whose first write acts. */
static bool doc_is_action(const struct doc *d)
{
	return d->kind == DOC_ROTATE || d->kind == DOC_ROTATE_ROLE || d->kind == DOC_RESET;
}

/* Whether the document is known to be finished before close: a JSON object. */
static bool doc_is_json(const char *buf, size_t len)
{
	size_t i = 0;

	while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n' || buf[i] == '\r'))
		i++;
	return i < len && buf[i] == '{';
}

static bool doc_all_space(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\n' && buf[i] != '\r')
			return false;
	return true;
}

static int doc_apply_locked(struct doc *d)
{
	char errbuf[ENGINE_ERRLEN];
	int r;

	r = engine_def_write(d->e, doc_engine_kind(d), d->name, d->buf, d->len, true, d->uid,
			     errbuf);
	if (r < 0) {
		d->failed = r == -ENOMEM ? -ENOMEM : r == -EIO ? -EIO : -EINVAL;
		return d->failed;
	}
	d->dirty = false;
	d->applied_len = d->len;
	return 0;
}

static int doc_rotate_locked(struct doc *d)
{
	char errbuf[ENGINE_ERRLEN];
	int r;

	d->rotated = true;
	r = d->kind == DOC_ROTATE	 ? engine_rotate_root(d->e, d->name, d->uid, errbuf)
	    : d->kind == DOC_ROTATE_ROLE ? engine_static_rotate(d->e, d->name, d->uid, errbuf)
					 : engine_reset(d->e, d->name, d->uid, errbuf);
	if (r < 0)
		d->failed = r;
	return r;
}

/* Make room for end bytes; the old buffer is wiped (it may hold a password). */
static int doc_grow_locked(struct doc *d, size_t end)
{
	size_t cap = end < 4096 ? 4096 : end * 2;
	char *nb;

	if (end <= d->cap)
		return 0;
	if (!(nb = calloc(1, cap)))
		return -ENOMEM;
	if (d->buf) {
		memcpy(nb, d->buf, d->len);
		secret_wipe(d->buf, d->cap);
		free(d->buf);
	}
	d->buf = nb;
	d->cap = cap;
	return 0;
}

int doc_write(struct doc *d, const char *buf, size_t size, off_t off)
{
	char errbuf[ENGINE_ERRLEN], path[300];
	size_t end = (size_t)off + size;
	int r;

	pthread_mutex_lock(&d->mu);
	if ((r = d->failed) != 0)
		goto out;
	if (doc_is_action(d)) {
		r = d->rotated ? 0 : doc_rotate_locked(d);
		goto out;
	}
	if (off < 0 || end > PARAMS_MAX_DOC) {
		snprintf(path, sizeof(path), "%s/%s",
			 d->kind == DOC_CONFIG ? "config"
			 : d->kind == DOC_ROLE ? "roles"
					       : "static-roles",
			 d->name);
		engine_note_error(d->e, d->uid, path, "document larger than 1048576 bytes");
		r = d->failed = -EFBIG;
		goto out;
	}
	if ((r = doc_grow_locked(d, end)) != 0)
		goto out;
	memcpy(d->buf + off, buf, size);
	if (end > d->len)
		d->len = end;
	/* A newline after an applied JSON document (echo's, in a write of its
	 * own) changes nothing: the document is not applied again. */
	if (d->applied_len && !d->dirty && (size_t)off == d->applied_len &&
	    doc_all_space(buf, size)) {
		d->applied_len = d->len;
		goto out;
	}
	d->dirty = true;
	r = engine_def_write(d->e, doc_engine_kind(d), d->name, d->buf, d->len, false, d->uid,
			     errbuf);
	if (r < 0)
		r = d->failed = -EINVAL;
	else if (r == 0 && doc_is_json(d->buf, d->len))
		r = doc_apply_locked(d);
	else
		r = 0;
out:
	pthread_mutex_unlock(&d->mu);
	return r < 0 ? r : (int)size;
}

int doc_flush(struct doc *d)
{
	int r = 0;

	pthread_mutex_lock(&d->mu);
	if (d->failed)
		r = d->failed;
	else if (doc_is_action(d) && !d->rotated)
		r = doc_rotate_locked(d);
	else if (!doc_is_action(d) && d->dirty)
		r = doc_apply_locked(d);
	pthread_mutex_unlock(&d->mu);
	return r;
}

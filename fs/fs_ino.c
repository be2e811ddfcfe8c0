/* SPDX-License-Identifier: MIT */
/*
 * fs_ino.c - the node table: node id -> node, and path -> node for the
 * names whose node lives as long as the kernel remembers it.
 *
 * Node ids count up from FS_INO_FIRST_DYNAMIC and are never reused, so an
 * id the kernel still names can never mean another node. A creds/ name
 * gets a new node at every LOOKUP (fs_creds.c says why); the others get
 * the node of their path while the kernel holds it.
 *
 * Every function here runs under fs_ctx's mu (the _locked suffix).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "lease.h"
#include "log.h"
#include "secret.h"

struct fs_inodes {
	struct fs_inode **by_ino; /* nbuckets chains */
	struct fs_inode **by_path;
	size_t nbuckets; /* a power of two */
	size_t count;
	fuse_ino_t next_ino;
};

static size_t fs_ino_bucket(const struct fs_inodes *t, fuse_ino_t ino)
{
	return (size_t)((ino * 0x9e3779b97f4a7c15ULL) >> 20) & (t->nbuckets - 1);
}

static size_t fs_path_bucket(const struct fs_inodes *t, const struct fs_path *p)
{
	return (size_t)fs_path_ino(p) & (t->nbuckets - 1);
}

static bool fs_path_eq(const struct fs_path *a, const struct fs_path *b)
{
	return a->node == b->node && !strcmp(a->top, b->top) && !strcmp(a->name, b->name) &&
	       !strcmp(a->id, b->id) && !strcmp(a->sub, b->sub);
}

static void fs_inodes_link(struct fs_inodes *t, struct fs_inode *n)
{
	size_t b = fs_ino_bucket(t, n->ino);

	n->ino_next = t->by_ino[b];
	t->by_ino[b] = n;
	if (n->by_path) {
		b = fs_path_bucket(t, &n->path);
		n->path_next = t->by_path[b];
		t->by_path[b] = n;
	}
}

/* Double the buckets when there are more nodes than buckets (a failed grow only slows lookups). */
static void fs_inodes_grow(struct fs_inodes *t)
{
	struct fs_inode **oi = t->by_ino, **op = t->by_path;
	size_t on = t->nbuckets;

	if (t->count < t->nbuckets)
		return;
	t->by_ino = calloc(on * 2, sizeof(*t->by_ino));
	t->by_path = calloc(on * 2, sizeof(*t->by_path));
	if (!t->by_ino || !t->by_path) {
		free(t->by_ino);
		free(t->by_path);
		t->by_ino = oi;
		t->by_path = op;
		return;
	}
	t->nbuckets = on * 2;
	for (size_t i = 0; i < on; i++) {
		while (oi[i]) {
			struct fs_inode *n = oi[i];

			oi[i] = n->ino_next;
			fs_inodes_link(t, n);
		}
	}
	free(oi);
	free(op);
}

static struct fs_inode *fs_inode_add(struct fs_inodes *t, fuse_ino_t ino, const struct fs_path *p)
{
	struct fs_inode *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->ino = ino;
	n->path = *p;
	n->by_path = !fs_path_is_creds(p);
	n->cstate = FS_C_NEW;
	fs_inodes_grow(t);
	fs_inodes_link(t, n);
	t->count++;
	return n;
}

struct fs_inodes *fs_inodes_new(void)
{
	static const char *const fixed[] = {
		"/",	   "/config",  "/roles",	"/creds",	 "/rotate-root", "/leases",
		"/errors", "/metrics", "/static-roles", "/static-creds", "/rotate-role", "/reset",
		"/fleet"
	};
	struct fs_inodes *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->nbuckets = 1024;
	t->next_ino = FS_INO_FIRST_DYNAMIC;
	t->by_ino = calloc(t->nbuckets, sizeof(*t->by_ino));
	t->by_path = calloc(t->nbuckets, sizeof(*t->by_path));
	if (!t->by_ino || !t->by_path)
		goto fail;
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		struct fs_inode *n;
		struct fs_path p;

		if (fs_path_parse(fixed[i], &p) != 0 || !(n = fs_inode_add(t, FS_INO_ROOT + i, &p)))
			goto fail;
		n->fixed = true;
	}
	return t;
fail:
	fs_inodes_free(t);
	return NULL;
}

static void fs_inode_destroy(struct fs_inode *n)
{
	secret_free(n->body);
	lease_unref(n->lease);
	free(n);
}

void fs_inodes_free(struct fs_inodes *t)
{
	if (!t)
		return;
	for (size_t i = 0; t->by_ino && i < t->nbuckets; i++) {
		while (t->by_ino[i]) {
			struct fs_inode *n = t->by_ino[i];

			t->by_ino[i] = n->ino_next;
			fs_inode_destroy(n);
		}
	}
	free(t->by_ino);
	free(t->by_path);
	free(t);
}

struct fs_inode *fs_inode_get_locked(struct fs_inodes *t, fuse_ino_t ino)
{
	struct fs_inode *n;

	for (n = t->by_ino[fs_ino_bucket(t, ino)]; n; n = n->ino_next)
		if (n->ino == ino)
			return n;
	return NULL;
}

struct fs_inode *fs_inode_lookup_locked(struct fs_inodes *t, const struct fs_path *p)
{
	struct fs_inode *n = NULL;

	if (!fs_path_is_creds(p))
		for (n = t->by_path[fs_path_bucket(t, p)]; n; n = n->path_next)
			if (fs_path_eq(&n->path, p))
				break;
	if (!n && !(n = fs_inode_add(t, t->next_ino++, p)))
		return NULL;
	if (!n->fixed)
		n->nlookup++;
	return n;
}

static void fs_inode_unlinked_locked(struct fs_inodes *t, struct fs_inode *node)
{
	struct fs_inode **pp;

	if (!node->by_path || node->fixed)
		return;
	for (pp = &t->by_path[fs_path_bucket(t, &node->path)]; *pp; pp = &(*pp)->path_next) {
		if (*pp == node) {
			*pp = node->path_next;
			break;
		}
	}
	node->by_path = false;
}

void fs_inode_unlink_path_locked(struct fs_inodes *t, const struct fs_path *p)
{
	struct fs_inode *n;

	for (n = t->by_path[fs_path_bucket(t, p)]; n; n = n->path_next) {
		if (fs_path_eq(&n->path, p)) {
			fs_inode_unlinked_locked(t, n);
			return;
		}
	}
}

/* Free node once neither the kernel nor a handle or request points to it. */
static void fs_inode_maybe_free(struct fs_inodes *t, struct fs_inode *node)
{
	struct fs_inode **pp;

	if (node->fixed || node->nlookup > 0 || node->refs > 0)
		return;
	fs_inode_unlinked_locked(t, node);
	for (pp = &t->by_ino[fs_ino_bucket(t, node->ino)]; *pp; pp = &(*pp)->ino_next) {
		if (*pp == node) {
			*pp = node->ino_next;
			break;
		}
	}
	t->count--;
	fs_inode_destroy(node);
}

void fs_inode_forget_locked(struct fs_inodes *t, struct fs_inode *node, uint64_t n)
{
	if (node->fixed)
		return;
	if (n > node->nlookup) {
		log_warn("node %llu: forget %llu of %llu lookups", (unsigned long long)node->ino,
			 (unsigned long long)n, (unsigned long long)node->nlookup);
		n = node->nlookup;
	}
	node->nlookup -= n;
	fs_inode_maybe_free(t, node);
}

void fs_inode_unref_locked(struct fs_inodes *t, struct fs_inode *node)
{
	if (node->refs == 0)
		abort(); /* a broken invariant: more unrefs than refs */
	node->refs--;
	fs_inode_maybe_free(t, node);
}

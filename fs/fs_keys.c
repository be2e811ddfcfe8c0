/* SPDX-License-Identifier: MIT */
/*
 * fs_keys.c - creds/ROLE.d/: the files username, password, host, port and
 * database, each the bare value. Every file of ROLE.d/ one process opens
 * shows the same lease, so that ROLE.d/username and ROLE.d/password are
 * one login, whether they are open at once or one after the other while
 * another is held.
 *
 * A keyset is one process's lease of one role and its five values (from
 * one engine issue, in guarded memory). The process is its tgid and start
 * time, from the holder resolved at open (against pid reuse); an opener
 * that cannot be resolved (pid 0) shares with nobody. The first open of a
 * file of ROLE.d/ by a process issues the keyset; its opens that arrive
 * meanwhile wait for that issue; later ones use it. Each open file is
 * still a node of its own holding a copy of its value, stored in that
 * node's page cache (fs_creds.c: one inode's cache must never serve
 * another process). A keyset lives while one of its files is open or an
 * open waits for it: the last close lets the lease go (or, with
 * lease_binding=process, leaves it to the process's exit) and wipes the
 * values. The next open by that process then issues a new lease.
 *
 * Everything marked so is protected by fs_ctx's mu; the engine is called,
 * and FUSE answered, without it.
 *
 * XXX The files of a keyset share one lease and the engine keeps one poll
 * handle per lease: when two of them are polled at once, only the last
 * poller is woken (POLLPRI) when the lease ends. A keyset whose lease
 * was revoked (rm leases/...) while a file stays open keeps serving its
 * values to that process's new opens, since they must match the files it
 * holds; it gets a new lease once it closes them all.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "log.h"
#include "secret.h"

struct fs_keyset {
	struct fs_ctx *c; /* immutable */
	char role[CREDFMT_ROLE_MAX]; /* immutable */
	pid_t pid; /* immutable; 0: never found by another open */
	uint64_t start_time; /* immutable */
	/* protected by c->mu */
	unsigned users; /* open nodes and opens in progress */
	bool ready; /* issued: cr is set and never changes again */
	bool linked; /* on c->keysets, where later opens find it */
	struct fs_creds_open *waiting; /* opens waiting for the issue */
	struct fs_keyset *next;
	/* written once before ready is set; read only by users after */
	struct engine_creds cr;
};

static struct fs_keyset *fs_keys_find_locked(struct fs_ctx *c, const char *role,
					     const struct lease_holder *h)
{
	struct fs_keyset *ks;

	if (!h || h->pid == 0)
		return NULL;
	for (ks = c->keysets; ks; ks = ks->next)
		if (ks->pid == h->pid && ks->start_time == h->start_time && !strcmp(ks->role, role))
			return ks;
	return NULL;
}

static void fs_keys_unlink_locked(struct fs_ctx *c, struct fs_keyset *ks)
{
	struct fs_keyset **pp;

	if (!ks->linked)
		return;
	for (pp = &c->keysets; *pp; pp = &(*pp)->next) {
		if (*pp == ks) {
			*pp = ks->next;
			break;
		}
	}
	ks->linked = false;
}

/* Answer op from ks, which is ready; op holds one of ks's users, which its node keeps. */
static void fs_keys_serve(struct fs_keyset *ks, struct fs_creds_open *op)
{
	struct secret *body = secret_dup(ks->cr.body[op->fmt]);

	if (!body) {
		fs_creds_failed(op, -ENOMEM);
		fs_keys_put(ks->c, ks);
		return;
	}
	fs_creds_opened(op, lease_ref(ks->cr.lease), body, ks);
}

/* The keyset's issue ended: answer every open waiting for it. */
static void fs_keys_issued(void *arg, int r, struct engine_creds *cr, const char *errbuf)
{
	struct fs_keyset *ks = arg;
	struct fs_ctx *c = ks->c;
	struct fs_creds_open *op, *waiting;

	(void)errbuf; /* the engine has put it in errors already */
	pthread_mutex_lock(&c->mu);
	if (r == 0) {
		ks->cr = *cr;
		memset(cr, 0, sizeof(*cr)); /* transferred */
		ks->ready = true;
	} else {
		fs_keys_unlink_locked(c, ks); /* the next open tries again */
	}
	waiting = ks->waiting;
	ks->waiting = NULL;
	pthread_mutex_unlock(&c->mu);
	while ((op = waiting) != NULL) {
		waiting = op->next;
		if (r == 0) {
			fs_keys_serve(ks, op);
		} else {
			fs_creds_failed(op, r);
			fs_keys_put(c, ks);
		}
	}
}

void fs_keys_open(struct fs_ctx *c, struct fs_creds_open *op, const char *role,
		  const struct lease_holder *holder)
{
	struct fs_keyset *ks, *fresh = calloc(1, sizeof(*fresh));
	char file[CREDFMT_ROLE_MAX + 2];
	bool ready = false;

	if (!fresh) {
		fs_creds_failed(op, -ENOMEM);
		return;
	}
	fresh->c = c;
	snprintf(fresh->role, sizeof(fresh->role), "%s", role);
	fresh->pid = holder ? holder->pid : 0;
	fresh->start_time = holder ? holder->start_time : 0;
	pthread_mutex_lock(&c->mu);
	if ((ks = fs_keys_find_locked(c, role, holder)) == NULL) {
		ks = fresh;
		fresh = NULL; /* transferred: this open issues it */
		if (ks->pid != 0) {
			ks->next = c->keysets;
			c->keysets = ks;
			ks->linked = true;
		}
	}
	ks->users++;
	if (ks->ready) {
		ready = true;
	} else {
		op->next = ks->waiting;
		ks->waiting = op;
	}
	pthread_mutex_unlock(&c->mu);
	if (ready) {
		free(fresh);
		fs_keys_serve(ks, op);
		return;
	}
	if (fresh) {
		free(fresh); /* another open of this process is issuing: op waits for it */
		return;
	}
	snprintf(file, sizeof(file), "%s.d", role);
	engine_issue_fmt_async(c->engine, role, ENGINE_FMT_KEYS, file, holder, fs_keys_issued, ks);
}

void fs_keys_put(struct fs_ctx *c, struct fs_keyset *ks)
{
	struct fuse_pollhandle *ph = NULL;
	bool last;

	pthread_mutex_lock(&c->mu);
	if ((last = --ks->users == 0))
		fs_keys_unlink_locked(c, ks);
	pthread_mutex_unlock(&c->mu);
	if (!last)
		return;
	if (ks->cr.lease) {
		ph = engine_poll_take(c->engine, ks->cr.lease);
		engine_closed(c->engine, ks->cr.lease);
		log_info("creds/%s.d: the last file of pid %d closed", ks->role, (int)ks->pid);
	}
	if (ph)
		fuse_pollhandle_destroy(ph);
	engine_creds_clear(&ks->cr); /* wipes the values */
	free(ks);
}

void fs_keys_free_all(struct fs_ctx *c)
{
	while (c->keysets) {
		struct fs_keyset *ks = c->keysets;

		c->keysets = ks->next;
		engine_creds_clear(&ks->cr);
		free(ks);
	}
}

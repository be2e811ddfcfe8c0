/* SPDX-License-Identifier: MIT */
/*
 * fs_creds.c - creds/ROLE (and ROLE.env, .uri, .service, .pgpass): each
 * open issues a credential that only that open can read, whatever the read
 * path (read, pread, splice, sendfile, copy_file_range, mmap). The files of
 * creds/ROLE.d/ are nodes of the same kind, whose lease a process's opens
 * share (fs_keys.c).
 *
 * A splice or sendfile read of a FUSE file goes through the inode's page
 * cache even with direct_io (Linux >= 6.5), and a page cache is shared by
 * every open of one inode. So (fuse-pitfalls.md 4.3, measured on Linux 6.18):
 *
 *  - every LOOKUP of a creds/ name gets a new node id with entry and attr
 *    timeouts of 0 (fs_attr.c): a path walk always asks again, sees
 *    another node id and drops the old dentry, so every open has an inode
 *    of its own; st_ino stays the name's (GNU cp compares stat and fstat);
 *  - the first OPEN of a node issues the credential and, before replying,
 *    pushes the body into that inode's page cache with
 *    fuse_lowlevel_notify_store(), which also sets i_size; the open is
 *    answered with keep_cache and without direct_io, and GETATTR reports
 *    the body's length (fstat sends no file handle; 0 would shrink the
 *    cache). READ serves the same body (the kernel may evict the pages);
 *  - a re-open of a node that is still open (/proc/PID/fd/N) gets the same
 *    body and lease: it is the same file, and its page cache already
 *    holds that body;
 *  - after the node's last RELEASE its lease is let go, its body wiped,
 *    its pages dropped (notify_inval_inode), and OPEN refused (EACCES).
 *    (The wiping waits for a READ reply still being written from the body:
 *    the reader may close, and RELEASE arrive, before writev returns.)
 *
 * Without notify_store (a kernel that refuses it) the open falls back to
 * direct_io with a size of 0 until fstat: a splice or sendfile reader may
 * then read nothing, but never another open's body, since no other open
 * shares the inode.
 *
 * Issuance runs through engine_issue_fmt_async, which renders the file's
 * format: the OPEN request is kept and answered from the completion, so no
 * FUSE thread waits on PostgreSQL.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "holder.h"
#include "log.h"
#include "secret.h"

int fs_creds_role(const struct fs_path *p, char *role, enum credfmt *fmt)
{
	enum credfmt f;

	switch (p->node) {
	case FS_CREDS:
		return credfmt_from_name(p->name, role, CREDFMT_ROLE_MAX, fmt) == 0 ? 0 : -ENOENT;
	case FS_CREDS_KEY:
		if (credfmt_key_from_name(p->id, &f) != 0)
			return -ENOENT;
		/* fall through */
	case FS_CREDS_DIR:
		if (credfmt_dir_from_name(p->name, role, CREDFMT_ROLE_MAX) != 0)
			return -ENOENT;
		if (p->node == FS_CREDS_KEY)
			*fmt = f;
		return 0;
	default:
		return -ENOENT;
	}
}

static void fs_creds_fill_fi(struct fuse_file_info *fi, struct fs_handle *h, bool stored)
{
	fi->fh = (uintptr_t)h;
	/* Reads come from this node's own page cache, filled with its body at open. */
	fi->direct_io = !stored;
	fi->keep_cache = stored;
	fi->noflush = 1; /* close() need not wait for a FLUSH that does nothing here */
}

/* Answer an OPEN of node, which holds a body; h is the new open's handle. */
static void fs_creds_reply(fuse_req_t req, struct fs_ctx *c, struct fs_handle *h, bool stored)
{
	struct fuse_file_info fi = { 0 };

	fs_creds_fill_fi(&fi, h, stored);
	if (fuse_reply_open(req, &fi) != 0) {
		/* The opener is gone (interrupted, or the mount is going): no release will come. */
		log_warn("creds/%s: the open could not be answered: letting its lease go",
			 h->path.name);
		fs_creds_release(c, h);
	}
}

/* Push the body into the node's page cache (sets i_size too); false if the kernel refused. */
static bool fs_creds_store(struct fs_ctx *c, fuse_ino_t ino, const struct secret *body)
{
	static atomic_bool warned;
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(secret_len(body));
	int r;

	/* One memory buffer and no splice: libfuse writes it from here, no copy. */
	bv.buf[0].mem = (void *)secret_str(body);
#ifdef CREDFS_TEST_HOOKS
	/* A kernel without notify_store, for t_splice's fallback case. */
	if (getenv("CREDFS_TEST_NO_STORE"))
		r = -ENOSYS;
	else
#endif
		r = fuse_lowlevel_notify_store(c->se, ino, 0, &bv, FUSE_BUF_NO_SPLICE);
	if (r != 0)
		c->no_store = true;
	if (r != 0 && !atomic_exchange(&warned, true))
		log_warn(
			"node %llu: cannot store a creds/ body in the page cache (%s): such opens "
			"fall back to direct I/O, where splice and sendfile readers may read nothing",
			(unsigned long long)ino, strerror(-r));
	return r == 0;
}

void fs_creds_failed(struct fs_creds_open *op, int r)
{
	struct fs_ctx *c = op->c;

	pthread_mutex_lock(&c->mu);
	op->node->cstate = FS_C_NEW;
	fs_inode_unref_locked(c->inodes, op->node);
	pthread_mutex_unlock(&c->mu);
	fs_handle_put(c, op->h);
	fuse_reply_err(op->req, -r);
	free(op);
}

void fs_creds_opened(struct fs_creds_open *op, struct lease *lease, struct secret *body,
		     struct fs_keyset *keys)
{
	struct fs_ctx *c = op->c;
	struct fs_inode *node = op->node;
	struct fs_handle *h = op->h;
	bool stored;

	pthread_mutex_lock(&c->mu);
	node->lease = lease;
	node->body = body;
	node->keys = keys;
	node->opens = 1;
	node->cstate = FS_C_OPEN;
	h->inode = node; /* the reference op held, transferred */
	node->handles++;
	pthread_mutex_unlock(&c->mu);
	/* Nobody else can reach the node before this open is answered: body is stable. */
	stored = fs_creds_store(c, node->ino, body);
	pthread_mutex_lock(&c->mu);
	node->stored = stored;
	pthread_mutex_unlock(&c->mu);
	fs_creds_reply(op->req, c, h, stored);
	free(op);
}

/* The issue's completion: on an engine thread, or on the OPEN's own. */
static void fs_creds_issued(void *arg, int r, struct engine_creds *cr, const char *errbuf)
{
	struct fs_creds_open *op = arg;
	struct secret *body;
	struct lease *lease;

	(void)errbuf; /* the engine has put it in errors already */
	if (r != 0) {
		fs_creds_failed(op, r);
		return;
	}
	lease = cr->lease;
	body = cr->body[op->fmt];
	cr->lease = NULL; /* transferred */
	cr->body[op->fmt] = NULL; /* transferred */
	fs_creds_opened(op, lease, body, NULL);
}

void fs_creds_open(fuse_req_t req, struct fs_ctx *c, fuse_ino_t ino, struct fuse_file_info *fi)
{
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	struct fs_creds_open *op = NULL;
	char role[CREDFMT_ROLE_MAX];
	struct holder_buf holder;
	struct fs_handle *h = NULL;
	struct fs_inode *node;
	enum fs_cstate state;
	enum credfmt fmt;
	struct fs_path p;
	bool stored = false;
	int r;

	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EACCES);
		return;
	}
	/* Everything that can fail for want of memory before the node is touched. */
	if ((r = fs_inode_path(c, ino, &p)) != 0 || (r = fs_creds_role(&p, role, &fmt)) != 0 ||
	    (r = (op = calloc(1, sizeof(*op))) ? 0 : -ENOMEM) != 0 ||
	    (r = (h = fs_handle_new(c, FS_H_CREDS, &p, fc->uid)) ? 0 : -ENOMEM) != 0) {
		free(op);
		fuse_reply_err(req, -r);
		return;
	}
	pthread_mutex_lock(&c->mu);
	node = fs_inode_get_locked(c->inodes, ino);
	state = node ? node->cstate : FS_C_DEAD;
	if (state == FS_C_NEW) {
		node->cstate = FS_C_ISSUING;
		node->refs++;
	} else if (state == FS_C_OPEN) {
		/* A re-open of an open node (/proc/PID/fd/N): the same file, the same body. */
		node->opens++;
		node->refs++;
		stored = node->stored;
		h->inode = node; /* the reference just taken */
		node->handles++;
	}
	pthread_mutex_unlock(&c->mu);
	if (state == FS_C_DEAD || state == FS_C_ISSUING) {
		/* Let go already, or another open of it is issuing (a path walk never shares one). */
		free(op);
		fs_handle_put(c, h);
		fuse_reply_err(req, state == FS_C_DEAD ? EACCES : EBUSY);
		return;
	}
	if (state == FS_C_OPEN) {
		free(op);
		log_info("creds/%s: node %llu opened again by pid %d: the same lease", p.name,
			 (unsigned long long)ino, (int)fc->pid);
		fs_creds_reply(req, c, h, stored);
		return;
	}
	op->req = req;
	op->c = c;
	op->node = node; /* the reference just taken */
	op->h = h;
	op->fmt = fmt;
	/* Resolve the opener now: RELEASE will not say who it was. */
	holder_from_tid("/proc", fc->pid, fc->uid, fc->gid, &holder);
	if (p.node == FS_CREDS_KEY)
		fs_keys_open(c, op, role, &holder.h);
	else
		engine_issue_fmt_async(c->engine, role, ENGINE_FMT(fmt), p.name, &holder.h,
				       fs_creds_issued, op);
	op = NULL; /* transferred: freed by fs_creds_opened or fs_creds_failed */
}

void fs_creds_read(fuse_req_t req, struct fs_ctx *c, struct fs_handle *h, size_t size, off_t off)
{
	const struct secret *body;
	size_t len;

	/*
	 * The body stays while a handle of the node lives; this one is held
	 * until the reply is written (the reader may close before writev
	 * returns).
	 */
	pthread_mutex_lock(&c->mu);
	body = h->inode->body;
	h->refs++;
	pthread_mutex_unlock(&c->mu);
	len = body ? secret_len(body) : 0;
	if (off < 0)
		fuse_reply_err(req, EINVAL);
	else if ((size_t)off >= len)
		fuse_reply_buf(req, NULL, 0);
	else /* Straight from the guarded buffer: libfuse writes the reply from here, copying nothing. */
		fuse_reply_buf(req, secret_str(body) + off, size < len - off ? size : len - off);
	fs_handle_put(c, h);
}

/*
 * A creds/ file is always readable; POLLPRI says its lease is ending (it
 * reached max_ttl, or was let go or revoked): a long-running holder polls
 * for POLLPRI and opens creds/ again to get a new login in time.
 */
void fs_creds_poll(fuse_req_t req, struct fs_ctx *c, struct fs_handle *h,
		   struct fuse_pollhandle *ph)
{
	struct lease *lease;
	void *old = NULL;
	bool ending;

	/* node->lease is set for as long as the node has an open handle, as h is */
	pthread_mutex_lock(&c->mu);
	lease = h->inode->lease;
	pthread_mutex_unlock(&c->mu);
	ending = engine_poll(c->engine, lease, ph, &old);
	if (old)
		fuse_pollhandle_destroy(old);
	fuse_reply_poll(req, POLLIN | POLLRDNORM | (ending ? POLLPRI : 0));
}

/*
 * The last release of a node lets its lease go at once; its body is wiped,
 * and its pages dropped, when its last handle is freed (fs_handle_put),
 * which is now unless a READ reply is still being written from it.
 */
void fs_creds_release(struct fs_ctx *c, struct fs_handle *h)
{
	struct fs_inode *node = h->inode;
	struct fs_keyset *keys = NULL;
	struct lease *lease = NULL;
	bool last;

	pthread_mutex_lock(&c->mu);
	last = --node->opens == 0;
	if (last) {
		lease = node->lease;
		node->lease = NULL;
		keys = node->keys;
		node->keys = NULL;
		node->cstate = FS_C_DEAD;
	}
	pthread_mutex_unlock(&c->mu);
	if (keys) {
		/* A file of ROLE.d/: the lease is the process's, let go with its last file. */
		lease_unref(lease);
		fs_keys_put(c, keys);
	} else if (last) {
		struct fuse_pollhandle *ph = engine_poll_take(c->engine, lease);

		engine_closed(c->engine, lease);
		if (ph)
			fuse_pollhandle_destroy(ph);
		lease_unref(lease);
	}
	fs_handle_put(c, h);
}

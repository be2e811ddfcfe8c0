/* SPDX-License-Identifier: MIT */
/*
 * fs_ops.c - the low-level operations table and the file operations of
 * everything but creds/ (fs_creds.c) and listings (fs_attr.c): translate a
 * node and a caller into engine calls, and the result into a reply. No
 * policy lives here beyond who may open what.
 *
 * FUSE threads never wait on PostgreSQL, except where a write must be
 * checked against the database before it returns: applying a config/
 * document with verify_connection (doc.c), and rotate-root/ writes.
 * Issuance is asynchronous (fs_creds.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fs.h"
#include "doc.h"
#include "lease.h"
#include "log.h"
#include "params.h"
#include "secret.h"

struct fs_ctx *fs_ctx_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

struct fs_handle *fs_handle_of(const struct fuse_file_info *fi)
{
	return (struct fs_handle *)(uintptr_t)fi->fh;
}

int fs_ctx_init(struct fs_ctx *c)
{
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->close_mu, NULL);
	pthread_cond_init(&c->close_cv, NULL);
	c->inodes = fs_inodes_new();
	return c->inodes ? 0 : -ENOMEM;
}

void fs_ctx_free(struct fs_ctx *c)
{
	c->se = NULL; /* gone: nothing to notify */
	while (c->handles) {
		struct fs_handle *h = c->handles;
		struct fuse_pollhandle *ph = NULL;

		if (h->inode && h->inode->lease)
			ph = engine_poll_take(c->engine, h->inode->lease);
		else if (h->path.node == FS_SCREDS)
			ph = engine_static_poll_take(c->engine, h);
		if (ph)
			fuse_pollhandle_destroy(ph);
		h->refs = 1; /* no request is running: whatever they held */
		fs_handle_put(c, h);
	}
	fs_inodes_free(c->inodes);
	c->inodes = NULL;
	fs_keys_free_all(c);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->close_mu);
	pthread_cond_destroy(&c->close_cv);
}

int fs_inode_path(struct fs_ctx *c, fuse_ino_t ino, struct fs_path *p)
{
	struct fs_inode *node;

	pthread_mutex_lock(&c->mu);
	if ((node = fs_inode_get_locked(c->inodes, ino)) != NULL)
		*p = node->path;
	pthread_mutex_unlock(&c->mu);
	return node ? 0 : -ESTALE;
}

struct fs_handle *fs_handle_new(struct fs_ctx *c, enum fs_hkind kind, const struct fs_path *p,
				uid_t uid)
{
	struct fs_handle *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->kind = kind;
	h->path = *p;
	h->uid = uid;
	h->refs = 1;
	pthread_mutex_lock(&c->mu);
	h->next = c->handles;
	if (h->next)
		h->next->prev = h;
	c->handles = h;
	pthread_mutex_unlock(&c->mu);
	return h;
}

void fs_handle_get(struct fs_ctx *c, struct fs_handle *h)
{
	pthread_mutex_lock(&c->mu);
	h->refs++;
	pthread_mutex_unlock(&c->mu);
}

/* Free h, unlinked already; c->mu held. Returns the body to free when h was its node's last. */
static struct secret *fs_handle_destroy_locked(struct fs_ctx *c, struct fs_handle *h,
					       fuse_ino_t *ino)
{
	struct fs_inode *node = h->inode;
	struct secret *body = NULL;

	if (node) {
		if (h->kind == FS_H_CREDS && --node->handles == 0 && node->cstate == FS_C_DEAD) {
			body = node->body;
			node->body = NULL;
			*ino = node->ino;
		}
		fs_inode_unref_locked(c->inodes, node);
	}
	return body;
}

void fs_handle_put(struct fs_ctx *c, struct fs_handle *h)
{
	struct secret *body;
	fuse_ino_t ino = 0;

	if (!h)
		return;
	pthread_mutex_lock(&c->mu);
	if (--h->refs > 0) {
		pthread_mutex_unlock(&c->mu);
		return;
	}
	if (h->prev)
		h->prev->next = h->next;
	else if (c->handles == h)
		c->handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	body = fs_handle_destroy_locked(c, h, &ino);
	pthread_mutex_unlock(&c->mu);
	if (h->data) {
		secret_wipe(h->data, h->len);
		free(h->data);
	}
	doc_free(h->doc);
	secret_free(h->body);
	free(h);
	if (body) {
		/* The node's last open file is gone: wipe its body and drop its pages. */
		secret_free(body);
		if (c->se)
			fuse_lowlevel_notify_inval_inode(c->se, ino, 0, 0);
	}
}

/* An open for writing: a document (doc.h); *hp is the new handle. */
static int fs_open_doc(struct fs_ctx *c, const struct fs_path *p, uid_t uid,
		       struct fuse_file_info *fi, bool created, struct fs_handle **hp)
{
	struct fs_handle *h;
	int r;

	if (fs_is_action(p)) {
		if ((fi->flags & O_ACCMODE) != O_WRONLY)
			return -EACCES;
		if (!engine_def_exists(c->engine,
				       p->node == FS_ROTATE_ROLE ? ENGINE_STATIC : ENGINE_CONFIG,
				       p->name))
			return -ENOENT;
	}
	if (!(h = fs_handle_new(c, FS_H_DOC, p, uid)))
		return -ENOMEM;
	if (!(h->doc = doc_new(c->engine, c->docs, fs_doc_kind(p), p->name, uid, created))) {
		fs_handle_put(c, h);
		return -ENOMEM;
	}
	if (!fs_is_action(p) && (fi->flags & O_ACCMODE) == O_RDWR) {
		r = fs_render(c, p, uid, &h->data, &h->len);
		if (r != 0 && r != -ENOENT) {
			fs_handle_put(c, h);
			return r;
		}
	}
	fi->fh = (uintptr_t)h;
	fi->direct_io = 1;
	*hp = h;
	return 0;
}

/* Whether name may be created in p's directory; -EINVAL is noted in errors. */
static int fs_may_create(struct fs_ctx *c, const struct fs_path *p, uid_t uid)
{
	struct parse_error pe = { 0 };
	char path[PATH_MAX];

	if (!fs_is_def(p))
		return fs_is_action(p) ? -ENOENT : -EACCES;
	if ((p->node == FS_ROLE ? role_name_valid(p->name, &pe)
				: params_name_valid(p->name, &pe)) != 0) {
		fs_path_str(p, path, sizeof(path));
		engine_note_error(c->engine, uid, path, pe.text);
		return -EINVAL;
	}
	return 0;
}

static int fs_open_path(struct fs_ctx *c, const struct fs_path *p, uid_t uid,
			struct fuse_file_info *fi, struct fs_handle **hp)
{
	struct fs_handle *h;
	int r;

	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		if (!fs_is_def(p) && !fs_is_action(p))
			return -EACCES;
		/* The kernel may still hold the name from a create whose document
		 * was rejected: an open for writing then arrives without O_CREAT. */
		if (!fs_is_action(p) && !engine_def_exists(c->engine, fs_kind(p), p->name)) {
			if ((r = fs_may_create(c, p, uid)) != 0)
				return r;
			return fs_open_doc(c, p, uid, fi, true, hp);
		}
		return fs_open_doc(c, p, uid, fi, false, hp);
	}
	if (fs_is_action(p))
		return -EACCES;
	if (!(h = fs_handle_new(c, FS_H_READ, p, uid)))
		return -ENOMEM;
	/* static-creds/: the current password, the same for every reader; no lease. */
	r = p->node == FS_SCREDS ? engine_static_creds(c->engine, p->name, &h->body, &h->gen)
				 : fs_render(c, p, uid, &h->data, &h->len);
	if (r != 0) {
		fs_handle_put(c, h);
		return r;
	}
	fi->fh = (uintptr_t)h;
	fi->direct_io = 1;
	fi->noflush = 1;
	*hp = h;
	return 0;
}

static void fs_ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_ctx *c = fs_ctx_of(req);
	struct fs_handle *h = NULL;
	struct fs_path p;
	int r;

	if ((r = fs_inode_path(c, ino, &p)) == 0 && fs_path_is_creds(&p)) {
		fs_creds_open(req, c, ino, fi);
		return;
	}
	if (r == 0)
		r = fs_open_path(c, &p, fuse_req_ctx(req)->uid, fi, &h);
	if (r != 0)
		fuse_reply_err(req, -r);
	else if (fuse_reply_open(req, fi) != 0)
		fs_handle_put(c, h); /* interrupted: no release will come */
}

static void fs_ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
			 struct fuse_file_info *fi)
{
	struct fs_ctx *c = fs_ctx_of(req);
	uid_t uid = fuse_req_ctx(req)->uid;
	struct fs_handle *h = NULL;
	struct fuse_entry_param e;
	struct fs_inode *node;
	struct fs_path dir, p;
	int r;

	(void)mode;
	if ((r = fs_inode_path(c, parent, &dir)) != 0 || (r = fs_path_child(&dir, name, &p)) != 0 ||
	    (r = fs_may_create(c, &p, uid)) != 0 ||
	    (r = fs_open_doc(c, &p, uid, fi, true, &h)) != 0)
		goto fail;
	if ((r = fs_entry(c, &p, &e, &node)) != 0) {
		fs_handle_put(c, h);
		goto fail;
	}
	if (fuse_reply_create(req, &e, fi) != 0) {
		fs_handle_put(c, h);
		pthread_mutex_lock(&c->mu);
		fs_inode_forget_locked(c->inodes, node, 1);
		pthread_mutex_unlock(&c->mu);
	}
	return;
fail:
	fuse_reply_err(req, -r);
}

static void fs_ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct fs_ctx *c = fs_ctx_of(req);
	struct fs_handle *h = fs_handle_of(fi);

	(void)ino;
	if (h->kind == FS_H_CREDS) {
		fs_creds_read(req, c, h, size, off);
		return;
	}
	if (fs_is_action(&h->path)) {
		fuse_reply_err(req, EBADF);
		return;
	}
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (h->body) {
		size_t len = secret_len(h->body);

		if ((size_t)off >= len) {
			fuse_reply_buf(req, NULL, 0);
			return;
		}
		fs_handle_get(c, h);
		fuse_reply_buf(req, secret_str(h->body) + off,
			       size < len - off ? size : len - off); /* frees req */
		fs_handle_put(c, h);
		return;
	}
	if (!h->data || (size_t)off >= h->len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > h->len - off)
		size = h->len - off;
	fs_handle_get(c, h);
	fuse_reply_buf(req, h->data + off, size); /* frees req */
	fs_handle_put(c, h);
}

/* Writes go to the document, which decides when it is applied (doc.h). */
static void fs_ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	struct fs_handle *h = fs_handle_of(fi);
	int r = -EBADF;

	(void)ino;
	if (h->kind == FS_H_DOC)
		r = doc_write(h->doc, buf, size, off);
	/*
	 * A document may carry a root password: the bytes sit in libfuse's
	 * receive buffer (malloc'd, reused, never wiped), which is ours to
	 * wipe once they are consumed.
	 */
	secret_wipe((void *)buf, size);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_write(req, (size_t)r);
}

static void fs_ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_handle *h = fs_handle_of(fi);

	(void)ino;
	fuse_reply_err(req, h->kind == FS_H_DOC ? -doc_flush(h->doc) : 0);
}

/*
 * The closer: a thread below normal priority that lets go of released
 * creds/ handles (the let-go's journal record and audit line, the body's
 * wiping, the kernel's cache of the node). RELEASE is answered at once, and
 * on a busy CPU that work waits for the opens and reads that come next
 * instead of going before them: a reader that closes and opens again gets
 * its next credential sooner. The lease's TTL runs from the issue, not
 * from the let-go, so nothing is held longer.
 */
static void *fs_closer(void *arg)
{
	struct fs_ctx *c = arg;

	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
	pthread_mutex_lock(&c->close_mu);
	for (;;) {
		struct fs_handle *q = c->close_q;

		if (!q) {
			if (c->closer_stop)
				break;
			pthread_cond_wait(&c->close_cv, &c->close_mu);
			continue;
		}
		c->close_q = NULL;
		pthread_mutex_unlock(&c->close_mu);
		while (q) {
			struct fs_handle *next = q->close_next;

			fs_creds_release(c, q);
			q = next;
		}
		pthread_mutex_lock(&c->close_mu);
	}
	pthread_mutex_unlock(&c->close_mu);
	return NULL;
}

/* Queue h for the closer (started on first use: after credfs daemonized); false: do it here. */
static bool fs_closer_queue(struct fs_ctx *c, struct fs_handle *h)
{
	bool queued = false;

	pthread_mutex_lock(&c->close_mu);
	if (!c->closer_started && !c->closer_stop &&
	    pthread_create(&c->closer, NULL, fs_closer, c) == 0)
		c->closer_started = true;
	if (c->closer_started && !c->closer_stop) {
		h->close_next = c->close_q;
		c->close_q = h;
		queued = true;
	}
	pthread_mutex_unlock(&c->close_mu);
	if (queued)
		pthread_cond_signal(&c->close_cv);
	return queued;
}

void fs_closer_stop(struct fs_ctx *c)
{
	bool started;

	pthread_mutex_lock(&c->close_mu);
	c->closer_stop = true;
	started = c->closer_started;
	pthread_cond_signal(&c->close_cv);
	pthread_mutex_unlock(&c->close_mu);
	if (started)
		pthread_join(c->closer, NULL); /* it empties the queue before it leaves */
}

static void fs_ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_ctx *c = fs_ctx_of(req);
	struct fs_handle *h = fs_handle_of(fi);

	(void)ino;
	if (h->kind == FS_H_CREDS) {
		if (!fs_closer_queue(c, h))
			fs_creds_release(c, h);
	} else {
		struct fuse_pollhandle *ph =
			h->path.node == FS_SCREDS ? engine_static_poll_take(c->engine, h) : NULL;

		if (ph)
			fuse_pollhandle_destroy(ph);
		fs_handle_put(c, h);
	}
	fuse_reply_err(req, 0);
}

static void fs_ll_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		       struct fuse_pollhandle *ph)
{
	struct fs_handle *h = fs_handle_of(fi);

	(void)ino;
	if (h->kind == FS_H_CREDS) {
		fs_creds_poll(req, fs_ctx_of(req), h, ph);
		return;
	}
	if (h->path.node == FS_SCREDS) {
		/* POLLPRI: the password was rotated since this open; open it again. */
		void *old = NULL;
		bool changed = engine_static_poll(fs_ctx_of(req)->engine, h->path.name, h->gen, h,
						  ph, &old);

		if (old)
			fuse_pollhandle_destroy(old);
		if (changed && ph)
			fuse_pollhandle_destroy(ph);
		fuse_reply_poll(req, POLLIN | POLLRDNORM | (changed ? POLLPRI : 0));
		return;
	}
	if (ph)
		fuse_pollhandle_destroy(ph);
	fuse_reply_poll(req, POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM);
}

static void fs_poll_fire(void *ph)
{
	fuse_lowlevel_notify_poll(ph);
	fuse_pollhandle_destroy(ph);
}

void fs_install_poll(struct fs_ctx *c)
{
	engine_set_poll_fn(c->engine, fs_poll_fire);
}

static void fs_ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs_ctx *c = fs_ctx_of(req);
	uid_t uid = fuse_req_ctx(req)->uid;
	char errbuf[ENGINE_ERRLEN];
	struct fs_path dir, p;
	int r;

	if ((r = fs_inode_path(c, parent, &dir)) != 0 || (r = fs_path_child(&dir, name, &p)) != 0)
		goto out;
	if (fs_is_def(&p))
		r = engine_def_delete(c->engine, fs_kind(&p), p.name, uid, errbuf);
	else if (p.node == FS_LEASE)
		r = engine_lease_revoke(c->engine, p.name, p.id, uid);
	else if (p.node == FS_FLEET_LEASE)
		r = engine_fleet_revoke(c->engine, p.id, p.sub, uid);
	else
		r = -EPERM;
	if (r == 0) {
		/* A name made again later is another file. */
		pthread_mutex_lock(&c->mu);
		fs_inode_unlink_path_locked(c->inodes, &p);
		pthread_mutex_unlock(&c->mu);
	}
out:
	fuse_reply_err(req, -r);
}

static void fs_ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	(void)parent;
	(void)name;
	(void)mode;
	fuse_reply_err(req, EPERM);
}

static void fs_ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
			 const char *newname, unsigned int flags)
{
	(void)parent;
	(void)name;
	(void)newparent;
	(void)newname;
	(void)flags;
	fuse_reply_err(req, EPERM);
}

static void fs_ll_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/*
	 * Sizes and times of a node never change while it is open (a creds/
	 * node's body is fixed; other files are direct I/O): no cache
	 * invalidation on attribute changes, and no READDIRPLUS, so every
	 * name goes through LOOKUP.
	 */
	conn->want &= ~(FUSE_CAP_AUTO_INVAL_DATA | FUSE_CAP_READDIRPLUS |
			FUSE_CAP_READDIRPLUS_AUTO | FUSE_CAP_EXPORT_SUPPORT);
}

const struct fuse_lowlevel_ops fs_ll_ops = {
	.init = fs_ll_init,
	.lookup = fs_ll_lookup,
	.forget = fs_ll_forget,
	.forget_multi = fs_ll_forget_multi,
	.getattr = fs_ll_getattr,
	.setattr = fs_ll_setattr,
	.opendir = fs_ll_opendir,
	.readdir = fs_ll_readdir,
	.releasedir = fs_ll_releasedir,
	.open = fs_ll_open,
	.create = fs_ll_create,
	.read = fs_ll_read,
	.write = fs_ll_write,
	.flush = fs_ll_flush,
	.release = fs_ll_release,
	.poll = fs_ll_poll,
	.unlink = fs_ll_unlink,
	.mkdir = fs_ll_mkdir,
	.rename = fs_ll_rename,
};

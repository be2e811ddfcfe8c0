/* SPDX-License-Identifier: MIT */
/*
 * fs_ops.c - the FUSE operations: translate a path and a caller into
 * engine calls, and the result into a reply. No policy lives here beyond
 * who may open what; no PostgreSQL either.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"
#include "holder.h"
#include "log.h"
#include "doc.h"
#include "params.h"

enum fs_hkind {
	FS_H_READ, /* a snapshot taken at open: config/, roles/, leases/, errors */
	FS_H_DOC, /* a document written to config/, roles/ or rotate-root/ (doc.h) */
	FS_H_CREDS, /* an issued credential */
};

struct fs_handle {
	enum fs_hkind kind;
	struct fs_path path;
	uid_t uid;
	char *data; /* FS_H_READ, and FS_H_DOC opened O_RDWR: the text at open */
	size_t len;
	struct doc *doc; /* FS_H_DOC */
	struct lease *lease; /* FS_H_CREDS, a reference */
	struct secret *body; /* FS_H_CREDS */
	struct fs_handle *prev, *next; /* protected by fs_ctx's mu: every open handle */
};

static struct fs_ctx *fs_ctx(void)
{
	return fuse_get_context()->private_data;
}

/* How long the kernel keeps names (doc.h keeps created names visible as long). */
#define FS_ENTRY_TIMEOUT 1.0

static struct fs_handle *fs_handle_of(struct fuse_file_info *fi)
{
	return (struct fs_handle *)(uintptr_t)fi->fh;
}

static enum engine_kind fs_kind(const struct fs_path *p)
{
	return p->node == FS_CONFIG ? ENGINE_CONFIG : ENGINE_ROLE;
}

static enum doc_kind fs_doc_kind(const struct fs_path *p)
{
	return p->node == FS_CONFIG ? DOC_CONFIG : p->node == FS_ROLE ? DOC_ROLE : DOC_ROTATE;
}

static void fs_handle_free(struct fs_ctx *c, struct fs_handle *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&c->mu);
	if (h->prev)
		h->prev->next = h->next;
	else if (c->handles == h)
		c->handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&c->mu);
	if (h->data) {
		secret_wipe(h->data, h->len);
		free(h->data);
	}
	doc_free(h->doc);
	secret_free(h->body);
	lease_unref(h->lease);
	free(h);
}

static struct fs_handle *fs_handle_new(enum fs_hkind kind, const struct fs_path *p)
{
	struct fs_handle *h = calloc(1, sizeof(*h));
	struct fs_ctx *c = fs_ctx();

	if (!h)
		return NULL;
	h->kind = kind;
	h->path = *p;
	h->uid = fuse_get_context()->uid;
	pthread_mutex_lock(&c->mu);
	h->next = c->handles;
	if (h->next)
		h->next->prev = h;
	c->handles = h;
	pthread_mutex_unlock(&c->mu);
	return h;
}

void fs_handles_free(struct fs_ctx *c)
{
	while (c->handles) {
		struct fs_handle *h = c->handles;
		struct fuse_pollhandle *ph =
			h->lease ? engine_poll_take(c->engine, h->lease) : NULL;

		if (ph)
			fuse_pollhandle_destroy(ph);
		fs_handle_free(c, h);
	}
}

/* The text a readable file shows now (new malloc'd buffer). */
static int fs_render(struct fs_ctx *c, const struct fs_path *p, uid_t uid, char **out, size_t *len)
{
	switch (p->node) {
	case FS_CONFIG:
	case FS_ROLE:
		return engine_def_read(c->engine, fs_kind(p), p->name, out, len);
	case FS_LEASE:
		return engine_lease_read(c->engine, p->name, p->id, out, len);
	case FS_ERRORS:
		return engine_errors(c->engine, uid, out, len);
	default:
		return -EACCES;
	}
}

static bool fs_lease_dir_exists(struct fs_ctx *c, const char *role)
{
	json_t *ids;
	bool yes;

	if (engine_def_exists(c->engine, ENGINE_ROLE, role))
		return true;
	ids = engine_lease_ids(c->engine, role);
	yes = ids && json_array_size(ids) > 0;
	json_decref(ids);
	return yes;
}

static void fs_stat_base(struct fs_ctx *c, struct stat *st, mode_t mode)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = mode;
	st->st_nlink = S_ISDIR(mode) ? 2 : 1;
	st->st_uid = c->uid;
	st->st_gid = c->gid;
}

static int fs_getattr_creds(struct fs_ctx *c, const struct fs_path *p, struct stat *st)
{
	struct role *ro = engine_role_get(c->engine, p->name);

	if (!ro)
		return -ENOENT;
	fs_stat_base(c, st, S_IFREG | ro->creds_mode);
	if (ro->creds_uid != (uid_t)-1)
		st->st_uid = ro->creds_uid;
	if (ro->creds_gid != (gid_t)-1)
		st->st_gid = ro->creds_gid;
	role_unref(ro);
	return 0;
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct fs_ctx *c = fs_ctx();
	struct fs_handle *h = fi ? fs_handle_of(fi) : NULL;
	struct fs_path p;
	char *buf = NULL;
	size_t len = 0;
	int r;

	if ((r = fs_path_parse(path, &p)) != 0)
		return r;
	switch (p.node) {
	case FS_ROOT:
		fs_stat_base(c, st, S_IFDIR | 0755);
		return 0;
	case FS_DIR:
		fs_stat_base(c, st, S_IFDIR | (!strcmp(p.top, "creds") ? 0755 : 0700));
		return 0;
	case FS_ERRORS:
		fs_stat_base(c, st, S_IFREG | 0444);
		return 0;
	case FS_CREDS:
		if ((r = fs_getattr_creds(c, &p, st)) == 0 && h && h->body)
			st->st_size = secret_len(h->body);
		return r;
	case FS_ROTATE:
		if (!engine_def_exists(c->engine, ENGINE_CONFIG, p.name))
			return -ENOENT;
		fs_stat_base(c, st, S_IFREG | 0200);
		return 0;
	case FS_LEASE_DIR:
		if (!fs_lease_dir_exists(c, p.name))
			return -ENOENT;
		fs_stat_base(c, st, S_IFDIR | 0700);
		return 0;
	case FS_CONFIG:
	case FS_ROLE:
	case FS_LEASE:
		r = fs_render(c, &p, 0, &buf, &len);
		/* A file being created exists for its writer before it is applied. */
		if (r == -ENOENT &&
		    ((h && h->kind == FS_H_DOC) || docset_has(c->docs, fs_doc_kind(&p), p.name)))
			r = 0;
		if (r != 0)
			return r;
		fs_stat_base(c, st, S_IFREG | (p.node == FS_LEASE ? 0400 : 0600));
		st->st_size = len;
		if (buf) {
			secret_wipe(buf, len);
			free(buf);
		}
		return 0;
	default:
		return -ENOENT;
	}
}

static int fs_fill_names(void *buf, fuse_fill_dir_t filler, json_t *names)
{
	size_t i;
	json_t *v;

	if (!names)
		return -ENOMEM;
	json_array_foreach(names, i, v) filler(buf, json_string_value(v), NULL, 0, 0);
	json_decref(names);
	return 0;
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	static const char *const top[] = { "config",	  "roles",  "creds",
					   "rotate-root", "leases", "errors" };
	struct fs_ctx *c = fs_ctx();
	struct fs_path p;
	json_t *names;
	int r;

	(void)off;
	(void)fi;
	(void)flags;
	if ((r = fs_path_parse(path, &p)) != 0)
		return r;
	if (p.node != FS_ROOT && p.node != FS_DIR && p.node != FS_LEASE_DIR)
		return -ENOTDIR;
	filler(buf, ".", NULL, 0, 0);
	filler(buf, "..", NULL, 0, 0);
	if (p.node == FS_ROOT) {
		for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++)
			filler(buf, top[i], NULL, 0, 0);
		return 0;
	}
	if (p.node == FS_LEASE_DIR)
		return fs_fill_names(buf, filler, engine_lease_ids(c->engine, p.name));
	if (!strcmp(p.top, "config") || !strcmp(p.top, "rotate-root"))
		return fs_fill_names(buf, filler, engine_def_names(c->engine, ENGINE_CONFIG));
	if (!strcmp(p.top, "roles") || !strcmp(p.top, "creds"))
		return fs_fill_names(buf, filler, engine_def_names(c->engine, ENGINE_ROLE));
	/* leases/: the roles that are defined or still have leases */
	names = engine_def_names(c->engine, ENGINE_ROLE);
	if (names) {
		json_t *live = engine_lease_ids(c->engine, NULL), *v;
		size_t i, j;

		json_array_foreach(live, i, v)
		{
			bool seen = false;
			json_t *w;

			json_array_foreach(names, j, w) seen |= json_equal(v, w);
			if (!seen)
				json_array_append(names, v);
		}
		json_decref(live);
	}
	return fs_fill_names(buf, filler, names);
}

static int fs_open_creds(struct fs_ctx *c, const struct fs_path *p, struct fuse_file_info *fi)
{
	struct fuse_context *fc = fuse_get_context();
	char errbuf[ENGINE_ERRLEN];
	struct holder_buf holder;
	struct fs_handle *h;
	int r;

	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	if (!(h = fs_handle_new(FS_H_CREDS, p)))
		return -ENOMEM;
	/* Resolve the opener now: RELEASE will not say who it was. */
	holder_from_tid("/proc", fc->pid, fc->uid, fc->gid, &holder);
	if ((r = engine_issue(c->engine, p->name, &holder.h, &h->lease, &h->body, errbuf)) != 0) {
		fs_handle_free(fs_ctx(), h);
		return r;
	}
	fi->fh = (uintptr_t)h;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	fi->noflush = 1; /* close() need not wait for a FLUSH that does nothing here */
	return 0;
}

static int fs_open_write(const struct fs_path *p, struct fuse_file_info *fi, bool created)
{
	struct fs_ctx *c = fs_ctx();
	struct fs_handle *h;
	int r;

	if (p->node == FS_ROTATE) {
		if ((fi->flags & O_ACCMODE) != O_WRONLY)
			return -EACCES;
		if (!engine_def_exists(c->engine, ENGINE_CONFIG, p->name))
			return -ENOENT;
	}
	if (!(h = fs_handle_new(FS_H_DOC, p)))
		return -ENOMEM;
	if (!(h->doc = doc_new(c->engine, c->docs, fs_doc_kind(p), p->name, h->uid, created))) {
		fs_handle_free(fs_ctx(), h);
		return -ENOMEM;
	}
	if (p->node != FS_ROTATE && (fi->flags & O_ACCMODE) == O_RDWR) {
		r = fs_render(c, p, h->uid, &h->data, &h->len);
		if (r != 0 && r != -ENOENT) {
			fs_handle_free(fs_ctx(), h);
			return r;
		}
	}
	fi->fh = (uintptr_t)h;
	fi->direct_io = 1;
	return 0;
}

static int fs_create(const char *path, mode_t mode, struct fuse_file_info *fi);

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	struct fs_ctx *c = fs_ctx();
	struct fs_handle *h;
	struct fs_path p;
	int r;

	if ((r = fs_path_parse(path, &p)) != 0)
		return r;
	if (p.node == FS_CREDS)
		return fs_open_creds(c, &p, fi);
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		if (p.node != FS_CONFIG && p.node != FS_ROLE && p.node != FS_ROTATE)
			return -EACCES;
		/* The kernel may still hold the name from a create whose document
		 * was rejected: an open for writing then arrives without O_CREAT. */
		if (p.node != FS_ROTATE && !engine_def_exists(c->engine, fs_kind(&p), p.name))
			return fs_create(path, 0600, fi);
		return fs_open_write(&p, fi, false);
	}
	if (p.node == FS_ROTATE)
		return -EACCES;
	if (!(h = fs_handle_new(FS_H_READ, &p)))
		return -ENOMEM;
	if ((r = fs_render(c, &p, h->uid, &h->data, &h->len)) != 0) {
		fs_handle_free(fs_ctx(), h);
		return r;
	}
	fi->fh = (uintptr_t)h;
	fi->direct_io = 1;
	fi->noflush = 1;
	return 0;
}

static int fs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct fs_ctx *c = fs_ctx();
	struct parse_error pe = { 0 };
	struct fs_path p;
	int r;

	(void)mode;
	if ((r = fs_path_parse(path, &p)) != 0)
		return r;
	if (p.node == FS_ROTATE || (p.node != FS_CONFIG && p.node != FS_ROLE))
		return p.node == FS_ROTATE ? -ENOENT : -EACCES;
	if (params_name_valid(p.name, &pe) != 0) {
		engine_note_error(c->engine, fuse_get_context()->uid, path + 1, pe.text);
		return -EINVAL;
	}
	return fs_open_write(&p, fi, true);
}

static int fs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs_handle *h = fs_handle_of(fi);
	const char *src;
	size_t len;

	(void)path;
	if (h->kind == FS_H_CREDS) {
		src = secret_str(h->body);
		len = secret_len(h->body);
	} else if (h->path.node == FS_ROTATE) {
		return -EBADF;
	} else {
		src = h->data;
		len = h->len;
	}
	if (off < 0)
		return -EINVAL;
	if (!src || (size_t)off >= len)
		return 0;
	if (size > len - off)
		size = len - off;
	memcpy(buf, src + off, size);
	return (int)size;
}

/* Writes go to the document, which decides when it is applied (doc.h). */
static int fs_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs_handle *h = fs_handle_of(fi);

	(void)path;
	if (h->kind != FS_H_DOC)
		return -EBADF;
	return doc_write(h->doc, buf, size, off);
}

static int fs_flush(const char *path, struct fuse_file_info *fi)
{
	struct fs_handle *h = fs_handle_of(fi);

	(void)path;
	return h->kind == FS_H_DOC ? doc_flush(h->doc) : 0;
}

static int fs_release(const char *path, struct fuse_file_info *fi)
{
	struct fs_handle *h = fs_handle_of(fi);

	if (h->kind == FS_H_CREDS) {
		struct fuse_pollhandle *ph = engine_poll_take(fs_ctx()->engine, h->lease);

		engine_closed(fs_ctx()->engine, h->lease);
		if (ph)
			fuse_pollhandle_destroy(ph);
	}
	(void)path; /* NULL when unlinked: use the handle's own */
	fs_handle_free(fs_ctx(), h);
	return 0;
}

/*
 * A creds/ file is always readable; POLLPRI says its lease is ending (it
 * reached max_ttl, or was let go or revoked): a long-running holder polls
 * for POLLPRI and opens creds/ again to get a new login in time.
 */
static int fs_poll(const char *path, struct fuse_file_info *fi, struct fuse_pollhandle *ph,
		   unsigned *reventsp)
{
	struct fs_handle *h = fs_handle_of(fi);
	void *old = NULL;
	bool ending;

	(void)path;
	if (h->kind != FS_H_CREDS) {
		if (ph)
			fuse_pollhandle_destroy(ph);
		*reventsp = POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM;
		return 0;
	}
	ending = engine_poll(fs_ctx()->engine, h->lease, ph, &old);
	if (old)
		fuse_pollhandle_destroy(old);
	*reventsp = POLLIN | POLLRDNORM | (ending ? POLLPRI : 0);
	return 0;
}

static void fs_poll_fire(void *ph)
{
	fuse_notify_poll(ph);
	fuse_pollhandle_destroy(ph);
}

void fs_install_poll(struct engine *e)
{
	engine_set_poll_fn(e, fs_poll_fire);
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct fs_path p;
	int r;

	(void)fi;
	if ((r = fs_path_parse(path, &p)) != 0)
		return r;
	/* `>` truncates before writing: the write replaces the document anyway. */
	if ((p.node == FS_CONFIG || p.node == FS_ROLE || p.node == FS_ROTATE) && size == 0)
		return 0;
	return -EACCES;
}

static int fs_unlink(const char *path)
{
	struct fs_ctx *c = fs_ctx();
	char errbuf[ENGINE_ERRLEN];
	struct fs_path p;
	int r;

	if ((r = fs_path_parse(path, &p)) != 0)
		return r;
	if (p.node == FS_CONFIG || p.node == FS_ROLE)
		return engine_def_delete(c->engine, fs_kind(&p), p.name, fuse_get_context()->uid,
					 errbuf);
	if (p.node == FS_LEASE)
		return engine_lease_revoke(c->engine, p.name, p.id, fuse_get_context()->uid);
	return -EPERM;
}

static int fs_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	(void)path;
	(void)tv;
	(void)fi;
	return 0;
}

static int fs_refuse(void)
{
	return -EPERM;
}

static int fs_mkdir(const char *path, mode_t mode)
{
	(void)path;
	(void)mode;
	return fs_refuse();
}

static int fs_rename(const char *from, const char *to, unsigned int flags)
{
	(void)from;
	(void)to;
	(void)flags;
	return fs_refuse();
}

static int fs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	(void)path;
	(void)mode;
	(void)fi;
	return fs_refuse();
}

static int fs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	(void)path;
	(void)uid;
	(void)gid;
	(void)fi;
	return fs_refuse();
}

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)conn;
	/* Names are stable for a second; attributes are always asked again so
	 * that creds/ modes and config/ sizes are current. */
	cfg->entry_timeout = FS_ENTRY_TIMEOUT;
	cfg->attr_timeout = 0;
	cfg->negative_timeout = 0;
	cfg->hard_remove = 1;
	cfg->direct_io = 1;
	cfg->kernel_cache = 0;
	return fuse_get_context()->private_data;
}

const struct fuse_operations fs_ops = {
	.init = fs_init,
	.getattr = fs_getattr,
	.readdir = fs_readdir,
	.open = fs_open,
	.create = fs_create,
	.read = fs_read,
	.write = fs_write,
	.flush = fs_flush,
	.release = fs_release,
	.truncate = fs_truncate,
	.unlink = fs_unlink,
	.utimens = fs_utimens,
	.mkdir = fs_mkdir,
	.rename = fs_rename,
	.chmod = fs_chmod,
	.chown = fs_chown,
	.poll = fs_poll,
};

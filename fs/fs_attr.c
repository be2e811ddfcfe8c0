/* SPDX-License-Identifier: MIT */
/*
 * fs_attr.c - names, attributes and listings: LOOKUP, FORGET, GETATTR,
 * SETATTR and directory listings. Nothing here issues a credential or
 * reaches PostgreSQL: ls, stat and find only read the engine's tables.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs.h"
#include "doc.h"
#include "log.h"
#include "secret.h"
#include "static.h"

int fs_render(struct fs_ctx *c, const struct fs_path *p, uid_t uid, char **out, size_t *len)
{
	switch (p->node) {
	case FS_CONFIG:
	case FS_ROLE:
	case FS_STATIC:
		return engine_def_read(c->engine, fs_kind(p), p->name, out, len);
	case FS_LEASE:
		return engine_lease_read(c->engine, p->name, p->id, out, len);
	case FS_ERRORS:
		return engine_errors(c->engine, uid, out, len);
	case FS_METRICS:
		return engine_metrics(c->engine, out, len);
	case FS_FLEET_LEASE:
		return engine_fleet_read(c->engine, p->id, p->sub, out, len);
	case FS_FLEET_NODE:
		return engine_fleet_read(c->engine, NULL, p->id, out, len);
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

void fs_stat_base(struct fs_ctx *c, const struct fs_path *p, struct stat *st, mode_t mode)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = fs_path_ino(p);
	st->st_mode = mode;
	st->st_nlink = S_ISDIR(mode) ? 2 : 1;
	st->st_uid = c->uid;
	st->st_gid = c->gid;
}

/*
 * A creds/ file (ROLE, ROLE.env, ..., ROLE.d/KEY): the role's owner, group
 * and mode; the size of the node's body once it has one (fstat sends no
 * file handle on this kernel, and a size of 0 would shrink the page cache
 * the body was stored in). A node still open after its role was removed
 * keeps serving its body, 0400. ROLE.d/ is a directory of the same owner
 * and group, searchable by whom the mode lets read.
 */
static int fs_attr_creds(struct fs_ctx *c, const struct fs_path *p, struct fs_inode *node,
			 struct stat *st)
{
	char name[CREDFMT_ROLE_MAX];
	struct role *ro = NULL;
	size_t size = 0;
	bool has_body = false;
	enum credfmt fmt;
	mode_t mode;

	if (fs_creds_role(p, name, &fmt) == 0)
		ro = engine_role_get(c->engine, name);

	if (node) {
		pthread_mutex_lock(&c->mu);
		if (node->body) {
			size = secret_len(node->body);
			has_body = true;
		}
		pthread_mutex_unlock(&c->mu);
	}
	if (!ro && !has_body)
		return -ENOENT;
	mode = ro ? ro->creds_mode : 0400;
	if (p->node == FS_CREDS_DIR)
		mode = S_IFDIR | mode | ((mode & 0444) >> 2);
	else
		mode |= S_IFREG;
	fs_stat_base(c, p, st, mode);
	if (ro && ro->creds_uid != (uid_t)-1)
		st->st_uid = ro->creds_uid;
	if (ro && ro->creds_gid != (gid_t)-1)
		st->st_gid = ro->creds_gid;
	st->st_size = size;
	role_unref(ro);
	return 0;
}

/* static-creds/NAME: the static role's owner, group and mode; no size (it is read whole). */
static int fs_attr_screds(struct fs_ctx *c, const struct fs_path *p, struct stat *st)
{
	struct static_role *s = engine_static_get(c->engine, p->name);

	if (!s)
		return -ENOENT;
	fs_stat_base(c, p, st, S_IFREG | s->creds_mode);
	if (s->creds_uid != (uid_t)-1)
		st->st_uid = s->creds_uid;
	if (s->creds_gid != (gid_t)-1)
		st->st_gid = s->creds_gid;
	static_role_unref(s);
	return 0;
}

int fs_attr(struct fs_ctx *c, const struct fs_path *p, struct fs_inode *node,
	    const struct fs_handle *h, struct stat *st)
{
	char *buf = NULL;
	size_t len = 0;
	int r;

	switch (p->node) {
	case FS_ROOT:
		fs_stat_base(c, p, st, S_IFDIR | 0755);
		return 0;
	case FS_DIR:
		if (!strcmp(p->top, "fleet"))
			return fs_fleet_attr(c, p, st);
		fs_stat_base(c, p, st,
			     S_IFDIR | (!strcmp(p->top, "creds") || !strcmp(p->top, "static-creds")
						? 0755
						: 0700));
		return 0;
	case FS_ERRORS:
		fs_stat_base(c, p, st, S_IFREG | 0444);
		return 0;
	case FS_METRICS:
		fs_stat_base(c, p, st, S_IFREG | c->metrics_mode);
		return 0;
	case FS_CREDS:
	case FS_CREDS_DIR:
	case FS_CREDS_KEY:
		return fs_attr_creds(c, p, node, st);
	case FS_ROTATE:
	case FS_RESET:
	case FS_ROTATE_ROLE:
		if (!engine_def_exists(c->engine,
				       p->node == FS_ROTATE_ROLE ? ENGINE_STATIC : ENGINE_CONFIG,
				       p->name))
			return -ENOENT;
		fs_stat_base(c, p, st, S_IFREG | 0200);
		return 0;
	case FS_SCREDS:
		return fs_attr_screds(c, p, st);
	case FS_FLEET_SUB:
	case FS_FLEET_ROLE:
	case FS_FLEET_LEASE:
	case FS_FLEET_NODE:
		return fs_fleet_attr(c, p, st);
	case FS_LEASE_DIR:
		if (!fs_lease_dir_exists(c, p->name))
			return -ENOENT;
		fs_stat_base(c, p, st, S_IFDIR | 0700);
		return 0;
	case FS_CONFIG:
	case FS_ROLE:
	case FS_STATIC:
	case FS_LEASE:
		r = fs_render(c, p, 0, &buf, &len);
		/* A file being created exists for its writer before it is applied. */
		if (r == -ENOENT && p->node != FS_LEASE &&
		    ((h && h->kind == FS_H_DOC) || docset_has(c->docs, fs_doc_kind(p), p->name)))
			r = 0;
		if (r != 0)
			return r;
		fs_stat_base(c, p, st, S_IFREG | (p->node == FS_LEASE ? 0400 : 0600));
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

/*
 * How long the kernel may keep a node's attributes. 0 for documents,
 * leases and the like, whose sizes change. The root and the top
 * directories keep theirs as long as names are kept (FS_ENTRY_TIMEOUT):
 * a path walk checks their permissions, and with 0 it would send a
 * GETATTR for each of them on every open. A creds/ file node's attributes
 * hold for its life (its body is fixed, and notify_store sets i_size):
 * notify_store invalidates the size, so the first read past the body's end
 * still asks once, and later ones do not; not when the kernel refused a
 * store, as the size then comes from GETATTR after the open.
 */
static double fs_attr_timeout(const struct fs_ctx *c, const struct fs_path *p)
{
	switch (p->node) {
	case FS_ROOT:
	case FS_DIR:
		return FS_ENTRY_TIMEOUT;
	case FS_CREDS:
	case FS_CREDS_KEY:
		return c->no_store ? 0 : FS_CREDS_ATTR_TIMEOUT;
	default:
		return 0;
	}
}

int fs_entry(struct fs_ctx *c, const struct fs_path *p, struct fuse_entry_param *e,
	     struct fs_inode **nodep)
{
	struct fs_inode *node;
	int r;

	memset(e, 0, sizeof(*e));
	if ((r = fs_attr(c, p, NULL, NULL, &e->attr)) != 0)
		return r;
	pthread_mutex_lock(&c->mu);
	node = fs_inode_lookup_locked(c->inodes, p);
	pthread_mutex_unlock(&c->mu);
	if (!node)
		return -ENOMEM;
	e->ino = node->ino;
	/*
	 * creds/: no caching at all, so that every path walk LOOKUPs again,
	 * sees another node id and gets an inode of its own (fs_creds.c).
	 */
	e->entry_timeout = !strcmp(p->top, "creds") ? 0 : FS_ENTRY_TIMEOUT;
	e->attr_timeout = fs_attr_timeout(c, p);
	*nodep = node;
	return 0;
}

void fs_ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs_ctx *c = fs_ctx_of(req);
	struct fuse_entry_param e;
	struct fs_path dir, p;
	struct fs_inode *node;
	int r;

	if ((r = fs_inode_path(c, parent, &dir)) != 0 || (r = fs_path_child(&dir, name, &p)) != 0 ||
	    (r = fs_entry(c, &p, &e, &node)) != 0) {
		fuse_reply_err(req, -r);
		return;
	}
	if (fuse_reply_entry(req, &e) != 0) {
		/* The kernel never saw it: take the reference back. */
		pthread_mutex_lock(&c->mu);
		fs_inode_forget_locked(c->inodes, node, 1);
		pthread_mutex_unlock(&c->mu);
	}
}

static void fs_forget_one(struct fs_ctx *c, fuse_ino_t ino, uint64_t n)
{
	struct fs_inode *node = fs_inode_get_locked(c->inodes, ino);

	if (node)
		fs_inode_forget_locked(c->inodes, node, n);
}

void fs_ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fs_ctx *c = fs_ctx_of(req);

	pthread_mutex_lock(&c->mu);
	fs_forget_one(c, ino, nlookup);
	pthread_mutex_unlock(&c->mu);
	fuse_reply_none(req);
}

void fs_ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct fs_ctx *c = fs_ctx_of(req);

	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < count; i++)
		fs_forget_one(c, forgets[i].ino, forgets[i].nlookup);
	pthread_mutex_unlock(&c->mu);
	fuse_reply_none(req);
}

/* The attributes of node ino (a node reference is held while they are made). */
static int fs_attr_of(struct fs_ctx *c, fuse_ino_t ino, const struct fs_handle *h, struct stat *st,
		      double *timeout)
{
	struct fs_inode *node;
	struct fs_path p;
	int r;

	pthread_mutex_lock(&c->mu);
	if ((node = fs_inode_get_locked(c->inodes, ino)) != NULL) {
		node->refs++;
		p = node->path;
	}
	pthread_mutex_unlock(&c->mu);
	if (!node)
		return -ESTALE;
	r = fs_attr(c, &p, node, h, st);
	*timeout = fs_attr_timeout(c, &p);
	pthread_mutex_lock(&c->mu);
	fs_inode_unref_locked(c->inodes, node);
	pthread_mutex_unlock(&c->mu);
	return r;
}

void fs_ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_ctx *c = fs_ctx_of(req);
	double timeout = 0;
	struct stat st;
	int r;

	if ((r = fs_attr_of(c, ino, fi ? fs_handle_of(fi) : NULL, &st, &timeout)) != 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, timeout);
}

/*
 * chmod and chown are refused; truncating a document to 0 is allowed
 * (`>` truncates before writing, and the write replaces the document
 * anyway); times are accepted and ignored (touch).
 */
void fs_ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		   struct fuse_file_info *fi)
{
	struct fs_ctx *c = fs_ctx_of(req);
	double timeout = 0;
	struct fs_path p;
	struct stat st;
	int r;

	if ((r = fs_inode_path(c, ino, &p)) != 0)
		goto out;
	if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		r = -EPERM;
		goto out;
	}
	if ((to_set & FUSE_SET_ATTR_SIZE) &&
	    ((!fs_is_def(&p) && !fs_is_action(&p)) || attr->st_size != 0)) {
		r = -EACCES;
		goto out;
	}
	r = fs_attr_of(c, ino, fi ? fs_handle_of(fi) : NULL, &st, &timeout);
out:
	if (r != 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, timeout);
}

/* A listing being built: the dirent buffer of fuse_add_direntry. */
struct fs_list {
	fuse_req_t req;
	char *buf;
	size_t len, cap;
	int err;
};

static void fs_list_add(struct fs_list *l, const char *name, const struct fs_path *p, mode_t type)
{
	struct stat st = { .st_ino = fs_path_ino(p), .st_mode = type };
	size_t need = fuse_add_direntry(l->req, NULL, 0, name, NULL, 0);

	if (l->err)
		return;
	if (l->len + need > l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4096;
		char *nb;

		while (cap < l->len + need)
			cap *= 2;
		if (!(nb = realloc(l->buf, cap))) {
			l->err = -ENOMEM;
			return;
		}
		l->buf = nb;
		l->cap = cap;
	}
	fuse_add_direntry(l->req, l->buf + l->len, need, name, &st, l->len + need);
	l->len += need;
}

static void fs_list_names(struct fs_list *l, const struct fs_path *dir, json_t *names)
{
	struct fs_path p;
	size_t i;
	json_t *v;

	if (!names) {
		l->err = -ENOMEM;
		return;
	}
	json_array_foreach(names, i, v)
	{
		const char *name = json_string_value(v);

		if (fs_path_child(dir, name, &p) != 0)
			continue;
		fs_list_add(l, name, &p, fs_is_dir(&p) ? S_IFDIR : S_IFREG);
	}
	json_decref(names);
}

/* leases/: the roles that are defined or still have leases. */
static json_t *fs_lease_roles(struct fs_ctx *c)
{
	json_t *names = engine_def_names(c->engine, ENGINE_ROLE), *live, *v, *w;
	size_t i, j;

	if (!names)
		return NULL;
	live = engine_lease_ids(c->engine, NULL);
	json_array_foreach(live, i, v)
	{
		bool seen = false;

		json_array_foreach(names, j, w) seen |= json_equal(v, w);
		if (!seen)
			json_array_append(names, v);
	}
	json_decref(live);
	return names;
}

/* creds/: every file of each role (README "Credential formats"). */
static void fs_list_creds(struct fs_list *l, const struct fs_path *dir, json_t *names)
{
	char file[CREDFMT_ROLE_MAX + 16];
	struct fs_path p;
	size_t i;
	json_t *v;

	if (!names) {
		l->err = -ENOMEM;
		return;
	}
	json_array_foreach(names, i, v)
	{
		const char *role = json_string_value(v);

		/* A role named x.env (from before such names were refused) has no JSON file. */
		for (int f = credfmt_role_name_clashes(role) ? CREDFMT_ENV : CREDFMT_JSON;
		     f <= CREDFMT_PGPASS; f++)
			if (credfmt_name(f, role, file, sizeof(file)) == 0 &&
			    fs_path_child(dir, file, &p) == 0)
				fs_list_add(l, file, &p, S_IFREG);
		snprintf(file, sizeof(file), "%s.d", role);
		if (fs_path_child(dir, file, &p) == 0 && p.node == FS_CREDS_DIR)
			fs_list_add(l, file, &p, S_IFDIR);
	}
	json_decref(names);
}

/* creds/ROLE.d/: the five keys. */
static void fs_list_keys(struct fs_list *l, const struct fs_path *dir)
{
	char file[32];
	struct fs_path p;

	for (int f = CREDFMT_KEY_USERNAME; f <= CREDFMT_KEY_DATABASE; f++)
		if (credfmt_name(f, "", file, sizeof(file)) == 0 &&
		    fs_path_child(dir, file, &p) == 0)
			fs_list_add(l, file, &p, S_IFREG);
}

static void fs_list_dir(struct fs_ctx *c, struct fs_list *l, const struct fs_path *p)
{
	static const char *const top[] = { "config",	   "roles",	  "creds",   "rotate-root",
					   "leases",	   "errors",	  "metrics", "static-roles",
					   "static-creds", "rotate-role", "reset",   "fleet" };
	struct fs_path child;

	fs_list_add(l, ".", p, S_IFDIR);
	fs_list_add(l, "..", p, S_IFDIR);
	if (p->node == FS_ROOT) {
		for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++) {
			if (!strcmp(top[i], "fleet") && !engine_has_fleet(c->engine))
				continue;
			if (fs_path_child(p, top[i], &child) == 0)
				fs_list_add(l, top[i], &child,
					    child.node == FS_DIR ? S_IFDIR : S_IFREG);
		}
	} else if (!strcmp(p->top, "fleet")) {
		fs_list_names(l, p, fs_fleet_names(c, p));
	} else if (p->node == FS_LEASE_DIR) {
		fs_list_names(l, p, engine_lease_ids(c->engine, p->name));
	} else if (!strcmp(p->top, "static-roles") || !strcmp(p->top, "static-creds") ||
		   !strcmp(p->top, "rotate-role")) {
		fs_list_names(l, p, engine_def_names(c->engine, ENGINE_STATIC));
	} else if (p->node == FS_CREDS_DIR) {
		fs_list_keys(l, p);
	} else if (!strcmp(p->top, "creds")) {
		fs_list_creds(l, p, engine_def_names(c->engine, ENGINE_ROLE));
	} else if (!strcmp(p->top, "config") || !strcmp(p->top, "rotate-root") ||
		   !strcmp(p->top, "reset")) {
		fs_list_names(l, p, engine_def_names(c->engine, ENGINE_CONFIG));
	} else if (!strcmp(p->top, "roles")) {
		fs_list_names(l, p, engine_def_names(c->engine, ENGINE_ROLE));
	} else {
		fs_list_names(l, p, fs_lease_roles(c));
	}
}

/* The listing is taken at opendir, so that readdir at any offset reads one snapshot. */
void fs_ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_ctx *c = fs_ctx_of(req);
	struct fs_list l = { .req = req };
	struct fs_handle *h = NULL;
	struct fs_path p;
	int r;

	if ((r = fs_inode_path(c, ino, &p)) != 0)
		goto out;
	if (!fs_is_dir(&p)) {
		r = -ENOTDIR;
		goto out;
	}
	fs_list_dir(c, &l, &p);
	if ((r = l.err) != 0)
		goto out;
	if (!(h = fs_handle_new(c, FS_H_DIR, &p, fuse_req_ctx(req)->uid))) {
		r = -ENOMEM;
		goto out;
	}
	h->data = l.buf;
	h->len = l.len;
	l.buf = NULL; /* transferred */
	fi->fh = (uintptr_t)h;
	if (fuse_reply_open(req, fi) != 0)
		fs_handle_put(c, h);
	return;
out:
	free(l.buf);
	fuse_reply_err(req, -r);
}

void fs_ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	struct fs_ctx *c = fs_ctx_of(req);
	struct fs_handle *h = fs_handle_of(fi);

	(void)ino;
	if (off < 0 || (size_t)off >= h->len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	/* A last entry cut short is dropped by the kernel and asked for again. */
	fs_handle_get(c, h);
	fuse_reply_buf(req, h->data + off,
		       h->len - off < size ? h->len - off : size); /* frees req */
	fs_handle_put(c, h);
}

void fs_ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	fs_handle_put(fs_ctx_of(req), fs_handle_of(fi));
	fuse_reply_err(req, 0);
}

/* SPDX-License-Identifier: MIT */
/*
 * fs.h - the FUSE layer (libfuse's low-level API): node ids and paths of
 * the credfs tree to engine calls, replies from credfs's own buffers.
 *
 * Node ids. The root, the top directories, errors and metrics have fixed
 * ids; every other name gets a node (fs_ino.c): one per path for
 * config/, roles/, rotate-root/, leases/ and creds/ROLE.d/, and a fresh
 * one for every LOOKUP of a creds/ file name (ROLE, ROLE.env, ...,
 * ROLE.d/KEY), so that each open of one has an inode, and so a page
 * cache, of its own (fuse-pitfalls.md 4.3, fs_creds.c).
 *
 * Threading: the FUSE workers and the engine's threads (issue completions,
 * poll wake-ups) call in here. Every node and handle field marked so is
 * protected by fs_ctx's mu; no FUSE reply or notification is sent, and
 * nothing calls into the engine, while it is held.
 */
#ifndef CREDFS_FS_H
#define CREDFS_FS_H

#include <fuse_lowlevel.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "credfmt.h"
#include "doc.h"
#include "engine.h"

/* The low-level operations; userdata is the struct fs_ctx. */
extern const struct fuse_lowlevel_ops fs_ll_ops;

/* How long the kernel keeps names other than creds/ (doc.h keeps created names visible as long). */
#define FS_ENTRY_TIMEOUT 1.0
/*
 * Attributes of a creds/ file node (a node per LOOKUP, fs_creds.c): kept
 * by the kernel for this long, so that reads past the body's end ask for
 * them once per open (after notify_store's invalidation), not on every
 * read.
 */
#define FS_CREDS_ATTR_TIMEOUT 1.0

/* Fixed node ids. */
enum {
	FS_INO_ROOT = FUSE_ROOT_ID,
	FS_INO_CONFIG,
	FS_INO_ROLES,
	FS_INO_CREDS,
	FS_INO_ROTATE,
	FS_INO_LEASES,
	FS_INO_ERRORS,
	FS_INO_METRICS,
	FS_INO_STATIC_ROLES,
	FS_INO_STATIC_CREDS,
	FS_INO_ROTATE_ROLE,
	FS_INO_RESET,
	FS_INO_FLEET,
	FS_INO_FIRST_DYNAMIC = 16,
};

struct fs_inodes;

struct fs_ctx {
	struct engine *engine; /* borrowed */
	struct fuse_session *se; /* for notifications; set before the loop starts */
	uid_t uid; /* the daemon's user: owner of everything but creds/ */
	gid_t gid;
	mode_t metrics_mode; /* permission bits of metrics (0400 unless --metrics-mode) */
	struct docset *docs; /* created names whose document is not applied yet (doc.h) */
	pthread_mutex_t mu;
	struct fs_handle *handles; /* protected by mu: every open file's handle */
	struct fs_inodes *inodes; /* protected by mu: the node table */
	struct fs_keyset *keysets; /* protected by mu: the leases of creds/ROLE.d/ (fs_keys.c) */
	atomic_bool no_store; /* the kernel refused a notify_store (fs_creds.c) */
	/* creds/ handles released but not let go yet (fs_ops.c: the closer) */
	pthread_mutex_t close_mu;
	pthread_cond_t close_cv;
	struct fs_handle *close_q; /* protected by close_mu, linked by close_next */
	pthread_t closer;
	bool closer_started, closer_stop; /* protected by close_mu */
};

/* fs_ctx_init - set up c's lock and node table; 0 or -ENOMEM. */
int fs_ctx_init(struct fs_ctx *c);

/*
 * fs_ctx_free - free the handles of files still open when the FUSE loop
 * ended (their release never comes) and every node; after the session
 * and the engine's threads are gone. Leases are not let go: a restart
 * finds them held.
 */
void fs_ctx_free(struct fs_ctx *c);

/*
 * fs_closer_stop - let go of every creds/ handle still queued by RELEASE,
 * and stop the thread that does it; after the FUSE loop, before the
 * engine stops.
 */
void fs_closer_stop(struct fs_ctx *c);

/* fs_install_poll - let the engine wake pollers of creds/ files. */
void fs_install_poll(struct fs_ctx *c);

/* What a path names. */
enum fs_node {
	FS_NONE,
	FS_ROOT,
	FS_DIR, /* config/, roles/, creds/, rotate-root/, leases/ */
	FS_ERRORS, /* errors */
	FS_METRICS, /* metrics */
	FS_CONFIG, /* config/NAME */
	FS_ROLE, /* roles/NAME */
	FS_CREDS, /* creds/NAME: ROLE, ROLE.env, ROLE.uri, ROLE.service, ROLE.pgpass */
	FS_CREDS_DIR, /* creds/ROLE.d */
	FS_CREDS_KEY, /* creds/ROLE.d/KEY */
	FS_ROTATE, /* rotate-root/NAME */
	FS_LEASE_DIR, /* leases/ROLE */
	FS_LEASE, /* leases/ROLE/ID */
	FS_STATIC, /* static-roles/NAME */
	FS_SCREDS, /* static-creds/NAME */
	FS_ROTATE_ROLE, /* rotate-role/NAME */
	FS_RESET, /* reset/NAME */
	FS_FLEET_SUB, /* fleet/leases, fleet/nodes (name) */
	FS_FLEET_ROLE, /* fleet/leases/ROLE (id: ROLE) */
	FS_FLEET_LEASE, /* fleet/leases/ROLE/ID (sub: ID) */
	FS_FLEET_NODE, /* fleet/nodes/NAME (id: NAME) */
};

struct fs_path {
	enum fs_node node;
	char top[16]; /* the top directory */
	char name[256]; /* NAME or ROLE: any name the kernel passes (NAME_MAX); "ROLE.d" */
	char id[256]; /* ID; KEY; fleet/: ROLE or NODE */
	char sub[256]; /* fleet/leases/ROLE/ID: ID */
};

/* fs_is_dir - a directory node. */
static inline bool fs_is_dir(const struct fs_path *p)
{
	return p->node == FS_ROOT || p->node == FS_DIR || p->node == FS_LEASE_DIR ||
	       p->node == FS_CREDS_DIR || p->node == FS_FLEET_SUB || p->node == FS_FLEET_ROLE;
}

/* fs_is_def - a definition file: config/, roles/, static-roles/. */
static inline bool fs_is_def(const struct fs_path *p)
{
	return p->node == FS_CONFIG || p->node == FS_ROLE || p->node == FS_STATIC;
}

/* fs_is_action - a write-only file any write of which acts: rotate-root/, rotate-role/, reset/. */
static inline bool fs_is_action(const struct fs_path *p)
{
	return p->node == FS_ROTATE || p->node == FS_ROTATE_ROLE || p->node == FS_RESET;
}

/* fs_doc_kind - the document kind of a written file (doc.h). */
static inline enum doc_kind fs_doc_kind(const struct fs_path *p)
{
	switch (p->node) {
	case FS_CONFIG:
		return DOC_CONFIG;
	case FS_ROLE:
		return DOC_ROLE;
	case FS_STATIC:
		return DOC_STATIC;
	case FS_ROTATE_ROLE:
		return DOC_ROTATE_ROLE;
	case FS_RESET:
		return DOC_RESET;
	default:
		return DOC_ROTATE;
	}
}

/* fs_kind - the engine's kind of a definition file. */
static inline enum engine_kind fs_kind(const struct fs_path *p)
{
	return p->node == FS_CONFIG ? ENGINE_CONFIG
	       : p->node == FS_ROLE ? ENGINE_ROLE
				    : ENGINE_STATIC;
}

/* fs_path_is_creds - a file of creds/, whose every LOOKUP makes a new node (fs_creds.c). */
static inline bool fs_path_is_creds(const struct fs_path *p)
{
	return p->node == FS_CREDS || p->node == FS_CREDS_KEY;
}

/*
 * fs_path_parse - split path into *p. Returns 0, or -ENOENT for a path
 * that cannot exist in the tree (too deep, unknown top, a component too
 * long). Existence of names is not checked.
 */
int fs_path_parse(const char *path, struct fs_path *p);

/* fs_path_child - the path of name inside directory dir: 0, -ENOENT or -ENOTDIR. */
int fs_path_child(const struct fs_path *dir, const char *name, struct fs_path *out);

/* fs_path_str - "config/NAME" etc. (no leading slash) into out (PATH_MAX bytes). */
void fs_path_str(const struct fs_path *p, char *out, size_t n);

/* fs_path_ino - the constant st_ino of a path (not its node id, which may change). */
ino_t fs_path_ino(const struct fs_path *p);

/* A creds/ node's life: fs_creds.c. */
enum fs_cstate {
	FS_C_NEW, /* looked up, never opened */
	FS_C_ISSUING, /* its first OPEN is waiting for the engine */
	FS_C_OPEN, /* body and lease held while opens > 0 */
	FS_C_DEAD, /* its last release came: refuses OPEN */
};

struct fs_inode {
	fuse_ino_t ino; /* immutable */
	struct fs_path path; /* immutable */
	bool fixed; /* immutable: root, top directories, errors, metrics */
	/* protected by fs_ctx's mu */
	uint64_t nlookup; /* the kernel's references (LOOKUP, CREATE minus FORGET) */
	unsigned refs; /* handles and requests in flight that point here */
	bool by_path; /* found by its path (not creds/, not unlinked) */
	enum fs_cstate cstate; /* creds/ only, and the rest of the fields */
	bool stored; /* the body is in the kernel's page cache of this node */
	unsigned opens; /* opens not released yet: the lease is held */
	unsigned handles; /* handles not freed yet: the body is kept (a reply may be in writev) */
	struct lease *lease; /* a reference, while FS_C_OPEN */
	struct secret *body; /* from FS_C_OPEN until its last handle is freed */
	struct fs_keyset *keys; /* ROLE.d/ files, while FS_C_OPEN: the opener's shared lease */
	struct fs_inode *ino_next, *path_next; /* hash chains */
};

/* fs_inodes_new / fs_inodes_free - the node table with the fixed nodes (free: every node). */
struct fs_inodes *fs_inodes_new(void);
void fs_inodes_free(struct fs_inodes *t);

/* fs_inode_get_locked - the node of ino, or NULL (an id the kernel has forgotten). */
struct fs_inode *fs_inode_get_locked(struct fs_inodes *t, fuse_ino_t ino);

/*
 * fs_inode_lookup_locked - the node for path with one more kernel
 * reference: the fixed node, the node of that path, or a new one (always
 * a new one for creds/). NULL on ENOMEM.
 */
struct fs_inode *fs_inode_lookup_locked(struct fs_inodes *t, const struct fs_path *p);

/* fs_inode_forget_locked - n kernel references fewer; frees the node when nothing points to it. */
void fs_inode_forget_locked(struct fs_inodes *t, struct fs_inode *node, uint64_t n);

/* fs_inode_unref_locked - drop one of node->refs; frees the node when nothing points to it. */
void fs_inode_unref_locked(struct fs_inodes *t, struct fs_inode *node);

/* fs_inode_unlink_path_locked - path is gone: a later LOOKUP of it makes a new node. */
void fs_inode_unlink_path_locked(struct fs_inodes *t, const struct fs_path *p);

/* An open file (or directory). */
enum fs_hkind {
	FS_H_READ, /* a snapshot taken at open: config/, roles/, leases/, errors, metrics */
	FS_H_DOC, /* a document written to config/, roles/ or rotate-root/ (doc.h) */
	FS_H_CREDS, /* an open of a creds/ node */
	FS_H_DIR, /* a directory listing taken at opendir */
};

struct fs_handle {
	enum fs_hkind kind;
	struct fs_path path;
	uid_t uid;
	char *data; /* FS_H_READ, FS_H_DIR, and FS_H_DOC opened O_RDWR: the bytes at open */
	struct secret *body; /* FS_H_READ of static-creds/: the bytes at open */
	uint64_t gen; /* static-creds/: the password's rotation count at open */
	size_t len;
	struct doc *doc; /* FS_H_DOC */
	struct fs_inode *inode; /* FS_H_CREDS: the node (a ref), whose body it reads */
	unsigned refs; /* protected by fs_ctx's mu */
	struct fs_handle *prev, *next; /* protected by fs_ctx's mu: every open handle */
	struct fs_handle *close_next; /* protected by fs_ctx's close_mu */
};

/*
 * fs_handle_new - a handle on the list with one reference (NULL on ENOMEM).
 * fs_handle_get takes one more (a reply being written from its bytes:
 * the reader may close, and RELEASE come, before writev returns);
 * fs_handle_put drops one, and the last unlinks and frees it (a creds/
 * handle: also the node's body, once no handle of the node is left).
 */
struct fs_handle *fs_handle_new(struct fs_ctx *c, enum fs_hkind kind, const struct fs_path *p,
				uid_t uid);
void fs_handle_get(struct fs_ctx *c, struct fs_handle *h);
void fs_handle_put(struct fs_ctx *c, struct fs_handle *h);

/* fs_handle_of - the handle in fi. */
struct fs_handle *fs_handle_of(const struct fuse_file_info *fi);

/* fs_ctx_of - the context of a request. */
struct fs_ctx *fs_ctx_of(fuse_req_t req);

/*
 * fs_inode_path - copy the path of node ino into *p: 0, or -ESTALE for a
 * node the table does not have. creds/ nodes are copied too.
 */
int fs_inode_path(struct fs_ctx *c, fuse_ino_t ino, struct fs_path *p);

/* fs_fleet.c: fleet/ (with --fleet). */

/* fs_fleet_parse - the rest s of a path under fleet/ into *p: 0 or -ENOENT/-ENOTDIR. */
int fs_fleet_parse(const char *s, struct fs_path *p);
/* fs_fleet_attr - attributes of a fleet/ path: 0 or -ENOENT. */
int fs_fleet_attr(struct fs_ctx *c, const struct fs_path *p, struct stat *st);
/* fs_fleet_names - the names in a fleet/ directory (new array), NULL if p is none. */
json_t *fs_fleet_names(struct fs_ctx *c, const struct fs_path *p);

/* fs_attr.c: attributes, names and listings. */

/*
 * fs_attr - the attributes of path (st_size of a creds/ node: its body's
 * length, 0 before its first open); node may be NULL; h is the open file
 * asking, if any. 0 or -ENOENT.
 */
int fs_attr(struct fs_ctx *c, const struct fs_path *p, struct fs_inode *node,
	    const struct fs_handle *h, struct stat *st);

/* fs_stat_base - st for path p with mode, owned by the daemon's user. */
void fs_stat_base(struct fs_ctx *c, const struct fs_path *p, struct stat *st, mode_t mode);

/* fs_render - the text a readable file shows now (new malloc'd buffer). */
int fs_render(struct fs_ctx *c, const struct fs_path *p, uid_t uid, char **out, size_t *len);

/*
 * fs_entry - LOOKUP's and CREATE's entry for path in *e, and its node in
 * *nodep with one more kernel reference (the caller takes it back if the
 * reply fails). 0, -ENOENT or -ENOMEM.
 */
int fs_entry(struct fs_ctx *c, const struct fs_path *p, struct fuse_entry_param *e,
	     struct fs_inode **nodep);

void fs_ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void fs_ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets);
void fs_ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		   struct fuse_file_info *fi);
void fs_ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi);
void fs_ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

/* fs_creds.c: opens, reads, polls and releases of creds/ nodes. */

/*
 * fs_creds_role - the role (role_out, CREDFMT_ROLE_MAX bytes) and format of
 * a creds/ path (FS_CREDS, FS_CREDS_KEY; FS_CREDS_DIR: the role, *fmt
 * untouched): 0, or -ENOENT for a name that is no file of any role.
 */
int fs_creds_role(const struct fs_path *p, char *role_out, enum credfmt *fmt);

/* An OPEN of a creds/ node waiting for its credential. */
struct fs_creds_open {
	fuse_req_t req;
	struct fs_ctx *c;
	struct fs_inode *node; /* a reference */
	struct fs_handle *h; /* the open's handle, made before the issue */
	enum credfmt fmt; /* the file's format */
	struct fs_creds_open *next; /* fs_keys.c: opens waiting for one issue */
};

/*
 * fs_creds_opened - answer op with lease (a reference, taken) and body (a
 * secret, taken): the node holds them while open; keys: the ROLE.d/
 * keyset the node uses (one of its users, taken), or NULL. Frees op.
 */
void fs_creds_opened(struct fs_creds_open *op, struct lease *lease, struct secret *body,
		     struct fs_keyset *keys);

/* fs_creds_failed - answer op with the error -r; the node can be opened again. Frees op. */
void fs_creds_failed(struct fs_creds_open *op, int r);
void fs_creds_open(fuse_req_t req, struct fs_ctx *c, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_creds_read(fuse_req_t req, struct fs_ctx *c, struct fs_handle *h, size_t size, off_t off);
void fs_creds_poll(fuse_req_t req, struct fs_ctx *c, struct fs_handle *h,
		   struct fuse_pollhandle *ph);
/* fs_creds_release - the handle's release: the last one lets the lease go; frees h. */
void fs_creds_release(struct fs_ctx *c, struct fs_handle *h);

/* fs_keys.c: creds/ROLE.d/, one lease per role and opening process. */

/*
 * fs_keys_open - answer op (an open of a file of role's ROLE.d/ by holder,
 * borrowed) from the keyset of that process, issuing it if there is none.
 * Takes op.
 */
void fs_keys_open(struct fs_ctx *c, struct fs_creds_open *op, const char *role,
		  const struct lease_holder *holder);

/* fs_keys_put - a node of keyset ks closed for good: the last lets the lease go. */
void fs_keys_put(struct fs_ctx *c, struct fs_keyset *ks);

/* fs_keys_free_all - at the end: free every keyset, not letting leases go (fs_ctx_free). */
void fs_keys_free_all(struct fs_ctx *c);

#endif

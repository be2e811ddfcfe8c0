/* SPDX-License-Identifier: MIT */
/*
 * fs.h - the FUSE layer: paths of the credfs tree to engine calls.
 */
#ifndef CREDFS_FS_H
#define CREDFS_FS_H

#include <fuse.h>
#include <pthread.h>

#include "engine.h"

/* The FUSE operations; private_data is the struct fs_ctx. */
extern const struct fuse_operations fs_ops;

struct fs_ctx {
	struct engine *engine; /* borrowed */
	uid_t uid; /* the daemon's user: owner of everything but creds/ */
	gid_t gid;
	struct docset *docs; /* created names whose document is not applied yet (doc.h) */
	pthread_mutex_t mu;
	struct fs_handle *handles; /* protected by mu: every open file's handle */
};

/*
 * fs_handles_free - free the handles of files still open when the FUSE
 * loop ended (their release never comes); after the session is gone.
 */
void fs_handles_free(struct fs_ctx *c);

/* fs_install_poll - let the engine wake pollers of creds/ files. */
void fs_install_poll(struct engine *e);

/* What a path names. */
enum fs_node {
	FS_NONE,
	FS_ROOT,
	FS_DIR, /* config/, roles/, creds/, rotate-root/, leases/ */
	FS_ERRORS, /* errors */
	FS_CONFIG, /* config/NAME */
	FS_ROLE, /* roles/NAME */
	FS_CREDS, /* creds/NAME */
	FS_ROTATE, /* rotate-root/NAME */
	FS_LEASE_DIR, /* leases/ROLE */
	FS_LEASE, /* leases/ROLE/ID */
};

struct fs_path {
	enum fs_node node;
	char top[16]; /* the top directory */
	char name[256]; /* NAME or ROLE: any name the kernel passes (NAME_MAX) */
	char id[256]; /* ID */
};

/*
 * fs_path_parse - split path into *p. Returns 0, or -ENOENT for a path
 * that cannot exist in the tree (too deep, unknown top, a component too
 * long). Existence of names is not checked.
 */
int fs_path_parse(const char *path, struct fs_path *p);

#endif

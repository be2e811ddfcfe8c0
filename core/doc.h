/* SPDX-License-Identifier: MIT */
/*
 * doc.h - a document written through one open file: config/NAME,
 * roles/NAME (a definition) or rotate-root/NAME (any write rotates).
 *
 * When a definition is applied is decided here, not by the file layer: it
 * is checked as it arrives, so a mistake fails the write() itself (the
 * shell prints it); a JSON object is applied as soon as its closing brace
 * arrives, key=value lines (which printf writes one per argument) at
 * close. A newline written after an applied JSON document changes nothing.
 * A rotate-root document rotates once, at its first write or at close.
 *
 * A definition file created (open with O_CREAT) exists for the kernel
 * before its document is applied: its name stays visible while a writer
 * has it open, and, when its document was rejected, for DOC_NAME_LINGER_MS
 * more (the kernel caches the name), so that writing it again works.
 *
 * Thread-safety: one doc is used by one open file; calls on it are
 * serialized by its own lock. The set of created names is shared.
 */
#ifndef CREDFS_DOC_H
#define CREDFS_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "engine.h"

#define DOC_NAME_LINGER_MS 1500 /* the file layer's entry timeout (1 s) and a margin */

enum doc_kind {
	DOC_CONFIG,
	DOC_ROLE,
	DOC_ROTATE,
	DOC_STATIC, /* static-roles/NAME */
	DOC_ROTATE_ROLE, /* rotate-role/NAME: any write rotates */
	DOC_RESET, /* reset/NAME: any write resets the pool */
};

struct doc;
struct docset;

/* docset_new / docset_free - the names created and not yet applied. */
struct docset *docset_new(void);
void docset_free(struct docset *ds);

/*
 * docset_has - whether name of kind was created by a writer that still has
 * it open, or was rejected less than DOC_NAME_LINGER_MS ago.
 */
bool docset_has(struct docset *ds, enum doc_kind kind, const char *name);

/*
 * doc_new - a document for kind/name written by uid through one open file.
 * created: the open created the name (O_CREAT): it is visible until close.
 * NULL on ENOMEM. e and ds are borrowed and outlive the doc.
 */
struct doc *doc_new(struct engine *e, struct docset *ds, enum doc_kind kind, const char *name,
		    uid_t uid, bool created);

/* doc_write - size bytes at off: the number written, or -errno (EINVAL, EFBIG, EIO, ...). */
int doc_write(struct doc *d, const char *buf, size_t size, off_t off)
	__attribute__((warn_unused_result));

/* doc_flush - close(): apply what is not applied yet; 0 or -errno (the close fails). */
int doc_flush(struct doc *d) __attribute__((warn_unused_result));

/* doc_free - the last release (NULL-safe); wipes the buffer. */
void doc_free(struct doc *d);

#endif

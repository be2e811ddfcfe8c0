/* SPDX-License-Identifier: MIT */
/*
 * store_i.h - the store's insides, shared by store.c (the key, opening,
 * appending, compaction) and store_replay.c (replay, the torn-tail rule,
 * store_check). The file format is described in store.h.
 */
#ifndef CREDFS_STORE_I_H
#define CREDFS_STORE_I_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "store.h"

#define STORE_MAGIC	   "CREDFS-STATE-1\n" /* 15 bytes and its NUL */
#define STORE_HDR	   32 /* magic (16) + file id (16) */
#define STORE_NONCE	   crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define STORE_TAG	   crypto_aead_xchacha20poly1305_ietf_ABYTES
#define STORE_REC_OVERHEAD (4 + STORE_NONCE + STORE_TAG)
#define STORE_REC_MAX	   (16 * 1024 * 1024)

struct store {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *dir, *path;
	const struct secret *key;
	int fd;
	unsigned char file_id[16]; /* protected by mu */
	uint64_t next_seq; /* protected by mu: seq of the next record in this file */
	/*
	 * protected by mu: records appended since open, how many of them were
	 * written, and how many of those were synced. Unlike seq they do not
	 * restart when compaction starts a new file, so a waiter's count stays
	 * meaningful across it.
	 */
	uint64_t appended, written, synced;
	int64_t unsynced_since; /* protected by mu: monotonic ms of the oldest unsynced record, 0 */
	unsigned char *pend; /* protected by mu: encrypted, not yet written */
	size_t plen, pcap; /* protected by mu */
	bool flushing; /* protected by mu: a leader is writing */
	bool compacting; /* protected by mu */
	bool broken; /* protected by mu: a write failed */
	size_t file_size; /* protected by mu */
	size_t snapshot_size; /* protected by mu */
	uint64_t compactions; /* protected by mu: since open */
	int64_t compacted_at; /* protected by mu: wall ms of the last compaction, 0: none yet */
	/* compaction's private output */
	int cfd;
	unsigned char cfile_id[16];
	uint64_t cseq;
	size_t csize;
};

/* store_ad - the associated data of record seq of file_id into ad. */
void store_ad(const unsigned char *file_id, uint64_t seq, unsigned char ad[24]);

/* store_new - a new store for dir with key (borrowed), no file yet; NULL on ENOMEM. */
struct store *store_new(const char *dir, const struct secret *key);
/* store_free - close and free s without flushing (NULL-safe). */
void store_free(struct store *s);

/*
 * store_load (store_replay.c) - read s->path and replay it to fn (may be
 * NULL); unless dry, open it for appending (s->fd) and cut a torn tail
 * off. *rep (may be NULL) says what was kept and dropped. Called before s
 * is shared: takes no lock. 0 or a negative errno with errbuf set.
 */
int store_load(struct store *s, store_replay_fn *fn, void *ctx, bool dry, struct store_report *rep,
	       char *errbuf);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * store.h - credfs's durable state: an append-only journal of records,
 * each a JSON object encrypted and authenticated with libsodium's
 * XChaCha20-Poly1305 under a 32-byte key, compacted into a snapshot of the
 * live objects when it grows.
 *
 * File: "CREDFS-STATE-1\n\0" (16 bytes), a 16-byte random file id, then
 * records: u32 little-endian length of the ciphertext, 24-byte nonce,
 * ciphertext (+16-byte tag). The associated data of record n is the file
 * id and n, so records cannot be reordered, dropped from the middle or
 * moved between files. Record 0 is a key check.
 *
 * Recovery. Opening replays records 0, 1, ... in order until record k is
 * invalid: its length is below the 16-byte tag or above 16 MiB, fewer
 * bytes are left than it says, it does not authenticate as record k, or it
 * does not decrypt to a JSON object or array. Then:
 *  - k == 0: refuse. A full-length key check that does not authenticate
 *    means the key does not match the state.
 *  - a valid record follows: at some byte offset after record k's start
 *    starts a record whose length is plausible and fits in the file and
 *    which authenticates as record k, k + 1 or k + 2: refuse (damage, not
 *    a crash), and touch nothing.
 *  - otherwise everything from record k's start to the end of the file is a
 *    tail torn by a crash (a record cut short, a torn sector, a zeroed or
 *    garbage extension the filesystem left): it is dropped with a warning
 *    that says how many bytes, and store_open truncates the file there
 *    (ftruncate, fsync) before appending. Like PostgreSQL's WAL, this also
 *    drops a final record damaged after it was acknowledged.
 * Opening never starts empty over existing state: a wrong key, a damaged
 * header, damage followed by valid records all refuse.
 *
 * Thread-safety: store_append may be called from any thread; concurrent
 * durable appends share one write and one fdatasync (group commit).
 */
#ifndef CREDFS_STORE_H
#define CREDFS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "secret.h"

#define STORE_KEY_LEN 32
#define STORE_ERRLEN  256

struct store;

/* store_replay_fn - one record (borrowed) in journal order. */
typedef void store_replay_fn(void *ctx, json_t *rec);

/*
 * store_key_load - read the 32-byte key at path into *key (new secret).
 * When the file does not exist and may_create, create it (0600, random).
 * Refuses a key readable or writable by group or others, or of another
 * size. Returns 0 or -errno with errbuf set.
 */
int store_key_load(const char *path, bool may_create, struct secret **key, char *errbuf);

/*
 * store_open - open (or create) the state in dir with key (borrowed, must
 * outlive the store), replaying every record to fn. Returns 0 and *out,
 * or -errno with errbuf set; refuses as described above (fn may have seen
 * some records by then).
 */
int store_open(const char *dir, const struct secret *key, store_replay_fn *fn, void *ctx,
	       struct store **out, char *errbuf) __attribute__((warn_unused_result));

/* store_report - what a start would do with a journal (store_check). */
struct store_report {
	uint64_t records; /* valid records replayed, key check excluded */
	size_t bytes; /* size of the journal file */
	size_t dropped_bytes; /* torn tail a start would drop (0 if none) */
};

/*
 * store_check - replay dir's journal to fn like store_open, but never write
 * anything (no repair, no create; -ENOENT with errbuf when there is no
 * journal); *rep says what a start would keep and drop. key is borrowed;
 * fn and rep may be NULL; *rep is written only on success. Returns 0 or -errno with
 * errbuf set, refusing (-EINVAL) exactly where store_open would.
 */
int store_check(const char *dir, const struct secret *key, store_replay_fn *fn, void *ctx,
		struct store_report *rep, char *errbuf) __attribute__((warn_unused_result));

/* store_exists - whether dir holds a state journal. */
bool store_exists(const char *dir);

/*
 * store_append - add rec (borrowed). durable: return only once it is on
 * disk (fdatasync), together with everything appended before it.
 * Returns 0 or -EIO (the store then refuses every later append).
 */
int store_append(struct store *s, json_t *rec, bool durable) __attribute__((warn_unused_result));

/* store_emit_fn - called by a snapshot writer for each live record. */
typedef int store_emit_fn(struct store *s, json_t *rec);

/* store_dump_fn - enumerate every live object through emit. */
typedef int store_dump_fn(void *ctx, struct store *s, store_emit_fn *emit);

/*
 * store_compact - write a new journal holding what dump emits, make it
 * durable and put it in place of the old one. Appends wait meanwhile.
 */
int store_compact(struct store *s, store_dump_fn *dump, void *ctx)
	__attribute__((warn_unused_result));

/*
 * store_sync_due - make records appended without durable (group-committed
 * with the next durable append) durable once the oldest is max_age_ms
 * old. Returns -1 when nothing is left unsynced, else the ms until the
 * oldest is due.
 */
int64_t store_sync_due(struct store *s, int64_t max_age_ms);

/* store_stats - the journal's size now, compactions since open, wall ms of the last (0: none). */
void store_stats(struct store *s, size_t *bytes, uint64_t *compactions, int64_t *compacted_at);

/* store_wants_compaction - the journal has grown well past its last snapshot. */
bool store_wants_compaction(struct store *s);

/* store_close - flush and close (NULL-safe). */
void store_close(struct store *s);

#endif

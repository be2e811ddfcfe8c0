/* SPDX-License-Identifier: MIT */
/*
 * store_replay.c - reading a journal back (store.h "Recovery"): decrypting
 * and replaying its records in order, telling a tail torn by a crash from
 * damage, cutting the torn tail off, and store_check for --check-state.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "log.h"
#include "store.h"
#include "store_i.h"

/* Why a record is invalid, for messages; the key check's failure to authenticate means a wrong key. */
static const char store_why_short[] = "is cut short";
static const char store_why_length[] = "has an implausible length";
static const char store_why_auth[] = "does not authenticate";
static const char store_why_json[] = "is not a JSON object";

static int store_read_file(const char *path, unsigned char **out, size_t *len)
{
	struct stat st;
	unsigned char *buf;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if (!(buf = malloc(st.st_size ? st.st_size : 1))) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			break;
		}
		got += n;
	}
	close(fd);
	if (r != 0) {
		free(buf);
		return r;
	}
	*out = buf;
	*len = got;
	return 0;
}

static uint32_t store_get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * The ciphertext length of the record at off when it is plausible and the
 * whole record lies within buf, else 0 and *why.
 */
static uint32_t store_rec_len(const unsigned char *buf, size_t len, size_t off, const char **why)
{
	uint32_t clen;

	if (len - off < 4 + STORE_NONCE) {
		*why = store_why_short;
		return 0;
	}
	clen = store_get32(buf + off);
	if (clen < STORE_TAG || clen > STORE_REC_MAX) {
		*why = store_why_length;
		return 0;
	}
	if (len - off - 4 - STORE_NONCE < clen) {
		*why = store_why_short;
		return 0;
	}
	return clen;
}

/*
 * Authenticate and decrypt the record at p (clen bytes of ciphertext) as
 * record seq into *plain (new secret, clen - STORE_TAG bytes of JSON used).
 * Returns 0, -EBADMSG (does not authenticate) or -ENOMEM.
 */
static int store_unseal(const struct store *s, const unsigned char *p, uint32_t clen, uint64_t seq,
			struct secret **plain)
{
	unsigned char ad[24];
	unsigned long long plen;
	struct secret *m;

	if (!(m = secret_alloc(clen)))
		return -ENOMEM;
	store_ad(s->file_id, seq, ad);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		    (unsigned char *)secret_buf(m), &plen, NULL, p + 4 + STORE_NONCE, clen, ad,
		    sizeof(ad), p + 4, (const unsigned char *)secret_str(s->key)) != 0) {
		secret_free(m);
		return -EBADMSG;
	}
	*plain = m;
	return 0;
}

/*
 * Record seq at off: 0 with *rec (new) and *size (its bytes in the file),
 * -EBADMSG with *why when it is invalid, or -ENOMEM.
 */
static int store_rec_read(const struct store *s, const unsigned char *buf, size_t len, size_t off,
			  uint64_t seq, json_t **rec, size_t *size, const char **why)
{
	struct secret *plain = NULL;
	json_error_t jerr;
	uint32_t clen;
	json_t *j;
	int r;

	if ((clen = store_rec_len(buf, len, off, why)) == 0)
		return -EBADMSG;
	if ((r = store_unseal(s, buf + off, clen, seq, &plain)) != 0) {
		*why = store_why_auth;
		return r;
	}
	j = json_loadb(secret_str(plain), clen - STORE_TAG, 0, &jerr);
	secret_free(plain);
	if (!j || (!json_is_object(j) && !json_is_array(j))) {
		json_decref(j);
		*why = store_why_json;
		return -EBADMSG;
	}
	*rec = j;
	*size = 4 + STORE_NONCE + clen;
	return 0;
}

/*
 * Look for a record that authenticates as seq, seq + 1 or seq + 2 at any
 * byte after from (where record seq failed): *found and its place when
 * there is one. Implausible lengths cost a comparison, so a zeroed tail
 * is scanned quickly. Returns 0 or -ENOMEM.
 * XXX G bytes of random garbage cost about G^3 / 2^33 bytes of Poly1305
 * below 16 MiB (1 length in 256 is plausible, it fits with chance R / 16 MiB
 * for R bytes left, then costs 3 R / 2): milliseconds for a crash's tail
 * (one group-commit batch), 4 s for 4 MiB, minutes for 16 MiB.
 */
static int store_scan_tail(const struct store *s, const unsigned char *buf, size_t len, size_t from,
			   uint64_t seq, bool *found, size_t *at, uint64_t *at_seq)
{
	*found = false;
	for (size_t off = from + 1; off + STORE_REC_OVERHEAD <= len; off++) {
		const char *why;
		uint32_t clen = store_rec_len(buf, len, off, &why);

		for (uint64_t n = seq; clen && n <= seq + 2; n++) {
			struct secret *plain = NULL;
			int r = store_unseal(s, buf + off, clen, n, &plain);

			secret_free(plain);
			if (r == -ENOMEM)
				return r;
			if (r == 0) {
				*found = true;
				*at = off;
				*at_seq = n;
				return 0;
			}
		}
	}
	return 0;
}

/*
 * Record seq at off is invalid (why): refuse, or accept everything from off
 * on as a torn tail (the recovery rule in store.h). dry: only report it.
 */
static int store_torn_tail(const struct store *s, const unsigned char *buf, size_t len, size_t off,
			   uint64_t seq, const char *why, bool dry, char *errbuf)
{
	uint64_t at_seq = 0;
	size_t at = 0;
	bool found;
	int r;

	if (seq == 0) {
		if (why == store_why_auth)
			snprintf(errbuf, STORE_ERRLEN, "the key does not match the state in %s",
				 s->dir);
		else
			snprintf(errbuf, STORE_ERRLEN,
				 "state %s is damaged: its key check record %s", s->path, why);
		return -EINVAL;
	}
	if ((r = store_scan_tail(s, buf, len, off, seq, &found, &at, &at_seq)) != 0)
		return r;
	if (found) {
		snprintf(
			errbuf, STORE_ERRLEN,
			"state %s is damaged at record %llu (byte %zu: it %s) and valid records follow (record %llu at byte %zu): refusing to start; restore it from a backup",
			s->path, (unsigned long long)seq, off, why, (unsigned long long)at_seq, at);
		return -EINVAL;
	}
	log_warn(
		"state %s: record %llu (byte %zu) %s and no valid record follows: %s the last %zu bytes as a tail torn by a crash",
		s->path, (unsigned long long)seq, off, why, dry ? "a start would drop" : "dropping",
		len - off);
	return 0;
}

/*
 * Decrypt and replay every valid record of buf; *good is the length of the
 * part kept (the rest is a torn tail).
 */
static int store_replay(struct store *s, const unsigned char *buf, size_t len, store_replay_fn *fn,
			void *ctx, bool dry, size_t *good, char *errbuf)
{
	const char *why = store_why_short;
	size_t off = STORE_HDR;
	uint64_t seq = 0;
	int r;

	while (off < len) {
		json_t *rec = NULL;
		size_t size = 0;

		if ((r = store_rec_read(s, buf, len, off, seq, &rec, &size, &why)) == -ENOMEM)
			return r;
		if (r != 0)
			break;
		if (seq > 0 && fn)
			fn(ctx, rec);
		json_decref(rec);
		off += size;
		seq++;
	}
	if ((off < len || seq == 0) &&
	    (r = store_torn_tail(s, buf, len, off, seq, why, dry, errbuf)) != 0)
		return r;
	s->next_seq = seq;
	*good = off;
	return 0;
}

/* Open the journal for appending, cutting it back to good bytes (a torn tail) first. */
static int store_repair(struct store *s, size_t good, size_t len, char *errbuf)
{
	int r;

	if ((s->fd = open(s->path, O_WRONLY | O_APPEND | O_CLOEXEC)) < 0) {
		r = -errno;
		snprintf(errbuf, STORE_ERRLEN, "cannot open %s: %s", s->path, strerror(-r));
		return r;
	}
	if (good < len && (ftruncate(s->fd, good) != 0 || fsync(s->fd) != 0)) {
		r = -errno;
		snprintf(errbuf, STORE_ERRLEN, "cannot repair %s: %s", s->path, strerror(-r));
		return r;
	}
	s->file_size = good;
	s->snapshot_size = good;
	return 0;
}

/*
 * Read and replay the journal; unless dry, open it for appending and cut a
 * torn tail off. *rep (may be NULL) says what was kept and dropped.
 */
int store_load(struct store *s, store_replay_fn *fn, void *ctx, bool dry, struct store_report *rep,
	       char *errbuf)
{
	unsigned char *buf = NULL;
	size_t len = 0, good = 0;
	int r;

	if ((r = store_read_file(s->path, &buf, &len)) != 0) {
		snprintf(errbuf, STORE_ERRLEN, "cannot read %s: %s", s->path, strerror(-r));
		return r;
	}
	r = -EINVAL;
	if (len < STORE_HDR) {
		snprintf(errbuf, STORE_ERRLEN, "state %s is truncated (%zu bytes)", s->path, len);
		goto out;
	}
	if (memcmp(buf, STORE_MAGIC, 16) != 0) {
		snprintf(errbuf, STORE_ERRLEN, "%s is not a credfs state file", s->path);
		goto out;
	}
	memcpy(s->file_id, buf + 16, 16);
	if ((r = store_replay(s, buf, len, fn, ctx, dry, &good, errbuf)) != 0 ||
	    (!dry && (r = store_repair(s, good, len, errbuf)) != 0))
		goto out;
	if (rep) {
		rep->records = s->next_seq - 1;
		rep->bytes = len;
		rep->dropped_bytes = len - good;
	}
out:
	free(buf);
	return r;
}

int store_check(const char *dir, const struct secret *key, store_replay_fn *fn, void *ctx,
		struct store_report *rep, char *errbuf)
{
	struct store *s;
	int r;

	if (!store_exists(dir)) {
		snprintf(errbuf, STORE_ERRLEN, "no state journal in %s", dir);
		return -ENOENT;
	}
	if (!(s = store_new(dir, key)))
		return -ENOMEM;
	r = store_load(s, fn, ctx, true, rep, errbuf);
	store_free(s);
	return r;
}

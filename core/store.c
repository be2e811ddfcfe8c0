/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "crash.h"
#include "log.h"
#include "store.h"

#define STORE_MAGIC	   "CREDFS-STATE-1\n" /* 15 bytes and its NUL */
#define STORE_HDR	   32 /* magic (16) + file id (16) */
#define STORE_NONCE	   crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define STORE_TAG	   crypto_aead_xchacha20poly1305_ietf_ABYTES
#define STORE_REC_OVERHEAD (4 + STORE_NONCE + STORE_TAG)
#define STORE_REC_MAX	   (16 * 1024 * 1024)
#define STORE_COMPACT_MIN  (4 * 1024 * 1024)

/* Why a record is invalid, for messages; the key check's failure to authenticate means a wrong key. */
static const char store_why_short[] = "is cut short";
static const char store_why_length[] = "has an implausible length";
static const char store_why_auth[] = "does not authenticate";
static const char store_why_json[] = "is not a JSON object";

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
	unsigned char *pend; /* protected by mu: encrypted, not yet written */
	size_t plen, pcap; /* protected by mu */
	bool flushing; /* protected by mu: a leader is writing */
	bool compacting; /* protected by mu */
	bool broken; /* protected by mu: a write failed */
	size_t file_size; /* protected by mu */
	size_t snapshot_size; /* protected by mu */
	/* compaction's private output */
	int cfd;
	unsigned char cfile_id[16];
	uint64_t cseq;
	size_t csize;
};

static void store_ad(const unsigned char *file_id, uint64_t seq, unsigned char ad[24])
{
	memcpy(ad, file_id, 16);
	for (int i = 0; i < 8; i++)
		ad[16 + i] = (unsigned char)(seq >> (8 * i));
}

/* Encrypt rec as record seq of file_id into a new buffer (*out, *len). */
static int store_seal(const struct store *s, const unsigned char *file_id, uint64_t seq,
		      json_t *rec, unsigned char **out, size_t *len)
{
	unsigned char ad[24], *buf;
	struct secret *plain;
	size_t n = json_dumpb(rec, NULL, 0, JSON_COMPACT);
	unsigned long long clen;

	if (n == 0 || n > STORE_REC_MAX - STORE_TAG)
		return -EINVAL;
	if (!(plain = secret_alloc(n)))
		return -ENOMEM;
	json_dumpb(rec, secret_buf(plain), n, JSON_COMPACT);
	if (!(buf = malloc(STORE_REC_OVERHEAD + n))) {
		secret_free(plain);
		return -ENOMEM;
	}
	store_ad(file_id, seq, ad);
	randombytes_buf(buf + 4, STORE_NONCE);
	crypto_aead_xchacha20poly1305_ietf_encrypt(
		buf + 4 + STORE_NONCE, &clen, (unsigned char *)secret_buf(plain), n, ad, sizeof(ad),
		NULL, buf + 4, (const unsigned char *)secret_str(s->key));
	secret_free(plain);
	for (int i = 0; i < 4; i++)
		buf[i] = (unsigned char)(clen >> (8 * i));
	*out = buf;
	*len = 4 + STORE_NONCE + clen;
	return 0;
}

static int store_write_all(int fd, const unsigned char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= n;
	}
	return 0;
}

static int store_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) != 0)
		r = -errno;
	close(fd);
	return r;
}

/* --- the key ------------------------------------------------------------- */

static int store_key_create(const char *path, struct secret **key, char *errbuf)
{
	unsigned char raw[STORE_KEY_LEN];
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600), r = 0;

	if (fd < 0) {
		r = -errno;
		snprintf(errbuf, STORE_ERRLEN, "cannot create key file %s: %s", path, strerror(-r));
		return r;
	}
	randombytes_buf(raw, sizeof(raw));
	if ((r = store_write_all(fd, raw, sizeof(raw))) != 0 || fsync(fd) != 0) {
		r = r ? r : -errno;
		snprintf(errbuf, STORE_ERRLEN, "cannot write key file %s: %s", path, strerror(-r));
	}
	close(fd);
	if (r == 0 && !(*key = secret_new((char *)raw, sizeof(raw))))
		r = -ENOMEM;
	sodium_memzero(raw, sizeof(raw));
	if (r != 0)
		unlink(path);
	else
		log_info("created key file %s", path);
	return r;
}

int store_key_load(const char *path, bool may_create, struct secret **key, char *errbuf)
{
	unsigned char raw[STORE_KEY_LEN + 1];
	struct stat st;
	ssize_t n;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT && may_create)
		return store_key_create(path, key, errbuf);
	if (fd < 0) {
		r = -errno;
		snprintf(errbuf, STORE_ERRLEN, "cannot open key file %s: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(errbuf, STORE_ERRLEN, "key file %s is not a regular file", path);
		r = -EINVAL;
	} else if (st.st_mode & 077) {
		snprintf(errbuf, STORE_ERRLEN,
			 "key file %s is accessible by group or others (mode %04o): chmod 600 it",
			 path, (unsigned)(st.st_mode & 07777));
		r = -EPERM;
	} else if ((n = read(fd, raw, sizeof(raw))) != STORE_KEY_LEN) {
		snprintf(errbuf, STORE_ERRLEN, "key file %s must hold exactly %d bytes", path,
			 STORE_KEY_LEN);
		r = -EINVAL;
	} else if (!(*key = secret_new((char *)raw, STORE_KEY_LEN))) {
		r = -ENOMEM;
	}
	sodium_memzero(raw, sizeof(raw));
	close(fd);
	return r;
}

/* --- opening and replay -------------------------------------------------- */

bool store_exists(const char *dir)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/journal", dir);
	return stat(path, &st) == 0;
}

static void store_free(struct store *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	free(s->pend);
	free(s->dir);
	free(s->path);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* Write a fresh journal at fd: header, file id, key check; *size its length. */
static int store_begin_file(struct store *s, int fd, unsigned char *file_id, uint64_t *seq,
			    size_t *size)
{
	unsigned char hdr[STORE_HDR] = STORE_MAGIC, *rec = NULL;
	json_t *check = json_pack("{s:s}", "t", "key-check");
	size_t len = 0;
	int r;

	randombytes_buf(file_id, 16);
	memcpy(hdr + 16, file_id, 16);
	if (!check)
		return -ENOMEM;
	r = store_seal(s, file_id, 0, check, &rec, &len);
	json_decref(check);
	if (r == 0 && (r = store_write_all(fd, hdr, sizeof(hdr))) == 0)
		r = store_write_all(fd, rec, len);
	free(rec);
	*seq = 1;
	*size = STORE_HDR + len;
	return r;
}

static int store_create(struct store *s, char *errbuf)
{
	int fd = open(s->path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600), r;

	if (fd < 0) {
		r = -errno;
		snprintf(errbuf, STORE_ERRLEN, "cannot create %s: %s", s->path, strerror(-r));
		return r;
	}
	if ((r = store_begin_file(s, fd, s->file_id, &s->next_seq, &s->file_size)) != 0 ||
	    (r = fsync(fd) ? -errno : 0) != 0 || (r = store_fsync_dir(s->dir)) != 0) {
		snprintf(errbuf, STORE_ERRLEN, "cannot write %s: %s", s->path, strerror(-r));
		close(fd);
		unlink(s->path);
		return r;
	}
	s->fd = fd;
	s->snapshot_size = s->file_size;
	return 0;
}

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
static int store_load(struct store *s, store_replay_fn *fn, void *ctx, bool dry,
		      struct store_report *rep, char *errbuf)
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

/* A new store for dir with key (borrowed), not yet backed by a file. */
static struct store *store_new(const char *dir, const struct secret *key)
{
	struct store *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->fd = -1;
	s->cfd = -1;
	s->key = key;
	if (!(s->dir = strdup(dir)) || asprintf(&s->path, "%s/journal", dir) < 0) {
		s->path = NULL;
		store_free(s);
		return NULL;
	}
	return s;
}

int store_open(const char *dir, const struct secret *key, store_replay_fn *fn, void *ctx,
	       struct store **out, char *errbuf)
{
	struct store *s = store_new(dir, key);
	int r;

	if (!s)
		return -ENOMEM;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		r = -errno;
		snprintf(errbuf, STORE_ERRLEN, "cannot create %s: %s", dir, strerror(-r));
		store_free(s);
		return r;
	}
	r = store_exists(dir) ? store_load(s, fn, ctx, false, NULL, errbuf)
			      : store_create(s, errbuf);
	if (r != 0) {
		store_free(s);
		return r;
	}
	*out = s;
	return 0;
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

/* --- appending ----------------------------------------------------------- */

static int store_pend_locked(struct store *s, json_t *rec)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	int r;

	if ((r = store_seal(s, s->file_id, s->next_seq, rec, &buf, &len)) != 0)
		return r;
	if (s->plen + len > s->pcap) {
		size_t cap = (s->plen + len) * 2;
		unsigned char *np = realloc(s->pend, cap);

		if (!np) {
			free(buf);
			return -ENOMEM;
		}
		s->pend = np;
		s->pcap = cap;
	}
	memcpy(s->pend + s->plen, buf, len);
	s->plen += len;
	s->next_seq++;
	s->appended++;
	free(buf);
	return 0;
}

/*
 * Group commit: the first waiter becomes the leader, writes everything
 * pending in one write() and one fdatasync(), and wakes the others; those
 * whose records were in that batch return without an fsync of their own.
 */
static int store_flush_locked(struct store *s, uint64_t upto, bool sync)
{
	while ((sync ? s->synced : s->written) < upto && !s->broken) {
		unsigned char *buf;
		size_t len;
		uint64_t last;
		int r;

		if (s->flushing || s->compacting) {
			pthread_cond_wait(&s->cv, &s->mu);
			continue;
		}
		s->flushing = true;
		buf = s->pend;
		len = s->plen;
		last = s->appended;
		s->pend = NULL;
		s->plen = s->pcap = 0;
		pthread_mutex_unlock(&s->mu);
		r = store_write_all(s->fd, buf, len);
		if (r == 0 && sync && fdatasync(s->fd) != 0)
			r = -errno;
		free(buf);
		pthread_mutex_lock(&s->mu);
		s->flushing = false;
		if (r != 0) {
			s->broken = true;
			log_err("state %s: write failed, refusing further changes: %s", s->path,
				strerror(-r));
		} else {
			s->written = last;
			if (sync)
				s->synced = last;
			s->file_size += len;
		}
		pthread_cond_broadcast(&s->cv);
	}
	return s->broken ? -EIO : 0;
}

int store_append(struct store *s, json_t *rec, bool durable)
{
	int r;

	pthread_mutex_lock(&s->mu);
	while (s->compacting)
		pthread_cond_wait(&s->cv, &s->mu);
	if (s->broken) {
		r = -EIO;
	} else if ((r = store_pend_locked(s, rec)) == 0) {
		if (durable)
			r = store_flush_locked(s, s->appended, true);
		else if (s->plen > 256 * 1024)
			r = store_flush_locked(s, s->appended, false);
	}
	pthread_mutex_unlock(&s->mu);
	return r;
}

/* --- compaction ---------------------------------------------------------- */

static int store_emit(struct store *s, json_t *rec)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	int r;

	if ((r = store_seal(s, s->cfile_id, s->cseq, rec, &buf, &len)) != 0)
		return r;
	r = store_write_all(s->cfd, buf, len);
	free(buf);
	s->cseq++;
	s->csize += len;
	return r;
}

bool store_wants_compaction(struct store *s)
{
	size_t min = STORE_COMPACT_MIN;
	bool yes;

#ifdef CREDFS_TEST_HOOKS
	/* CREDFS_COMPACT_BYTES: tests make compaction happen early. */
	const char *env = getenv("CREDFS_COMPACT_BYTES");

	if (env && *env)
		min = strtoull(env, NULL, 10);
#endif

	pthread_mutex_lock(&s->mu);
	yes = s->file_size > min && s->file_size > 4 * s->snapshot_size;
	pthread_mutex_unlock(&s->mu);
	return yes;
}

int store_compact(struct store *s, store_dump_fn *dump, void *ctx)
{
	char *tmp = NULL;
	int r;

	pthread_mutex_lock(&s->mu);
	/*
	 * Write out and sync what is pending, then hold appends off, in one
	 * critical section: a record sealed for the old file must never land
	 * in the new one, and nobody may be left waiting for a record that the
	 * old file will never sync.
	 */
	for (;;) {
		if (s->broken) {
			pthread_mutex_unlock(&s->mu);
			return -EIO;
		}
		if (s->flushing || s->compacting) {
			pthread_cond_wait(&s->cv, &s->mu);
			continue;
		}
		if (s->synced < s->appended || s->plen) {
			if ((r = store_flush_locked(s, s->appended, true)) != 0) {
				pthread_mutex_unlock(&s->mu);
				return r;
			}
			continue;
		}
		break;
	}
	s->compacting = true;
	pthread_mutex_unlock(&s->mu);

	r = -ENOMEM;
	if (asprintf(&tmp, "%s.tmp", s->path) < 0) {
		tmp = NULL;
		goto out;
	}
	unlink(tmp);
	if ((s->cfd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600)) < 0) {
		r = -errno;
		goto out;
	}
	if ((r = store_begin_file(s, s->cfd, s->cfile_id, &s->cseq, &s->csize)) != 0 ||
	    (r = dump(ctx, s, store_emit)) != 0)
		goto out;
	if (fsync(s->cfd) != 0) {
		r = -errno;
		goto out;
	}
	crash_point("compact-before-rename");
	if (rename(tmp, s->path) != 0) {
		r = -errno;
		goto out;
	}
	crash_point("compact-after-rename");
	store_fsync_dir(s->dir);
	pthread_mutex_lock(&s->mu);
	close(s->fd);
	s->fd = s->cfd;
	s->cfd = -1;
	memcpy(s->file_id, s->cfile_id, 16);
	s->next_seq = s->cseq;
	s->file_size = s->snapshot_size = s->csize;
	pthread_mutex_unlock(&s->mu);
	log_info("state %s: compacted to %zu bytes", s->path, s->csize);
	r = 0;
out:
	if (s->cfd >= 0) {
		close(s->cfd);
		s->cfd = -1;
		unlink(tmp);
	}
	if (r != 0)
		log_err("state %s: compaction failed: %s", s->path, strerror(-r));
	free(tmp);
	pthread_mutex_lock(&s->mu);
	s->compacting = false;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return r;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	if (s->plen)
		store_flush_locked(s, s->appended, true);
	pthread_mutex_unlock(&s->mu);
	store_free(s);
}

/* SPDX-License-Identifier: MIT */
/*
 * test_store.c - the encrypted journal's recovery rule: a torn tail (cut
 * short, a flipped byte in the final record, zeros, garbage) is dropped and
 * cut off, damage followed by valid records and a wrong key refuse and
 * touch nothing, store_check only reports, appends after a recovery replay.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "log.h"
#include "secret.h"
#include "store.h"
#include "test.h"

#define NREC	 5 /* records the fixture appends, ids 0 .. NREC - 1 */
#define MARKER	 "plaintext-marker-"
#define REC_HEAD (4 + 24) /* length field and nonce */

struct fixture {
	char dir[64], path[96];
	struct secret *key;
	unsigned char *orig; /* the intact journal */
	size_t olen;
	size_t off[NREC + 1]; /* start of record n: 0 is the key check */
};

static int warnings;
static char last_warn[512];

static void sink(void *ctx, int level, const char *msg)
{
	(void)ctx;
	if (level == LOG_WARNING) {
		warnings++;
		snprintf(last_warn, sizeof(last_warn), "%s", msg);
	}
}

static void collect(void *ctx, json_t *rec)
{
	json_array_append(ctx, rec);
}

static unsigned char *read_all(const char *path, size_t *len)
{
	struct stat st;
	unsigned char *buf;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) != 0) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	buf = malloc(st.st_size + 1);
	if (buf && read(fd, buf, st.st_size) != st.st_size) {
		free(buf);
		buf = NULL;
	}
	close(fd);
	*len = st.st_size;
	return buf;
}

/* Replace the journal with a[0..alen) followed by b[0..blen). */
static void write_all(const char *path, const unsigned char *a, size_t alen, const unsigned char *b,
		      size_t blen)
{
	int fd = open(path, O_WRONLY | O_TRUNC);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, a, alen) == (ssize_t)alen);
	if (blen)
		CHECK(write(fd, b, blen) == (ssize_t)blen);
	close(fd);
}

/* The journal is exactly buf[0..len). */
static bool file_is(const char *path, const unsigned char *buf, size_t len)
{
	size_t n = 0;
	unsigned char *now = read_all(path, &n);
	bool same = now && n == len && memcmp(now, buf, len) == 0;

	free(now);
	return same;
}

/* No record's plaintext is in the journal. */
static bool file_has_plaintext(const char *path)
{
	size_t n = 0;
	unsigned char *buf = read_all(path, &n);
	bool found = !buf || memmem(buf, n, MARKER, strlen(MARKER)) ||
		     memmem(buf, n, "\"id\"", 4) || memmem(buf, n, "key-check", 9);

	free(buf);
	return found;
}

static int append(struct store *s, int id)
{
	char pw[64];
	json_t *rec;
	int r;

	snprintf(pw, sizeof(pw), MARKER "%d", id);
	rec = json_pack("{s:s, s:i, s:s}", "t", "lease", "id", id, "pw", pw);
	r = rec ? store_append(s, rec, true) : -ENOMEM;
	json_decref(rec);
	return r;
}

/* A journal holding NREC records, written durably, and where each starts. */
static bool setup(struct fixture *f)
{
	char errbuf[STORE_ERRLEN] = "";
	unsigned char raw[STORE_KEY_LEN];
	struct store *s = NULL;
	json_t *got = json_array();
	size_t pos = 32;
	int r;

	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/credfs-test-store-XXXXXX");
	if (!mkdtemp(f->dir)) {
		perror("mkdtemp");
		return false;
	}
	snprintf(f->path, sizeof(f->path), "%s/journal", f->dir);
	randombytes_buf(raw, sizeof(raw));
	f->key = secret_new((char *)raw, sizeof(raw));
	sodium_memzero(raw, sizeof(raw));
	r = store_open(f->dir, f->key, collect, got, &s, errbuf);
	CHECK_INT_EQ(r, 0);
	CHECK_INT_EQ(json_array_size(got), 0);
	json_decref(got);
	if (r != 0)
		return false;
	for (int i = 0; i < NREC; i++)
		CHECK_INT_EQ(append(s, i), 0);
	store_close(s);
	if (!(f->orig = read_all(f->path, &f->olen)))
		return false;
	for (int i = 0; i <= NREC; i++) {
		CHECK(pos + REC_HEAD <= f->olen);
		f->off[i] = pos;
		pos += REC_HEAD + (f->orig[pos] | f->orig[pos + 1] << 8 | f->orig[pos + 2] << 16 |
				   (size_t)f->orig[pos + 3] << 24);
	}
	CHECK_INT_EQ(pos, f->olen);
	CHECK(!file_has_plaintext(f->path));
	return pos == f->olen;
}

static void teardown(struct fixture *f)
{
	unlink(f->path);
	rmdir(f->dir);
	secret_free(f->key);
	free(f->orig);
}

/* The replayed records are exactly ids[0..n). */
static bool ids_are(json_t *got, const int *ids, size_t n)
{
	if (json_array_size(got) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (json_integer_value(json_object_get(json_array_get(got, i), "id")) != ids[i])
			return false;
	return true;
}

static const int first[] = { 0, 1, 2, 3, 4, 100, 101 };

/*
 * Open the journal now in f->path and expect a recovery: the first keep
 * records replayed, one warning that names the dropped byte count, and the
 * file cut back to the end of record keep.
 */
static void expect_recovered(struct fixture *f, size_t keep, size_t dropped)
{
	char errbuf[STORE_ERRLEN] = "", num[32];
	json_t *got = json_array();
	struct store *s = NULL;
	int r;

	warnings = 0;
	last_warn[0] = '\0';
	r = store_open(f->dir, f->key, collect, got, &s, errbuf);
	CHECK_INT_EQ(r, 0);
	if (r != 0)
		fprintf(stderr, "store_open: %s\n", errbuf);
	CHECK(ids_are(got, first, keep));
	CHECK_INT_EQ(warnings, 1);
	snprintf(num, sizeof(num), " %zu bytes", dropped);
	CHECK(strstr(last_warn, num) != NULL);
	CHECK(strstr(last_warn, "dropping") != NULL);
	store_close(s);
	CHECK(file_is(f->path, f->orig, keep < NREC ? f->off[keep + 1] : f->olen));
	json_decref(got);
}

/* Open the journal now in f->path and expect a refusal that says want and changes nothing. */
static void expect_refused(struct fixture *f, const struct secret *key, const char *want)
{
	char errbuf[STORE_ERRLEN] = "";
	json_t *got = json_array();
	struct store *s = NULL;
	unsigned char *before;
	size_t blen = 0;
	int r;

	before = read_all(f->path, &blen);
	warnings = 0;
	r = store_open(f->dir, key, collect, got, &s, errbuf);
	CHECK_INT_EQ(r, -EINVAL);
	if (r == 0)
		store_close(s);
	CHECK(strstr(errbuf, want) != NULL);
	if (!strstr(errbuf, want))
		fprintf(stderr, "errbuf: %s\n", errbuf);
	CHECK_INT_EQ(warnings, 0);
	CHECK(before && file_is(f->path, before, blen));
	free(before);
	json_decref(got);
}

/* (a) The final record cut short anywhere: the others are kept, the file truncated. */
static void test_cut_short(void)
{
	struct fixture f;
	size_t last, cuts[4];

	if (!setup(&f))
		goto out;
	last = f.off[NREC];
	cuts[0] = last + 1;
	cuts[1] = last + 4;
	cuts[2] = last + REC_HEAD + 3;
	cuts[3] = f.olen - 1;
	for (size_t i = 0; i < 4; i++) {
		write_all(f.path, f.orig, cuts[i], NULL, 0);
		expect_recovered(&f, NREC - 1, cuts[i] - last);
	}
out:
	teardown(&f);
}

/* (b) A full-length final record with one byte flipped (length, nonce, ciphertext, tag). */
static void test_final_flipped(void)
{
	struct fixture f;
	size_t last, at[5];

	if (!setup(&f))
		goto out;
	last = f.off[NREC];
	at[0] = last; /* the length's low byte: longer (cut short) or shorter */
	at[1] = last + 3; /* its high byte: implausible */
	at[2] = last + 10; /* the nonce */
	at[3] = last + REC_HEAD + 2; /* the ciphertext */
	at[4] = f.olen - 1; /* the tag */
	for (size_t i = 0; i < 5; i++) {
		unsigned char *buf = malloc(f.olen);

		memcpy(buf, f.orig, f.olen);
		buf[at[i]] ^= 0x40;
		write_all(f.path, buf, f.olen, NULL, 0);
		free(buf);
		expect_recovered(&f, NREC - 1, f.olen - last);
	}
out:
	teardown(&f);
}

/* Seal text as record seq of f's file into out (REC_HEAD + len + 16 bytes); its size. */
static size_t seal(const struct fixture *f, uint64_t seq, const char *text, unsigned char *out)
{
	unsigned char ad[24];
	unsigned long long clen = 0;

	memcpy(ad, f->orig + 16, 16);
	for (int i = 0; i < 8; i++)
		ad[16 + i] = (unsigned char)(seq >> (8 * i));
	randombytes_buf(out + 4, 24);
	crypto_aead_xchacha20poly1305_ietf_encrypt(
		out + REC_HEAD, &clen, (const unsigned char *)text, strlen(text), ad, sizeof(ad),
		NULL, out + 4, (const unsigned char *)secret_str(f->key));
	for (int i = 0; i < 4; i++)
		out[i] = (unsigned char)(clen >> (8 * i));
	return REC_HEAD + clen;
}

/* A record that authenticates but is not a JSON object: at the end a torn tail, else refused. */
static void test_not_json(void)
{
	static const char *texts[] = { "\"a string\"", "{\"t\":", "" };
	unsigned char rec[128], *buf = NULL;
	struct fixture f;
	size_t n;

	if (!setup(&f) || !(buf = malloc(f.olen + sizeof(rec))))
		goto out;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		n = seal(&f, NREC, texts[i], rec);
		write_all(f.path, f.orig, f.off[NREC], rec, n);
		expect_recovered(&f, NREC - 1, n);
	}
	/* as record 2, with records 3 and 4 after it */
	n = seal(&f, 2, texts[0], rec);
	memcpy(buf, f.orig, f.off[2]);
	memcpy(buf + f.off[2], rec, n);
	memcpy(buf + f.off[2] + n, f.orig + f.off[3], f.olen - f.off[3]);
	write_all(f.path, buf, f.off[2] + n + f.olen - f.off[3], NULL, 0);
	expect_refused(&f, f.key, "record 2 (byte");
	expect_refused(&f, f.key, "is not a JSON object) and valid records follow (record 3");
out:
	free(buf);
	teardown(&f);
}

/* (c) A zeroed tail the filesystem extended the file with: everything is kept. */
static void test_zero_tail(void)
{
	static const unsigned char zeros[4096];
	struct fixture f;

	if (!setup(&f))
		goto out;
	write_all(f.path, f.orig, f.olen, zeros, sizeof(zeros));
	expect_recovered(&f, NREC, sizeof(zeros));
	/* a final record cut short, then zeros */
	write_all(f.path, f.orig, f.olen - 5, zeros, sizeof(zeros));
	expect_recovered(&f, NREC - 1, f.olen - 5 - f.off[NREC] + sizeof(zeros));
out:
	teardown(&f);
}

/* (d) Garbage appended, also garbage that looks like a record, and a copy of an old record. */
static void test_garbage_tail(void)
{
	unsigned char junk[4096];
	struct fixture f;
	size_t len2;

	if (!setup(&f))
		goto out;
	randombytes_buf(junk, sizeof(junk));
	write_all(f.path, f.orig, f.olen, junk, sizeof(junk));
	expect_recovered(&f, NREC, sizeof(junk));
	/* plausible lengths that fit, at the start and every 64 bytes: each is tried */
	for (size_t i = 0; i + 4 <= sizeof(junk); i += 64) {
		junk[i] = 100;
		junk[i + 1] = junk[i + 2] = junk[i + 3] = 0;
	}
	write_all(f.path, f.orig, f.olen, junk, sizeof(junk));
	expect_recovered(&f, NREC, sizeof(junk));
	/* record 2 again: it authenticates only as record 2, not as 6 .. 8 */
	len2 = f.off[3] - f.off[2];
	write_all(f.path, f.orig, f.olen, f.orig + f.off[2], len2);
	expect_recovered(&f, NREC, len2);
out:
	teardown(&f);
}

/* (e) Damage in the middle with valid records after it: refused, the file untouched. */
static void test_middle_damage(void)
{
	struct fixture f;
	unsigned char *buf = NULL;

	if (!setup(&f) || !(buf = malloc(f.olen)))
		goto out;
	/* a flipped ciphertext byte in record 2 */
	memcpy(buf, f.orig, f.olen);
	buf[f.off[2] + REC_HEAD + 1] ^= 1;
	write_all(f.path, buf, f.olen, NULL, 0);
	expect_refused(&f, f.key, "damaged at record 2 (byte");
	expect_refused(&f, f.key, "valid records follow (record 3");
	/* record 2's length zeroed: record 3 is found by its byte offset */
	memcpy(buf, f.orig, f.olen);
	memset(buf + f.off[2], 0, 4);
	write_all(f.path, buf, f.olen, NULL, 0);
	expect_refused(&f, f.key, "valid records follow (record 3");
	/* records 2 and 3 zeroed whole: record 4 is two past the damage */
	memcpy(buf, f.orig, f.olen);
	memset(buf + f.off[2], 0, f.off[4] - f.off[2]);
	write_all(f.path, buf, f.olen, NULL, 0);
	expect_refused(&f, f.key, "valid records follow (record 4");
	/* record 1 dropped from the middle: record 2 does not authenticate as 1 */
	memcpy(buf, f.orig, f.off[1]);
	memcpy(buf + f.off[1], f.orig + f.off[2], f.olen - f.off[2]);
	write_all(f.path, buf, f.olen - (f.off[2] - f.off[1]), NULL, 0);
	expect_refused(&f, f.key, "damaged at record 1");
out:
	free(buf);
	teardown(&f);
}

/* (f) A wrong key, and a damaged key check, refuse. */
static void test_wrong_key(void)
{
	unsigned char raw[STORE_KEY_LEN];
	struct secret *other;
	struct fixture f;

	if (!setup(&f))
		goto out;
	randombytes_buf(raw, sizeof(raw));
	other = secret_new((char *)raw, sizeof(raw));
	expect_refused(&f, other, "the key does not match the state");
	secret_free(other);
	write_all(f.path, f.orig, f.off[1] - 1, NULL, 0);
	expect_refused(&f, f.key, "key check record is cut short");
	write_all(f.path, f.orig, f.off[0], NULL, 0);
	expect_refused(&f, f.key, "key check record is cut short");
out:
	teardown(&f);
}

/* (g) store_check reports a torn tail and writes nothing; store_open then cuts it off. */
static void test_check(void)
{
	static const unsigned char zeros[4096];
	char errbuf[STORE_ERRLEN] = "", missing[128];
	struct store_report rep = { 99, 99, 99 };
	unsigned char *torn = NULL;
	json_t *got = json_array();
	struct fixture f;
	struct stat st;
	size_t tlen = 0;
	int r;

	if (!setup(&f))
		goto out;
	CHECK_INT_EQ(store_check(f.dir, f.key, collect, got, &rep, errbuf), 0);
	CHECK(ids_are(got, first, NREC));
	CHECK_INT_EQ(rep.records, NREC);
	CHECK_INT_EQ(rep.bytes, f.olen);
	CHECK_INT_EQ(rep.dropped_bytes, 0);

	write_all(f.path, f.orig, f.olen - 7, zeros, sizeof(zeros));
	if (!(torn = read_all(f.path, &tlen)))
		goto out;
	json_array_clear(got);
	warnings = 0;
	r = store_check(f.dir, f.key, collect, got, &rep, errbuf);
	CHECK_INT_EQ(r, 0);
	CHECK(ids_are(got, first, NREC - 1));
	CHECK_INT_EQ(rep.records, NREC - 1);
	CHECK_INT_EQ(rep.bytes, tlen);
	CHECK_INT_EQ(rep.dropped_bytes, tlen - f.off[NREC]);
	CHECK_INT_EQ(warnings, 1);
	CHECK(strstr(last_warn, "a start would drop") != NULL);
	CHECK(torn && file_is(f.path, torn, tlen));
	expect_recovered(&f, NREC - 1, tlen - f.off[NREC]);

	/* refused like store_open, without writing */
	CHECK_INT_EQ(store_check(f.dir, f.key, NULL, NULL, NULL, errbuf), 0);
	memcpy(torn, f.orig, f.olen);
	torn[f.off[1] + REC_HEAD] ^= 1;
	write_all(f.path, torn, f.olen, NULL, 0);
	rep.records = 42;
	CHECK_INT_EQ(store_check(f.dir, f.key, collect, got, &rep, errbuf), -EINVAL);
	CHECK(strstr(errbuf, "damaged at record 1") != NULL);
	CHECK_INT_EQ(rep.records, 42);
	CHECK(file_is(f.path, torn, f.olen));

	/* no journal: -ENOENT, and nothing is created */
	snprintf(missing, sizeof(missing), "%s/none", f.dir);
	errbuf[0] = '\0';
	CHECK_INT_EQ(store_check(missing, f.key, collect, got, &rep, errbuf), -ENOENT);
	CHECK(errbuf[0] != '\0');
	CHECK(stat(missing, &st) != 0 && errno == ENOENT);
out:
	free(torn);
	json_decref(got);
	teardown(&f);
}

/* (h) Appends after a recovered open land after the kept records and replay. */
static void test_append_after_recovery(void)
{
	static const unsigned char zeros[4096];
	char errbuf[STORE_ERRLEN] = "";
	json_t *got = json_array();
	struct store *s = NULL;
	struct fixture f;
	const int want[] = { 0, 1, 2, 3, 100, 101 };
	int r;

	if (!setup(&f))
		goto out;
	write_all(f.path, f.orig, f.olen - 1, zeros, sizeof(zeros));
	r = store_open(f.dir, f.key, collect, got, &s, errbuf);
	CHECK_INT_EQ(r, 0);
	if (r != 0)
		goto out;
	CHECK_INT_EQ(append(s, 100), 0);
	CHECK_INT_EQ(append(s, 101), 0);
	store_close(s);
	CHECK(!file_has_plaintext(f.path));

	json_array_clear(got);
	warnings = 0;
	r = store_open(f.dir, f.key, collect, got, &s, errbuf);
	CHECK_INT_EQ(r, 0);
	if (r == 0)
		store_close(s);
	CHECK(ids_are(got, want, 6));
	CHECK_INT_EQ(warnings, 0);
out:
	json_decref(got);
	teardown(&f);
}

/*
 * A record appended without durable is not on disk until the next durable
 * append or store_sync_due finds it old enough; then it is.
 */
static void test_sync_due(void)
{
	char errbuf[STORE_ERRLEN] = "";
	json_t *got = json_array(), *rec = json_pack("{s:s, s:i}", "t", "lease", "id", 200);
	struct store *s = NULL;
	struct fixture f;
	size_t len = 0;
	unsigned char *buf;
	const int want[] = { 0, 1, 2, 3, 4, 200 };
	int64_t left;
	int r;

	if (!rec || !setup(&f))
		goto out;
	r = store_open(f.dir, f.key, collect, got, &s, errbuf);
	CHECK_INT_EQ(r, 0);
	if (r != 0)
		goto out;
	CHECK_INT_EQ(store_sync_due(s, 100), -1); /* nothing unsynced */
	CHECK_INT_EQ(store_append(s, rec, false), 0);
	buf = read_all(f.path, &len);
	CHECK_INT_EQ(len, f.olen); /* still in memory */
	free(buf);
	left = store_sync_due(s, 60000);
	CHECK(left > 0 && left <= 60000); /* not old enough yet */
	CHECK_INT_EQ(store_sync_due(s, 0), -1); /* old enough: synced */
	buf = read_all(f.path, &len);
	CHECK(len > f.olen);
	free(buf);
	CHECK_INT_EQ(store_sync_due(s, 0), -1);
	store_close(s);
	json_array_clear(got);
	r = store_open(f.dir, f.key, collect, got, &s, errbuf);
	CHECK_INT_EQ(r, 0);
	if (r == 0)
		store_close(s);
	CHECK(ids_are(got, want, 6));
out:
	json_decref(rec);
	json_decref(got);
	teardown(&f);
}

int main(void)
{
	if (secret_init() != 0) {
		fprintf(stderr, "secret_init failed\n");
		return 1;
	}
	log_set_sink(sink, NULL);
	RUN(test_cut_short);
	RUN(test_final_flipped);
	RUN(test_not_json);
	RUN(test_zero_tail);
	RUN(test_garbage_tail);
	RUN(test_middle_damage);
	RUN(test_wrong_key);
	RUN(test_check);
	RUN(test_append_after_recovery);
	RUN(test_sync_due);
	return DONE();
}

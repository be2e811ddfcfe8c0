/* SPDX-License-Identifier: MIT */
/*
 * fleet_seal.c - sealing definitions under the fleet key, and the due time
 * of a dead node's lease. No libpq, no threads: unit-tested.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fleet_seal.h"

#define FLEET_AD_TAG "credfs-fleet-v1"
#define FLEET_B64    sodium_base64_VARIANT_URLSAFE_NO_PADDING

/* "credfs-fleet-v1\0kind\0name" (malloc'd), its length in *n. */
static unsigned char *fleet_ad(const char *kind, const char *name, size_t *n)
{
	size_t a = sizeof(FLEET_AD_TAG), b = strlen(kind) + 1, c = strlen(name);
	unsigned char *ad = malloc(a + b + c + 1);

	if (!ad)
		return NULL;
	memcpy(ad, FLEET_AD_TAG, a);
	memcpy(ad + a, kind, b);
	memcpy(ad + a + b, name, c);
	*n = a + b + c;
	return ad;
}

char *fleet_seal(const struct secret *key, const char *kind, const char *name, const json_t *doc)
{
	unsigned char nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
	unsigned char *ad = NULL, *box = NULL;
	struct secret *plain = NULL;
	unsigned long long clen = 0;
	size_t adlen = 0, n, blen, olen;
	char *out = NULL;

	if (secret_len(key) != FLEET_KEY_LEN)
		return NULL;
	n = json_dumpb(doc, NULL, 0, JSON_COMPACT | JSON_SORT_KEYS);
	if (!n || !(plain = secret_alloc(n)) || !(ad = fleet_ad(kind, name, &adlen)))
		goto out;
	json_dumpb(doc, secret_buf(plain), n, JSON_COMPACT | JSON_SORT_KEYS);
	blen = sizeof(nonce) + n + crypto_aead_xchacha20poly1305_ietf_ABYTES;
	if (!(box = malloc(blen)))
		goto out;
	randombytes_buf(nonce, sizeof(nonce));
	memcpy(box, nonce, sizeof(nonce));
	crypto_aead_xchacha20poly1305_ietf_encrypt(
		box + sizeof(nonce), &clen, (const unsigned char *)secret_str(plain), n, ad, adlen,
		NULL, nonce, (const unsigned char *)secret_str(key));
	olen = sodium_base64_ENCODED_LEN(sizeof(nonce) + clen, FLEET_B64);
	if ((out = malloc(olen)))
		sodium_bin2base64(out, olen, box, sizeof(nonce) + clen, FLEET_B64);
out:
	free(box);
	free(ad);
	secret_free(plain);
	return out;
}

json_t *fleet_unseal(const struct secret *key, const char *kind, const char *name, const char *text)
{
	const size_t npub = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
	unsigned char *ad = NULL, *box = NULL;
	struct secret *plain = NULL;
	unsigned long long mlen = 0;
	size_t adlen = 0, tlen = strlen(text), blen = 0;
	json_t *doc = NULL;

	if (secret_len(key) != FLEET_KEY_LEN || !(box = malloc(tlen + 1)) ||
	    sodium_base642bin(box, tlen + 1, text, tlen, NULL, &blen, NULL, FLEET_B64) != 0 ||
	    blen < npub + crypto_aead_xchacha20poly1305_ietf_ABYTES ||
	    !(plain = secret_alloc(blen)) || !(ad = fleet_ad(kind, name, &adlen)))
		goto out;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		    (unsigned char *)secret_buf(plain), &mlen, NULL, box + npub, blen - npub, ad,
		    adlen, box, (const unsigned char *)secret_str(key)) != 0)
		goto out;
	doc = json_loadb(secret_str(plain), mlen, 0, NULL);
out:
	free(ad);
	free(box);
	secret_free(plain);
	return doc;
}

int64_t fleet_due_ms(const struct fleet_due *d)
{
	int64_t let_go;

	if (d->revoke_requested || !d->state || !strcmp(d->state, "revoking") ||
	    !strcmp(d->state, "failed"))
		return 0;
	/* Held at death: its holder's handle died with the owner, so it was let go then. */
	let_go = d->death_ms;
	if (!strcmp(d->state, "let-go") && d->let_go_ms > 0 && d->let_go_ms < let_go)
		let_go = d->let_go_ms;
	return let_go + d->ttl_ms;
}

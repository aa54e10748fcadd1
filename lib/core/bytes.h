/*
 * Fixed-width little-endian encoding and a bounds-checked reader.
 *
 * Every byte that goes to disk or the wire is written with the wr_* calls
 * into a buffer sized beforehand, and read back with rd_* calls that check
 * each length against what remains: a short or lying input sets rd->bad and
 * yields zeros, never an out-of-bounds read. Callers check rd->bad once at
 * the end (or earlier where a value drives a loop).
 *
 * Variable-length unsigned integers (wr_uvar/rd_uvar, for lengths and
 * small counts where bytes matter) take 7 bits a byte, low bits first,
 * the high bit set on every byte but the last: 1 byte below 128, at most
 * WR_UVAR_MAX. The reader refuses a value over 64 bits and a non-minimal
 * form (a trailing zero byte), so every value has one encoding.
 */
#ifndef DKV_CORE_BYTES_H
#define DKV_CORE_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct wr {
	uint8_t *p;
	size_t len; /* bytes written so far */
};

static inline void
wr_u8(struct wr *w, uint8_t v)
{
	w->p[w->len++] = v;
}

static inline void
wr_u16(struct wr *w, uint16_t v)
{
	w->p[w->len++] = (uint8_t)v;
	w->p[w->len++] = (uint8_t)(v >> 8);
}

static inline void
wr_u32(struct wr *w, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		w->p[w->len++] = (uint8_t)(v >> (8 * i));
}

static inline void
wr_u64(struct wr *w, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		w->p[w->len++] = (uint8_t)(v >> (8 * i));
}

static inline void
wr_bytes(struct wr *w, const void *b, size_t n)
{
	if (n > 0)
		memcpy(w->p + w->len, b, n);
	w->len += n;
}

#define WR_UVAR_MAX 10

static inline size_t
uvar_size(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static inline void
wr_uvar(struct wr *w, uint64_t v)
{
	while (v >= 0x80) {
		w->p[w->len++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	w->p[w->len++] = (uint8_t)v;
}

struct rd {
	const uint8_t *p;
	size_t left;
	bool bad;
};

static inline struct rd
rd_init(const void *p, size_t n)
{
	struct rd r = {.p = p, .left = n, .bad = false};

	return r;
}

/* Returns n bytes and advances, or NULL (and marks the reader bad). */
static inline const uint8_t *
rd_bytes(struct rd *r, size_t n)
{
	const uint8_t *b;

	if (r->bad || n > r->left) {
		r->bad = true;
		return NULL;
	}
	b = r->p;
	r->p += n;
	r->left -= n;
	return b;
}

static inline uint8_t
rd_u8(struct rd *r)
{
	const uint8_t *b = rd_bytes(r, 1);

	return b ? b[0] : 0;
}

static inline uint16_t
rd_u16(struct rd *r)
{
	const uint8_t *b = rd_bytes(r, 2);

	return b ? (uint16_t)(b[0] | (b[1] << 8)) : 0;
}

static inline uint32_t
rd_u32(struct rd *r)
{
	const uint8_t *b = rd_bytes(r, 4);
	uint32_t v = 0;

	if (b != NULL)
		for (int i = 3; i >= 0; i--)
			v = (v << 8) | b[i];
	return v;
}

static inline uint64_t
rd_u64(struct rd *r)
{
	const uint8_t *b = rd_bytes(r, 8);
	uint64_t v = 0;

	if (b != NULL)
		for (int i = 7; i >= 0; i--)
			v = (v << 8) | b[i];
	return v;
}

static inline uint64_t
rd_uvar(struct rd *r)
{
	uint64_t v = 0;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		uint8_t b = rd_u8(r);

		if (r->bad)
			return 0;
		if (shift == 63 && b > 1)
			break; /* over 64 bits */
		v |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			if (b == 0 && shift > 0)
				break; /* not the shortest form */
			return v;
		}
	}
	r->bad = true;
	return 0;
}

#endif

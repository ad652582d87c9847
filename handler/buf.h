/* SPDX-License-Identifier: ISC */
/* Growing buffers and the byte copies records and replies are built with.
 * The lowest part of the handler: every other part may use it. */
#ifndef HANDLER_BUF_H
#define HANDLER_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* a buffer's first size, and the room one short reply ("ok N\n") needs */
#define BUF_FIRST 4096
#define U64_DIGITS 20

struct buf {
	char *p;
	size_t len, cap;
	int heap;	/* p was allocated (else it is a room given by buf_room) */
};

/* a buffer may start in a room that needs no allocation (heap 0, cap the
 * room's size): a short connection then makes no malloc, brk or mmap;
 * the slow path of buf_need: a larger room on the heap */
void buf_grow(struct buf *b, size_t more);

/* room for `more` bytes after len; out of memory ends the process */
static inline void
buf_need(struct buf *b, size_t more)
{
	if (b->len + more > b->cap)
		buf_grow(b, more);
}

/* copy n bytes (d and s apart); records are built of short pieces, where
 * an inline word loop beats a call to a memcpy made for long ones.  The
 * bytes past the last whole word go as the last word, overlapping the one
 * before: a byte loop there was a third of a bulk stream's instructions */
static inline char *
put(char *d, const char *s, size_t n)
{
	size_t i;

	if (n >= 8) {
		for (i = 0; i + 8 <= n; i += 8)
			memcpy(d + i, s + i, 8);
		if (i < n)
			memcpy(d + n - 8, s + n - 8, 8);
	} else if (n >= 4) {
		uint32_t a, b;

		memcpy(&a, s, 4);
		memcpy(&b, s + n - 4, 4);
		memcpy(d, &a, 4);
		memcpy(d + n - 4, &b, 4);
	} else if (n > 0) {
		/* 1 to 3 bytes: the first, the middle and the last */
		d[0] = s[0];
		d[n / 2] = s[n / 2];
		d[n - 1] = s[n - 1];
	}
	return d + n;
}

/* copy n bytes as whole sixteen-byte pieces, for a long piece copied
 * often (a record's head): up to 15 bytes past s + n are read and past
 * d + n written, so both must have that room */
#define PUT16_SLACK 15

static inline char *
put16(char *d, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i += 16)
		memcpy(d + i, s + i, 16);
	return d + n;
}

/* a string literal, its length counted by the compiler */
#define put_lit(d, lit) put((d), (lit), sizeof(lit) - 1)

/* v in decimal, at most U64_DIGITS bytes */
static inline char *
put_u64(char *d, unsigned long long v)
{
	char tmp[U64_DIGITS];
	int i = 0;

	do {
		tmp[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (i)
		*d++ = tmp[--i];
	return d;
}

/* a count kept in decimal too, so that numbering a message costs no
 * division: its n digits end d (n 0: the count is 0, as zeroed) */
struct decimal {
	char d[U64_DIGITS];
	size_t n;
};

/* the last eight digits, d[DEC_LOW..], as one word; the last digit's
 * place in that word */
#define DEC_LOW (U64_DIGITS - 8)
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define DEC_LAST_SHIFT 0
#else
#define DEC_LAST_SHIFT 56
#endif

static inline void
dec_next_carry(struct decimal *x)
{
	size_t i = U64_DIGITS, top = U64_DIGITS - x->n;

	while (i > top && x->d[i - 1] == '9')
		x->d[--i] = '0';
	if (i > top)
		x->d[i - 1]++;
	else if (x->n < U64_DIGITS)
		x->d[U64_DIGITS - ++x->n] = '1';
}

/*
 * The last digit goes up in the word it is read with: a byte stored and
 * then read back within a wider load (put_dec's) is a store-forwarding
 * stall, twice a message.  A carry (one count in ten) goes byte by byte,
 * and the word is then read and stored again, so the stall is paid once.
 */
static inline void
dec_next(struct decimal *x)
{
	uint64_t w;

	memcpy(&w, x->d + DEC_LOW, 8);
	if (x->n > 0 && (unsigned char)(w >> DEC_LAST_SHIFT) != '9') {
		w += (uint64_t)1 << DEC_LAST_SHIFT;
	} else {
		dec_next_carry(x);
		memcpy(&w, x->d + DEC_LOW, 8);
	}
	memcpy(x->d + DEC_LOW, &w, 8);
}

/* the count's digits at d */
static inline char *
put_dec(char *d, const struct decimal *x)
{
	return put(d, x->d + U64_DIGITS - x->n, x->n);
}

#endif

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

/* offsets into a buffer, in the order they were taken (where records or
 * replies end), so nobody has to parse back what was just written */
struct marks {
	size_t *at;
	size_t n, cap;
	int heap;
};

/* a buffer may start in a room that needs no allocation (heap 0, cap the
 * room's size): a short connection then makes no malloc, brk or mmap;
 * the slow paths of buf_need and marks_add: a larger room on the heap */
void buf_grow(struct buf *b, size_t more);
void marks_grow(struct marks *m);

/* room for `more` bytes after len; out of memory ends the process */
static inline void
buf_need(struct buf *b, size_t more)
{
	if (b->len + more > b->cap)
		buf_grow(b, more);
}

static inline void
marks_add(struct marks *m, size_t at)
{
	if (m->n == m->cap)
		marks_grow(m);
	m->at[m->n++] = at;
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

static inline void
dec_next(struct decimal *x)
{
	size_t i = U64_DIGITS, top = U64_DIGITS - x->n;

	while (i > top && x->d[i - 1] == '9')
		x->d[--i] = '0';
	if (i > top)
		x->d[i - 1]++;
	else if (x->n < U64_DIGITS)
		x->d[U64_DIGITS - ++x->n] = '1';
}

/* the count's digits at d */
static inline char *
put_dec(char *d, const struct decimal *x)
{
	return put(d, x->d + U64_DIGITS - x->n, x->n);
}

#endif

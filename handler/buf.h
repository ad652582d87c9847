/* SPDX-License-Identifier: ISC */
/* Growing buffers and the byte copies records and replies are built with.
 * The lowest part of the handler: every other part may use it. */
#ifndef HANDLER_BUF_H
#define HANDLER_BUF_H

#include <stddef.h>
#include <string.h>

/* a buffer's first size, and the room one short reply ("ok N\n") needs */
#define BUF_FIRST 4096
#define U64_DIGITS 20

struct buf {
	char *p;
	size_t len, cap;
};

/* offsets into a buffer, in the order they were taken (where records or
 * replies end), so nobody has to parse back what was just written */
struct marks {
	size_t *at;
	size_t n, cap;
};

/* room for `more` bytes after len; out of memory ends the process */
void buf_need(struct buf *b, size_t more);
void marks_add(struct marks *m, size_t at);

/* copy n bytes; records are built of short pieces, where an inline word
 * loop beats a call to a memcpy made for long ones */
static inline char *
put(char *d, const char *s, size_t n)
{
	for (; n >= 8; n -= 8, d += 8, s += 8)
		memcpy(d, s, 8);
	while (n--)
		*d++ = *s++;
	return d;
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

#endif

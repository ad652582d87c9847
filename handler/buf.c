/* SPDX-License-Identifier: ISC */
/* Growing buffers (buf.h): the one place the handler allocates as a
 * connection goes on, and the one answer to running out of memory. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "util.h"

/* b grown to hold `more` bytes after len: on the heap, copied out of its
 * room the first time */
void
buf_grow(struct buf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : BUF_FIRST;
	char *q;

	while (cap < b->len + more)
		cap *= 2;
	q = b->heap ? realloc(b->p, cap) : malloc(cap);
	if (q == NULL)
		die(1, "out of memory");
	if (!b->heap && b->len)
		memcpy(q, b->p, b->len);
	b->heap = 1;
	b->p = q;
	b->cap = cap;
}

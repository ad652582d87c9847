/* SPDX-License-Identifier: ISC */
/* Growing buffers (buf.h): the one place the handler allocates as a
 * connection goes on, and the one answer to running out of memory. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "util.h"

/* p grown to cap bytes, of which len are in use: on the heap, copied out
 * of a room the first time */
static void *
grow(void *p, int *heap, size_t len, size_t cap)
{
	void *q = *heap ? realloc(p, cap) : malloc(cap);

	if (q == NULL)
		die(1, "out of memory");
	if (!*heap && len)
		memcpy(q, p, len);
	*heap = 1;
	return q;
}

void
buf_grow(struct buf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : BUF_FIRST;

	while (cap < b->len + more)
		cap *= 2;
	b->p = grow(b->p, &b->heap, b->len, cap);
	b->cap = cap;
}

void
marks_grow(struct marks *m)
{
	size_t cap = m->cap ? 2 * m->cap : BUF_FIRST / sizeof *m->at;

	m->at = grow(m->at, &m->heap, m->n * sizeof *m->at, cap * sizeof *m->at);
	m->cap = cap;
}

/* SPDX-License-Identifier: ISC */
/* Growing buffers (buf.h): the one place the handler allocates as a
 * connection goes on, and the one answer to running out of memory. */
#include <stdlib.h>

#include "buf.h"
#include "util.h"

void
buf_need(struct buf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : BUF_FIRST;

	if (b->len + more <= b->cap)
		return;
	while (cap < b->len + more)
		cap *= 2;
	b->p = realloc(b->p, cap);
	if (b->p == NULL)
		die(1, "out of memory");
	b->cap = cap;
}

void
marks_add(struct marks *m, size_t at)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : BUF_FIRST / sizeof *m->at;
		m->at = realloc(m->at, m->cap * sizeof *m->at);
		if (m->at == NULL)
			die(1, "out of memory");
	}
	m->at[m->n++] = at;
}

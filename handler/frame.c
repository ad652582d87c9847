/* SPDX-License-Identifier: ISC */
/* Framing: input cut into lines, each a message with its record and its
 * ok, gathered in batches whose records are written before their oks go
 * out.  The loop that reads the connection until it ends is here too. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "deadline.h"
#include "frame.h"
#include "input.h"
#include "sigterm.h"
#include "util.h"

/* records are written once this many are pending, even mid-batch; a
 * batch that goes on with input already waiting aims a little lower,
 * so that lines longer than those before do not make it split */
#ifndef RECBUF
#define RECBUF (256 * 1024)
#endif
#define BATCH_AIM (RECBUF - RECBUF / 8)
#define BATCH_READ_MAX RECBUF
/* a read this large says the client streams: the batch may go on */
#ifndef STREAM_READ
#define STREAM_READ (16 * 1024)
#endif
/* "error line too long (max N bytes)\n" */
#define TOO_LONG_MAX 64

/* the first LF in p..e, or NULL: sixteen bytes at a time where SSE2 is
 * (short lines are the common case, and the library's memchr is made
 * for long ones) */
static char *
find_lf(char *p, char *e)
{
#ifdef __SSE2__
	const __m128i lf = _mm_set1_epi8('\n');

	for (; e - p >= 16; p += 16) {
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(
		    _mm_loadu_si128((const __m128i *)(void *)p), lf));

		if (m)
			return p + __builtin_ctz(m);
	}
#endif
	return memchr(p, '\n', (size_t)(e - p));
}

static void
reply_too_long(struct conn *c)
{
	char e[TOO_LONG_MAX];
	int k = snprintf(e, sizeof e, "error line too long (max %zu bytes)\n",
	    c->in.maxline);

	reply(&c->out, e, (size_t)k);
}

/* write the pending records; on failure only whole ones count as durable */
static int
rec_commit(struct conn *c)
{
	unsigned long long done;
	int ret = rec_flush(&c->rec, &c->sink, &done);

	c->kept = 0;	/* a kept connect record went with them */
	c->count.durable += done;
	if (ret < 0) {
		sink_failed(&c->sink);
		c->failed = 1;
	}
	return ret;
}

static void
message(struct conn *c, const char *line, size_t n)
{
	if (n > c->in.maxline) {
		reply_too_long(c);
		rec_rejected(&c->rec, n);
		return;
	}
	c->count.seq++;
	dec_next(&c->count.seqdec);
	c->count.bytes += n;
	rec_message(&c->rec, &c->count.seqdec, line, n);
	reply_ok(&c->out, &c->count.seqdec);
	/* keep the buffer bounded; the acks still wait for the batch */
	if (c->rec.pend.len >= RECBUF) {
		rec_commit(c);
		c->batch_split = 1;
	}
}

/*
 * Frame what is in the input buffer into messages; `from` is where new,
 * unscanned bytes start.  A trailing partial line stays for the next read.
 */
static void
frame(struct conn *c, size_t from)
{
	struct input *in = &c->in;
	char *p = in->p, *e = in->p + in->len, *q;
	size_t tail;

	if (in->discarding) {
		q = memchr(p + from, '\n', (size_t)(e - p - from));
		if (q == NULL) {
			in->skipped += (size_t)(e - p - from);
			if (e > p + from)
				in->skip_cr = e[-1] == '\r';
			in->len = 0;
			return;
		}
		in->skipped += (size_t)(q - p - from);
		if (q > p + from)
			in->skip_cr = q[-1] == '\r';
		rec_rejected(&c->rec, in->skipped - (unsigned)in->skip_cr);
		p = q + 1;
		from = 0;
		in->discarding = 0;
	}
	for (q = find_lf(p + from, e); q != NULL && !c->failed;
	    q = find_lf(p, e)) {
		/* a CR before the LF is dropped (telnet, nc -C) */
		message(c, p, (size_t)(q - p) - (q > p && q[-1] == '\r'));
		p = q + 1;
	}
	tail = (size_t)(e - p);
	/* up to maxline bytes plus a CR may still become a message */
	if (tail > in->maxline + 1 ||
	    (tail == in->maxline + 1 && p[in->maxline] != '\r')) {
		reply_too_long(c);
		in->discarding = 1;
		in->skipped = tail;
		in->skip_cr = e[-1] == '\r';
		tail = 0;
	} else if (p != in->p)
		memmove(in->p, p, tail);
	in->len = tail;
}

/*
 * End of a batch: records first, then the acks for exactly the messages
 * whose records were written.  Returns 0, or -1 with the reason set.
 */
static int
batch_end(struct conn *c, enum endreason *why)
{
	c->batch_read = 0;
	c->batch_split = 0;
	if (!c->failed && c->rec.pend.len)
		rec_commit(c);
	if (c->failed) {
		rep_keep_oks(&c->out, c->count.durable - c->count.acked);
		reply(&c->out, REPLY_CANNOT, sizeof REPLY_CANNOT - 1);
		rep_flush(&c->out, why);
		*why = END_ERROR;
		return -1;
	}
	c->count.acked = c->count.seq;
	return rep_flush(&c->out, why);
}

/*
 * How much more input the batch should take, if it is already waiting:
 * what would bring its records to BATCH_AIM, going by the bytes of record
 * its input made so far; 0: the batch ends.  A client that streams has
 * its records written in few large appends, which cost the page cache
 * much less per byte than many small ones, and its oks in fewer writes.
 * The batch ends once its records were written mid-batch, or it has read
 * BATCH_READ_MAX (a line over the limit being skipped makes no record):
 * its oks wait for its end, and the waits' checks (the session cap, a
 * kept connect record) come between batches.  A SIGTERM ends it too: a
 * client whose input never pauses keeps every wait from letting one in.
 */
static size_t
batch_more(struct conn *c, size_t last)
{
	size_t have = c->rec.pend.len, want;

	c->batch_read += last;
	if (last < STREAM_READ || term_pending() || c->failed ||
	    c->batch_split || have >= BATCH_AIM ||
	    c->batch_read >= BATCH_READ_MAX)
		return 0;
	want = have ? (size_t)((unsigned long long)(BATCH_AIM - have) *
	    c->batch_read / have) : READSZ;
	return want >= STREAM_READ && input_waiting() ? want : 0;
}

/* the wait for input ends at the idle timeout (from idle_end), or
 * earlier at the session cap or when a kept connect record is due */
static long long
wait_end(const struct conn *c, long long idle_end)
{
	long long end = deadline_min(idle_end, c->out.session_end);

	return c->kept ? deadline_min(end, c->kept_until) : end;
}

/* wait for input: 0 when there is some, or -1 with *why the reason the
 * connection ends, said to the client.  timeout: -t, 0 none */
static int
await_input(struct conn *c, long timeout, enum endreason *why)
{
	long long idle_end = deadline_in(timeout ?
	    (long long)timeout * 1000 : -1);

	for (;;) {
		int w = input_ready(wait_end(c, idle_end));

		if (w < 0) {
			*why = say_end(&c->out, "error server shutting down\n",
			    END_SHUTDOWN);
			return -1;
		}
		/* checked whatever the wait said: a client whose input never
		 * pauses must not outlive the cap */
		if (deadline_expired(c->out.session_end)) {
			*why = say_end(&c->out, "error session time limit\n",
			    END_TIMEOUT);
			return -1;
		}
		if (w > 0)
			return 0;
		if (!c->kept || !deadline_expired(c->kept_until)) {
			*why = say_end(&c->out, "error idle timeout\n",
			    END_TIMEOUT);
			return -1;
		}
		/* the first line is slow: the connect record goes alone */
		if (rec_commit(c) < 0) {
			*why = say_end(&c->out, REPLY_CANNOT, END_ERROR);
			return -1;
		}
	}
}

enum endreason
handle_messages(struct conn *c, long timeout)
{
	struct input *in = &c->in;
	enum endreason why = END_EOF;
	size_t more = 0;	/* the batch goes on: this much input waits */

	for (;;) {
		size_t from = in->len, ask = in->cap - in->len;
		ssize_t n;

		if (more == 0 && await_input(c, timeout, &why) < 0)
			return why;
		n = input_read(in->p + in->len, more && more < ask ? more : ask);
		if (n <= 0 && more) {
			/* what waited is gone: the batch ends before anything */
			int err = errno;

			if (batch_end(c, &why) < 0)
				return why;
			errno = err;
		}
		more = 0;
		if (n < 0 && (errno == EINTR || errno == EAGAIN ||
		    errno == EWOULDBLOCK))
			continue;	/* a non-blocking fd 0 from our caller */
		if (n < 0) {
			if (is_reset(errno) || errno == ETIMEDOUT)
				return END_RESET;
			warn("cannot read the connection:");
			return END_ERROR;
		}
		if (n == 0) {
			/* a last line without LF is a message too */
			if (in->len && !in->discarding) {
				rec_stamp(&c->rec);
				message(c, in->p, in->len);
			}
			if (batch_end(c, &why) < 0)
				return why;
			return END_EOF;
		}
		conn_announce(c);
		rec_stamp(&c->rec);
		in->len += (size_t)n;
		frame(c, from);
		if ((more = batch_more(c, (size_t)n)) != 0)
			continue;
		if (batch_end(c, &why) < 0)
			return why;
	}
}

/* SPDX-License-Identifier: ISC */
/* The record format: the head (time, ident, peer), the body of a message
 * or of a rejected line, and the pending records cut into the pieces the
 * sink takes whole (which the sink says).  Apart from the sink, which
 * knows no format. */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deadline.h"
#include "append.h"
#include "escape.h"
#include "record.h"

/* where the head's milliseconds start */
#define STAMP_MS 20
/* syslog's own head (priority, time, ident, pid) at its longest */
#define SYSLOG_HEAD_MAX (64 + ADDR_PEERLEN + 1)
/* a body's fixed words at their longest: "#N receive message: " and LF,
 * or "#- rejected: line too long (N bytes)" */
#define BODY_FIXED 40
#define REJECTED_MAX 64
/* the longest line whose record fits in rec bytes after a head */
#define FITS(rec, head) (((rec) - (head) - BODY_FIXED) / ESCAPE_GROWTH)

/* the longest record (a head, the fixed words, a line of MAXLINE_LIMIT
 * bytes each escaped to four, the LF) is one append_write may cut */
typedef char rec_max_fits[HEAD_MAX + BODY_FIXED +
    ESCAPE_GROWTH * MAXLINE_LIMIT + 1 <= APPEND_TAIL_MAX ? 1 : -1];

void
rec_head(struct record *r, const struct sink *s, const char *peer,
    const char *who)
{
	char *d = r->head;

	r->timed = !sink_stamps(s);
	if (r->timed) {
		d = put_lit(d, "YYYY-MM-DDTHH:MM:SS.mmmZ msgd-handler[");
		d = put_u64(d, (unsigned long long)getpid());
		d = put_lit(d, "]: ");
	}
	d = put(d, peer, strlen(peer));
	*d++ = ' ';
	r->wholen = *who ? strlen(who) + 1 : 0;
	if (r->wholen) {
		d = put(d, who, r->wholen - 1);
		*d++ = ' ';
	}
	r->headlen = (size_t)(d - r->head);
	r->ts_sec = -1;
}

size_t
rec_fits(const struct record *r, const struct sink *s)
{
	int one;
	size_t whole = sink_whole(s, &one);

	if (whole == 0)
		return 0;
	return r->timed ? FITS(whole, HEAD_BASE_MAX + r->wholen) :
	    FITS(whole, SYSLOG_HEAD_MAX + r->wholen);
}

/* two digits of v at d */
static char *
put2(char *d, int v)
{
	d[0] = (char)('0' + v / 10 % 10);
	d[1] = (char)('0' + v % 10);
	return d + 2;
}

void
rec_stamp(struct record *r)
{
	struct timespec now;
	struct tm tm;
	long ms;

	if (!r->timed)
		return;
	clock_read(CLOCK_REALTIME, &now);
	if (now.tv_sec != r->ts_sec) {
		/* "YYYY-MM-DDTHH:MM:SS." by hand: strftime's locale machinery
		 * costs more than the rest of a record */
		char *d = r->head;

		gmtime_r(&now.tv_sec, &tm);
		d = put2(put2(d, (tm.tm_year + 1900) / 100), tm.tm_year % 100);
		*d++ = '-';
		d = put2(d, tm.tm_mon + 1);
		*d++ = '-';
		d = put2(d, tm.tm_mday);
		*d++ = 'T';
		d = put2(d, tm.tm_hour);
		*d++ = ':';
		d = put2(d, tm.tm_min);
		*d++ = ':';
		d = put2(d, tm.tm_sec);
		r->ts_sec = now.tv_sec;
	}
	ms = now.tv_nsec / 1000000;
	r->head[STAMP_MS] = (char)('0' + ms / 100);
	r->head[STAMP_MS + 1] = (char)('0' + ms / 10 % 10);
	r->head[STAMP_MS + 2] = (char)('0' + ms % 10);
}

/* start a record of at most `body` more bytes; returns where the body goes */
static inline char *
rec_begin(struct record *r, size_t body)
{
	buf_need(&r->pend, r->headlen + PUT16_SLACK + body + 1);
	return put16(r->pend.p + r->pend.len, r->head, r->headlen);
}

static void
rec_end(struct record *r, char *d)
{
	*d++ = '\n';
	r->pend.len = (size_t)(d - r->pend.p);
}

void
rec_message(struct record *r, const struct decimal *seq, const char *line,
    size_t n)
{
	char *d = rec_begin(r, BODY_FIXED + ESCAPE_GROWTH * n);

	*d++ = '#';
	d = put_dec(d, seq);
	d = put_lit(d, " receive message: ");
	rec_end(r, escape(d, (const unsigned char *)line, n));
	r->nmsgs++;
}

void
rec_rejected(struct record *r, unsigned long long n)
{
	char *d = rec_begin(r, REJECTED_MAX);

	d = put_lit(d, "#- rejected: line too long (");
	d = put_u64(d, n);
	rec_end(r, put_lit(d, " bytes)"));
}

/* the end of the pending records' piece that starts at p and that the
 * sink takes whole: one record for syslog, for a pipe or terminal the
 * last record end within what it takes (or one record), else all */
static const char *
piece_end(const struct sink *s, const char *p, const char *e)
{
	int one;
	size_t whole = sink_whole(s, &one);
	const char *q, *lim = p + whole;

	if (one)
		return (const char *)memchr(p, '\n', (size_t)(e - p)) + 1;
	if (whole == 0 || (size_t)(e - p) <= whole)
		return e;
	q = (const char *)memchr(p, '\n', (size_t)(e - p)) + 1;
	while (q < e && q < lim) {
		const char *nl = memchr(q, '\n', (size_t)(e - q));

		if (nl + 1 > lim)
			break;
		q = nl + 1;
	}
	return q;
}

/* the messages whose records are whole in p..e, the start of pend: the
 * lines with "#" and a digit after the head (a rejected line's record has
 * "#-", a connect record no "#"); asked only when a write fell short */
static unsigned long long
rec_count_msgs(const struct record *r, const char *p, const char *e)
{
	unsigned long long k = 0;
	const char *nl;

	for (; (nl = memchr(p, '\n', (size_t)(e - p))) != NULL; p = nl + 1)
		if ((size_t)(nl - p) > r->headlen + 1 && p[r->headlen] == '#' &&
		    p[r->headlen + 1] >= '0' && p[r->headlen + 1] <= '9')
			k++;
	return k;
}

/*
 * A regular file gets the records in one append, so handlers sharing the
 * file never interleave; a pipe or terminal gets whole records in writes
 * of at most PIPE_BUF; syslog one datagram each.
 */
int
rec_flush(struct record *r, struct sink *s, unsigned long long *msgs)
{
	const char *p = r->pend.p, *e = r->pend.p + r->pend.len;
	int ret = 0;

	*msgs = r->nmsgs;
	while (p < e) {
		const char *q = piece_end(s, p, e);
		size_t n = sink_write(s, p, (size_t)(q - p));

		if (n < (size_t)(q - p)) {
			*msgs = rec_count_msgs(r, r->pend.p, p + n);
			ret = -1;
			break;
		}
		p = q;
	}
	r->pend.len = 0;
	r->nmsgs = 0;
	/* with -S a record counts only once it is on the disk */
	if (ret == 0 && sink_sync(s) < 0) {
		*msgs = 0;
		ret = -1;
	}
	return ret;
}

void
rec_text(struct record *r, const char *text)
{
	size_t n = strlen(text);

	rec_stamp(r);
	rec_end(r, put(rec_begin(r, n), text, n));
}

int
rec_single(struct record *r, struct sink *s, const char *text)
{
	unsigned long long msgs;

	rec_text(r, text);
	if (rec_flush(r, s, &msgs) < 0) {
		sink_failed(s);
		return -1;
	}
	return 0;
}

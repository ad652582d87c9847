/* msgd-handler: the per-connection message service.  The connection is fd 0
 * (in) and fd 1 (out); records go to a file, stderr or syslog. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "append.h"
#include "cred.h"
#include "msgd.h"
#include "proxy.h"

#define MAXLINE_DEFAULT 4096
#define MAXLINE_LIMIT (1024 * 1024)
#define READSZ (64 * 1024)
#define RECBUF (256 * 1024)
/* a pipe write up to PIPE_BUF is atomic: whole records, never mixed */
#define PIPE_ATOMIC 4096
/* what syslog daemons carry whole by default (rsyslog's maxMessageSize) */
#define SYSLOG_MAX 8192
/* a record's fixed parts at their longest: the head (time, ident, pid,
 * peer), or syslog's own head plus ours; "#N receive message: " and LF */
#define HEAD_MAX (32 + 32 + ADDR_PEERLEN)
#define SYSLOG_HEAD_MAX (64 + ADDR_PEERLEN + 1)
#define BODY_FIXED 40
/* escaping makes at most 4 bytes of one */
#define FITS(rec, head) (((rec) - (head) - BODY_FIXED) / 4)
/* a sink that takes nothing (a lock held, a pipe nobody reads, a FIFO
 * with no reader) gets this long per record, then the record fails */
#define SINK_WAIT_MS 5000
/* with -t 0 a client that stops reading still gets this long */
#define SEND_WAIT_DEFAULT 300
/* after an early end, unread input is drained this long so that the
 * kernel does not answer it with a reset that destroys our last replies */
#define LINGER_MS 2000
/* a relay's PROXY header must be whole within this */
#define PROXY_WAIT_MS 5000
/* TCP keepalive: a peer that vanished is found within about two minutes */
#define KEEPIDLE 60
#define KEEPINTVL 10
#define KEEPCNT 6

enum sinkkind { SINK_FILE, SINK_STDERR, SINK_SYSLOG };
enum endreason { END_EOF, END_TIMEOUT, END_RESET, END_ERROR, END_SHUTDOWN };
static const char *const reasons[] = { "eof", "timeout", "reset", "error",
    "shutdown" };
static const char cannot[] = "error cannot record message\n";
enum how { HOW_WRITE, HOW_SEND, HOW_POLLFIRST };

/* SIGTERM: finish the batch in hand, then say goodbye */
static volatile sig_atomic_t stopping;
static sigset_t waitmask;	/* the mask while waiting: SIGTERM let in */

struct buf {
	char *p;
	size_t len, cap;
};

struct opts {
	const char *greeting;
	const char *logpath;
	long maxline;
	int maxline_set;	/* -m given: say so if the sink needs less */
	long timeout;
	long session;		/* -T: the whole connection's cap, 0 none */
	int proxy;		/* -p: a PROXY header comes first */
	int use_syslog;
	int sync;
};

struct conn {
	/* where records go */
	enum sinkkind sink;
	int logfd;
	int logreg;		/* the sink is a regular file, written through app */
	struct append app;
	enum how loghow;	/* how to write a sink that is not */
	int sync;
	const char *logname;
	/* what every record starts with: "TIME msgd-handler[PID]: PEER ",
	 * or just "PEER " for syslog, which adds time and ident itself */
	char head[32 + 32 + ADDR_PEERLEN];
	size_t headlen;
	time_t ts_sec;
	/* input */
	char *in;
	size_t inlen, incap;
	size_t maxline;
	int discarding;		/* inside a line over the limit */
	unsigned long long skipped;	/* its length so far */
	int skip_cr;		/* its last byte was a CR */
	/* the connection's output */
	int outfd;
	enum how outhow;
	int sendwait_ms;
	long long session_end;	/* -T: when the connection ends, -1 never */
	/* counts: messages numbered, and the last whose record is written */
	unsigned long long seq, durable, bytes;
	unsigned long long acked;	/* oks sent before this batch */
	int failed;		/* a record could not be written */
	struct buf rec, rep;
};

#define SYNOPSIS "msgd-handler [-hpsS] [-g TEXT] [-l FILE] [-m BYTES] " \
	"[-t SECS] [-T SECS]"
/* -h: a line an option, in the man page's order */
#define OPTIONS \
	"  -g TEXT   greeting line (default hello)\n" \
	"  -h        this help (--help too)\n" \
	"  -l FILE   append records to FILE, made 0640; - is stderr\n" \
	"  -m BYTES  longest line, 1 to 1048576 (default 4096; less to a " \
	"pipe or syslog)\n" \
	"  -p        read a PROXY v1/v2 header first (behind a relay)\n" \
	"  -S        fsync the record file before each ok\n" \
	"  -s        records to syslog (facility daemon)\n" \
	"  -t SECS   idle timeout, 0 never (default 300)\n" \
	"  -T SECS   cap on the whole connection, 0 none (default 0)\n" \
	"see msgd-handler(8)\n"

static void
buf_need(struct buf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 4096;

	if (b->len + more <= b->cap)
		return;
	while (cap < b->len + more)
		cap *= 2;
	b->p = realloc(b->p, cap);
	if (b->p == NULL)
		die(1, "out of memory");
	b->cap = cap;
}

/* copy n bytes; records are built of short pieces, where an inline word
 * loop beats a call to a memcpy made for long ones */
static char *
put(char *d, const char *s, size_t n)
{
	for (; n >= 8; n -= 8, d += 8, s += 8)
		memcpy(d, s, 8);
	while (n--)
		*d++ = *s++;
	return d;
}

static char *
put_u64(char *d, unsigned long long v)
{
	char tmp[20];
	int i = 0;

	do {
		tmp[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (i)
		*d++ = tmp[--i];
	return d;
}

/* ---- escaping: a record is one line, and the bytes can be recovered ---- */

/* 1 for bytes copied as they are: printable ASCII but the backslash */
static unsigned char plain[256];

static void
escape_init(void)
{
	int c;

	for (c = 0x20; c < 0x7f; c++)
		plain[c] = 1;
	plain['\\'] = 0;
}

/* length of the valid UTF-8 sequence at s (first byte >= 0x80), or 0 */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (c == 0xed)
			hi = 0x9f;	/* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;	/* overlong */
		else if (c == 0xf4)
			hi = 0x8f;	/* above U+10FFFF */
	} else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/* valid UTF-8 that a Unicode-aware reader takes for a line break, a control
 * or a direction change (C1, U+061C, U+200E/F, U+2028/9, U+202A-E,
 * U+2066-9): escaped byte by byte like invalid UTF-8 */
static int
utf8_forged(const unsigned char *s, size_t k)
{
	if (k == 2)
		return (s[0] == 0xc2 && s[1] <= 0x9f) ||
		    (s[0] == 0xd8 && s[1] == 0x9c);
	if (k != 3 || s[0] != 0xe2)
		return 0;
	if (s[1] == 0x80)
		return s[2] == 0x8e || s[2] == 0x8f ||
		    (s[2] >= 0xa8 && s[2] <= 0xae);
	return s[1] == 0x81 && s[2] >= 0xa6 && s[2] <= 0xa9;
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* does any of these 8 bytes need escaping? (bit tricks, one word at once) */
static int
word_escapes(unsigned long long w)
{
	if (w & HIGHS)
		return 1;	/* not ASCII: needs a UTF-8 check */
	/* some byte below 0x20, equal to 0x7f, or a backslash */
	return ((((w - 0x20 * ONES) & ~w) | ((w + ONES) & HIGHS) |
	    (((w ^ 0x5c * ONES) - ONES) & ~(w ^ 0x5c * ONES))) & HIGHS) != 0;
}

/* escape n bytes of s into d, which has room for 4 * n; returns the end */
static char *
escape(char *d, const unsigned char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, k;
	unsigned long long w;

	while (i < n) {
		/* the fast path for clean text: eight plain bytes at a time */
		for (; i + 8 <= n; i += 8, d += 8) {
			memcpy(&w, s + i, 8);
			if (word_escapes(w))
				break;
			memcpy(d, &w, 8);
		}
		if (i == n)
			break;
		if (plain[s[i]]) {
			*d++ = (char)s[i++];
		} else if (s[i] == '\\') {
			*d++ = '\\';
			*d++ = '\\';
			i++;
		} else if (s[i] >= 0x80 && (k = utf8_seq(s + i, n - i)) &&
		    !utf8_forged(s + i, k)) {
			d = put(d, (const char *)s + i, k);
			i += k;
		} else {
			*d++ = '\\';
			*d++ = 'x';
			*d++ = hex[s[i] >> 4];
			*d++ = hex[s[i] & 15];
			i++;
		}
	}
	return d;
}

/* ---- records ---- */

/* the time, to the millisecond, into the record head */
static void
stamp(struct conn *c)
{
	struct timespec now;
	struct tm tm;
	long ms;

	if (c->sink == SINK_SYSLOG)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	if (now.tv_sec != c->ts_sec) {
		gmtime_r(&now.tv_sec, &tm);
		strftime(c->head, 24, "%Y-%m-%dT%H:%M:%S.", &tm);
		c->head[23] = 'Z';
		c->ts_sec = now.tv_sec;
	}
	ms = now.tv_nsec / 1000000;
	c->head[20] = (char)('0' + ms / 100);
	c->head[21] = (char)('0' + ms / 10 % 10);
	c->head[22] = (char)('0' + ms % 10);
}

static void
head_init(struct conn *c, const char *peer)
{
	int n = 0;

	if (c->sink != SINK_SYSLOG)
		n = snprintf(c->head, sizeof c->head,
		    "YYYY-MM-DDTHH:MM:SS.mmmZ msgd-handler[%ld]: ",
		    (long)getpid());
	n += snprintf(c->head + n, sizeof c->head - n, "%s ", peer);
	c->headlen = (size_t)n;
	c->ts_sec = -1;
}

/* start a record of at most `body` more bytes; returns where the body goes */
static char *
rec_begin(struct conn *c, size_t body)
{
	buf_need(&c->rec, c->headlen + body + 1);
	return put(c->rec.p + c->rec.len, c->head, c->headlen);
}

static void
rec_end(struct conn *c, char *d)
{
	*d++ = '\n';
	c->rec.len = (size_t)(d - c->rec.p);
}

/* how many of the records in p..p+n are messages ("#N receive"), not the
 * other records ("#- rejected") that share a batch with them */
static unsigned long long
count_msgs(const struct conn *c, const char *p, size_t n)
{
	unsigned long long k = 0;
	const char *e = p + n, *q;

	for (; (q = memchr(p, '\n', (size_t)(e - p))) != NULL; p = q + 1)
		k += (size_t)(q - p) > c->headlen + 1 &&
		    p[c->headlen] == '#' && p[c->headlen + 1] != '-';
	return k;
}

/* once SIGTERM came, a reader that takes nothing gets this much more */
#define STOP_WAIT_MS 1000

/* wait until fd takes output, at most until *end: 1, or 0 (ETIMEDOUT).
 * SIGTERM is let in here too, and then shortens the wait. */
static int
wait_output(int fd, long long *end)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	long long now = now_ms(), left;
	struct timespec ts;

	if (stopping && *end > now + STOP_WAIT_MS)
		*end = now + STOP_WAIT_MS;
	left = *end - now;
	ts.tv_sec = left / 1000;
	ts.tv_nsec = left % 1000 * 1000000;
	if (left > 0 && ppoll(&pfd, 1, &ts, &waitmask) != 0)
		return 1;	/* ready, interrupted, or an error write() reports */
	errno = ETIMEDOUT;
	return 0;
}

/*
 * Write all of p, waiting at most ms for a reader that takes nothing:
 * returns the bytes written, short with errno set (ETIMEDOUT when the
 * wait ran out).  HOW_SEND never blocks in the call (a socket); a
 * non-blocking descriptor waits in poll(2); HOW_POLLFIRST waits there
 * before each write of at most PIPE_BUF to a blocking one.
 */
static size_t
write_within(int fd, const char *p, size_t len, int ms, enum how how)
{
	long long end = now_ms() + ms;
	size_t done = 0;

	while (done < len) {
		size_t k = len - done;
		ssize_t n;

		/* after POLLOUT a pipe takes PIPE_BUF without blocking */
		if (how == HOW_POLLFIRST && !wait_output(fd, &end))
			break;
		if (how == HOW_POLLFIRST && k > PIPE_ATOMIC)
			k = PIPE_ATOMIC;
		n = how == HOW_SEND ? send(fd, p + done, k,
		    MSG_DONTWAIT | MSG_NOSIGNAL) : write(fd, p + done, k);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n == 0)
			errno = ENOSPC;
		else if (errno == EINTR)
			continue;
		else if ((errno == EAGAIN || errno == EWOULDBLOCK) &&
		    wait_output(fd, &end))
			continue;
		break;
	}
	return done;
}

/* the longest record (a head, the fixed words, a line of MAXLINE_LIMIT
 * bytes each escaped to four, the LF) is one append_write may cut */
typedef char rec_max_fits[HEAD_MAX + BODY_FIXED + 4 * MAXLINE_LIMIT + 1 <=
    APPEND_TAIL_MAX ? 1 : -1];

/*
 * Write whole records.  Into a regular file they go the one writers' way
 * (append_write): one append under the lock every writer takes, after a
 * torn record is cut, and if it fails part-way (disk full, file size
 * limit) the partial record is taken back out before anyone appends after
 * it: the file never holds half a record.  A pipe gets at most PIPE_BUF at once, written whole or
 * not at all.  Returns the bytes written; short means failed, errno set.
 */
static size_t
rec_write(struct conn *c, const char *p, size_t len)
{
	if (!c->logreg)
		return write_within(c->logfd, p, len, SINK_WAIT_MS, c->loghow);
	return append_write(&c->app, p, len, SINK_WAIT_MS);
}

/*
 * Write the pending records.  A regular file gets them in one append, so
 * handlers sharing the file never interleave; a pipe or terminal gets whole
 * records in writes of at most PIPE_BUF; syslog one datagram each.
 * Returns 0, or -1 with *done set to the number of records written whole.
 */
static int
rec_flush(struct conn *c, unsigned long long *done)
{
	const char *p = c->rec.p, *e = c->rec.p + c->rec.len;
	int ret = 0;

	*done = 0;
	while (p < e) {
		const char *q = e;
		size_t n;

		if (c->sink == SINK_SYSLOG) {
			q = (const char *)memchr(p, '\n', (size_t)(e - p)) + 1;
			if (slog_send(SLOG_INFO, p, (size_t)(q - p - 1)) < 0) {
				ret = -1;
				break;
			}
			*done += count_msgs(c, p, (size_t)(q - p));
			p = q;
			continue;
		}
		if (!c->logreg && e - p > PIPE_ATOMIC) {
			/* the last record end within PIPE_ATOMIC, or one record */
			const char *lim = p + PIPE_ATOMIC;

			q = (const char *)memchr(p, '\n', (size_t)(e - p)) + 1;
			while (q < e && q < lim) {
				const char *r = memchr(q, '\n', (size_t)(e - q));

				if (r + 1 > lim)
					break;
				q = r + 1;
			}
		}
		n = rec_write(c, p, (size_t)(q - p));
		*done += count_msgs(c, p, n);
		if (n < (size_t)(q - p)) {
			ret = -1;
			break;
		}
		p = q;
	}
	c->rec.len = 0;
	/* with -S a record counts only once it is on the disk */
	if (ret == 0 && c->sync && c->logreg && fsync(c->logfd) < 0) {
		*done = 0;
		ret = -1;
	}
	return ret;
}

static const char *
sinkname(const struct conn *c)
{
	return c->sink == SINK_SYSLOG ? "syslog" : c->logname;
}

/* say why a record was not written; the bounded waits in our words */
static void
rec_failed(const struct conn *c)
{
	if (errno == ETIMEDOUT)
		warn("cannot write record to %s: it took nothing for %d s",
		    sinkname(c), SINK_WAIT_MS / 1000);
	else if (errno == EWOULDBLOCK && c->logreg)
		warn("cannot write record to %s: another process held its "
		    "lock for %d s", sinkname(c), SINK_WAIT_MS / 1000);
	else
		warn("cannot write record to %s:", sinkname(c));
}

/* write one record on its own (connect, disconnect) */
static int
rec_single(struct conn *c, const char *text)
{
	size_t n = strlen(text);
	unsigned long long done;
	char *d;

	stamp(c);
	d = rec_begin(c, n);
	rec_end(c, put(d, text, n));
	if (rec_flush(c, &done) < 0) {
		rec_failed(c);
		return -1;
	}
	return 0;
}

/* ---- replies ---- */

static void
reply(struct conn *c, const char *s, size_t n)
{
	buf_need(&c->rep, n);
	memcpy(c->rep.p + c->rep.len, s, n);
	c->rep.len += n;
}

static void
reply_ok(struct conn *c, unsigned long long n)
{
	char *d;

	buf_need(&c->rep, 24);
	d = put(c->rep.p + c->rep.len, "ok ", 3);
	d = put_u64(d, n);
	*d++ = '\n';
	c->rep.len = (size_t)(d - c->rep.p);
}

static int
is_reset(int err)
{
	return err == EPIPE || err == ECONNRESET;
}

/* how long replies may wait for a client that reads nothing: the -t
 * bound, or less when the session cap (-T) comes first */
static int
send_wait(const struct conn *c)
{
	long long left;

	if (c->session_end < 0)
		return c->sendwait_ms;
	left = c->session_end - now_ms();
	if (left < 0)
		left = 0;
	return left < c->sendwait_ms ? (int)left : c->sendwait_ms;
}

/* send what is queued for the client; -1 with the reason set on failure */
static int
rep_flush(struct conn *c, enum endreason *why)
{
	int ret = 0;

	if (c->rep.len && write_within(c->outfd, c->rep.p, c->rep.len,
	    send_wait(c), c->outhow) < c->rep.len) {
		if (is_reset(errno))
			*why = END_RESET;
		else if (errno == ETIMEDOUT)	/* the client stopped reading */
			*why = stopping ? END_SHUTDOWN : END_TIMEOUT;
		else {
			warn("cannot write to the connection:");
			*why = END_ERROR;
		}
		ret = -1;
	}
	c->rep.len = 0;
	return ret;
}

/* keep the replies of this batch up to its `upto`-th ok */
static void
rep_cut(struct conn *c, unsigned long long upto)
{
	const char *p = c->rep.p, *e = c->rep.p + c->rep.len;
	unsigned long long oks = 0;

	while (p < e) {
		const char *q = (const char *)memchr(p, '\n', (size_t)(e - p)) + 1;

		if (p[0] == 'o' && ++oks > upto)
			break;
		p = q;
	}
	c->rep.len = (size_t)(p - c->rep.p);
}

/* ---- messages ---- */

static void
reply_too_long(struct conn *c)
{
	char e[64];
	int k = snprintf(e, sizeof e, "error line too long (max %zu bytes)\n",
	    c->maxline);

	reply(c, e, (size_t)k);
}

/* write the pending records; on failure only whole ones count as durable */
static int
rec_commit(struct conn *c)
{
	unsigned long long done;
	int ret = rec_flush(c, &done);

	c->durable += done;
	if (ret < 0) {
		rec_failed(c);
		c->failed = 1;
	}
	return ret;
}

/* an over-long line leaves a trace: "#- rejected: line too long (N bytes)" */
static void
rejected(struct conn *c, unsigned long long n)
{
	char *d = rec_begin(c, 64);

	d = put(d, "#- rejected: line too long (", 28);
	d = put_u64(d, n);
	rec_end(c, put(d, " bytes)", 7));
}

static void
message(struct conn *c, const char *line, size_t n)
{
	char *d;

	if (n > c->maxline) {
		reply_too_long(c);
		rejected(c, n);
		return;
	}
	c->seq++;
	c->bytes += n;
	d = rec_begin(c, 40 + 4 * n);
	*d++ = '#';
	d = put_u64(d, c->seq);
	d = put(d, " receive message: ", 18);
	rec_end(c, escape(d, (const unsigned char *)line, n));
	reply_ok(c, c->seq);
	/* keep the buffer bounded; the acks still wait for the batch */
	if (c->rec.len >= RECBUF)
		rec_commit(c);
}

/*
 * Frame what is in the input buffer into messages; `from` is where new,
 * unscanned bytes start.  A trailing partial line stays for the next read.
 */
static void
frame(struct conn *c, size_t from)
{
	char *p = c->in, *e = c->in + c->inlen, *q;
	size_t tail;

	if (c->discarding) {
		q = memchr(p + from, '\n', (size_t)(e - p - from));
		if (q == NULL) {
			c->skipped += (size_t)(e - p - from);
			if (e > p + from)
				c->skip_cr = e[-1] == '\r';
			c->inlen = 0;
			return;
		}
		c->skipped += (size_t)(q - p - from);
		if (q > p + from)
			c->skip_cr = q[-1] == '\r';
		rejected(c, c->skipped - (unsigned)c->skip_cr);
		p = q + 1;
		from = 0;
		c->discarding = 0;
	}
	for (q = memchr(p + from, '\n', (size_t)(e - p - from));
	    q != NULL && !c->failed; q = memchr(p, '\n', (size_t)(e - p))) {
		/* a CR before the LF is dropped (telnet, nc -C) */
		message(c, p, (size_t)(q - p) - (q > p && q[-1] == '\r'));
		p = q + 1;
	}
	tail = (size_t)(e - p);
	/* up to maxline bytes plus a CR may still become a message */
	if (tail > c->maxline + 1 ||
	    (tail == c->maxline + 1 && p[c->maxline] != '\r')) {
		reply_too_long(c);
		c->discarding = 1;
		c->skipped = tail;
		c->skip_cr = e[-1] == '\r';
		tail = 0;
	} else if (p != c->in)
		memmove(c->in, p, tail);
	c->inlen = tail;
}

/*
 * End of a batch: records first, then the acks for exactly the messages
 * whose records were written.  Returns 0, or -1 with the reason set.
 */
static int
batch_end(struct conn *c, enum endreason *why)
{
	if (!c->failed && c->rec.len)
		rec_commit(c);
	if (c->failed) {
		rep_cut(c, c->durable - c->acked);
		reply(c, cannot, sizeof cannot - 1);
		rep_flush(c, why);
		*why = END_ERROR;
		return -1;
	}
	c->acked = c->seq;
	return rep_flush(c, why);
}

/* ---- the connection ---- */

/* wait for input up to ms milliseconds (-1: no limit): 1 readable, 0
 * timed out, -1 stopping.  SIGTERM is let in only here, so it never cuts a
 * batch short. */
static int
wait_input(long long ms)
{
	struct pollfd pfd = { .fd = 0, .events = POLLIN };
	struct timespec ts = { .tv_sec = ms / 1000,
	    .tv_nsec = ms % 1000 * 1000000 };
	int r;

	do
		r = ppoll(&pfd, 1, ms >= 0 ? &ts : NULL, &waitmask);
	while (r < 0 && errno == EINTR && !stopping);
	if (stopping)
		return -1;
	return r != 0;	/* an error shows up again in read() */
}

/* how long to wait for input: the idle timeout, or less when the session
 * cap (an absolute time, -1 none) comes first */
static long long
input_wait(long timeout, long long session_end)
{
	long long ms = timeout ? (long long)timeout * 1000 : -1;

	if (session_end >= 0) {
		long long left = session_end - now_ms();

		if (left < 0)
			left = 0;
		if (ms < 0 || left < ms)
			ms = left;
	}
	return ms;
}

/* the last line of a connection that is cut short: its reason */
static enum endreason
say_end(struct conn *c, const char *line, enum endreason end)
{
	enum endreason why = end;

	reply(c, line, strlen(line));
	rep_flush(c, &why);
	return end;
}

static enum endreason
serve(struct conn *c, long timeout)
{
	enum endreason why = END_EOF;

	for (;;) {
		size_t from = c->inlen;
		ssize_t n;
		int w = wait_input(input_wait(timeout, c->session_end));

		if (w < 0)
			return say_end(c, "error server shutting down\n",
			    END_SHUTDOWN);
		/* checked whatever the wait said: a client whose input never
		 * pauses must not outlive the cap */
		if (c->session_end >= 0 && now_ms() >= c->session_end)
			return say_end(c, "error session time limit\n",
			    END_TIMEOUT);
		if (w == 0)
			return say_end(c, "error idle timeout\n", END_TIMEOUT);
		n = read(0, c->in + c->inlen, c->incap - c->inlen);
		if (n < 0 && (errno == EINTR || errno == EAGAIN ||
		    errno == EWOULDBLOCK))
			continue;	/* a non-blocking fd 0 from our caller */
		if (n < 0) {
			if (is_reset(errno) || errno == ETIMEDOUT)
				return END_RESET;
			warn("cannot read the connection:");
			return END_ERROR;
		}
		stamp(c);
		if (n == 0) {
			/* a last line without LF is a message too */
			if (c->inlen && !c->discarding)
				message(c, c->in, c->inlen);
			if (batch_end(c, &why) < 0)
				return why;
			return END_EOF;
		}
		c->inlen += (size_t)n;
		frame(c, from);
		if (batch_end(c, &why) < 0)
			return why;
	}
}

/*
 * Ended early with input perhaps unread: a close now would make the kernel
 * answer it with a reset, and the client could lose the replies still in
 * flight.  Say we are done writing, then read and drop for a moment.
 */
static void
linger(void)
{
	long long end = now_ms() + LINGER_MS;
	char buf[4096];

	if (shutdown(1, SHUT_WR) < 0)
		return;	/* not a socket: nothing to reset */
	for (;;) {
		struct pollfd pfd = { .fd = 0, .events = POLLIN };
		long long left = end - now_ms();
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return;
		n = read(0, buf, sizeof buf);
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
			return;
	}
}

/* ---- start-up ---- */

/* an IP and port from the environment (UCSPI, systemd), checked */
static int
env_peer(char *peer, const char *ipvar, const char *portvar)
{
	const char *ip = getenv(ipvar), *port = getenv(portvar);
	unsigned char a[16];
	long p;

	if (ip == NULL || port == NULL || parse_num(port, 0, 65535, &p) < 0)
		return 0;
	if (inet_pton(AF_INET, ip, a) != 1 && inet_pton(AF_INET6, ip, a) != 1)
		return 0;
	addr_peer(peer, ip, (unsigned)p);
	return 1;
}

/* fd 0 is a UNIX-domain socket: its peer's credentials, the kernel's
 * word, beat any variable.  1 when it is one */
static int
cred_peer(char *peer)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	struct peer_cred c;

	if (getsockname(0, (struct sockaddr *)&ss, &len) < 0 ||
	    ss.ss_family != AF_UNIX || peer_cred(0, &c) < 0)
		return 0;
	cred_text(peer, &c);
	return 1;
}

/* fd 0 is no socket but PROTO=IPC: the credentials a UCSPI IPC server
 * passed, all three numbers, else "local".  1 when it applies */
static int
ipc_peer(char *peer)
{
	const char *proto = getenv("PROTO"), *uid = getenv("IPCREMOTEEUID");
	const char *gid = getenv("IPCREMOTEEGID"), *pid = getenv("IPCREMOTEPID");
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	long u, g, p;

	if (proto == NULL || strcmp(proto, "IPC") != 0 ||
	    getsockname(0, (struct sockaddr *)&ss, &len) == 0 ||
	    errno != ENOTSOCK)
		return 0;
	if (uid && gid && pid && parse_num(uid, 0, 4294967295L, &u) == 0 &&
	    parse_num(gid, 0, 4294967295L, &g) == 0 &&
	    parse_num(pid, 0, 2147483647L, &p) == 0) {
		struct peer_cred c = { (unsigned long)u, (unsigned long)g, p };

		cred_text(peer, &c);
	} else
		strcpy(peer, "local");
	return 1;
}

/*
 * Who the client is, first that applies: a UNIX-domain socket's peer
 * credentials; a UCSPI IPC server's word on a descriptor that is no
 * socket; the launcher's word (UCSPI, when PROTO=TCP says it is one),
 * stunnel's exec mode, systemd, the socket's own peer, else "local".  The environment comes first: behind a TLS
 * terminator or a proxy the socket's peer is that relay, not the client.
 * (A PROXY header, with -p, overrides all of these.)
 */
static void
peer_init(char *peer)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char ip[ADDR_IPLEN];
	unsigned port;
	const char *proto = getenv("PROTO");

	if (cred_peer(peer) || ipc_peer(peer))
		return;
	if (proto && strcmp(proto, "TCP") == 0 &&
	    env_peer(peer, "TCPREMOTEIP", "TCPREMOTEPORT"))
		return;
	if (env_peer(peer, "REMOTE_HOST", "REMOTE_PORT") ||
	    env_peer(peer, "REMOTE_ADDR", "REMOTE_PORT"))
		return;
	if (getpeername(0, (struct sockaddr *)&ss, &len) == 0 &&
	    addr_ip_port((struct sockaddr *)&ss, ip, &port) == 0)
		addr_peer(peer, ip, port);
	else
		strcpy(peer, "local");
}

/* xinetd puts the connection on fd 2 too: then stderr is no place to talk;
 * nor when it was closed */
static int
stderr_is_conn(void)
{
	struct stat s0, s2;

	if (std_fds() & 4)
		return 1;
	/* a terminal on both is someone trying it by hand, not xinetd */
	return fstat(0, &s0) == 0 && fstat(2, &s2) == 0 &&
	    S_ISSOCK(s2.st_mode) && s0.st_dev == s2.st_dev &&
	    s0.st_ino == s2.st_ino;
}

static void
parse_opts(int argc, char **argv, struct opts *o)
{
	int ch;

	o->greeting = "hello";
	o->maxline = MAXLINE_DEFAULT;
	o->timeout = 300;
	opt_help(argc, argv, SYNOPSIS, OPTIONS);
	while ((ch = getopt(argc, argv, ":g:hl:m:psSt:T:")) != -1) {
		switch (ch) {
		case 'h':
			usage_help(SYNOPSIS, OPTIONS);
		case 'g':
			if (strpbrk(optarg, "\r\n")) {
				warn("-g: the greeting must be one line");
				usage_exit(SYNOPSIS);
			}
			o->greeting = optarg;
			break;
		case 'l':
			o->logpath = optarg;
			break;
		case 'm':
			o->maxline = opt_num(ch, optarg, 1, MAXLINE_LIMIT, SYNOPSIS);
			o->maxline_set = 1;
			break;
		case 's':
			o->use_syslog = 1;
			break;
		case 'S':
			o->sync = 1;
			break;
		case 't':
			/* poll(2) takes milliseconds in an int */
			o->timeout = opt_num(ch, optarg, 0, 2000000, SYNOPSIS);
			break;
		case 'T':
			o->session = opt_num(ch, optarg, 0, 2000000, SYNOPSIS);
			break;
		case 'p':
			o->proxy = 1;
			break;
		default:
			opt_fail(ch, SYNOPSIS);
		}
	}
	if (optind < argc) {
		warn("unexpected argument '%s'", argv[optind]);
		usage_exit(SYNOPSIS);
	}
	if (o->logpath && o->use_syslog) {
		warn("-l and -s both say where records go: pick one");
		usage_exit(SYNOPSIS);
	}
}

/* -l FILE.  O_NONBLOCK: a FIFO with no reader fails the open at once
 * (ENXIO) instead of blocking in it; it gets SINK_WAIT_MS to find one */
static int
open_sink(const char *path)
{
	long long end = now_ms() + SINK_WAIT_MS;
	struct timespec nap = { 0, 10000000 };
	int fd;

	while ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOCTTY | O_NONBLOCK, 0640)) < 0 && errno == ENXIO &&
	    now_ms() < end)
		nanosleep(&nap, NULL);
	if (fd < 0 && errno == ENXIO)
		warn("cannot open record file %s: no reader for %d s", path,
		    SINK_WAIT_MS / 1000);
	else if (fd < 0)
		warn("cannot open record file %s:", path);
	return fd;
}

/*
 * Records on a stderr pipe: an open file description of our own, so that
 * it can be non-blocking without changing it for anyone else.  Where it
 * cannot be reopened (no /proc, a socket) fd 2 itself is used.  (A regular
 * file gets its own description from append_open.)
 */
static int
reopen_stderr(void)
{
	int fd = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC);

	return fd >= 0 ? fd : 2;
}

/* the longest line whose record the sink takes whole, or 0 for any */
static size_t
sink_fits(const struct conn *c)
{
	if (c->sink == SINK_SYSLOG)
		return FITS(SYSLOG_MAX, SYSLOG_HEAD_MAX);
	return c->logreg ? 0 : FITS(PIPE_ATOMIC, HEAD_MAX);
}

/* open the record sink; -1 (and a diagnostic) if it cannot be opened */
static int
sink_init(struct conn *c, const struct opts *o, int conn_on_stderr,
    const char *peer)
{
	size_t fits;

	c->sync = o->sync;
	if (o->use_syslog || (o->logpath == NULL && conn_on_stderr)) {
		c->sink = SINK_SYSLOG;
	} else if (o->logpath == NULL || strcmp(o->logpath, "-") == 0) {
		c->sink = SINK_STDERR;
		c->logname = "stderr";
		c->logreg = append_open(&c->app, 2, 0) == 0;
		c->logfd = c->logreg ? c->app.fd : reopen_stderr();
	} else {
		c->sink = SINK_FILE;
		c->logname = o->logpath;
		c->logfd = open_sink(o->logpath);
		if (c->logfd < 0)
			return -1;
		c->logreg = append_open(&c->app, c->logfd, 1) == 0;
		if (c->logreg) {
			close(c->logfd);
			c->logfd = c->app.fd;
		}
	}
	if (c->sink != SINK_SYSLOG && !c->logreg) {
		c->loghow = (fcntl(c->logfd, F_GETFL) & O_NONBLOCK) ? HOW_WRITE :
		    HOW_POLLFIRST;
	}
	head_init(c, peer);
	/* a record must reach a pipe, a terminal or syslog in one piece */
	fits = sink_fits(c);
	if (fits && c->maxline > fits) {
		if (o->maxline_set)
			warn("-m %zu: records to %s must fit in %d bytes, so "
			    "lines over %zu bytes are refused", c->maxline,
			    c->sink == SINK_SYSLOG ? "syslog" : "a pipe",
			    c->sink == SINK_SYSLOG ? SYSLOG_MAX : PIPE_ATOMIC,
			    fits);
		c->maxline = fits;
	}
	return 0;
}

/*
 * The connection's output: a socket is written without ever blocking in
 * the call, so that a client that stops reading is bounded by -t (or
 * SEND_WAIT_DEFAULT with -t 0) even with a blocking descriptor.  TCP
 * keeps the replies moving.  A pipe or terminal gets a non-blocking
 * description of our own, so that a reader that takes nothing is waited
 * for in ppoll, where -t and SIGTERM bound it as they bound a socket
 * (without /proc: a poll before each write of at most PIPE_BUF).  A
 * regular file is written as it is.
 */
static void
output_init(struct conn *c, long timeout)
{
	struct stat st;
	int fd;

	c->outfd = 1;
	c->outhow = HOW_WRITE;
	if (fstat(1, &st) == 0 && S_ISSOCK(st.st_mode))
		c->outhow = HOW_SEND;
	else if (fstat(1, &st) == 0 && !S_ISREG(st.st_mode)) {
		fd = open("/proc/self/fd/1", O_WRONLY | O_NONBLOCK | O_NOCTTY |
		    O_CLOEXEC);
		if (fd >= 0)
			c->outfd = fd;
		else if (!(fcntl(1, F_GETFL) & O_NONBLOCK))
			c->outhow = HOW_POLLFIRST;
	}
	c->sendwait_ms = (int)(timeout ? timeout : SEND_WAIT_DEFAULT) * 1000;
	c->session_end = -1;	/* no cap until main() sets -T's */
}

/*
 * -p: the relay's PROXY header, read before anything else and never a
 * byte past it, within PROXY_WAIT_MS.  Its client becomes the peer (a v2
 * LOCAL or v1 UNKNOWN keeps the one found so far).  0, or -1 said.
 */
static int
proxy_peer(char *peer)
{
	struct proxy_reader r;
	struct proxy_info pi;
	long long end = now_ms() + PROXY_WAIT_MS;
	char ip[ADDR_IPLEN];
	unsigned port;
	int k;

	memset(&r, 0, sizeof r);
	while ((k = proxy_read(0, &r, &pi)) == 0) {
		struct pollfd pfd = { .fd = 0, .events = POLLIN };
		long long left = end - now_ms();

		if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
			warn("bad proxy header from %s: none within %d s", peer,
			    PROXY_WAIT_MS / 1000);
			return -1;
		}
	}
	if (k < 0) {
		if (errno)
			warn("bad proxy header from %s: cannot read it:", peer);
		else
			warn("bad proxy header from %s", peer);
		return -1;
	}
	if (!pi.local && addr_ip_port((struct sockaddr *)&pi.src, ip,
	    &port) == 0)
		addr_peer(peer, ip, port);
	return 0;
}

/* replies go out at once, and a peer that vanished without a word (no
 * FIN, no RST) is noticed by keepalive even with -t 0 */
static void
tcp_options(void)
{
	int one = 1, idle = KEEPIDLE, intvl = KEEPINTVL, cnt = KEEPCNT;

	if (setsockopt(0, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
		return;	/* not TCP (a pipe, a UNIX-domain socket): no error */
	setsockopt(0, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
	setsockopt(0, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
	setsockopt(0, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
	setsockopt(0, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
}

static void
on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

/*
 * At exit SIGTERM ends the process again.  Held, it would stay pending
 * through whatever runs after main (a leak checker's stop-the-world runs
 * with our mask, and a SIGCONT that timeout(1) sends with the SIGTERM can
 * leave it waiting for good): then only SIGKILL could end it.  One that
 * came after the last wait is taken first, as a flag: the work is done.
 */
static void
term_at_exit(void)
{
	sigset_t term;

	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_UNBLOCK, &term, NULL);
	signal(SIGTERM, SIG_DFL);
}

/* SIGTERM (the launcher after -k, systemd's stop) is held except while
 * waiting for input, and then only sets a flag */
static void
signals_init(void)
{
	struct sigaction sa;
	sigset_t term;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);	/* a file size limit is a failed write */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &term, &waitmask);
	sigdelset(&waitmask, SIGTERM);
	atexit(term_at_exit);	/* before any registered earlier */
}

int
main(int argc, char **argv)
{
	static struct conn c;
	struct opts o = { 0 };
	enum endreason why;
	char text[128], peer[ADDR_PEERLEN];
	int conn_on_stderr;

	progname = "msgd-handler";
	diag_shared();
	signals_init();
	slog_open(progname);
	conn_on_stderr = stderr_is_conn();
	diag_syslog(conn_on_stderr);
	parse_opts(argc, argv, &o);

	escape_init();
	peer_init(peer);
	c.maxline = (size_t)o.maxline;
	output_init(&c, o.timeout);
	tcp_options();
	if (o.proxy && proxy_peer(peer) < 0) {
		static const char bad[] = "error bad proxy header\n";

		write_within(c.outfd, bad, sizeof bad - 1, c.sendwait_ms,
		    c.outhow);
		linger();
		return 1;
	}
	c.session_end = o.session ? now_ms() + o.session * 1000LL : -1;

	if (sink_init(&c, &o, conn_on_stderr, peer) < 0 ||
	    rec_single(&c, "connect") < 0) {
		write_within(c.outfd, cannot, sizeof cannot - 1, c.sendwait_ms,
		    c.outhow);
		linger();
		return 1;
	}
	c.incap = c.maxline + 1 + READSZ;
	c.in = malloc(c.incap);
	if (c.in == NULL)
		die(1, "out of memory");
	reply(&c, o.greeting, strlen(o.greeting));
	reply(&c, "\n", 1);
	why = END_EOF;
	if (rep_flush(&c, &why) == 0)
		why = serve(&c, o.timeout);
	if (why == END_EOF) {
		int k = snprintf(text, sizeof text, "bye %llu\n", c.durable);

		reply(&c, text, (size_t)k);
		rep_flush(&c, &why);
	}
	if (!c.failed) {
		if (c.discarding)	/* cut off inside an over-long line */
			rejected(&c, c.skipped);
		snprintf(text, sizeof text, "disconnect: %llu messages, "
		    "%llu bytes, %s", c.durable, c.bytes, reasons[why]);
		if (rec_single(&c, text) < 0 &&
		    (why == END_EOF || why == END_SHUTDOWN))
			why = END_ERROR;
	}
	if (why != END_EOF && why != END_RESET)
		linger();
	return why == END_EOF || why == END_SHUTDOWN ? 0 : 1;
}

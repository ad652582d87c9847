/* msgd-handler: the per-connection message service.  The connection is fd 0
 * (in) and fd 1 (out); records go to a file, stderr or syslog. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "msgd.h"

#define MAXLINE_DEFAULT 4096
#define MAXLINE_LIMIT (1024 * 1024)
#define READSZ (64 * 1024)
#define RECBUF (256 * 1024)
/* a pipe write up to PIPE_BUF is atomic: whole records, never mixed */
#define PIPE_ATOMIC 4096

enum sinkkind { SINK_FILE, SINK_STDERR, SINK_SYSLOG };
enum endreason { END_EOF, END_TIMEOUT, END_RESET, END_ERROR };
static const char *const reasons[] = { "eof", "timeout", "reset", "error" };
static const char cannot[] = "error cannot record message\n";

struct buf {
	char *p;
	size_t len, cap;
};

struct opts {
	const char *greeting;
	const char *logpath;
	long maxline;
	long timeout;
	int use_syslog;
	int sync;
};

struct conn {
	/* where records go */
	enum sinkkind sink;
	int logfd;
	int logreg;		/* the sink is a regular file */
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
	/* counts: messages numbered, and the last whose record is written */
	unsigned long long seq, durable, bytes;
	unsigned long long acked;	/* oks sent before this batch */
	int failed;		/* a record could not be written */
	struct buf rec, rep;
};

#define SYNOPSIS "msgd-handler [-sS] [-g TEXT] [-l FILE] [-m BYTES] [-t SECS]"

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
		} else if (s[i] >= 0x80 && (k = utf8_seq(s + i, n - i))) {
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

static size_t
count_lines(const char *p, size_t n)
{
	size_t k = 0;
	const char *e = p + n;

	while ((p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
		k++;
		p++;
	}
	return k;
}

/*
 * Write whole records.  Into a regular file they go under an exclusive lock
 * that every handler takes, so the write is one append however it is cut,
 * and if it fails part-way (disk full, file size limit) the partial record
 * is taken back out before anyone appends after it: the file never holds
 * half a record.  Returns the bytes written; short means failed, errno set.
 */
static size_t
rec_write(struct conn *c, const char *p, size_t len)
{
	size_t done = 0;
	ssize_t n = 0;
	int saved;

	if (c->logreg && flock(c->logfd, LOCK_EX) < 0)
		return 0;
	while (done < len) {
		n = write(c->logfd, p + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	saved = n == 0 ? ENOSPC : errno;
	if (c->logreg && done < len && done > 0) {
		const char *last = p + done;
		off_t end = lseek(c->logfd, 0, SEEK_CUR);
		struct stat st;

		while (last > p && last[-1] != '\n')
			last--;
		if (last < p + done && end >= 0 &&
		    fstat(c->logfd, &st) == 0 && st.st_size == end)
			(void)!ftruncate(c->logfd, end - (p + done - last));
	}
	if (c->logreg)
		flock(c->logfd, LOCK_UN);
	errno = saved;
	return done;
}

/*
 * Write the pending records.  A regular file gets them in one append, so
 * handlers sharing the file never interleave; a pipe or terminal gets whole
 * records in writes of at most PIPE_BUF; syslog one datagram each.
 * Returns 0, or -1 with *done set to the number of records written whole.
 */
static int
rec_flush(struct conn *c, size_t *done)
{
	const char *p = c->rec.p, *e = c->rec.p + c->rec.len;
	int ret = 0;

	*done = 0;
	while (p < e) {
		const char *q = e;
		size_t n;

		if (c->sink == SINK_SYSLOG) {
			q = memchr(p, '\n', (size_t)(e - p)) + 1;
			if (slog_send(SLOG_INFO, p, (size_t)(q - p - 1)) < 0) {
				ret = -1;
				break;
			}
			(*done)++;
			p = q;
			continue;
		}
		if (!c->logreg && e - p > PIPE_ATOMIC) {
			/* the last record end within PIPE_ATOMIC, or one record */
			const char *lim = p + PIPE_ATOMIC;

			q = memchr(p, '\n', (size_t)(e - p)) + 1;
			while (q < e && q < lim) {
				const char *r = memchr(q, '\n', (size_t)(e - q));

				if (r + 1 > lim)
					break;
				q = r + 1;
			}
		}
		n = rec_write(c, p, (size_t)(q - p));
		*done += count_lines(p, n);
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

/* write one record on its own (connect, disconnect) */
static int
rec_single(struct conn *c, const char *text)
{
	size_t n = strlen(text), done;
	char *d;

	stamp(c);
	d = rec_begin(c, n);
	rec_end(c, put(d, text, n));
	if (rec_flush(c, &done) < 0) {
		warn("cannot write record to %s:", sinkname(c));
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

/* send what is queued for the client; -1 with the reason set on failure */
static int
rep_flush(struct conn *c, enum endreason *why)
{
	int ret = 0;

	if (c->rep.len && writeall(1, c->rep.p, c->rep.len) < 0) {
		if (is_reset(errno))
			*why = END_RESET;
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
			*why = END_TIMEOUT;	/* SO_SNDTIMEO: client not reading */
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
		const char *q = memchr(p, '\n', (size_t)(e - p)) + 1;

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
	size_t done;
	int ret = rec_flush(c, &done);

	c->durable += done;
	if (ret < 0) {
		warn("cannot write record to %s:", sinkname(c));
		c->failed = 1;
	}
	return ret;
}

static void
message(struct conn *c, const char *line, size_t n)
{
	char *d;

	if (n > c->maxline) {
		reply_too_long(c);
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
			c->inlen = 0;
			return;
		}
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

/* wait for input up to the idle timeout: 1 readable, 0 timed out */
static int
wait_input(long secs)
{
	struct pollfd pfd = { .fd = 0, .events = POLLIN };
	int r;

	if (secs == 0)
		return 1;
	do
		r = poll(&pfd, 1, (int)(secs * 1000));
	while (r < 0 && errno == EINTR);
	return r != 0;	/* an error shows up again in read() */
}

static enum endreason
serve(struct conn *c, long timeout)
{
	static const char idle[] = "error idle timeout\n";
	enum endreason why = END_EOF;

	for (;;) {
		size_t from = c->inlen;
		ssize_t n;

		if (!wait_input(timeout)) {
			reply(c, idle, sizeof idle - 1);
			rep_flush(c, &why);
			return END_TIMEOUT;
		}
		n = read(0, c->in + c->inlen, c->incap - c->inlen);
		if (n < 0 && errno == EINTR)
			continue;
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

static void
peer_init(char *peer)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char ip[ADDR_IPLEN];
	unsigned port;

	if (getpeername(0, (struct sockaddr *)&ss, &len) == 0 &&
	    addr_ip_port((struct sockaddr *)&ss, ip, &port) == 0)
		addr_peer(peer, ip, port);
	else if (!env_peer(peer, "TCPREMOTEIP", "TCPREMOTEPORT") &&
	    !env_peer(peer, "REMOTE_ADDR", "REMOTE_PORT"))
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
	while ((ch = getopt(argc, argv, ":g:l:m:sSt:")) != -1) {
		switch (ch) {
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

/* open the record sink; -1 (and a diagnostic) if it cannot be opened */
static int
sink_init(struct conn *c, const struct opts *o, int conn_on_stderr,
    const char *peer)
{
	struct stat st;

	c->sync = o->sync;
	if (o->use_syslog || (o->logpath == NULL && conn_on_stderr)) {
		c->sink = SINK_SYSLOG;
		head_init(c, peer);
		return 0;
	}
	if (o->logpath == NULL || strcmp(o->logpath, "-") == 0) {
		c->sink = SINK_STDERR;
		c->logfd = 2;
		c->logname = "stderr";
	} else {
		c->sink = SINK_FILE;
		c->logname = o->logpath;
		c->logfd = open(o->logpath,
		    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
		if (c->logfd < 0) {
			warn("cannot open record file %s:", o->logpath);
			return -1;
		}
	}
	c->logreg = fstat(c->logfd, &st) == 0 && S_ISREG(st.st_mode);
	head_init(c, peer);
	return 0;
}

/* a client that stops reading must not block us forever either */
static void
send_timeout(long secs)
{
	struct timeval tv = { .tv_sec = secs };

	if (secs > 0)
		setsockopt(1, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
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
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);	/* a file size limit is a failed write */
	slog_open(progname);
	conn_on_stderr = stderr_is_conn();
	diag_syslog(conn_on_stderr);
	parse_opts(argc, argv, &o);

	escape_init();
	peer_init(peer);
	c.maxline = (size_t)o.maxline;
	c.incap = c.maxline + 1 + READSZ;
	c.in = malloc(c.incap);
	if (c.in == NULL)
		die(1, "out of memory");
	send_timeout(o.timeout);

	if (sink_init(&c, &o, conn_on_stderr, peer) < 0 ||
	    rec_single(&c, "connect") < 0) {
		writeall(1, cannot, sizeof cannot - 1);
		return 1;
	}
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
		snprintf(text, sizeof text, "disconnect: %llu messages, "
		    "%llu bytes, %s", c.durable, c.bytes, reasons[why]);
		if (rec_single(&c, text) < 0 && why == END_EOF)
			why = END_ERROR;
	}
	return why == END_EOF ? 0 : 1;
}

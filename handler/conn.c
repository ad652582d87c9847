/* SPDX-License-Identifier: ISC */
/* The connection's side of things: the sink and record head set up for
 * it, replies and how long they wait for a client, the end (linger) and
 * socket options.  Apart from frame.c, which turns input into messages. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "env.h"
#include "conn.h"
#include "sigterm.h"
#include "deadline.h"
#include "tcpopts.h"
#include "util.h"

/* with -t 0 a client that stops reading still gets this long */
#define SEND_WAIT_DEFAULT_SECS 300
/* after an early end, unread input is drained this long so that the
 * kernel does not answer it with a reset that destroys our last replies */
#define LINGER_MS 2000
#define LINGER_BUF 4096
/* "ok N\n" at its longest */
#define OK_MAX (sizeof "ok " - 1 + U64_DIGITS + 1)

static const char *const reasons[] = { "eof", "timeout", "reset", "error",
    "shutdown" };

const char *
end_reason(enum endreason why)
{
	return reasons[why];
}

int
is_reset(int err)
{
	return err == EPIPE || err == ECONNRESET;
}

int
conn_sink_init(struct conn *c, const struct sink_opts *o, int maxline_set,
    const char *peer, const char *who)
{
	size_t fits;

	if (sink_open(&c->sink, o) < 0)
		return -1;
	rec_head(&c->rec, &c->sink, peer, who);
	/* a record must reach a pipe, a terminal or syslog in one piece */
	fits = rec_fits(&c->rec, &c->sink);
	if (fits && c->in.maxline > fits) {
		int one;

		if (maxline_set)
			warn("-m %zu: records to %s must fit in %zu bytes, so "
			    "lines over %zu bytes are refused", c->in.maxline,
			    sink_what(&c->sink), sink_whole(&c->sink, &one),
			    fits);
		c->in.maxline = fits;
	}
	return 0;
}

int
conn_connect(struct conn *c)
{
	if (!sink_defers(&c->sink))
		return rec_single(&c->rec, &c->sink, c->connect);
	rec_text(&c->rec, c->connect);
	if (sink_ready(&c->sink) < 0) {
		sink_failed(&c->sink);
		return -1;
	}
	c->kept = 1;
	c->kept_until = deadline_in(KEPT_MS);
	return 0;
}

void
conn_announce(struct conn *c)
{
	if (!c->unannounced)
		return;
	c->unannounced = 0;
	rec_text(&c->rec, c->connect);
}

/*
 * A socket is written without ever blocking in the call, so that a client
 * that stops reading is bounded by -t (SEND_WAIT_DEFAULT_SECS with -t 0)
 * even with a blocking descriptor.  TCP keeps the replies moving.  A pipe
 * or terminal gets a non-blocking description of our own, so that a
 * reader that takes nothing is waited for in ppoll, where -t and SIGTERM
 * bound it as they bound a socket (without /proc: a poll before each
 * write of at most PIPE_BUF).  A regular file is written as it is.
 */
void
output_init(struct output *out, long timeout, const struct stat *st1)
{
	int fd;

	out->fd = 1;
	out->how = HOW_WRITE;
	if (S_ISSOCK(st1->st_mode))
		out->how = HOW_SEND;
	else if (!S_ISREG(st1->st_mode)) {
		fd = reopen_nonblocking(1);
		if (fd >= 0)
			out->fd = fd;
		else if (!(fcntl(1, F_GETFL) & O_NONBLOCK))
			out->how = HOW_POLLFIRST;
	}
	out->sendwait_ms = (int)(timeout ? timeout :
	    SEND_WAIT_DEFAULT_SECS) * 1000;
	out->session_end = DEADLINE_NONE;	/* no cap until main() sets -T's */
}

void
reply(struct output *out, const char *s, size_t n)
{
	buf_need(&out->rep, n);
	memcpy(out->rep.p + out->rep.len, s, n);
	out->rep.len += n;
}

void
reply_ok(struct output *out, const struct decimal *n)
{
	char *d;

	buf_need(&out->rep, OK_MAX);
	d = put_lit(out->rep.p + out->rep.len, "ok ");
	d = put_dec(d, n);
	*d++ = '\n';
	out->rep.len = (size_t)(d - out->rep.p);
}

/* asked only when a record could not be written: the batch's replies
 * are read back (its other replies are errors) */
void
rep_keep_oks(struct output *out, unsigned long long upto)
{
	const char *p = out->rep.p, *e = out->rep.p + out->rep.len, *nl;

	for (; p < e; p = nl + 1) {
		if (e - p > 3 && memcmp(p, "ok ", 3) == 0 && upto-- == 0) {
			out->rep.len = (size_t)(p - out->rep.p);
			return;
		}
		nl = memchr(p, '\n', (size_t)(e - p));
		if (nl == NULL)
			return;
	}
}

/* how long replies may wait for a client that reads nothing: the -t
 * bound, or less when the session cap (-T) comes first */
static int
send_wait(const struct output *out)
{
	long long left = deadline_left(out->session_end);

	if (left < 0)
		return out->sendwait_ms;
	return left < out->sendwait_ms ? (int)left : out->sendwait_ms;
}

int
rep_flush(struct output *out, enum endreason *why)
{
	int ret = 0;

	if (out->rep.len && write_within(out->fd, out->rep.p, out->rep.len,
	    send_wait(out), out->how) < out->rep.len) {
		if (is_reset(errno))
			*why = END_RESET;
		else if (errno == ETIMEDOUT)	/* the client stopped reading */
			*why = term_requested ? END_SHUTDOWN : END_TIMEOUT;
		else {
			warn("cannot write to the connection:");
			*why = END_ERROR;
		}
		ret = -1;
	}
	out->rep.len = 0;
	return ret;
}

enum endreason
say_end(struct output *out, const char *line, enum endreason end)
{
	enum endreason why = end;

	reply(out, line, strlen(line));
	rep_flush(out, &why);
	return end;
}

/* replies go out at once, and a peer that vanished without a word (no
 * FIN, no RST) is noticed by keepalive even with -t 0; msgd-launcher's
 * listener gave its connections these already when it says so */
void
tcp_options(int tcp)
{
	const char *said = env_get(TCPOPTS_VAR);

	if (!tcp || (said && strcmp(said, TCPOPTS_VALUE) == 0))
		return;
	(void)tcpopts_set(0);	/* best effort, as any inetd service's */
}

/*
 * Ended early with input perhaps unread: a close now would make the kernel
 * answer it with a reset, and the client could lose the replies still in
 * flight.  Say we are done writing, then read and drop for a moment.
 */
void
linger(void)
{
	long long end = deadline_in(LINGER_MS);
	char buf[LINGER_BUF];

	if (shutdown(1, SHUT_WR) < 0)
		return;	/* not a socket: nothing to reset */
	for (;;) {
		struct pollfd pfd = { .fd = 0, .events = POLLIN };
		ssize_t n;

		if (deadline_expired(end) ||
		    poll(&pfd, 1, deadline_poll_ms(end)) <= 0)
			return;
		n = read(0, buf, sizeof buf);
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
			return;
	}
}

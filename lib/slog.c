/* SPDX-License-Identifier: ISC */
/* A small syslog client: one datagram per record to /dev/log, in the
 * format syslog(3) uses, with the outcome reported to the caller.  A
 * stream /dev/log (syslog-ng's unix-stream) gets each record followed by a
 * NUL byte, as glibc's syslog(3) frames it there. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "slog.h"

#define FACILITY_DAEMON (3 << 3)

static const char *slog_ident = "msgd";
static int slog_fd = -1;
static int slog_stream;	/* /dev/log is a SOCK_STREAM socket */

void
slog_open(const char *ident)
{
	slog_ident = ident;
}

static int
slog_connect_as(int type)
{
	struct sockaddr_un sun;

	if (slog_fd >= 0)
		close(slog_fd);
	slog_fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (slog_fd < 0)
		return -1;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, "/dev/log");
	if (connect(slog_fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
		int saved = errno;

		close(slog_fd);
		slog_fd = -1;
		errno = saved;
		return -1;
	}
	slog_stream = type == SOCK_STREAM;
	return 0;
}

/* a datagram socket, or a stream one where /dev/log is that (EPROTOTYPE) */
static int
slog_connect(void)
{
	if (slog_connect_as(SOCK_DGRAM) == 0)
		return 0;
	return errno == EPROTOTYPE ? slog_connect_as(SOCK_STREAM) : -1;
}

/* a stalled syslog daemon gets SLOG_WAIT_MS to take a record, not forever */
#define SLOG_WAIT_MS 5000

static int
wait_writable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };

	return poll(&pfd, 1, SLOG_WAIT_MS) > 0;
}

/*
 * A record on a stream: all of it and its NUL, within SLOG_WAIT_MS.  Cut
 * short, the connection is closed, or the next record would be glued onto
 * the piece.  0; -1 with nothing sent (reconnecting may help) or -2.
 */
static int
slog_send_stream(struct iovec *iov)
{
	struct msghdr mh;
	size_t sent = 0;
	int waited = 0;

	memset(&mh, 0, sizeof mh);
	mh.msg_iov = iov;
	mh.msg_iovlen = 3;
	while (mh.msg_iovlen > 0) {
		ssize_t n = sendmsg(slog_fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    !waited++ && wait_writable(slog_fd))
			continue;
		if (n <= 0) {
			int saved = n < 0 ? errno : EPIPE;

			close(slog_fd);
			slog_fd = -1;
			errno = saved;
			return sent ? -2 : -1;
		}
		sent += (size_t)n;
		waited = 0;
		while (mh.msg_iovlen > 0 && (size_t)n >= mh.msg_iov->iov_len) {
			n -= (ssize_t)mh.msg_iov->iov_len;
			mh.msg_iov++;
			mh.msg_iovlen--;
		}
		if (mh.msg_iovlen > 0) {
			mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + n;
			mh.msg_iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

int
slog_send(int severity, const char *msg, size_t len)
{
	char head[96];
	struct iovec iov[3];
	struct msghdr mh;
	time_t now = time(NULL);
	struct tm tm;
	int hl, try, waits = 0;

	localtime_r(&now, &tm);
	hl = snprintf(head, sizeof head, "<%d>", FACILITY_DAEMON | severity);
	hl += (int)strftime(head + hl, sizeof head - hl, "%b %e %H:%M:%S ",
	    &tm);
	hl += snprintf(head + hl, sizeof head - hl, "%.40s[%ld]: ", slog_ident,
	    (long)getpid());
	iov[0].iov_base = head;
	iov[0].iov_len = (size_t)hl;
	iov[1].iov_base = (void *)msg;
	iov[1].iov_len = len;
	iov[2].iov_base = (void *)"";
	iov[2].iov_len = 1;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = iov;
	mh.msg_iovlen = 2;
	/* one reconnect: the syslog daemon may have restarted */
	for (try = 0; try < 2; try++) {
		if (slog_fd < 0 && slog_connect() < 0)
			continue;
		if (slog_stream) {
			struct iovec v[3] = { iov[0], iov[1], iov[2] };
			int r = slog_send_stream(v);

			if (r != -1 || (errno != EPIPE && errno != ECONNRESET))
				return r < 0 ? -1 : 0;
			continue;	/* the daemon restarted: reconnect */
		}
		if (sendmsg(slog_fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0)
			return 0;
		if (errno == EINTR || ((errno == EAGAIN || errno == EWOULDBLOCK)
		    && waits++ < 1 && wait_writable(slog_fd))) {
			try--;
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -1;	/* the daemon has stalled: no record */
		if (errno != ECONNREFUSED && errno != ENOTCONN)
			return -1;
		close(slog_fd);
		slog_fd = -1;
	}
	return -1;
}

int
slog_check(void)
{
	return slog_fd >= 0 ? 0 : slog_connect();
}

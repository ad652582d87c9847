/* A small syslog client: one datagram per record to /dev/log, in the
 * format syslog(3) uses, with the outcome reported to the caller. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "msgd.h"

#define FACILITY_DAEMON (3 << 3)

static const char *slog_ident = "msgd";
static int slog_fd = -1;

void
slog_open(const char *ident)
{
	slog_ident = ident;
}

static int
slog_connect(void)
{
	struct sockaddr_un sun;

	if (slog_fd >= 0)
		close(slog_fd);
	slog_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
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
	return 0;
}

/* a stalled syslog daemon gets SLOG_WAIT_MS to take a record, not forever */
#define SLOG_WAIT_MS 5000

static int
wait_writable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };

	return poll(&pfd, 1, SLOG_WAIT_MS) > 0;
}

int
slog_send(int severity, const char *msg, size_t len)
{
	char head[96];
	struct iovec iov[2];
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
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = iov;
	mh.msg_iovlen = 2;
	/* one reconnect: the syslog daemon may have restarted */
	for (try = 0; try < 2; try++) {
		if (slog_fd < 0 && slog_connect() < 0)
			continue;
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

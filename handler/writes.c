/* SPDX-License-Identifier: ISC */
/* Writes bounded in time, which every output shares (records to a pipe,
 * replies), and a non-blocking description of our own to make them on:
 * apart because both the sink and the connection need them. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "deadline.h"
#include "sigterm.h"
#include "writes.h"

/* once SIGTERM came, a reader that takes nothing gets this much more */
#define STOP_WAIT_MS 1000

/* wait until fd takes output, at most until *end: 1, or 0 (ETIMEDOUT).
 * SIGTERM is let in here too, and then shortens the wait. */
static int
wait_output(int fd, long long *end)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	struct timespec ts;

	if (term_requested)
		*end = deadline_min(*end, deadline_in(STOP_WAIT_MS));
	if (!deadline_expired(*end) &&
	    ppoll(&pfd, 1, deadline_timespec(*end, &ts), &term_waitmask) != 0)
		return 1;	/* ready, interrupted, or an error write() reports */
	errno = ETIMEDOUT;
	return 0;
}

/*
 * HOW_SEND never blocks in the call (a socket); a non-blocking descriptor
 * waits in poll(2); HOW_POLLFIRST waits there before each write of at most
 * PIPE_BUF to a blocking one.
 */
size_t
write_within(int fd, const char *p, size_t len, int ms, enum how how)
{
	/* the clock is read only when a wait may come: a write that takes
	 * everything at once (the common case) needs no deadline */
	int bounded = how == HOW_POLLFIRST;
	long long end = bounded ? deadline_in(ms) : DEADLINE_NONE;
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
		else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (!bounded) {
				end = deadline_in(ms);
				bounded = 1;
			}
			if (wait_output(fd, &end))
				continue;
		}
		break;
	}
	return done;
}

int
reopen_nonblocking(int fd)
{
	char path[32];

	*put_u64(put_lit(path, "/proc/self/fd/"), (unsigned)fd) = '\0';
	/* no O_CLOEXEC (the handler runs nothing): musl would pay a fcntl */
	return open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY);
}

/* SPDX-License-Identifier: ISC */
/* The connection's input: waiting for it (where SIGTERM is let in) and
 * reading it.  Apart so that the framer's fuzz harness can link the whole
 * message loop with reads of its own in place of these two. */
#include <errno.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "deadline.h"
#include "input.h"
#include "sigterm.h"

int
input_ready(long long end)
{
	struct pollfd pfd = { .fd = 0, .events = POLLIN };
	struct timespec ts;
	int r;

	do
		r = ppoll(&pfd, 1, deadline_timespec(end, &ts), &term_waitmask);
	while (r < 0 && errno == EINTR && !term_requested);
	if (term_requested)
		return -1;
	return r != 0;	/* an error shows up again in read() */
}

int
input_waiting(void)
{
	struct pollfd pfd = { .fd = 0, .events = POLLIN };
	struct timespec ts = { 0, 0 };

	return ppoll(&pfd, 1, &ts, &term_waitmask) > 0 && !term_requested;
}

ssize_t
input_read(void *buf, size_t n)
{
	return read(0, buf, n);
}

/* SPDX-License-Identifier: ISC */
/* The launcher's descriptors: none inherited reaches a child, the limit
 * raised, and what it leaves for relays waiting for a header (-p); apart
 * from start-up, which only calls them in order. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"
#include "fds.h"
#include "proxied.h"

/* the soft descriptor limit, at most 1 << 20: no descriptor is above it */
static long
fd_limit(void)
{
	struct rlimit rl;
	long limit = 1L << 20;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)limit)
		limit = (long)rl.rlim_cur;
	return limit;
}

/* mark every descriptor from `from` on close-on-exec, or close it */
void
fds_from(int from, int keep1, int keep2, int do_close)
{
	int fd, max = (int)fd_limit();

#ifdef SYS_close_range
	if (!do_close && syscall(SYS_close_range, from, ~0U, 4 /* CLOEXEC */) == 0)
		return;
#endif
	for (fd = from; fd < max; fd++)
		if (fd != keep1 && fd != keep2) {
			if (do_close)
				close(fd);
			else
				fcntl(fd, F_SETFD, FD_CLOEXEC);
		}
}

/* a daemon keeps only the descriptors keep() wants, and also */
void
fds_close_but(int (*keep)(int fd), int also)
{
	int fd, max = (int)fd_limit();

	for (fd = 3; fd < max; fd++)
		if (fd != also && !keep(fd))
			close(fd);
}

/* descriptors we inherited must not reach the children (a closed 0, 1
 * or 2 was opened on /dev/null at start: see main); the soft limit goes
 * up to the hard one, so that a low one cannot stop us taking clients */
void
fds_init(void)
{
	struct rlimit rl;

	fds_from(3, -1, -1, 0);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			warn("cannot raise the descriptor limit:");
	}
}

/* how many descriptors under limit are open */
static long
fds_open(long limit)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long n = 0, fd;

	if (d == NULL) {
		/* no /proc: those below the lowest free one, at least */
		fd = fcntl(0, F_DUPFD_CLOEXEC, 0);
		if (fd >= 0)
			close((int)fd);
		return fd < 0 ? limit : fd;
	}
	while ((e = readdir(d)) != NULL)
		n += parse_num(e->d_name, 0, limit - 1, &fd) == 0;
	closedir(d);
	return n - 1;	/* less the directory's own */
}

/*
 * What the descriptor limit leaves for connections held at once.  A
 * child holds none of ours, and one spawn fails before another is
 * tried, so those held are the relays waiting for their header (-p) and
 * one in hand; FD_RESERVE more stay free for what making a child and
 * writing the log may open.  Said when -c MAX relays cannot wait at once,
 * and then fewer do.
 */
#define FD_RESERVE 4

void
fds_budget(long maxconn, int relays)
{
	long limit = fd_limit(), room;

	room = limit - fds_open(limit) - FD_RESERVE - 1;
	if (room < 1) {
		warn("the descriptor limit (%ld) leaves no room for a client",
		    limit);
		room = 1;
	}
	if (!relays)
		return;
	if (room < maxconn)
		warn("the descriptor limit (%ld) leaves room for %ld relays "
		    "waiting for a PROXY header, not -c %ld", limit, room,
		    maxconn);
	if (waiting_init(room < maxconn ? room : maxconn) < 0)
		die(1, "out of memory");
}

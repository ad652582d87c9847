/* SPDX-License-Identifier: ISC */
/* Connections from a trusted proxy (-p) that wait for their PROXY header:
 * read in the launcher's poll loop as the bytes come, never past the
 * header, each within PROXY_WAIT_MS, at most `max` at once. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxied.h"

struct waiting {
	int fd;
	long long deadline;
	struct sockaddr_storage proxy;	/* the relay's own address */
	struct proxy_reader rd;
	struct proxy_info pi;	/* filled by the read that finds its length */
};

static struct waiting *w;
static long nw, maxw;

int
waiting_init(long max)
{
	w = calloc((size_t)max, sizeof *w);
	maxw = max;
	return w ? 0 : -1;
}

/* its header is read whole: it waits for a child, not for the relay */
static int
whole(const struct waiting *x)
{
	return x->rd.total > 0 && x->rd.have >= (size_t)x->rd.total;
}

int
waiting_full(void)
{
	return nw >= maxw;
}

int
waiting_whole(void)
{
	long i;

	for (i = 0; i < nw; i++)
		if (whole(&w[i]))
			return 1;
	return 0;
}

void
waiting_add(int fd, const struct sockaddr_storage *proxy, long long now)
{
	struct waiting *x = &w[nw++];

	memset(&x->rd, 0, sizeof x->rd);
	x->fd = fd;
	x->proxy = *proxy;
	x->deadline = now + PROXY_WAIT_MS;
}

long long
waiting_due(void)
{
	long long due = -1;
	long i;

	for (i = 0; i < nw; i++)
		if (!whole(&w[i]) && (due < 0 || w[i].deadline < due))
			due = w[i].deadline;
	return due;
}

int
waiting_fds(struct pollfd *pfd)
{
	long i;

	for (i = 0; i < nw; i++) {
		/* not a whole header's: the client's bytes after it would
		 * wake every poll until a child is free */
		pfd[i].fd = whole(&w[i]) ? -1 : w[i].fd;
		pfd[i].events = POLLIN;
		pfd[i].revents = 0;
	}
	return (int)nw;
}

/*
 * After poll (pfd as waiting_fds() filled it, n of them): read what came,
 * and hand every connection whose header is complete, bad, cut short or
 * late to done() (pi NULL for all but the first, why saying which), which
 * owns its fd from then on unless it says -1.  Entries move, so they are
 * walked from the end.
 */
void
waiting_run(const struct pollfd *pfd, int n, long long now,
    int (*done)(int fd, const struct proxy_info *pi,
    const struct sockaddr_storage *proxy, const char *why))
{
	long i;

	for (i = n < nw ? n : nw; i-- > 0;) {
		struct waiting *x = &w[i];
		struct sockaddr_storage proxy = x->proxy;
		const char *why = NULL;
		int fd = x->fd, r = 0;

		/* a header read whole but not yet taken is handed over again */
		if (pfd[i].revents || x->rd.total > 0)
			r = proxy_read(fd, &x->rd, &x->pi);
		if (r == 0 && now < x->deadline)
			continue;
		if (r < 0)
			why = errno ? "cut short" : "malformed";
		else if (r == 0)
			why = "none in time";
		if (done(fd, r > 0 ? &x->pi : NULL, &proxy, why) < 0)
			continue;
		proxy_reader_free(&x->rd);
		*x = w[--nw];
	}
}

void
waiting_close_all(void)
{
	while (nw > 0) {
		close(w[--nw].fd);
		proxy_reader_free(&w[nw].rd);
	}
}

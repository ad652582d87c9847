/* SPDX-License-Identifier: ISC */
/* The listeners: handed over by socket activation (any number, TCP and
 * UNIX stream mixed, named by LISTEN_FDNAMES) or bound from -U PATH and
 * HOST PORT; apart from the loop, which polls them all as one. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "addr.h"
#include "util.h"
#include "listen.h"
#include "opts.h"
#include "sockets.h"
#include "tcpopts.h"
#include "unix.h"

/* systemd's first: SD_LISTEN_FDS_START */
#define FIRST_FD 3

static struct listener ls[SOCKETS_MAX];
static long nls;

long
sockets_count(void)
{
	return nls;
}

struct listener *
socket_at(long i)
{
	return &ls[i];
}

static int
any(int ipc)
{
	long i;

	for (i = 0; i < nls; i++)
		if (ls[i].ipc == ipc)
			return 1;
	return 0;
}

int
sockets_any_ipc(void)
{
	return any(1);
}

int
sockets_any_tcp(void)
{
	return any(0);
}

int
sockets_has(int fd)
{
	long i;

	for (i = 0; i < nls; i++)
		if (ls[i].fd == fd)
			return 1;
	return 0;
}

long
sockets_tcp_port(void)
{
	long i;

	for (i = 0; i < nls; i++)
		if (!ls[i].ipc)
			return ls[i].local_port;
	return -1;
}

/* a TCP one: its address for the log and, bound to one address with no
 * relay in front, for every child */
static int
tcp_add(struct listener *l, int relays)
{
	char ip[ADDR_IPLEN];
	unsigned port;

	if (local_addr(l->fd, ip, &port) < 0) {
		warn("cannot read the bound address of fd %d:", l->fd);
		return -1;
	}
	memcpy(l->local_ip, ip, sizeof ip);
	l->local_port = port;
	snprintf(l->where, sizeof l->where, "%s port %u", ip, port);
	snprintf(l->local_env[0], sizeof l->local_env[0], "TCPLOCALIP=%s", ip);
	snprintf(l->local_env[1], sizeof l->local_env[1], "TCPLOCALPORT=%u",
	    port);
	/* on a wildcard TCPLOCALIP comes from each connection; so it does
	 * behind a relay, whose header names what was reached */
	l->fixed = strcmp(ip, "0.0.0.0") != 0 && strcmp(ip, "::") != 0 &&
	    !relays;
	/* set once here, not by each handler: Linux copies a listener's
	 * options to every connection it accepts */
	l->tcpopts = tcpopts_set(l->fd) == 0;
	return 0;
}

/* a UNIX one: its path as the socket says, else -U's PATH */
static void
ipc_add(struct listener *l, const struct sockaddr_un *sa, socklen_t len)
{
	char path[sizeof sa->sun_path + 1] = "";
	size_t off = offsetof(struct sockaddr_un, sun_path);

	if (len > off && sa->sun_path[0] != '\0')
		snprintf(path, sizeof path, "%.*s", (int)(len - off),
		    sa->sun_path);
	else if (o.path)
		snprintf(path, sizeof path, "%s", o.path);
	snprintf(l->where, sizeof l->where, "%s", path);
	snprintf(l->local_path, sizeof l->local_path, "IPCLOCALPATH=%s", path);
	l->ipc = 1;
}

/* fd, listening, of a kind we serve, into the table: 0, or -1 said */
static int
add(int fd, const char *name, size_t name_len, int relays)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	struct listener *l;
	int yes = 0, type = 0;
	socklen_t n = sizeof yes;

	if (nls == SOCKETS_MAX) {
		warn("more than %d sockets to listen on", SOCKETS_MAX);
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &yes, &n) < 0 || !yes ||
	    (n = sizeof type, getsockopt(fd, SOL_SOCKET, SO_TYPE, &type,
	    &n)) < 0 || type != SOCK_STREAM ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6 &&
	    ss.ss_family != AF_UNIX)) {
		warn("fd %d is not a listening TCP or UNIX-domain stream socket",
		    fd);
		return -1;
	}
	l = &ls[nls];
	memset(l, 0, sizeof *l);
	l->fd = fd;
	if (name_len >= sizeof l->name)
		name_len = sizeof l->name - 1;
	memcpy(l->name, name, name_len);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	if (ss.ss_family == AF_UNIX)
		ipc_add(l, (struct sockaddr_un *)&ss, len);
	else if (tcp_add(l, relays) < 0)
		return -1;
	nls++;
	return 0;
}

int
sockets_adopt(int fd, const char *name, int relays)
{
	return add(fd, name, strlen(name), relays);
}

/*
 * Socket activation (systemd, systemd-socket-activate): with LISTEN_PID
 * our pid, LISTEN_FDS=N sockets from fd 3 on, named by LISTEN_FDNAMES
 * (colon-separated).  How many, 0 when not activated, -1 on a bad
 * hand-over (said).
 */
static int
activated(int relays)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES");
	long p, n, i;

	if (pid == NULL || fds == NULL || parse_num(pid, 1, 2147483647L, &p) ||
	    p != (long)getpid())
		return 0;
	if (parse_num(fds, 1, SOCKETS_MAX, &n) < 0) {
		warn("LISTEN_FDS=%s: expected from 1 to %d sockets", fds,
		    SOCKETS_MAX);
		return -1;
	}
	for (i = 0; i < n; i++) {
		size_t len = names ? strcspn(names, ":") : 0;

		if (add(FIRST_FD + (int)i, names ? names : "", len, relays) < 0)
			return -1;
		if (names)
			names = names[len] ? names + len + 1 : NULL;
	}
	/* the children must not think they were activated */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return (int)n;
}

int
sockets_open(const char *host, const char *port, int family, long backlog,
    const char *path, long mode, int relays)
{
	int n = activated(relays), fd;

	if (n < 0)
		return -1;
	if (n > 0) {
		if (path && !sockets_any_ipc()) {
			warn("no socket from socket activation is a "
			    "UNIX-domain one (-U)");
			return -1;
		}
		return 0;
	}
	if (path) {
		if ((fd = unix_listen(path, (mode_t)mode, (int)backlog)) < 0 ||
		    add(fd, "", 0, relays) < 0)
			return -1;
	}
	if (host) {
		if ((fd = listen_on(host, port, family, backlog)) < 0 ||
		    add(fd, "", 0, relays) < 0) {
			unix_unlink();
			return -1;
		}
	}
	return 0;
}

void
sockets_log(long maxconn)
{
	long i;

	if (o.verbosity == QUIET)
		return;
	for (i = 0; i < nls; i++)
		if (ls[i].name[0])
			note("listening on %s (%s), at most %ld at once",
			    ls[i].where, ls[i].name, maxconn);
		else
			note("listening on %s, at most %ld at once",
			    ls[i].where, maxconn);
}

void
sockets_close(void)
{
	long i;

	for (i = 0; i < nls; i++)
		close(ls[i].fd);
	nls = 0;
	unix_unlink();
}

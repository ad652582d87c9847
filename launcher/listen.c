/* SPDX-License-Identifier: ISC */
/* A TCP listening socket bound from HOST and PORT, and the address a
 * listener has; apart from sockets.c, which keeps every listener, handed
 * over or bound (unix.c binds -U's). */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "util.h"
#include "listen.h"

int
listen_on(const char *name, const char *port, int family, long backlog)
{
	struct addrinfo hints, *res, *ai;
	const char *host = name;
	int fd = -1, err, saved = 0, one = 1, zero = 0;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if (strcmp(host, "0") == 0)
		host = "0.0.0.0";
	/* a number is never looked up; a name is, since the user gave one */
	if (strspn(port, "0123456789") != strlen(port))
		hints.ai_flags &= ~AI_NUMERICSERV;
	err = getaddrinfo(host, port, &hints, &res);
	if (err) {
		warn("cannot use %s port %s: %s", name, port,
		    err == EAI_SYSTEM ? strerror(errno) : gai_strerror(err));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, 0);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		/* "::" serves IPv4 too unless -6, whatever the system
		 * default; with -6 a -4 listener may share the port */
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY,
			    family == AF_INET6 ? &one : &zero, sizeof zero);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, (int)backlog) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		errno = saved;
		warn("cannot listen on %s port %s:", name, port);
	}
	freeaddrinfo(res);
	return fd;
}

/* the address and port actually bound (port 0 lets the kernel choose) */
int
local_addr(int fd, char *ip, unsigned *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	return addr_ip_port((struct sockaddr *)&ss, ip, port);
}

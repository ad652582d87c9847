/* SPDX-License-Identifier: ISC */
/* Every socket the launcher listens on: TCP and UNIX-domain, bound here or
 * handed over (socket activation, a re-exec), each with its kind (sockets.c). */
#ifndef SOCKETS_H
#define SOCKETS_H

#include "addr.h"

/* one a LISTEN_FDS socket, -U PATH and HOST PORT together at most */
#define SOCKETS_MAX 64

struct listener {
	int fd;			/* non-blocking, close-on-exec */
	int ipc;		/* a UNIX-domain socket: PROTO=IPC clients */
	char name[64];		/* LISTEN_FDNAMES' word for it, or "" */
	char where[128];	/* "IP port N" or PATH, for the log */
	/* TCP: the address bound; when it is one address and no relay
	 * is in front (fixed), every child's TCPLOCALIP and TCPLOCALPORT,
	 * else they are read from each connection */
	char local_ip[ADDR_IPLEN];
	unsigned local_port;
	int fixed;
	char local_env[2][ADDR_IPLEN + 20];
	/* every connection inherits lib/tcpopts.h's options: say so */
	int tcpopts;
	/* IPC: "IPCLOCALPATH=PATH" */
	char local_path[sizeof "IPCLOCALPATH=" + 108];
};

/*
 * The sockets to serve: those socket activation hands over (any mix of
 * TCP and UNIX stream; then HOST PORT and PATH only name them), else
 * PATH (-U, when not NULL) and HOST PORT (when host is not NULL), bound
 * here.  relays: -p was given (TCPLOCAL* then comes from each header).
 * 0, or -1 said.
 */
int sockets_open(const char *host, const char *port, int family,
    long backlog, const char *path, long mode, int relays);
/* one handed over by the image before us: 0, or -1 said */
int sockets_adopt(int fd, const char *name, int relays);
long sockets_count(void);
struct listener *socket_at(long i);
/* any UNIX-domain one; any TCP one */
int sockets_any_ipc(void);
int sockets_any_tcp(void);
/* fd is one of them (a daemon keeps them) */
int sockets_has(int fd);
/* the first TCP one's port (for -1), or -1 */
long sockets_tcp_port(void);
/* "listening on ..." for each, unless quiet */
void sockets_log(long maxconn);
/* all closed (their files removed when ours) */
void sockets_close(void);

#endif

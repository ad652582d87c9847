/* SPDX-License-Identifier: ISC */
/* The PROXY protocol, versions 1 (text) and 2 (binary), as HAProxy's
 * proxy-protocol.txt defines it: the header a relay sends before the
 * client's data, naming the client.  Shared by the launcher and handler. */
#ifndef MSGD_PROXY_H
#define MSGD_PROXY_H

#include <stddef.h>
#include <sys/socket.h>

/* a v1 line is at most 107 bytes; v2's fixed part and its largest address
 * block (AF_UNIX, 2 x 108) are 16 + 216; TLVs beyond are read and dropped */
#define PROXY_V1_MAX 107
#define PROXY_BUF 232
/* a relay's header must be whole within this (launcher -p, handler -p) */
#define PROXY_WAIT_MS 5000

struct proxy_info {
	int local;	/* v2 LOCAL, v1 UNKNOWN, v2 UNSPEC: keep the socket's */
	int check;	/* v2 LOCAL: the relay's own connection, a health check */
	struct sockaddr_storage src, dst;	/* the client, what it reached */
};

/*
 * Parse the header at the start of buf, len bytes so far.  Returns its
 * total length once buf holds all that the header says about addresses
 * (a v2 header's TLVs may lie beyond len: the caller reads and drops
 * them), 0 when more bytes are needed and all len bytes belong to the
 * header, -1 when buf does not start a valid header.
 */
long proxy_parse(const unsigned char *buf, size_t len, struct proxy_info *pi);

/* reading a header from a socket, never a byte past its end */
struct proxy_reader {
	unsigned char buf[PROXY_BUF];
	size_t have;	/* bytes of the header consumed so far */
	long total;	/* its length, once known; else 0 */
};

/*
 * Take from fd what it has of the header, without waiting (MSG_DONTWAIT)
 * and never past the header's end.  Returns 1 when the header is complete
 * (*pi filled), 0 when the socket has no more for now, -1 for a header that
 * is not valid (errno 0) or a connection that ended or failed (errno set;
 * ECONNRESET for an EOF).
 */
int proxy_read(int fd, struct proxy_reader *r, struct proxy_info *pi);

#endif

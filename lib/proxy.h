/* SPDX-License-Identifier: ISC */
/* The PROXY protocol, versions 1 (text) and 2 (binary), as HAProxy's
 * proxy-protocol.txt defines it: the header a relay sends before the
 * client's data, naming the client.  Shared by the launcher and handler. */
#ifndef MSGD_PROXY_H
#define MSGD_PROXY_H

#include <stddef.h>
#include <sys/socket.h>

/* a v1 line is at most 107 bytes; a v2 header 16 and a 16-bit length.
 * A reader keeps a header of up to PROXY_BUF bytes in itself (HAProxy's
 * with every TLS field is some 300), a longer one in memory of its own */
#define PROXY_V1_MAX 107
#define PROXY_V2_MAX (16 + 65535)
#define PROXY_BUF 512
/* a relay's header must be whole within this (launcher -p, handler -p) */
#define PROXY_WAIT_MS 5000

/* a field of a v2 TLV as the relay sent it: p NULL when it sent none */
struct proxy_text {
	const unsigned char *p;
	size_t n;
};
/* text TLVs longer than this, or with a NUL byte, make a bad header (the
 * longest SNI is 255, a CN 64 characters); a unique id is any bytes, at
 * most 128 (the spec's bound) */
#define PROXY_TEXT_MAX 255
#define PROXY_UNIQUE_ID_MAX 128

/* what a v2 header's TLVs say of the client's TLS, pointing into the
 * reader's buffer (valid while the reader is, until proxy_reader_free) */
struct proxy_tls {
	int ssl;	/* it spoke TLS to the relay (PP2_CLIENT_SSL) */
	int cert;	/* and showed a certificate (on this connection or
			 * in the session it resumed) */
	int verified;	/* which the relay verified (its verify result 0) */
	/* PP2_TYPE_SSL's sub-TLVs: kept only when ssl is set */
	struct proxy_text version, cn, cipher, sig_alg, key_alg;
	struct proxy_text authority;	/* PP2_TYPE_AUTHORITY: the SNI */
	struct proxy_text unique_id;	/* PP2_TYPE_UNIQUE_ID: any bytes */
};

struct proxy_info {
	int local;	/* v2 LOCAL, v1 UNKNOWN, v2 UNSPEC: keep the socket's */
	int check;	/* v2 LOCAL: the relay's own connection, a health check */
	struct sockaddr_storage src, dst;	/* the client, what it reached */
	struct proxy_tls tls;	/* all zero but for a v2 PROXY over TCP */
};

/*
 * Parse the header at the start of buf, len bytes so far.  Returns its
 * total length once buf holds all that the header says about addresses
 * (a v2 header's TLVs may lie beyond len: the caller reads and drops
 * them), 0 when more bytes are needed and all len bytes belong to the
 * header, -1 when buf does not start a valid header.
 */
long proxy_parse(const unsigned char *buf, size_t len, struct proxy_info *pi);

/*
 * The TLVs of the whole header h (len bytes, as proxy_parse measured it)
 * into *t: known types read, unknown ones skipped, a CRC32C checked.  -1
 * (and *t all zero) when a TLV runs past the header, sub-TLVs do not fill
 * PP2_TYPE_SSL exactly, a known TLV comes twice or is too long, a text
 * holds a NUL byte, or the CRC32C does not match.  A v1 header, a v2 LOCAL
 * or UNSPEC one: no TLV is read, 0.
 */
int proxy_tlvs(const unsigned char *h, size_t len, struct proxy_tls *t);
/* CRC32c (Castagnoli, RFC 4960 appendix B) of n bytes, crc 0 to start */
unsigned long proxy_crc32c(unsigned long crc, const unsigned char *p,
    size_t n);

/* reading a header from a socket, never a byte past its end */
struct proxy_reader {
	unsigned char buf[PROXY_BUF];
	unsigned char *big;	/* a header over PROXY_BUF bytes, else NULL */
	size_t have;	/* bytes of the header consumed so far */
	long total;	/* its length, once known; else 0 */
};

/*
 * Take from fd what it has of the header, without waiting (MSG_DONTWAIT)
 * and never past the header's end.  Returns 1 when the header is complete
 * (*pi filled, its TLVs too; again at each call once it is), 0 when the
 * socket has no more for now, -1 for a header that is not valid (errno 0)
 * or a connection that ended or failed (errno set; ECONNRESET for an EOF,
 * ENOMEM when a long header finds no memory).  A reader starts all zero
 * and ends with proxy_reader_free.
 */
int proxy_read(int fd, struct proxy_reader *r, struct proxy_info *pi);
void proxy_reader_free(struct proxy_reader *r);

#endif

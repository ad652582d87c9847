/* SPDX-License-Identifier: ISC */
/* The PROXY protocol header, v1 and v2, parsed strictly to the published
 * text: exact lengths, known families only, TLVs that add up, and never a
 * byte of the client's data taken with the header. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxy.h"
#include "util.h"

static const unsigned char v2sig[12] = "\r\n\r\n\0\r\nQUIT\n";
static const char v1sig[] = "PROXY ";

/* buf (len bytes) is a prefix of sig (n bytes), or starts with all of it */
static int
starts(const unsigned char *buf, size_t len, const void *sig, size_t n)
{
	return memcmp(buf, sig, len < n ? len : n) == 0;
}

/* a v1 port: decimal, no sign, no leading zero, at most 65535 */
static int
v1_port(const char *s, size_t n, unsigned *port)
{
	unsigned v = 0;
	size_t i;

	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*port = v;
	return 0;
}

/* a v1 address of the family the line named, into a socket address */
static int
v1_addr(int af, const char *s, size_t n, unsigned port,
    struct sockaddr_storage *ss)
{
	char text[INET6_ADDRSTRLEN];

	if (n == 0 || n >= sizeof text)
		return -1;
	memcpy(text, s, n);
	text[n] = '\0';
	memset(ss, 0, sizeof *ss);
	if (af == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((unsigned short)port);
		return inet_pton(AF_INET, text, &s4->sin_addr) == 1 ? 0 : -1;
	}
	{
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((unsigned short)port);
		return inet_pton(AF_INET6, text, &s6->sin6_addr) == 1 ? 0 : -1;
	}
}

/* "PROXY TCP4|TCP6 SRC DST SPORT DPORT" (the CRLF taken off), or
 * "PROXY UNKNOWN" with anything after it */
static int
v1_line(const char *line, size_t n, struct proxy_info *pi)
{
	const char *f[6];
	size_t fl[6], k = 0, i, start = 0;
	unsigned sport, dport;
	int af;

	for (i = 0; i <= n && k < 6; i++)
		if (i == n || line[i] == ' ') {
			f[k] = line + start;
			fl[k++] = i - start;
			start = i + 1;
		}
	if (k >= 2 && fl[1] == 7 && memcmp(f[1], "UNKNOWN", 7) == 0) {
		pi->local = 1;
		return 0;
	}
	if (k != 6 || i <= n || fl[1] != 4)
		return -1;	/* fields missing, or a seventh */
	if (memcmp(f[1], "TCP4", 4) == 0)
		af = AF_INET;
	else if (memcmp(f[1], "TCP6", 4) == 0)
		af = AF_INET6;
	else
		return -1;
	if (v1_port(f[4], fl[4], &sport) < 0 ||
	    v1_port(f[5], fl[5], &dport) < 0 ||
	    v1_addr(af, f[2], fl[2], sport, &pi->src) < 0 ||
	    v1_addr(af, f[3], fl[3], dport, &pi->dst) < 0)
		return -1;
	pi->local = 0;
	return 0;
}

static long
parse_v1(const unsigned char *buf, size_t len, struct proxy_info *pi)
{
	size_t i, end = len < PROXY_V1_MAX ? len : PROXY_V1_MAX;

	for (i = 0; i < end; i++) {
		if (buf[i] == '\r') {
			if (i + 2 > PROXY_V1_MAX)
				return -1;	/* no room left for its LF */
			if (i + 1 == len)
				return 0;	/* its LF may come next */
			if (buf[i + 1] != '\n')
				return -1;
			return v1_line((const char *)buf, i, pi) < 0 ? -1 :
			    (long)i + 2;
		}
		/* the line is printable ASCII: anything else is not a header */
		if (buf[i] < 0x20 || buf[i] > 0x7e)
			return -1;
	}
	return len < PROXY_V1_MAX ? 0 : -1;	/* no CRLF in 107 bytes */
}

static long
parse_v2(const unsigned char *buf, size_t len, struct proxy_info *pi)
{
	size_t hlen, need;
	int cmd;

	if (len < 16)
		return 0;
	if (buf[12] >> 4 != 2)
		return -1;	/* version 2 */
	cmd = buf[12] & 0x0f;
	hlen = (size_t)buf[14] << 8 | buf[15];
	if (cmd == 0 || (cmd == 1 && buf[13] == 0x00)) {
		/* LOCAL (a health check), or PROXY for an unspecified
		 * family: the connection's own addresses stand */
		pi->local = 1;
		pi->check = cmd == 0;
		return 16 + (long)hlen;
	}
	if (cmd != 1)
		return -1;
	/* TCP over IPv4 or IPv6; datagrams and unix sockets are not TCP */
	if (buf[13] == 0x11)
		need = 12;
	else if (buf[13] == 0x21)
		need = 36;
	else
		return -1;
	if (hlen < need)
		return -1;
	if (len < 16 + need)
		return 0;
	memset(&pi->src, 0, sizeof pi->src);
	memset(&pi->dst, 0, sizeof pi->dst);
	if (need == 12) {
		struct sockaddr_in *s = (struct sockaddr_in *)&pi->src;
		struct sockaddr_in *d = (struct sockaddr_in *)&pi->dst;

		s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, buf + 16, 4);
		memcpy(&d->sin_addr, buf + 20, 4);
		memcpy(&s->sin_port, buf + 24, 2);
		memcpy(&d->sin_port, buf + 26, 2);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&pi->src;
		struct sockaddr_in6 *d = (struct sockaddr_in6 *)&pi->dst;

		s->sin6_family = d->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, buf + 16, 16);
		memcpy(&d->sin6_addr, buf + 32, 16);
		memcpy(&s->sin6_port, buf + 48, 2);
		memcpy(&d->sin6_port, buf + 50, 2);
	}
	pi->local = 0;
	return 16 + (long)hlen;
}

/* TLV types and PP2_TYPE_SSL's client flags (proxy-protocol.txt 2.2) */
enum {
	PP2_TYPE_AUTHORITY = 0x02, PP2_TYPE_CRC32C = 0x03,
	PP2_TYPE_NOOP = 0x04, PP2_TYPE_UNIQUE_ID = 0x05,
	PP2_TYPE_SSL = 0x20, PP2_SUBTYPE_SSL_VERSION = 0x21,
	PP2_SUBTYPE_SSL_CN = 0x22, PP2_SUBTYPE_SSL_CIPHER = 0x23,
	PP2_SUBTYPE_SSL_SIG_ALG = 0x24, PP2_SUBTYPE_SSL_KEY_ALG = 0x25
};
#define PP2_CLIENT_SSL 0x01
#define PP2_CLIENT_CERT_CONN 0x02
#define PP2_CLIENT_CERT_SESS 0x04

unsigned long
proxy_crc32c(unsigned long crc, const unsigned char *p, size_t n)
{
	LARGE_BSS static unsigned long table[256];
	size_t i;

	if (table[1] == 0) {
		for (i = 0; i < 256; i++) {
			unsigned long c = i;
			int k;

			for (k = 0; k < 8; k++)
				c = c & 1 ? (c >> 1) ^ 0x82f63b78UL : c >> 1;
			table[i] = c;
		}
	}
	crc = ~crc & 0xffffffffUL;
	for (i = 0; i < n; i++)
		crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc & 0xffffffffUL;
}

/* a field seen once, at most max bytes, no NUL unless binary: 0 or -1 */
static int
field(struct proxy_text *f, const unsigned char *v, size_t n, size_t max,
    int binary)
{
	if (f->p != NULL || n > max || (!binary && memchr(v, 0, n)))
		return -1;
	f->p = v;
	f->n = n;
	return 0;
}

/* the next TLV of the n bytes at p from *at: its type, value and length;
 * -1 when it runs past them */
static int
next_tlv(const unsigned char *p, size_t n, size_t *at, int *type,
    const unsigned char **v, size_t *len)
{
	if (n - *at < 3)
		return -1;
	*type = p[*at];
	*len = (size_t)p[*at + 1] << 8 | p[*at + 2];
	if (*len > n - *at - 3)
		return -1;
	*v = p + *at + 3;
	*at += 3 + *len;
	return 0;
}

/* PP2_TYPE_SSL: client flags, verify result, then sub-TLVs filling it */
static int
ssl_tlv(const unsigned char *p, size_t n, struct proxy_tls *t)
{
	struct proxy_text *f;
	const unsigned char *v;
	size_t at = 5, len;
	int type;

	if (n < 5)
		return -1;
	while (at < n) {
		if (next_tlv(p, n, &at, &type, &v, &len) < 0)
			return -1;
		if (type == PP2_SUBTYPE_SSL_VERSION)
			f = &t->version;
		else if (type == PP2_SUBTYPE_SSL_CN)
			f = &t->cn;
		else if (type == PP2_SUBTYPE_SSL_CIPHER)
			f = &t->cipher;
		else if (type == PP2_SUBTYPE_SSL_SIG_ALG)
			f = &t->sig_alg;
		else if (type == PP2_SUBTYPE_SSL_KEY_ALG)
			f = &t->key_alg;
		else
			continue;	/* a sub-type of a later spec */
		if (field(f, v, len, PROXY_TEXT_MAX, 0) < 0)
			return -1;
	}
	t->ssl = (p[0] & PP2_CLIENT_SSL) != 0;
	t->cert = t->ssl &&
	    (p[0] & (PP2_CLIENT_CERT_CONN | PP2_CLIENT_CERT_SESS)) != 0;
	/* verify: 0 when the certificate was verified, else not */
	t->verified = t->cert && (p[1] | p[2] | p[3] | p[4]) == 0;
	if (!t->ssl)	/* no TLS: nothing of it to believe */
		t->version = t->cn = t->cipher = t->sig_alg = t->key_alg =
		    (struct proxy_text){ NULL, 0 };
	return 0;
}

/* the TLVs from at to len, into t; crc where a CRC32C's value is */
static int
tlvs(const unsigned char *h, size_t len, size_t at, struct proxy_tls *t,
    const unsigned char **crc)
{
	const unsigned char *v;
	size_t n;
	int type, ssl = 0;

	while (at < len) {
		if (next_tlv(h, len, &at, &type, &v, &n) < 0)
			return -1;
		switch (type) {
		case PP2_TYPE_AUTHORITY:
			if (field(&t->authority, v, n, PROXY_TEXT_MAX, 0) < 0)
				return -1;
			break;
		case PP2_TYPE_UNIQUE_ID:
			if (field(&t->unique_id, v, n, PROXY_UNIQUE_ID_MAX,
			    1) < 0)
				return -1;
			break;
		case PP2_TYPE_CRC32C:
			if (n != 4 || *crc != NULL)
				return -1;
			*crc = v;
			break;
		case PP2_TYPE_SSL:
			if (ssl++ || ssl_tlv(v, n, t) < 0)
				return -1;
			break;
		default:	/* NOOP, ALPN, NETNS, custom: skipped */
			break;
		}
	}
	return 0;
}

int
proxy_tlvs(const unsigned char *h, size_t len, struct proxy_tls *t)
{
	static const unsigned char zero[4];
	const unsigned char *crc = NULL;
	size_t at;

	memset(t, 0, sizeof *t);
	if (len < 16 || h[0] != '\r' || h[12] != 0x21 ||
	    (h[13] != 0x11 && h[13] != 0x21))
		return 0;	/* v1, LOCAL, UNSPEC: no TLV is read */
	at = 16 + (h[13] == 0x11 ? 12 : 36);
	if (len < at || tlvs(h, len, at, t, &crc) < 0)
		goto bad;
	if (crc) {
		size_t k = (size_t)(crc - h);
		unsigned long c = proxy_crc32c(0, h, k);
		unsigned long want = (unsigned long)crc[0] << 24 |
		    (unsigned long)crc[1] << 16 | (unsigned long)crc[2] << 8 |
		    crc[3];

		c = proxy_crc32c(c, zero, 4);
		if (proxy_crc32c(c, crc + 4, len - k - 4) != want)
			goto bad;
	}
	return 0;
bad:
	memset(t, 0, sizeof *t);
	return -1;
}

long
proxy_parse(const unsigned char *buf, size_t len, struct proxy_info *pi)
{
	pi->check = 0;
	if (len == 0)
		return 0;
	if (starts(buf, len, v2sig, sizeof v2sig))
		return len < sizeof v2sig ? 0 : parse_v2(buf, len, pi);
	if (starts(buf, len, v1sig, sizeof v1sig - 1))
		return len < sizeof v1sig - 1 ? 0 : parse_v1(buf, len, pi);
	return -1;
}

/* take exactly n bytes that are known to be waiting */
static int
take(int fd, unsigned char *to, size_t n)
{
	ssize_t got;

	do
		got = recv(fd, to, n, MSG_DONTWAIT);
	while (got < 0 && errno == EINTR);
	if (got == (ssize_t)n)
		return 0;
	if (got >= 0)
		errno = ECONNRESET;
	return -1;
}

/* a recv(2) that returned n <= 0: 0 to wait for more, -1 ended */
static int
nothing(ssize_t n)
{
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return 0;
	if (n == 0)
		errno = ECONNRESET;	/* EOF before the header's end */
	return -1;
}

/* where the header is kept: its own memory once it is over PROXY_BUF */
static unsigned char *
hdr(struct proxy_reader *r)
{
	return r->big ? r->big : r->buf;
}

/* the header is whole: its TLVs, each time (the reader may have moved) */
static int
whole(struct proxy_reader *r, struct proxy_info *pi)
{
	if (proxy_tlvs(hdr(r), (size_t)r->total, &pi->tls) < 0) {
		errno = 0;
		return -1;
	}
	return 1;
}

int
proxy_read(int fd, struct proxy_reader *r, struct proxy_info *pi)
{
	/* look before taking: what follows the header is the client's */
	while (r->total == 0) {
		ssize_t n = recv(fd, r->buf + r->have, sizeof r->buf - r->have,
		    MSG_PEEK | MSG_DONTWAIT);
		long t;
		size_t k;

		if (n <= 0)
			return nothing(n);
		t = proxy_parse(r->buf, r->have + (size_t)n, pi);
		if (t < 0) {
			errno = 0;
			return -1;
		}
		k = t == 0 ? (size_t)n : ((size_t)t < r->have + (size_t)n ?
		    (size_t)t : r->have + (size_t)n) - r->have;
		if (take(fd, r->buf + r->have, k) < 0)
			return -1;
		r->have += k;
		r->total = t;
	}
	/* the rest of a v2 header: its TLVs */
	if ((size_t)r->total > sizeof r->buf && r->big == NULL) {
		if ((r->big = malloc((size_t)r->total)) == NULL) {
			errno = ENOMEM;
			return -1;
		}
		memcpy(r->big, r->buf, r->have);
	}
	while (r->have < (size_t)r->total) {
		ssize_t n = recv(fd, hdr(r) + r->have,
		    (size_t)r->total - r->have, MSG_DONTWAIT);

		if (n <= 0)
			return nothing(n);
		r->have += (size_t)n;
	}
	return whole(r, pi);
}

void
proxy_reader_free(struct proxy_reader *r)
{
	free(r->big);
	r->big = NULL;
}

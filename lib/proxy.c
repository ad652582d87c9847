/* SPDX-License-Identifier: ISC */
/* The PROXY protocol header, v1 and v2, parsed strictly to the published
 * text: exact lengths, known families only, and never a byte of the
 * client's data taken with the header. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "proxy.h"

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

int
proxy_read(int fd, struct proxy_reader *r, struct proxy_info *pi)
{
	unsigned char drop[512];

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
	/* the rest of a v2 header: TLVs, read and dropped */
	while (r->have < (size_t)r->total) {
		size_t want = (size_t)r->total - r->have;
		ssize_t n = recv(fd, drop, want < sizeof drop ? want :
		    sizeof drop, MSG_DONTWAIT);

		if (n <= 0)
			return nothing(n);
		r->have += (size_t)n;
	}
	return 1;
}

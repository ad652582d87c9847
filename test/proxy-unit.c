/* SPDX-License-Identifier: ISC */
/* The PROXY header parser and reader of lib/proxy.c against a table of
 * headers with exact expectations, run by test/proxy.bats.
 * usage: proxy-unit good|split|read|bad
 * Prints one line per case, "ok - NAME" or "not ok - NAME: why", then
 * "GROUP: N cases, F failed"; exits 1 if any failed, 2 on bad usage. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy.h"

/* a string literal as bytes and length: headers hold NULs */
#define B(s) (const unsigned char *)(s), sizeof(s) - 1
#define V2SIG "\r\n\r\n\0\r\nQUIT\n"
/* the 39-character IPv6 address of the spec's longest lines */
#define F39 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"

struct good {
	const char *name;
	const unsigned char *p;
	size_t len;	/* the whole header, TLVs included */
	size_t need;	/* bytes before its length is known; 0: len */
	int local;
	const char *src, *dst;	/* the client and what it reached */
};

/* real headers, as HAProxy, stunnel, nginx and AWS NLB send them */
static const struct good goods[] = {
	{ "v1 TCP4", B("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"),
	    0, 0, "192.168.0.1:56324", "192.168.0.11:443" },
	{ "v1 TCP4 at its longest",
	    B("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n"),
	    0, 0, "255.255.255.255:65535", "255.255.255.255:65535" },
	{ "v1 TCP4 port 0", B("PROXY TCP4 10.0.0.1 10.0.0.2 0 9100\r\n"),
	    0, 0, "10.0.0.1:0", "10.0.0.2:9100" },
	{ "v1 TCP6", B("PROXY TCP6 2001:db8::1 2001:db8::2 40000 9100\r\n"),
	    0, 0, "[2001:db8::1]:40000", "[2001:db8::2]:9100" },
	{ "v1 TCP6 at its longest (104 bytes)",
	    B("PROXY TCP6 " F39 " " F39 " 65535 65535\r\n"), 0, 0,
	    "[" F39 "]:65535", "[" F39 "]:65535" },
	{ "v1 TCP6 IPv4-mapped",
	    B("PROXY TCP6 ::ffff:192.0.2.1 ::ffff:192.0.2.2 1234 80\r\n"),
	    0, 0, "[::ffff:192.0.2.1]:1234", "[::ffff:192.0.2.2]:80" },
	{ "v1 UNKNOWN", B("PROXY UNKNOWN\r\n"), 0, 1, NULL, NULL },
	{ "v1 UNKNOWN with addresses",
	    B("PROXY UNKNOWN 192.0.2.1 192.0.2.2 1 2\r\n"), 0, 1, NULL, NULL },
	{ "v1 UNKNOWN at its longest (107 bytes)",
	    B("PROXY UNKNOWN " F39 " " F39 " 65535 65535\r\n"), 0, 1, NULL,
	    NULL },
	/* HAProxy's send-proxy-v2, as captured on the wire */
	{ "v2 PROXY TCP4", B(V2SIG "\x21\x11\x00\x0c"
	    "\xac\x13\x00\x01" "\xac\x13\x00\x03" "\xa6\x52" "\x00\x50"), 0,
	    0, "172.19.0.1:42578", "172.19.0.3:80" },
	{ "v2 PROXY TCP4 with TLVs (ALPN, authority, CRC32C, NOOP)",
	    B(V2SIG "\x21\x11\x00\x2c"
	    "\xc0\x00\x02\x01" "\xc6\x33\x64\x02" "\x9c\x40" "\x23\x8c"
	    "\x01\x00\x02" "h2"
	    "\x02\x00\x0b" "example.com"
	    "\x03\x00\x04" "\x34\x69\xa5\xe0"
	    "\x04\x00\x03" "\x00\x00\x00"),
	    28, 0, "192.0.2.1:40000", "198.51.100.2:9100" },
	{ "v2 PROXY TCP6", B(V2SIG "\x21\x21\x00\x24"
	    "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
	    "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02"
	    "\x9c\x40" "\x23\x8c"), 0, 0, "[2001:db8::1]:40000",
	    "[2001:db8::2]:9100" },
	{ "v2 PROXY TCP6 with a unique-id TLV", B(V2SIG "\x21\x21\x00\x2c"
	    "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
	    "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02"
	    "\x9c\x40" "\x23\x8c"
	    "\x05\x00\x05" "abcde"), 52, 0, "[2001:db8::1]:40000",
	    "[2001:db8::2]:9100" },
	{ "v2 LOCAL (a health check)", B(V2SIG "\x20\x00\x00\x00"), 0, 1,
	    NULL, NULL },
	{ "v2 LOCAL with addresses, ignored",
	    B(V2SIG "\x20\x11\x00\x0c" "\x7f\x00\x00\x01" "\x7f\x00\x00\x01"
	    "\x00\x01" "\x00\x02"), 16, 1, NULL, NULL },
	{ "v2 PROXY UNSPEC", B(V2SIG "\x21\x00\x00\x00"), 0, 1, NULL, NULL },
	{ "v2 PROXY UNSPEC with a block, ignored",
	    B(V2SIG "\x21\x00\x00\x04" "\x01\x02\x03\x04"), 16, 1, NULL,
	    NULL },
};

struct bad {
	const char *name;
	const unsigned char *p;
	size_t len;
};

/* never a header: proxy_parse says -1 once it has seen it all */
static const struct bad bads[] = {
	{ "v2 version 1", B(V2SIG "\x11\x11\x00\x0c" "\1\2\3\4\5\6\7\x08"
	    "\0\1\0\2") },
	{ "v2 version 3", B(V2SIG "\x31\x11\x00\x0c" "\1\2\3\4\5\6\7\x08"
	    "\0\1\0\2") },
	{ "v2 version 0", B(V2SIG "\x01\x11\x00\x0c" "\1\2\3\4\5\6\7\x08"
	    "\0\1\0\2") },
	{ "v2 command 2", B(V2SIG "\x22\x11\x00\x0c" "\1\2\3\4\5\6\7\x08"
	    "\0\1\0\2") },
	{ "v2 command 15", B(V2SIG "\x2f\x11\x00\x0c" "\1\2\3\4\5\6\7\x08"
	    "\0\1\0\2") },
	{ "v2 UDP4", B(V2SIG "\x21\x12\x00\x0c" "\1\2\3\4\5\6\7\x08"
	    "\0\1\0\2") },
	{ "v2 UDP6", B(V2SIG "\x21\x22\x00\x24" "0123456789abcdef"
	    "0123456789abcdef" "\0\1\0\2") },
	{ "v2 UNIX stream", B(V2SIG "\x21\x31\x00\x00") },
	{ "v2 UNIX datagram", B(V2SIG "\x21\x32\x00\x00") },
	{ "v2 family 4", B(V2SIG "\x21\x41\x00\x0c" "\1\2\3\4\5\6\7\x08"
	    "\0\1\0\2") },
	{ "v2 UNSPEC over STREAM (0x01)", B(V2SIG "\x21\x01\x00\x00") },
	{ "v2 INET with no transport (0x10)", B(V2SIG "\x21\x10\x00\x0c"
	    "\1\2\3\4\5\6\7\x08" "\0\1\0\2") },
	{ "v2 TCP4 with an 11-byte block", B(V2SIG "\x21\x11\x00\x0b"
	    "\1\2\3\4\5\6\7\x08" "\0\1\0") },
	{ "v2 TCP4 with no block", B(V2SIG "\x21\x11\x00\x00") },
	{ "v2 TCP6 with a 12-byte block", B(V2SIG "\x21\x21\x00\x0c"
	    "\1\2\3\4\5\6\7\x08" "\0\1\0\2") },
	{ "v2 TCP6 with a 35-byte block", B(V2SIG "\x21\x21\x00\x23"
	    "0123456789abcdef" "0123456789abcdef" "\0\1\0") },
	{ "v2 signature with one byte wrong", B("\r\n\r\n\0\r\nQUIT\r"
	    "\x21\x11\x00\x0c" "\1\2\3\4\5\6\7\x08" "\0\1\0\2") },
	{ "v1 without CRLF in 107 bytes",
	    B("PROXY UNKNOWN " F39 " " F39 " 65535 655350\r\n") },
	{ "v1 of 107 bytes ending in its CR",
	    B("PROXY UNKNOWN " F39 " " F39 " 65535 655350\r") },
	{ "v1 of 107 bytes without its CRLF",
	    B("PROXY UNKNOWN " F39 " " F39 " 65535 6553500") },
	{ "v1 CR without LF", B("PROXY TCP4 192.0.2.1 192.0.2.2 1 2\rX\n") },
	{ "v1 CR CR LF", B("PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\r\n") },
	{ "v1 LF without CR", B("PROXY TCP4 192.0.2.1 192.0.2.2 1 2\n") },
	{ "v1 5 fields", B("PROXY TCP4 192.0.2.1 192.0.2.2 1\r\n") },
	{ "v1 7 fields", B("PROXY TCP4 192.0.2.1 192.0.2.2 1 2 3\r\n") },
	{ "v1 a trailing space", B("PROXY TCP4 192.0.2.1 192.0.2.2 1 2 \r\n") },
	{ "v1 double space", B("PROXY TCP4  192.0.2.1 192.0.2.2 1 2\r\n") },
	{ "v1 double space before the ports",
	    B("PROXY TCP4 192.0.2.1 192.0.2.2  1 2\r\n") },
	{ "v1 double space after PROXY", B("PROXY  UNKNOWN\r\n") },
	{ "v1 port 65536", B("PROXY TCP4 192.0.2.1 192.0.2.2 65536 2\r\n") },
	{ "v1 port 99999", B("PROXY TCP4 192.0.2.1 192.0.2.2 1 99999\r\n") },
	{ "v1 port 100000", B("PROXY TCP4 192.0.2.1 192.0.2.2 100000 2\r\n") },
	{ "v1 port with a leading zero",
	    B("PROXY TCP4 192.0.2.1 192.0.2.2 080 2\r\n") },
	{ "v1 port 00", B("PROXY TCP4 192.0.2.1 192.0.2.2 1 00\r\n") },
	{ "v1 port with a plus", B("PROXY TCP4 192.0.2.1 192.0.2.2 +80 2\r\n") },
	{ "v1 port with a minus", B("PROXY TCP4 192.0.2.1 192.0.2.2 -1 2\r\n") },
	{ "v1 port in hex", B("PROXY TCP4 192.0.2.1 192.0.2.2 0x50 2\r\n") },
	{ "v1 IPv6 in a TCP4 line", B("PROXY TCP4 2001:db8::1 2001:db8::2 1 2\r\n") },
	{ "v1 IPv4 in a TCP6 line", B("PROXY TCP6 192.0.2.1 192.0.2.2 1 2\r\n") },
	{ "v1 one IPv6 in a TCP4 line", B("PROXY TCP4 192.0.2.1 ::1 1 2\r\n") },
	{ "v1 IPv4 with a leading zero",
	    B("PROXY TCP4 192.0.2.01 192.0.2.2 1 2\r\n") },
	{ "v1 IPv4 of three parts", B("PROXY TCP4 192.0.2 192.0.2.2 1 2\r\n") },
	{ "v1 a host name", B("PROXY TCP4 localhost 192.0.2.2 1 2\r\n") },
	{ "v1 TCP5", B("PROXY TCP5 192.0.2.1 192.0.2.2 1 2\r\n") },
	{ "v1 tcp4 in lower case", B("PROXY tcp4 192.0.2.1 192.0.2.2 1 2\r\n") },
	{ "v1 proxy in lower case", B("proxy TCP4 192.0.2.1 192.0.2.2 1 2\r\n") },
	{ "v1 UNKNOWNX", B("PROXY UNKNOWNX\r\n") },
	{ "v1 no protocol", B("PROXY\r\n") },
	{ "v1 a tab", B("PROXY TCP4\t192.0.2.1 192.0.2.2 1 2\r\n") },
	{ "v1 a NUL", B("PROXY UNKNOWN\0\r\n") },
	{ "v1 a byte over 0x7e", B("PROXY UNKNOWN \x80\r\n") },
	{ "v1 DEL", B("PROXY UNKNOWN \x7f\r\n") },
	{ "a plain GET /", B("GET / HTTP/1.0\r\n\r\n") },
	{ "a plain message", B("hello\n") },
	{ "an empty line", B("\n") },
	{ "a CR LF, then not the v2 signature", B("\r\n\r\n\r\n") },
	{ "PROXY without its space", B("PROXYTCP4 192.0.2.1 192.0.2.2 1 2\r\n") },
};

/* cut short, then EOF: proxy_parse wants more, proxy_read says ECONNRESET */
static const struct bad shorts[] = {
	{ "v2 TCP4 addresses cut at 7 of 12", B(V2SIG "\x21\x11\x00\x0c"
	    "\xc0\x00\x02\x01" "\xc6\x33\x64") },
	{ "v2 TCP6 addresses cut at 35 of 36", B(V2SIG "\x21\x21\x00\x24"
	    "0123456789abcdef" "0123456789abcdef" "\0\1\0") },
	{ "v2 TLVs cut short", B(V2SIG "\x21\x11\x00\x14"
	    "\xc0\x00\x02\x01" "\xc6\x33\x64\x02" "\x9c\x40" "\x23\x8c"
	    "\x01\x00\x05" "h2") },
	{ "v2 signature only", B(V2SIG) },
	{ "v1 without its CRLF", B("PROXY TCP4 192.0.2.1 192.0.2.2 1 2") },
	{ "v1 without its LF", B("PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r") },
	{ "PROX", B("PROX") },
};

static int failed, cases;
static char why[512];

/* record the first reason a case fails */
static int
fail(const char *fmt, ...)
{
	va_list ap;

	if (why[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(why, sizeof why, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static void
verdict(const char *name)
{
	cases++;
	if (why[0] == '\0') {
		printf("ok - %s\n", name);
		return;
	}
	failed++;
	printf("not ok - %s: %s\n", name, why);
	why[0] = '\0';
}

/* "IP:PORT" or "[IP]:PORT", written here with inet_ntop, not lib/addr.c */
static const char *
show(const struct sockaddr_storage *ss, char *out, size_t n)
{
	char ip[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)ss;

		inet_ntop(AF_INET, &s->sin_addr, ip, sizeof ip);
		snprintf(out, n, "%s:%u", ip, ntohs(s->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)ss;

		inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof ip);
		snprintf(out, n, "[%s]:%u", ip, ntohs(s->sin6_port));
	} else
		snprintf(out, n, "family %d", ss->ss_family);
	return out;
}

/* the header's client and destination are what the table says */
static int
same_info(const struct good *g, const struct proxy_info *pi)
{
	char a[80], b[80];

	if (pi->local != g->local)
		return fail("local %d, want %d", pi->local, g->local);
	if (g->local)
		return 0;
	if (strcmp(show(&pi->src, a, sizeof a), g->src) != 0)
		return fail("source %s, want %s", a, g->src);
	if (strcmp(show(&pi->dst, b, sizeof b), g->dst) != 0)
		return fail("destination %s, want %s", b, g->dst);
	return 0;
}

/* proxy_parse of the first n bytes, in a buffer of exactly n bytes so
 * that a sanitizer sees any read past them */
static long
parse_prefix(const unsigned char *p, size_t n, struct proxy_info *pi)
{
	unsigned char *copy = malloc(n ? n : 1);
	long t;

	if (copy == NULL) {
		perror("proxy-unit: malloc");
		exit(2);
	}
	memcpy(copy, p, n);
	t = proxy_parse(copy, n, pi);
	free(copy);
	return t;
}

static void
pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		perror("proxy-unit: socketpair");
		exit(2);
	}
}

/* a TCP connection over loopback: sv[0] reads, sv[1] writes */
static void
tcp_pair(int sv[2])
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	int l = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 ||
	    listen(l, 1) < 0 || getsockname(l, (struct sockaddr *)&a,
	    &len) < 0 || (sv[1] = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    connect(sv[1], (struct sockaddr *)&a, sizeof a) < 0 ||
	    (sv[0] = accept(l, NULL, NULL)) < 0) {
		perror("proxy-unit: loopback TCP");
		exit(2);
	}
	close(l);
}

static void
put(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t k = write(fd, c, n);

		if (k <= 0) {
			perror("proxy-unit: write");
			exit(2);
		}
		c += k;
		n -= (size_t)k;
	}
}

/* proxy_read until it says 1 or -1, waiting (at most 2 s at a time) while
 * it says 0: TCP may deliver a write in pieces */
static int
read_all(int fd, struct proxy_reader *r, struct proxy_info *pi)
{
	int k;

	while ((k = proxy_read(fd, r, pi)) == 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		if (poll(&pfd, 1, 2000) <= 0)
			return 0;
	}
	return k;
}

/* what is left in fd once the writer has closed: exactly want? */
static int
rest_is(int fd, const char *want)
{
	char got[256];
	size_t n = 0;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t k;

		if (poll(&pfd, 1, 2000) <= 0)
			return fail("no EOF after the client's bytes");
		k = read(fd, got + n, sizeof got - n);
		if (k < 0)
			return fail("read: %s", strerror(errno));
		if (k == 0)
			break;
		n += (size_t)k;
		if (n == sizeof got)
			break;
	}
	if (n != strlen(want) || memcmp(got, want, n) != 0)
		return fail("the client's bytes after the header are \"%.*s\" "
		    "(%zu bytes), want \"%s\"", (int)n, got, n, want);
	return 0;
}

/* ---- good: each header whole, alone and with the client's data ---- */

static void
group_good(void)
{
	size_t i;

	for (i = 0; i < sizeof goods / sizeof goods[0]; i++) {
		const struct good *g = &goods[i];
		unsigned char more[512];
		struct proxy_info pi;
		long t;

		if ((t = parse_prefix(g->p, g->len, &pi)) != (long)g->len)
			fail("proxy_parse says %ld, want %zu", t, g->len);
		else
			same_info(g, &pi);
		memcpy(more, g->p, g->len);
		memcpy(more + g->len, "hello\r\n", 7);
		if ((t = parse_prefix(more, g->len + 7, &pi)) != (long)g->len)
			fail("with data after it, proxy_parse says %ld, want "
			    "%zu", t, g->len);
		else
			same_info(g, &pi);
		verdict(g->name);
	}
}

/* ---- split: every prefix, and the header cut at every byte ---- */

static void
split_at(const struct good *g, size_t cut)
{
	struct proxy_reader r;
	struct proxy_info pi;
	int sv[2], k;

	pair(sv);
	memset(&r, 0, sizeof r);
	put(sv[1], g->p, cut);
	if ((k = proxy_read(sv[0], &r, &pi)) != 0)
		fail("cut at %zu: proxy_read says %d before the rest", cut, k);
	else if (r.have != cut)
		fail("cut at %zu: %zu bytes taken of %zu sent", cut, r.have,
		    cut);
	put(sv[1], g->p + cut, g->len - cut);
	put(sv[1], "hi\n", 3);
	shutdown(sv[1], SHUT_WR);
	if ((k = proxy_read(sv[0], &r, &pi)) != 1)
		fail("cut at %zu: proxy_read says %d with all of it", cut, k);
	else if (r.have != g->len)
		fail("cut at %zu: %zu bytes taken, want %zu", cut, r.have,
		    g->len);
	else if (same_info(g, &pi) == 0)
		rest_is(sv[0], "hi\n");
	close(sv[0]);
	close(sv[1]);
}

/* a byte at a time, proxy_read between each: 0 until the last one */
static void
dribble(const struct good *g)
{
	struct proxy_reader r;
	struct proxy_info pi;
	int sv[2], k = 0;
	size_t i;

	pair(sv);
	memset(&r, 0, sizeof r);
	for (i = 0; i < g->len; i++) {
		put(sv[1], g->p + i, 1);
		k = proxy_read(sv[0], &r, &pi);
		if (k != (i + 1 == g->len)) {
			fail("a byte at a time: proxy_read says %d after %zu "
			    "bytes", k, i + 1);
			break;
		}
	}
	put(sv[1], "x", 1);
	shutdown(sv[1], SHUT_WR);
	if (k == 1 && same_info(g, &pi) == 0)
		rest_is(sv[0], "x");
	close(sv[0]);
	close(sv[1]);
}

static void
group_split(void)
{
	size_t i, n, cut;

	for (i = 0; i < sizeof goods / sizeof goods[0]; i++) {
		const struct good *g = &goods[i];
		size_t need = g->need ? g->need : g->len;
		struct proxy_info pi;

		/* proxy_parse: 0 until the header's length is known, then
		 * the length, for every prefix */
		for (n = 0; n <= g->len; n++) {
			long t = parse_prefix(g->p, n, &pi);
			long want = n < need ? 0 : (long)g->len;

			if (t != want) {
				fail("proxy_parse of %zu bytes says %ld, want "
				    "%ld", n, t, want);
				break;
			}
		}
		for (cut = 1; cut < g->len; cut++)
			split_at(g, cut);
		dribble(g);
		verdict(g->name);
	}
}

/* ---- read: one write, over a socketpair and TCP; EOF mid-header ---- */

static void
one_write(const struct good *g, int tcp)
{
	static const char data[] = "first message\r\nsecond\n";
	unsigned char buf[512];
	struct proxy_reader r;
	struct proxy_info pi;
	int sv[2], k;

	if (tcp)
		tcp_pair(sv);
	else
		pair(sv);
	memset(&r, 0, sizeof r);
	memcpy(buf, g->p, g->len);
	memcpy(buf + g->len, data, sizeof data - 1);
	put(sv[1], buf, g->len + sizeof data - 1);
	shutdown(sv[1], SHUT_WR);
	if ((k = read_all(sv[0], &r, &pi)) != 1)
		fail("%s: proxy_read says %d", tcp ? "TCP" : "socketpair", k);
	else if (r.have != g->len)
		fail("%s: %zu bytes taken, want %zu", tcp ? "TCP" :
		    "socketpair", r.have, g->len);
	else if (same_info(g, &pi) == 0)
		rest_is(sv[0], data);
	close(sv[0]);
	close(sv[1]);
}

/* the first n bytes, then EOF: the connection ended (ECONNRESET) */
static void
eof_after(const unsigned char *p, size_t n)
{
	struct proxy_reader r;
	struct proxy_info pi;
	int sv[2], k;

	pair(sv);
	memset(&r, 0, sizeof r);
	put(sv[1], p, n);
	shutdown(sv[1], SHUT_WR);
	errno = 0;
	k = proxy_read(sv[0], &r, &pi);
	if (k != -1 || errno != ECONNRESET)
		fail("EOF after %zu bytes: proxy_read says %d (%s), want -1 "
		    "(ECONNRESET)", n, k, strerror(errno));
	close(sv[0]);
	close(sv[1]);
}

/* nothing sent yet: 0, and nothing taken */
static void
nothing_yet(void)
{
	struct proxy_reader r;
	struct proxy_info pi;
	int sv[2], k;

	pair(sv);
	memset(&r, 0, sizeof r);
	if ((k = proxy_read(sv[0], &r, &pi)) != 0 || r.have != 0)
		fail("proxy_read says %d with nothing sent", k);
	close(sv[0]);
	close(sv[1]);
	verdict("nothing sent yet: proxy_read says 0");
}

/* a v2 header with the largest TLV block (65535 - 12 bytes): one NOOP */
static void
big_tlvs(void)
{
	static unsigned char h[16 + 65535 + 3];
	static const unsigned char head[] = V2SIG "\x21\x11\xff\xff"
	    "\xc0\x00\x02\x01" "\xc6\x33\x64\x02" "\x9c\x40" "\x23\x8c"
	    "\x04\xff\xf0";
	const struct good g = { "big", h, 16 + 65535, 28, 0,
	    "192.0.2.1:40000", "198.51.100.2:9100" };
	struct proxy_reader r;
	struct proxy_info pi;
	int sv[2], k, size = 1 << 20;

	memset(h, 'T', sizeof h);
	memcpy(h, head, sizeof head - 1);
	memcpy(h + 16 + 65535, "hi\n", 3);
	pair(sv);
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
	memset(&r, 0, sizeof r);
	put(sv[1], h, sizeof h);
	shutdown(sv[1], SHUT_WR);
	if ((k = read_all(sv[0], &r, &pi)) != 1)
		fail("proxy_read says %d", k);
	else if (r.have != 16 + 65535 || r.total != 16 + 65535)
		fail("%zu bytes taken, want %d", r.have, 16 + 65535);
	else if (same_info(&g, &pi) == 0)
		rest_is(sv[0], "hi\n");
	close(sv[0]);
	close(sv[1]);
	proxy_reader_free(&r);
	verdict("v2 with 65523 bytes of TLVs: all read, the data kept");
}

static void
group_read(void)
{
	size_t i, n;

	nothing_yet();
	for (i = 0; i < sizeof goods / sizeof goods[0]; i++) {
		const struct good *g = &goods[i];

		one_write(g, 0);
		one_write(g, 1);
		for (n = 0; n < g->len; n++)
			eof_after(g->p, n);
		verdict(g->name);
	}
	for (i = 0; i < sizeof shorts / sizeof shorts[0]; i++) {
		struct proxy_info pi;
		long t = parse_prefix(shorts[i].p, shorts[i].len, &pi);

		/* the TLVs' case knows its length: it is the read that ends */
		if (t != 0 && t <= (long)shorts[i].len)
			fail("proxy_parse says %ld, want 0 (more needed)", t);
		eof_after(shorts[i].p, shorts[i].len);
		verdict(shorts[i].name);
	}
	big_tlvs();
}

/* ---- bad: never a header, whole or cut, parsed or read ---- */

static void
group_bad(void)
{
	size_t i, n;

	for (i = 0; i < sizeof bads / sizeof bads[0]; i++) {
		const struct bad *b = &bads[i];
		unsigned char buf[512];
		struct proxy_reader r;
		struct proxy_info pi;
		int sv[2], k;
		long t;

		if ((t = parse_prefix(b->p, b->len, &pi)) != -1)
			fail("proxy_parse says %ld, want -1", t);
		for (n = 0; n < b->len; n++)
			if ((t = parse_prefix(b->p, n, &pi)) > 0)
				fail("proxy_parse of %zu bytes says %ld", n, t);
		/* over a socket, with more after it, as a client sends */
		pair(sv);
		memset(&r, 0, sizeof r);
		memcpy(buf, b->p, b->len);
		memcpy(buf + b->len, "more\r\n", 6);
		put(sv[1], buf, b->len + 6);
		errno = 0;
		k = proxy_read(sv[0], &r, &pi);
		if (k != -1 || errno != 0)
			fail("proxy_read says %d (%s), want -1 (not a header)",
			    k, strerror(errno));
		close(sv[0]);
		close(sv[1]);
		verdict(b->name);
	}
}

int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*run)(void);
	} groups[] = {
		{ "good", group_good },
		{ "split", group_split },
		{ "read", group_read },
		{ "bad", group_bad },
	};
	size_t i;

	for (i = 0; argc == 2 && i < sizeof groups / sizeof groups[0]; i++)
		if (strcmp(argv[1], groups[i].name) == 0) {
			groups[i].run();
			printf("%s: %d cases, %d failed\n", argv[1], cases,
			    failed);
			return failed ? 1 : 0;
		}
	fprintf(stderr, "usage: proxy-unit good|split|read|bad\n");
	return 2;
}

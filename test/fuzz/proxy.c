/* SPDX-License-Identifier: ISC */
/* Fuzz the PROXY protocol header of lib/proxy.c.  proxy_parse() on any
 * bytes: no crash, a length within what a header may be, the same answer
 * from every prefix once it is known, and the same as a reference parser
 * written from proxy-protocol.txt.  proxy_read() over a socketpair with the
 * bytes written in pieces: it takes exactly the header, and what follows
 * is still in the socket.  A whole v2 header's TLVs: proxy_tlvs() says
 * what a second reader of the spec says (verdict, CRC32C, every field),
 * and proxy_read() takes exactly the headers whose TLVs are good.
 * Input: byte 0 sets the size of the pieces written (1 to 64), the rest is
 * what the relay sends. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "proxy.h"

/* prefixes longer than this all get the answer of this one: a v1 line
 * ends within 107 bytes, v2 addresses within 52 */
#define DECIDED 256

static const unsigned char sig2[12] = "\r\n\r\n\0\r\nQUIT\n";

/* what a header says: the answer of proxy_parse and the addresses */
struct said {
	long t;
	int local;
	char src[64], dst[64];
};

static void
show(const struct sockaddr_storage *ss, char *out)
{
	char ip[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)ss;

		inet_ntop(AF_INET, &s->sin_addr, ip, sizeof ip);
		snprintf(out, 64, "%s:%u", ip, ntohs(s->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)ss;

		inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof ip);
		snprintf(out, 64, "[%s]:%u", ip, ntohs(s->sin6_port));
	} else
		snprintf(out, 64, "family %d", ss->ss_family);
}

static void
said_of(struct said *s, long t, const struct proxy_info *pi)
{
	memset(s, 0, sizeof *s);
	s->t = t;
	if (t <= 0)
		return;
	s->local = pi->local;
	if (!pi->local) {
		show(&pi->src, s->src);
		show(&pi->dst, s->dst);
	}
}

/* proxy_parse of the first n bytes, from a buffer of exactly n bytes so
 * that ASan sees a read past them */
static void
parse_n(const uint8_t *p, size_t n, struct said *s)
{
	unsigned char *copy = malloc(n ? n : 1);
	struct proxy_info pi;

	CHECK(copy != NULL, "out of memory");
	memcpy(copy, p, n);
	memset(&pi, 0xa5, sizeof pi);
	said_of(s, proxy_parse(copy, n, &pi), &pi);
	free(copy);
}

static int
same(const struct said *a, const struct said *b)
{
	return a->t == b->t && a->local == b->local &&
	    strcmp(a->src, b->src) == 0 && strcmp(a->dst, b->dst) == 0;
}

/* ---- the reference: the spec's words, checked another way ---- */

/* a v1 port: 0 to 65535 in decimal as printf writes it (no sign, no
 * leading zero, no space) */
static int
ref_port(const char *s, unsigned *port)
{
	char back[8];
	unsigned long v;

	if (strlen(s) == 0 || strlen(s) > 5 || strspn(s, "0123456789") !=
	    strlen(s))
		return -1;
	v = strtoul(s, NULL, 10);
	snprintf(back, sizeof back, "%lu", v);
	if (v > 65535 || strcmp(back, s) != 0)
		return -1;
	*port = (unsigned)v;
	return 0;
}

static int
ref_addr(int af, const char *ip, unsigned port, char *out)
{
	unsigned char a[16];
	char text[INET6_ADDRSTRLEN];

	if (inet_pton(af, ip, a) != 1)
		return -1;
	inet_ntop(af, a, text, sizeof text);
	snprintf(out, 64, af == AF_INET ? "%s:%u" : "[%s]:%u", text, port);
	return 0;
}

/* the line without its CRLF: "PROXY UNKNOWN[ anything]", or exactly
 * "PROXY TCP4|TCP6 SRC DST SPORT DPORT" with single spaces */
static int
ref_line(const char *line, struct said *s)
{
	char proto[8], a[64], b[64], pa[16], pb[16], again[128];
	unsigned sp, dp;
	int af;

	if (strncmp(line, "PROXY UNKNOWN", 13) == 0 &&
	    (line[13] == '\0' || line[13] == ' ')) {
		s->local = 1;
		return 0;
	}
	if (sscanf(line, "PROXY %7s %63s %63s %15s %15s", proto, a, b, pa,
	    pb) != 5)
		return -1;
	/* sscanf skips any run of spaces: the line must be exactly these */
	snprintf(again, sizeof again, "PROXY %s %s %s %s %s", proto, a, b, pa,
	    pb);
	if (strcmp(again, line) != 0)
		return -1;
	if (strcmp(proto, "TCP4") == 0)
		af = AF_INET;
	else if (strcmp(proto, "TCP6") == 0)
		af = AF_INET6;
	else
		return -1;
	if (ref_port(pa, &sp) < 0 || ref_port(pb, &dp) < 0 ||
	    ref_addr(af, a, sp, s->src) < 0 || ref_addr(af, b, dp, s->dst) < 0)
		return -1;
	return 0;
}

/* v1: printable ASCII up to a CRLF that ends within 107 bytes; decided
 * at the LF, at a byte that cannot be in it, or at 107 bytes */
static void
ref_v1(const uint8_t *p, size_t n, struct said *s)
{
	char line[PROXY_V1_MAX + 1];
	size_t i;

	for (i = 0; i < n && i < PROXY_V1_MAX; i++) {
		if (p[i] == '\r')
			break;
		if (p[i] < 0x20 || p[i] > 0x7e) {
			s->t = -1;
			return;
		}
	}
	if (i + 2 > PROXY_V1_MAX) {
		s->t = n >= PROXY_V1_MAX ? -1 : 0;	/* no room for CRLF */
		return;
	}
	if (i + 2 > n) {
		s->t = 0;	/* not yet a CR and an LF after it */
		return;
	}
	if (p[i] != '\r' || p[i + 1] != '\n') {
		s->t = -1;
		return;
	}
	memcpy(line, p, i);
	line[i] = '\0';
	s->t = ref_line(line, s) < 0 ? -1 : (long)i + 2;
	if (s->t < 0)
		memset(s, 0, sizeof *s), s->t = -1;
}

/* v2: version 2; LOCAL, or PROXY over UNSPEC, TCP4 or TCP6, with room
 * for the addresses; decided at 16 bytes, and at the addresses' end */
static void
ref_v2(const uint8_t *p, size_t n, struct said *s)
{
	size_t hl, need = 0;
	char ip[INET6_ADDRSTRLEN];

	if (n < 16)
		return;
	hl = (size_t)p[14] * 256 + p[15];
	s->t = -1;
	if (p[12] == 0x20 || (p[12] == 0x21 && p[13] == 0x00)) {
		s->t = 16 + (long)hl;
		s->local = 1;
		return;
	}
	if (p[12] != 0x21)
		return;
	if (p[13] == 0x11)
		need = 12;
	else if (p[13] == 0x21)
		need = 36;
	if (need == 0 || hl < need)
		return;
	if (n < 16 + need) {
		s->t = 0;
		return;
	}
	s->t = 16 + (long)hl;
	if (need == 12) {
		inet_ntop(AF_INET, p + 16, ip, sizeof ip);
		snprintf(s->src, 64, "%s:%u", ip, p[24] * 256u + p[25]);
		inet_ntop(AF_INET, p + 20, ip, sizeof ip);
		snprintf(s->dst, 64, "%s:%u", ip, p[26] * 256u + p[27]);
	} else {
		inet_ntop(AF_INET6, p + 16, ip, sizeof ip);
		snprintf(s->src, 64, "[%s]:%u", ip, p[48] * 256u + p[49]);
		inet_ntop(AF_INET6, p + 32, ip, sizeof ip);
		snprintf(s->dst, 64, "[%s]:%u", ip, p[50] * 256u + p[51]);
	}
}

static void
ref_parse(const uint8_t *p, size_t n, struct said *s)
{
	size_t k = n < 12 ? n : 12;

	memset(s, 0, sizeof *s);
	if (n == 0)
		return;
	if (memcmp(p, sig2, k) == 0) {
		if (n >= 12)
			ref_v2(p, n, s);
		return;
	}
	k = n < 6 ? n : 6;
	if (memcmp(p, "PROXY ", k) == 0) {
		if (n >= 6)
			ref_v1(p, n, s);
		return;
	}
	s->t = -1;
}

/* ---- proxy_parse ---- */

static void
check_parse(const uint8_t *p, size_t n, struct said *whole)
{
	struct said s, ref, prev = { 0 };
	size_t k, upto = n < DECIDED ? n : DECIDED;

	parse_n(p, n, whole);
	ref_parse(p, n, &ref);
	CHECK(same(whole, &ref), "proxy_parse says %ld %d %s %s, the "
	    "reference %ld %d %s %s", whole->t, whole->local, whole->src,
	    whole->dst, ref.t, ref.local, ref.src, ref.dst);
	/* a header's length is what one may be */
	if (whole->t > 0 && p[0] == 'P')
		CHECK(whole->t >= 15 && whole->t <= PROXY_V1_MAX &&
		    (size_t)whole->t <= n && p[whole->t - 1] == '\n',
		    "v1 length %ld of %zu bytes", whole->t, n);
	if (whole->t > 0 && p[0] == '\r')
		CHECK(whole->t >= 16 && whole->t <= 16 + 65535,
		    "v2 length %ld", whole->t);
	/* every prefix: 0 until it is decided, then the same answer */
	for (k = 0; k <= upto; k++) {
		parse_n(p, k, &s);
		CHECK(s.t >= -1, "proxy_parse says %ld", s.t);
		if (prev.t != 0)
			CHECK(same(&s, &prev), "%zu bytes say %ld, %zu said %ld",
			    k, s.t, k - 1, prev.t);
		if (s.t != 0)
			CHECK(same(&s, whole), "%zu bytes say %ld, all %zu say "
			    "%ld", k, s.t, n, whole->t);
		prev = s;
	}
	if (n > upto)
		CHECK(prev.t != 0 || whole->t == 0,
		    "undecided after %d bytes", DECIDED);
	/* the header alone says what it said with the data after it */
	if (whole->t > 0) {
		parse_n(p, (size_t)whole->t < n ? (size_t)whole->t : n, &s);
		CHECK(same(&s, whole), "the header alone says %ld", s.t);
	}
}

/* ---- the TLVs: the spec's words, checked another way ---- */

/* CRC32c bit by bit, as RFC 4960 appendix B describes it */
static uint32_t
ref_crc(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	size_t i;
	int k;

	for (i = 0; i < n; i++)
		for (c ^= p[i], k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
	return ~c;
}

/* a text (or, binary, any bytes) of at most max: 0, or -1 */
static int
ref_text(struct proxy_text *f, const uint8_t *v, size_t n, size_t max,
    int binary)
{
	size_t i;

	if (n > max)
		return -1;
	for (i = 0; i < n && !binary; i++)
		if (v[i] == 0)
			return -1;
	f->p = v;
	f->n = n;
	return 0;
}

/* the TLVs of v (n bytes) at depth 0 (the header's) or 1 (PP2_TYPE_SSL's):
 * -1 when one runs past them, is known and seen twice, or is bad */
static int
ref_walk(const uint8_t *v, size_t n, int depth, struct proxy_tls *t,
    const uint8_t **crc)
{
	int seen[256] = { 0 };
	size_t pos = 0;

	while (pos != n) {
		size_t l;
		const uint8_t *x;
		int ty, r = 0;

		if (pos + 3 > n)
			return -1;
		ty = v[pos];
		l = v[pos + 1] * 256u + v[pos + 2];
		x = v + pos + 3;
		if (pos + 3 + l > n)
			return -1;
		pos += 3 + l;
		if (depth == 1 && (ty < 0x21 || ty > 0x25))
			continue;
		if (depth == 0 && ty != 0x02 && ty != 0x03 && ty != 0x05 &&
		    ty != 0x20)
			continue;
		if (seen[ty]++)
			return -1;
		if (depth == 1) {
			struct proxy_text *f[] = { &t->version, &t->cn,
			    &t->cipher, &t->sig_alg, &t->key_alg };

			r = ref_text(f[ty - 0x21], x, l, 255, 0);
		} else if (ty == 0x02)
			r = ref_text(&t->authority, x, l, 255, 0);
		else if (ty == 0x05)
			r = ref_text(&t->unique_id, x, l, 128, 1);
		else if (ty == 0x03) {
			r = l == 4 ? 0 : -1;
			*crc = x;
		} else if (l < 5)
			r = -1;
		else {
			r = ref_walk(x + 5, l - 5, 1, t, crc);
			t->ssl = x[0] & 1;
			t->cert = t->ssl && (x[0] & 6);
			t->verified = t->cert && !x[1] && !x[2] && !x[3] && !x[4];
		}
		if (r < 0)
			return -1;
	}
	return 0;
}

/* a whole header h of len bytes (proxy_parse's length): 0 or -1, *t */
static int
ref_tlvs(const uint8_t *h, size_t len, struct proxy_tls *t)
{
	const uint8_t *crc = NULL;
	size_t at;

	memset(t, 0, sizeof *t);
	if (h[0] != '\r' || h[12] != 0x21 || (h[13] != 0x11 && h[13] != 0x21))
		return 0;
	at = h[13] == 0x11 ? 28 : 52;
	if (ref_walk(h + at, len - at, 0, t, &crc) < 0)
		goto bad;
	if (!t->ssl)
		t->version = t->cn = t->cipher = t->sig_alg = t->key_alg =
		    (struct proxy_text){ NULL, 0 };
	if (crc) {
		uint8_t *z = malloc(len);
		uint32_t want = (uint32_t)crc[0] << 24 | (uint32_t)crc[1] << 16 |
		    (uint32_t)crc[2] << 8 | crc[3];
		int ok;

		CHECK(z != NULL, "out of memory");
		memcpy(z, h, len);
		memset(z + (crc - h), 0, 4);
		ok = ref_crc(z, len) == want;
		free(z);
		if (!ok)
			goto bad;
	}
	return 0;
bad:
	memset(t, 0, sizeof *t);
	return -1;
}

/* a field of a (from buffer ba) and of b (from bb) say the same */
static int
same_text(const struct proxy_text *a, const uint8_t *ba,
    const struct proxy_text *b, const uint8_t *bb)
{
	if (a->p == NULL || b->p == NULL)
		return a->p == b->p;
	return a->n == b->n && a->p - ba == b->p - bb;
}

static int
same_tls(const struct proxy_tls *a, const uint8_t *ba,
    const struct proxy_tls *b, const uint8_t *bb)
{
	return a->ssl == b->ssl && a->cert == b->cert &&
	    a->verified == b->verified &&
	    same_text(&a->version, ba, &b->version, bb) &&
	    same_text(&a->cn, ba, &b->cn, bb) &&
	    same_text(&a->cipher, ba, &b->cipher, bb) &&
	    same_text(&a->sig_alg, ba, &b->sig_alg, bb) &&
	    same_text(&a->key_alg, ba, &b->key_alg, bb) &&
	    same_text(&a->authority, ba, &b->authority, bb) &&
	    same_text(&a->unique_id, ba, &b->unique_id, bb);
}

/* the TLVs of a whole header (t bytes of p): proxy_tlvs and the
 * reference agree; returns the verdict */
static int
check_tlvs(const uint8_t *p, size_t t)
{
	uint8_t *copy = malloc(t);
	struct proxy_tls got, ref;
	int k, r;

	CHECK(copy != NULL, "out of memory");
	memcpy(copy, p, t);
	memset(&got, 0xa5, sizeof got);
	k = proxy_tlvs(copy, t, &got);
	r = ref_tlvs(p, t, &ref);
	CHECK(k == r, "proxy_tlvs says %d, the reference %d", k, r);
	CHECK(same_tls(&got, copy, &ref, p), "proxy_tlvs and the reference "
	    "read different fields (ssl %d/%d cert %d/%d verified %d/%d)",
	    got.ssl, ref.ssl, got.cert, ref.cert, got.verified, ref.verified);
	free(copy);
	return k;
}

/* ---- proxy_read ---- */

static void
put(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);

		CHECK(k > 0, "write: %s", strerror(errno));
		p += k;
		n -= (size_t)k;
	}
}

static void
check_read(const uint8_t *p, size_t n, size_t piece, const struct said *whole,
    int tlvs_ok)
{
	struct proxy_reader r;
	struct proxy_info pi;
	struct said s;
	uint8_t *rest;
	size_t sent = 0, got = 0;
	int sv[2], k = 0, size = 1 << 20;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair: %s",
	    strerror(errno));
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
	memset(&r, 0, sizeof r);
	while (sent < n && k == 0) {
		size_t m = n - sent < piece ? n - sent : piece;

		put(sv[1], p + sent, m);
		sent += m;
		k = proxy_read(sv[0], &r, &pi);
		CHECK(r.have <= sent, "took %zu of %zu bytes sent", r.have, sent);
	}
	put(sv[1], p + sent, n - sent);
	shutdown(sv[1], SHUT_WR);
	if (k == 0) {
		errno = 0;
		k = proxy_read(sv[0], &r, &pi);
		CHECK(k != 0, "proxy_read waits after EOF");
	}
	if (k < 0) {
		CHECK(errno == 0 ? whole->t < 0 || !tlvs_ok :
		    errno == ECONNRESET && (whole->t == 0 ||
		    (size_t)whole->t > n),
		    "proxy_read says -1 (%s), proxy_parse %ld", strerror(errno),
		    whole->t);
		proxy_reader_free(&r);
		close(sv[0]);
		close(sv[1]);
		return;
	}
	CHECK(tlvs_ok, "proxy_read took a header whose TLVs are bad");
	{
		struct proxy_tls ref;

		ref_tlvs(p, (size_t)r.total, &ref);
		CHECK(same_tls(&pi.tls, r.big ? r.big : r.buf, &ref, p),
		    "proxy_read's TLS fields are not the reference's");
	}
	said_of(&s, r.total, &pi);
	CHECK(same(&s, whole) && r.have == (size_t)r.total,
	    "proxy_read took %zu of %ld (%d %s %s), proxy_parse says %ld",
	    r.have, r.total, s.local, s.src, s.dst, whole->t);
	/* never a byte past the header: the rest is all still there */
	rest = malloc(n + 1);
	CHECK(rest != NULL, "out of memory");
	for (;;) {
		ssize_t m = read(sv[0], rest + got, n + 1 - got);

		CHECK(m >= 0, "read: %s", strerror(errno));
		if (m == 0)
			break;
		got += (size_t)m;
	}
	CHECK(got == n - r.have && memcmp(rest, p + r.have, got) == 0,
	    "%zu bytes left after the header, want %zu", got, n - r.have);
	free(rest);
	proxy_reader_free(&r);
	close(sv[0]);
	close(sv[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct said whole;
	int ok = 1;

	if (size < 1)
		return 0;
	check_parse(data + 1, size - 1, &whole);
	if (whole.t > 0 && (size_t)whole.t <= size - 1)
		ok = check_tlvs(data + 1, (size_t)whole.t) == 0;
	check_read(data + 1, size - 1, 1 + data[0] % 64, &whole, ok);
	return 0;
}

/* SPDX-License-Identifier: ISC */
/* Per-source limits: a client's source as a key, and -R's token buckets.
 *
 * A source is an IPv6 /64 (one customer's least allocation: a host that
 * rotates through its 2^64 addresses stays one source), an IPv4 address,
 * or what -N says; a local client is its uid.
 *
 * The buckets live in a table of fixed size (RATE_SETS sets of RATE_WAYS),
 * taken whole, so memory is the same for ten sources or ten million.  A
 * set is chosen by SipHash with a key drawn at start, so that no one can
 * aim many sources at one set.  Only a bucket that carries no information
 * is ever given to another source: a free one, or one whose source has
 * taken nothing for a second (its bucket is full again, whatever its rate:
 * a full bucket is what a new source gets, so forgetting it resets
 * nothing).  A client that comes back within the second keeps its place,
 * however fast its bucket refills: sources fill a set only by more than
 * RATE_WAYS of them taking within one second; a new source that finds its
 * set so full is refused (RATE_FULL), never given another's place: an
 * attacker cannot flush a client's bucket to reset its limit, nor his own
 * by flooding other sources, nor push out a client that keeps coming. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "sources.h"
#include "opts.h"

#define RATE_WAYS 16
#define RATE_SETS 1024		/* a power of two: 16,384 sources in all */
#define MILLI 1000		/* tokens are counted in thousandths */

struct bucket {
	unsigned char key[SOURCE_KEYLEN];
	unsigned char said_ever;
	int32_t tokens;		/* thousandths of a token */
	int32_t rate;		/* its source's, at its last take; 0: free */
	long long last;		/* ms: when tokens was right */
	long long said;		/* ms: the last denial logged */
};

static struct bucket *table;
static uint64_t seed[2];
static long long full_said = -1;	/* ms: RATE_FULL last logged */

/* the first plen bits of the n bytes at src into dst, the rest zero */
static void
cut(unsigned char *dst, const unsigned char *src, size_t n, unsigned plen)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned bits = plen >= 8 ? 8 : plen;

		dst[i] = src[i] & (unsigned char)(0xff00 >> bits);
		plen -= bits;
	}
}

void
source_key(const struct sockaddr *sa, unsigned rule_plen, unsigned char *key)
{
	const unsigned char *a;
	unsigned plen;

	memset(key, 0, SOURCE_KEYLEN);
	if (sa->sa_family == AF_INET) {
		a = (const unsigned char *)&((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr;
	} else {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)
		    (const void *)sa)->sin6_addr;

		a = a6->s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6))
			a += 12;
		else {
			plen = rule_plen > o.prefix6 ? rule_plen : o.prefix6;
			cut(key, a, 16, plen);
			key[16] = (unsigned char)plen;
			return;
		}
	}
	plen = rule_plen > o.prefix4 ? rule_plen : o.prefix4;
	cut(key, a, 4, plen);
	key[16] = (unsigned char)(SOURCE_V4 + plen);
}

void
source_text(const unsigned char *key, char *out, size_t outlen)
{
	char ip[INET6_ADDRSTRLEN];
	int v4 = key[16] >= SOURCE_V4;
	unsigned plen = v4 ? key[16] - SOURCE_V4 : key[16];

	inet_ntop(v4 ? AF_INET : AF_INET6, key, ip, sizeof ip);
	if (plen == (v4 ? 32u : 128u))
		snprintf(out, outlen, "%s", ip);
	else
		snprintf(out, outlen, "%s/%u", ip, plen);
}

/* ---- SipHash-2-4 of a 16-byte key ---- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do {							\
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);	\
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;				\
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;				\
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);	\
} while (0)

static uint64_t
le64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t
siphash16(const unsigned char *in, unsigned kind)
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ seed[0];
	uint64_t v1 = 0x646f72616e646f6dULL ^ seed[1];
	uint64_t v2 = 0x6c7967656e657261ULL ^ seed[0];
	uint64_t v3 = 0x7465646279746573ULL ^ seed[1];
	uint64_t b = (uint64_t)16 << 56;
	int i;

	for (i = 0; i < 2; i++) {
		uint64_t m = le64(in + 8 * i) ^ (i ? (uint64_t)kind << 56 : 0);

		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* a secret key for the hash: the kernel's, else the best we can do */
static void
seed_init(void)
{
	unsigned char buf[16];
	ssize_t n = getrandom(buf, sizeof buf, GRND_NONBLOCK);

	if (n != (ssize_t)sizeof buf) {
		int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
		n = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
		if (fd >= 0)
			close(fd);
	}
	if (n != (ssize_t)sizeof buf) {
		struct timespec t;

		clock_gettime(CLOCK_REALTIME, &t);
		seed[0] = (uint64_t)t.tv_nsec << 32 ^ (uint64_t)t.tv_sec;
		seed[1] = (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)&t;
		return;
	}
	seed[0] = le64(buf);
	seed[1] = le64(buf + 8);
}

/* ---- -R ---- */

/* the whole table is touched now: the memory -R takes is all taken at
 * once, and never grows */
int
rate_init(void)
{
	size_t i;

	if (table)
		return 0;
	table = malloc(RATE_SETS * RATE_WAYS * sizeof *table);
	if (table == NULL)
		return -1;
	for (i = 0; i < RATE_SETS * RATE_WAYS; i++)
		memset(&table[i], 0, sizeof table[i]);
	seed_init();
	return 0;
}

/* b's tokens at now, at its rate: rate thousandths a ms, up to the burst */
static long long
level(const struct bucket *b, long long now)
{
	long long ms = now - b->last, full = (long long)b->rate * MILLI;

	if (ms <= 0)
		return b->tokens;
	if (ms >= MILLI || b->tokens + ms * b->rate >= full)
		return full;
	return b->tokens + ms * b->rate;
}

/* the bucket of key in its set: the one it has, else a free one or one
 * idle a second (the longest idle), made its own with a full burst; NULL
 * when every other source of the set took within the last second */
static struct bucket *
bucket_of(const unsigned char *key, long rate, long long now)
{
	struct bucket *set = table + (siphash16(key, key[16]) &
	    (RATE_SETS - 1)) * RATE_WAYS, *victim = NULL;
	int i;

	for (i = 0; i < RATE_WAYS; i++) {
		struct bucket *b = &set[i];

		if (b->rate == 0) {
			if (victim == NULL || victim->rate != 0)
				victim = b;	/* a free place beats all */
			continue;
		}
		if (memcmp(b->key, key, SOURCE_KEYLEN) == 0)
			return b;
		if (now - b->last >= MILLI && (victim == NULL ||
		    (victim->rate != 0 && b->last < victim->last)))
			victim = b;
	}
	if (victim == NULL)
		return NULL;
	memcpy(victim->key, key, SOURCE_KEYLEN);
	victim->said_ever = 0;
	victim->rate = (int32_t)rate;
	victim->tokens = (int32_t)(rate * MILLI);
	victim->last = now;
	return victim;
}

int
rate_take(const unsigned char *key, long rate, long long now, int *say)
{
	struct bucket *b;

	*say = 0;
	b = table || rate_init() == 0 ? bucket_of(key, rate, now) : NULL;
	if (b == NULL) {
		if (full_said < 0 || now - full_said >= 1000) {
			full_said = now;
			*say = 1;
		}
		return RATE_FULL;
	}
	b->tokens = (int32_t)level(b, now);
	if (now > b->last)
		b->last = now;
	/* its limit changed (a rule's, at SIGHUP): no more than the new
	 * burst, and refilled at the new rate from now on */
	if (b->rate != rate) {
		b->rate = (int32_t)rate;
		if (b->tokens > rate * MILLI)
			b->tokens = (int32_t)(rate * MILLI);
	}
	if (b->tokens >= MILLI) {
		b->tokens -= MILLI;
		return RATE_OK;
	}
	if (!b->said_ever || now - b->said >= 1000) {
		b->said_ever = 1;
		b->said = now;
		*say = 1;
	}
	return RATE_OVER;
}

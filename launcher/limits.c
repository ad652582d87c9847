/* SPDX-License-Identifier: ISC */
/* Per-source limits: the source address as a key, and -R's token buckets.
 * The buckets live in a table of fixed size (RATE_SETS sets of RATE_WAYS),
 * so memory is the same for ten sources or ten million.  A set is chosen
 * by SipHash with a key drawn at start, so that no one can aim many
 * addresses at one set; a new source takes the place of the most idle one
 * in its set, whose bucket is the fullest: forgetting a full bucket loses
 * nothing, and a source forgotten starts again with a full burst. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "limits.h"

#define RATE_WAYS 8
#define RATE_SETS 1024		/* a power of two: 8192 sources in all */
#define MILLI 1000		/* tokens are counted in thousandths */

struct bucket {
	unsigned char key[16];
	unsigned char used, said_ever;
	long long tokens;	/* thousandths of a token */
	long long last;		/* ms: when tokens was right */
	long long said;		/* ms: the last denial logged */
};

static struct bucket *table;
static long long rate, full;
static uint64_t seed[2];

void
source_key(const struct sockaddr *sa, unsigned char *key)
{
	static const unsigned char mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (sa->sa_family == AF_INET) {
		memcpy(key, mapped, 12);
		memcpy(key + 12, &((const struct sockaddr_in *)(const void *)sa)
		    ->sin_addr, 4);
	} else
		memcpy(key, &((const struct sockaddr_in6 *)(const void *)sa)
		    ->sin6_addr, 16);
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
siphash16(const unsigned char *in)
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ seed[0];
	uint64_t v1 = 0x646f72616e646f6dULL ^ seed[1];
	uint64_t v2 = 0x6c7967656e657261ULL ^ seed[0];
	uint64_t v3 = 0x7465646279746573ULL ^ seed[1];
	uint64_t b = (uint64_t)16 << 56;
	int i;

	for (i = 0; i < 2; i++) {
		uint64_t m = le64(in + 8 * i);

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
 * start, and never grows */
int
rate_init(long r)
{
	size_t i;

	table = malloc(RATE_SETS * RATE_WAYS * sizeof *table);
	if (table == NULL)
		return -1;
	for (i = 0; i < RATE_SETS * RATE_WAYS; i++)
		table[i].used = 0;
	rate = r;
	full = r * (long long)MILLI;
	seed_init();
	return 0;
}

/* b's tokens at now: rate thousandths a ms, up to the burst */
static long long
level(const struct bucket *b, long long now)
{
	long long ms = now - b->last;

	if (ms <= 0)
		return b->tokens;
	if (ms >= MILLI || b->tokens + ms * rate >= full)
		return full;
	return b->tokens + ms * rate;
}

/* the bucket of key in its set: the one it has, or the most idle one
 * made its own with a full burst */
static struct bucket *
bucket_of(const unsigned char *key, long long now)
{
	struct bucket *set = table + (siphash16(key) & (RATE_SETS - 1)) *
	    RATE_WAYS, *victim = NULL;
	long long most = -1;
	int i;

	for (i = 0; i < RATE_WAYS; i++) {
		struct bucket *b = &set[i];
		long long l;

		if (!b->used) {
			if (most < full + 1) {
				victim = b;
				most = full + 1;	/* an empty place beats all */
			}
			continue;
		}
		if (memcmp(b->key, key, 16) == 0)
			return b;
		l = level(b, now);
		if (l > most || (l == most && victim->used &&
		    b->last < victim->last)) {
			victim = b;
			most = l;
		}
	}
	memcpy(victim->key, key, 16);
	victim->used = 1;
	victim->said_ever = 0;
	victim->tokens = full;
	victim->last = now;
	return victim;
}

int
rate_take(const unsigned char *key, long long now, int *say)
{
	struct bucket *b = bucket_of(key, now);

	*say = 0;
	b->tokens = level(b, now);
	if (now > b->last)
		b->last = now;
	if (b->tokens >= MILLI) {
		b->tokens -= MILLI;
		return 1;
	}
	if (!b->said_ever || now - b->said >= 1000) {
		b->said_ever = 1;
		b->said = now;
		*say = 1;
	}
	return 0;
}

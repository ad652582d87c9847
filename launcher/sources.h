/* SPDX-License-Identifier: ISC */
/* Sources: what one client is for -C and -R (an IPv6 /64, an IPv4 address,
 * -N's lengths, a local uid) as a key, and -R's token buckets (sources.c). */
#ifndef SOURCES_H
#define SOURCES_H

#include <stddef.h>
#include <sys/socket.h>

/* a source's key: 16 bytes of network (IPv4 in the first 4) and a kind */
#define SOURCE_KEYLEN 17
/* the kind, key[16]: an IPv6 prefix length is itself (0 to 128), an IPv4
 * one is SOURCE_V4 + length; SOURCE_UID is a local client's uid */
#define SOURCE_V4 160
#define SOURCE_UID 255
/* room for source_text(): an address, "/" and a length */
#define SOURCE_TEXTLEN 52

/* the source of a client at sa: its address cut to the family's prefix
 * length (-N; IPv4-mapped is IPv4), or to rule_plen bits when its rule's
 * network is narrower than that (a source never spans two rules) */
void source_key(const struct sockaddr *sa, unsigned rule_plen,
    unsigned char *key);
/* an IP source as the log names it: "2001:db8:1::/64", "192.0.2.0/24", or
 * the bare address when the prefix is all of it */
void source_text(const unsigned char *key, char *out, size_t outlen);

enum { RATE_FULL = -1, RATE_OVER, RATE_OK };
/* -R: the table of buckets, taken whole (at start, or at first use): 0,
 * or -1 out of memory */
int rate_init(void);
/* take a token for the source key at now_ms (a monotonic clock), whose
 * limit is rate a second with a burst of rate: RATE_OK when it had one,
 * RATE_OVER when it is over its rate, RATE_FULL when it is new and no
 * place in the table may be taken from another (see sources.c).  *say is
 * then 1 when this denial is to be logged: a source's first in a second,
 * or for RATE_FULL the table's first in a second */
int rate_take(const unsigned char *key, long rate, long long now_ms,
    int *say);

#endif

/* SPDX-License-Identifier: ISC */
/* Per-source limits: a client's source as a key, and -R's token buckets
 * (limits.c). */
#ifndef LIMITS_H
#define LIMITS_H

#include <sys/socket.h>

/* a client's address as 16 bytes, IPv4 as mapped IPv6, for comparing */
void source_key(const struct sockaddr *sa, unsigned char *key);

/* -R: a token bucket of rate tokens a second, burst rate, per source, in
 * a table of fixed size.  0, or -1 out of memory */
int rate_init(long rate);
/* take a token for the source key at now_ms (a monotonic clock): 1 when
 * it had one, 0 when it is over the rate; then *say is 1 when this
 * denial is the source's first in a second, to be logged */
int rate_take(const unsigned char *key, long long now_ms, int *say);

#endif

/* SPDX-License-Identifier: ISC */
/* Whether a client may have a child (admit.c). */
#ifndef ADMIT_H
#define ADMIT_H

#include <sys/socket.h>

#include "proxy.h"
#include "rules.h"
#include "slots.h"

/*
 * Whether the client at `client`, come in on listener ln (its kind says
 * whether it is an address or credentials), may have a child: the rules first (a
 * denied client costs no -R token), then -R, then -C.  The client's
 * address is given apart from the socket: it is not always the socket's
 * peer.  Its listener, address, port and source key are written once,
 * into s, the slot the caller took for it (slot_take), which goes on to
 * child_start() on 1.  On 0 the client is refused: closed here and
 * logged, and s given back (slot_return).  A trusted relay's word on the
 * client's TLS (tls, else NULL) lets cn: rules match its verified CN, the
 * first line of them and the address rules deciding.  On 1, *rule is the
 * allow rule of rules (NULL: no -x) that matched, or NULL.
 */
int admit(struct slot *s, int cfd, int ln, const struct sockaddr *client,
    const struct ruleset *rules, const struct proxy_tls *tls,
    const struct rule **rule);

#endif

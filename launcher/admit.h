/* SPDX-License-Identifier: ISC */
/* Whether a client may have a child (admit.c). */
#ifndef ADMIT_H
#define ADMIT_H

#include <sys/socket.h>

#include "proxy.h"
#include "rules.h"

/*
 * Whether the client at `client`, come in on listener ln (its kind says
 * whether it is an address or credentials), may have a child: the rules first (a
 * denied client costs no -R token), then -R, then -C.  A client refused is
 * closed here and logged.  The client's address is given apart from the
 * socket: it is not always the socket's peer.  Its address, port and
 * source key are written once, into the slot child_start() takes next
 * (there is one: the caller checked -c).  A trusted relay's word on the
 * client's TLS (tls, else NULL) lets cn: rules match its verified CN, the
 * first line of them and the address rules deciding.  On 1, *rule is the
 * allow rule of rules (NULL: no -x) that matched, or NULL.
 */
int admit(int cfd, int ln, const struct sockaddr *client,
    const struct ruleset *rules, const struct proxy_tls *tls,
    const struct rule **rule);

#endif

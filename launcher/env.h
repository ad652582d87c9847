/* SPDX-License-Identifier: ISC */
/* The environment each child gets (env.c). */
#ifndef ENV_H
#define ENV_H

#include <sys/socket.h>

#include "proxy.h"
#include "rules.h"
#include "slots.h"

/* ours, less every UCSPI and PROXY* variable (and with ipc, a UNIX-domain
 * listener among them, every TCP* and IPC* one), as the base of every
 * child's; TCPLOCAL* and IPCLOCALPATH come from its listener */
void env_init(int ipc);
/* the room env_reserve() makes: for any rule of rs (NULL: none) */
void env_need_for(const struct ruleset *rs);
/* room for the next child's environment in s, made before its client is
 * accepted: without memory the client stays in the backlog, never dropped
 * after it was taken.  0, or -1 with errno set */
int env_reserve(struct slot *s);
/* s's child's environment in its buffer: the client (s->ip, s->port,
 * s->cred), local (NULL: cfd's own address), the relay (-p, else NULL),
 * what its TLVs said of TLS (NULL: nothing) and r's variables (NULL:
 * none).  0, or -1 when it does not fit */
int make_env(struct slot *s, int cfd, const struct sockaddr *local,
    const struct sockaddr *proxy, const struct proxy_tls *tls,
    const struct rule *r);

#endif

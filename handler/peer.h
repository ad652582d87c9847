/* SPDX-License-Identifier: ISC */
/* Who the client is (peer.c), as records name it: ADDR_PEERLEN bytes. */
#ifndef HANDLER_PEER_H
#define HANDLER_PEER_H

#include <sys/stat.h>

#include "tlsid.h"

/* the peer from fd 0 (st0: its fstat) and the environment, first that
 * applies: which; *tcp set when fd 0 is a TCP socket */
enum peer_source peer_init(char *peer, const struct stat *st0, int *tcp);
/* -p: the relay's PROXY header names the client instead, and its TLVs
 * the client's TLS into *id: 0, or -1 said; *check set when it is a v2
 * LOCAL, the relay's own health check */
int proxy_peer(char *peer, struct tlsid *id, int *check);
/* the launcher (msgd-launcher -p) says this is a relay's health check:
 * PROXYLOCAL=1 with PROTO=TCP */
int peer_is_check(void);

#endif

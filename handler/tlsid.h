/* SPDX-License-Identifier: ISC */
/* The client's TLS identity as records show it (tlsid.c): its certificate's
 * CN, verified or not, and for the connect record its TLS version, SNI and
 * unique id, from a relay that vouches for them. */
#ifndef HANDLER_TLSID_H
#define HANDLER_TLSID_H

#include "proxy.h"

/* "cn=" NAME "(unverified)", NAME escaped at most 4 bytes a byte */
#define TLSID_WHO_MAX (4 + 4 * PROXY_TEXT_MAX + 12 + 1)
/* "connect tls=V sni=S unique-id=U" at its longest */
#define TLSID_CONNECT_MAX (8 + 2 * (5 + 4 * PROXY_TEXT_MAX) + 11 + \
	4 * PROXY_UNIQUE_ID_MAX + 1)

struct tlsid {
	const char *who;	/* "cn=alice(verified)", or "" */
	const char *connect;	/* "connect" and what was sent */
	/* where they are written when a relay or stunnel spoke: a client
	 * with no TLS word costs these pages nothing */
	char whobuf[TLSID_WHO_MAX];
	char connbuf[TLSID_CONNECT_MAX];
};

/* where the peer came from (peer_init): who may speak of its TLS */
enum peer_source { PEER_OTHER, PEER_UCSPI, PEER_STUNNEL };

/* none known: "connect" alone */
void tlsid_none(struct tlsid *id);
/* a relay's PROXY v2 TLVs, read by our own -p */
void tlsid_proxy(struct tlsid *id, const struct proxy_tls *t);
/*
 * The environment's word, believed only from whoever named the peer: with
 * PEER_UCSPI the PROXYSSL* variables of msgd-launcher -p (only when its
 * PROXYREMOTEIP and PROXYREMOTEPORT say a trusted relay spoke); with
 * PEER_STUNNEL the CN of stunnel's SSL_CLIENT_DN, verified only when
 * stunnel_verifies (-c).  Nothing else.
 */
void tlsid_env(struct tlsid *id, enum peer_source from, int stunnel_verifies);

#endif

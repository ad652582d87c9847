/* SPDX-License-Identifier: ISC */
/* A socket address as text, numeric, the way records and logs name a peer
 * (addr.c). */
#ifndef ADDR_H
#define ADDR_H

#include <sys/socket.h>

/* Numeric IP and port of a socket address; IPv4-mapped IPv6 shown as IPv4.
 * ip needs ADDR_IPLEN bytes.  0, or -1 for a family that is not IP. */
#define ADDR_IPLEN 46
int addr_ip_port(const struct sockaddr *sa, char *ip, unsigned *port);
/* "IP:PORT", or "[IP]:PORT" for IPv6, into buf of ADDR_PEERLEN bytes. */
#define ADDR_PEERLEN (ADDR_IPLEN + 9)
void addr_peer(char *buf, const char *ip, unsigned port);

#endif

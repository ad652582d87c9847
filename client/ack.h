/* SPDX-License-Identifier: ISC */
/* -a (ack.c): the lines sent counted, the server's replies read as msgd's
 * protocol, and whether it acknowledged them all. */
#ifndef CLIENT_ACK_H
#define CLIENT_ACK_H

#include <stddef.h>

/* n bytes went out to the server */
void ack_sent(const unsigned char *p, size_t n);
/* n bytes came from the server */
void ack_received(const unsigned char *p, size_t n);
/* 1 when the server's last line was "bye N" with N the lines sent (a last
 * one without LF counts) and no line of its began with "error"; else 0 */
int ack_all(void);

#endif

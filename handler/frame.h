/* SPDX-License-Identifier: ISC */
/* Messages and batches (frame.c): the loop that reads the connection,
 * frames lines into messages and acknowledges them. */
#ifndef HANDLER_FRAME_H
#define HANDLER_FRAME_H

#include "conn.h"

/* room for one read beyond the longest line and its CR */
#define READSZ (64 * 1024)

/* the connection's messages until it ends (the greeting sent, the
 * input buffer of c->in.maxline + 1 + READSZ bytes made); the reason it
 * ended.  timeout: -t in seconds, 0 none */
enum endreason handle_messages(struct conn *c, long timeout);

#endif

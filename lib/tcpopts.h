/* SPDX-License-Identifier: ISC */
/* The socket options every client connection gets (tcpopts.c): set by the
 * handler on its connection, or once by the launcher on a listener, whose
 * connections then inherit them, with a word to its children that says so. */
#ifndef MSGD_TCPOPTS_H
#define MSGD_TCPOPTS_H

/* TCP keepalive: a peer that vanished is found within about two minutes */
#define KEEPIDLE_SECS 60
#define KEEPINTVL_SECS 10
#define KEEPCNT 6

/* what msgd-launcher puts in a TCP child's environment when the child's
 * connection already has every option below (the listener had them, and
 * Linux copies them to each connection it accepts); the handler then sets
 * none.  It names the values, so that a handler that would set others
 * sets its own.  The launcher passes no inherited one on. */
#define TCPOPTS_VAR "MSGDTCPOPTS"
#define TCPOPTS_STR_(x) #x
#define TCPOPTS_STR(x) TCPOPTS_STR_(x)
#define TCPOPTS_VALUE "nodelay,keepalive," TCPOPTS_STR(KEEPIDLE_SECS) "," \
	TCPOPTS_STR(KEEPINTVL_SECS) "," TCPOPTS_STR(KEEPCNT)
#define TCPOPTS_ENV TCPOPTS_VAR "=" TCPOPTS_VALUE

/* TCP_NODELAY (replies go out at once) and keepalive as above on fd:
 * 0, or -1 when fd is no TCP socket or one of them could not be set */
int tcpopts_set(int fd);

#endif

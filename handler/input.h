/* SPDX-License-Identifier: ISC */
/* The connection's input, fd 0 (input.c): the one seam between the
 * message loop and the socket, so a test can feed the loop its own reads. */
#ifndef HANDLER_INPUT_H
#define HANDLER_INPUT_H

#include <sys/types.h>

/* wait for input until end (a deadline, DEADLINE_NONE for none): 1
 * readable, 0 timed out, -1 SIGTERM came.  SIGTERM is let in only here
 * and in the bounded writes, so it never cuts a batch short. */
int input_ready(long long end);
/* is input there already (no wait)?  1 yes, 0 no or SIGTERM came */
int input_waiting(void);
/* read(2) of fd 0 */
ssize_t input_read(void *buf, size_t n);

#endif

/* SPDX-License-Identifier: ISC */
/* SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2 and SIGCHLD as flags and a pipe the
 * loop polls (signals.c). */
#ifndef SIGNALS_H
#define SIGNALS_H

#include <signal.h>

/* got_term counts SIGTERM and SIGINT (a second one cuts the grace short);
 * the others are set to 1 and cleared by whoever acts on them */
extern volatile sig_atomic_t got_term, got_int, got_hup, got_usr1, got_usr2;

/* hold SIGTERM, SIGINT, SIGHUP, SIGUSR1 and SIGUSR2 until signals_init(): one that
 * comes right after the -1 port line must still end us with 0 */
void signals_hold(void);
/* the handlers and the pipe, then no signal held; child_reset gets the
 * signals a child must have back at their defaults.  0, or -1 */
int signals_init(sigset_t *child_reset);
/* the pipe's end to poll for a signal */
int signals_fd(void);
/* empty the pipe, after poll said it has something */
void drain_signals(void);

#endif

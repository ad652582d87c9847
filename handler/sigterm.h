/* SPDX-License-Identifier: ISC */
/* SIGTERM (sigterm.c): held but while the handler waits, and then only
 * sets term_requested. */
#ifndef HANDLER_SIGTERM_H
#define HANDLER_SIGTERM_H

#include <signal.h>

/* SIGTERM came: finish the batch in hand, then say goodbye */
extern volatile sig_atomic_t term_requested;
/* the signal mask while waiting: SIGTERM let in */
extern sigset_t term_waitmask;

/* SIGPIPE and SIGXFSZ held for good, SIGTERM held and handled as above;
 * in a sanitizer's build, where a leak check runs after main, a SIGTERM
 * at exit ends the process with the status given here */
void signals_init(void);
/* a SIGTERM held while no wait let it in (a wait that found input at once
 * leaves it pending): term_requested set, and 1 */
int term_pending(void);
void exit_status_is(int status);

#endif

/* SPDX-License-Identifier: ISC */
/* A Ctrl-C reaches the launcher and the parent that runs it in the same
 * process group (make run) at once. */
#ifndef INTERRUPT_H
#define INTERRUPT_H

/* Stopped by SIGINT: wait (at most a second) until such a parent has
 * taken its own SIGINT.  GNU make that reaps us first finds no child in
 * its SIGINT handler and ends with "wait: No child processes". */
void interrupt_settle(void);

#endif

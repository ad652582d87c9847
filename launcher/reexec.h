/* SPDX-License-Identifier: ISC */
/* SIGUSR2: the launcher executes its program file again in place, its
 * listeners, children and counters handed to the new image (reexec.c). */
#ifndef REEXEC_H
#define REEXEC_H

/* first thing at start: the program file (resolved now, so that a file
 * renamed over its path later is the one run), the arguments, the
 * environment as given and the working directory, for a re-exec; and
 * whether this image is a check or an heir of one before it */
void reexec_init(char **argv);
/* this image only checks its arguments and rules for the one before it:
 * it exits 0 once they are good */
int reexec_checking(void);
/* this image was executed by one before it: it takes over, binds
 * nothing, detaches nothing, drops no privilege again */
int reexec_heir(void);
/* the heir: the listeners (relays: -p given), the pid file, the socket
 * file bound, the counters and the running children of the image before,
 * in slots.  0, or -1 said */
int reexec_adopt(int relays);
/* how many children were adopted */
long reexec_adopted(void);
/* SIGUSR2: check the program file with these arguments and rules, then
 * execute it, handing everything over.  Returns only when that failed
 * (said), and the old image goes on */
void reexec(void);

#endif

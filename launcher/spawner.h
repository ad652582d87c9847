/* SPDX-License-Identifier: ISC */
/* Making a slot's child: clone(CLONE_VM) from the accepting thread, or
 * posix_spawn(3) (spawner.c). */
#ifndef SPAWNER_H
#define SPAWNER_H

#include <signal.h>

#include "slots.h"

/* children of program with args (a path), for the n slots; reset: the
 * signals a child must get back at their defaults.  0, or an errno value */
int spawner_init(struct slot *slot, long n, const char *program,
    char *const *args, const sigset_t *reset);
/* make s's child, s->fd on its fds 0 and 1, s->env its environment: 0
 * (s->pid runs, s->fd is closed), or why not as an errno value */
int spawn(struct slot *s);
/* s's child was reaped with status: the errno value of its failed exec,
 * or 0 */
int spawn_exec_failed(const struct slot *s, int status);

#endif

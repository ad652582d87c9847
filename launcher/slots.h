/* SPDX-License-Identifier: ISC */
/* The slot table: one slot per child the launcher may have (-c MAX), from
 * a client's admission until its child is reaped (slots.c). */
#ifndef SLOTS_H
#define SLOTS_H

#include <stddef.h>
#include <sys/types.h>

#include "cred.h"
#include "addr.h"
#include "sources.h"

enum slot_state { SLOT_FREE, SLOT_RUNNING, SLOT_FAILED };

/* one client's child, from the moment it is admitted until it is reaped */
struct slot {
	enum slot_state state;
	pid_t pid;		/* the child, once made */
	int fd;			/* the connection, until the child has it */
	int retry;		/* its spawn failed for want of resources */
	int ln;			/* the listener it came in on (sockets.h) */
	long live;		/* its index in the list of slots in use */
	unsigned char key[SOURCE_KEYLEN];	/* the source, for -C */
	struct peer_cred cred;	/* -U: the client's */
	char **env;		/* its own environment, one allocation */
	size_t env_size;	/* in bytes */
	char ip[ADDR_IPLEN];	/* the client, for the log (-U: its cred_text) */
	unsigned port;
	int check;		/* -p: a relay's health check (v2 LOCAL) */
	/* the spawner's, untouched from spawn() until the child is reaped */
	char *stack_top;
	int child_fd;
	char **child_env;
	volatile int exec_err;
};

/* max slots, all free: 0, or -1 out of memory */
int slots_init(long max);
/* all max of them, in one array (for spawner_init) */
struct slot *slots_table(void);
/* a free slot, the caller's from now on: it writes a client into it, then
 * puts it in use (slot_use) or gives it back unused (slot_return).  There
 * must be one: slots_used() < max, and no other slot taken and not yet
 * used or given back */
struct slot *slot_take(void);
void slot_use(struct slot *s);
void slot_return(struct slot *s);
/* a slot in use is free again (its child reaped, or never made) */
void slot_free(struct slot *s);
/* how many are in use (running, or waiting to be spawned again), and the
 * i-th of them: i from 0 to slots_used() - 1; slot_free() moves them */
long slots_used(void);
struct slot *slot_used(long i);
/* how many of those in use are from the source key (-C) */
long slots_from_source(const unsigned char *key);

#endif

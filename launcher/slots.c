/* SPDX-License-Identifier: ISC */
/* The slot table: a slot per child (-c MAX), the free ones on a stack and
 * those in use in a list; apart so that its arrays are changed only
 * here, whoever takes, frees or walks the slots. */
#include <stdlib.h>
#include <string.h>

#include "slots.h"

/* a slot per child, SLOT_FREE ones on a stack; live[] lists the others */
static struct slot *slots, **free_slots, **live;
static long nfree, nchildren;

int
slots_init(long max)
{
	long i;

	slots = calloc((size_t)max, sizeof *slots);
	free_slots = calloc((size_t)max, sizeof *free_slots);
	live = calloc((size_t)max, sizeof *live);
	if (slots == NULL || free_slots == NULL || live == NULL)
		return -1;
	for (i = max; i-- > 0;)
		free_slots[nfree++] = &slots[i];
	return 0;
}

struct slot *
slots_table(void)
{
	return slots;
}

struct slot *
slot_take(void)
{
	return free_slots[--nfree];
}

void
slot_use(struct slot *s)
{
	s->live = nchildren;
	live[nchildren++] = s;
}

/* on top of the stack again: the next slot_take() gives it, with the room
 * for an environment already made in it */
void
slot_return(struct slot *s)
{
	free_slots[nfree++] = s;
}

void
slot_free(struct slot *s)
{
	live[s->live] = live[--nchildren];
	live[s->live]->live = s->live;
	s->state = SLOT_FREE;
	free_slots[nfree++] = s;
}

long
slots_used(void)
{
	return nchildren;
}

struct slot *
slot_used(long i)
{
	return live[i];
}

long
slots_from_source(const unsigned char *addr)
{
	long i, n = 0;

	for (i = 0; i < nchildren; i++)
		n += memcmp(live[i]->key, addr, SOURCE_KEYLEN) == 0;
	return n;
}

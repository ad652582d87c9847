/* SPDX-License-Identifier: ISC */
/* Deadlines for bounded waits (deadline.h): one place for the arithmetic
 * between now_ms(), "milliseconds left" and the timeouts of poll and ppoll,
 * and for how the clock is read. */
#include <limits.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "deadline.h"

/* system calls left before the vDSO is worth its first use: a short
 * connection makes fewer reads, a long one (a bulk stream reads the clock
 * three times a batch) then goes on with the vDSO */
#define CLOCK_SYSCALLS 32

static int by_syscall;

void
clock_by_syscall(void)
{
	by_syscall = CLOCK_SYSCALLS;
}

void
clock_read(clockid_t id, struct timespec *ts)
{
	if (by_syscall > 0) {
		by_syscall--;
		if (syscall(SYS_clock_gettime, id, ts) == 0)
			return;
	}
	clock_gettime(id, ts);
}

long long
now_ms(void)
{
	struct timespec ts;

	clock_read(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long
deadline_in(long long ms)
{
	return ms < 0 ? DEADLINE_NONE : now_ms() + ms;
}

long long
deadline_min(long long a, long long b)
{
	if (a == DEADLINE_NONE)
		return b;
	if (b == DEADLINE_NONE)
		return a;
	return a < b ? a : b;
}

long long
deadline_left(long long end)
{
	long long left;

	if (end == DEADLINE_NONE)
		return -1;
	left = end - now_ms();
	return left > 0 ? left : 0;
}

int
deadline_expired(long long end)
{
	return end != DEADLINE_NONE && now_ms() >= end;
}

int
deadline_poll_ms(long long end)
{
	long long left = deadline_left(end);

	return left > INT_MAX ? INT_MAX : (int)left;
}

struct timespec *
deadline_timespec(long long end, struct timespec *ts)
{
	long long left = deadline_left(end);

	if (left < 0)
		return NULL;
	ts->tv_sec = (time_t)(left / 1000);
	ts->tv_nsec = (long)(left % 1000 * 1000000);
	return ts;
}

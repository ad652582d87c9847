/* SPDX-License-Identifier: ISC */
/* Every "wait at most N ms" as one deadline: an absolute time on now_ms()'s
 * monotonic clock, or DEADLINE_NONE, with what is left of it in the forms
 * poll(2) and ppoll(2) take.  Kept apart so that no wait redoes the sums. */
#ifndef MSGD_DEADLINE_H
#define MSGD_DEADLINE_H

#include <time.h>

/* Reading a clock: clock_gettime(3), or after clock_by_syscall() the system
 * call itself for the first few reads.  The vDSO that spares a long-lived
 * process the system call costs a process its first use: two page faults
 * and a symbol lookup, a few microseconds, more than the handful of reads a
 * handler's short connection makes (a long one goes on with the vDSO).  A
 * handler says so first thing; a launcher does not. */
void clock_by_syscall(void);
void clock_read(clockid_t id, struct timespec *ts);

/* milliseconds on the monotonic clock: what deadlines are counted in */
long long now_ms(void);

/* a wait with no bound */
#define DEADLINE_NONE (-1LL)

/* now plus ms; DEADLINE_NONE for ms < 0 */
long long deadline_in(long long ms);
/* the earlier of two deadlines (DEADLINE_NONE is the later of any) */
long long deadline_min(long long a, long long b);
/* milliseconds left, 0 once passed; -1 for DEADLINE_NONE */
long long deadline_left(long long end);
/* 1 once end has come; never for DEADLINE_NONE */
int deadline_expired(long long end);
/* the time left as poll(2)'s timeout: -1 for none, at most INT_MAX */
int deadline_poll_ms(long long end);
/* the time left as ppoll(2)'s timeout in *ts: ts, or NULL for none */
struct timespec *deadline_timespec(long long end, struct timespec *ts);

#endif

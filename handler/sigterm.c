/* SPDX-License-Identifier: ISC */
/* SIGTERM: held except while the handler waits, and then only a flag that
 * shortens every wait (SIGPIPE and SIGXFSZ: held for good).
 * Apart because every wait (input, replies, records) consults it. */
#include <signal.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#include "sigterm.h"

volatile sig_atomic_t term_requested;
sigset_t term_waitmask;

static void
on_term(int sig)
{
	(void)sig;
	term_requested = 1;
}

/*
 * Where something runs after main (a sanitizer's leak checker, whose
 * stop-the-world runs with our mask; a SIGCONT that timeout(1) sends with
 * the SIGTERM can leave it waiting for good), SIGTERM held would stay
 * pending through it: then only SIGKILL could end it.  There, at exit,
 * SIGTERM ends the process again, with main's status: the work is done.
 * One that came after the last wait is taken first, as a flag.  Otherwise
 * exit(3) ends the process at once, and the two system calls are saved.
 */
#if defined(__SANITIZE_ADDRESS__)
#define AFTER_MAIN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
#define AFTER_MAIN 1
#endif
#endif

#ifdef AFTER_MAIN
/* what main returned: the status a SIGTERM at exit ends us with */
static volatile sig_atomic_t exit_status = 1;

static void
term_exit(int sig)
{
	(void)sig;
	_exit(exit_status);
}

static void
term_at_exit(void)
{
	struct sigaction sa;
	sigset_t term;

	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_UNBLOCK, &term, NULL);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = term_exit;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
}
#endif

void
exit_status_is(int status)
{
#ifdef AFTER_MAIN
	exit_status = status;
#else
	(void)status;
#endif
}

/*
 * SIGTERM (the launcher after -k, systemd's stop) is held except while
 * waiting, and then only sets a flag.  SIGPIPE and SIGXFSZ are held for
 * good, in the same call: a write to a reader that is gone, or past a file
 * size limit, fails (EPIPE, EFBIG) and kills nothing, and the signal stays
 * pending until exit, for nothing here ever lets it in.
 */
void
signals_init(void)
{
	struct sigaction sa;
	sigset_t held;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&held);
	sigaddset(&held, SIGTERM);
	sigaddset(&held, SIGPIPE);
	sigaddset(&held, SIGXFSZ);
	sigprocmask(SIG_BLOCK, &held, &term_waitmask);
	/* the waits' mask: ours less SIGTERM */
	sigdelset(&term_waitmask, SIGTERM);
	sigaddset(&term_waitmask, SIGPIPE);
	sigaddset(&term_waitmask, SIGXFSZ);
#ifdef AFTER_MAIN
	atexit(term_at_exit);	/* before any registered earlier */
#endif
}

int
term_pending(void)
{
	sigset_t set;

	if (!term_requested && sigpending(&set) == 0 &&
	    sigismember(&set, SIGTERM))
		term_requested = 1;
	return term_requested;
}

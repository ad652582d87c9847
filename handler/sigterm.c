/* SPDX-License-Identifier: ISC */
/* SIGTERM: held except while the handler waits, and then only a flag that
 * shortens every wait; at exit it ends the process with main's status.
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

/* what main returned: the status a SIGTERM at exit ends us with */
static volatile sig_atomic_t exit_status = 1;

void
exit_status_is(int status)
{
	exit_status = status;
}

static void
term_exit(int sig)
{
	(void)sig;
	_exit(exit_status);
}

/*
 * At exit SIGTERM ends the process again, with main's status: the work is
 * done.  Held, it would stay pending through whatever runs after main (a
 * leak checker's stop-the-world runs with our mask, and a SIGCONT that
 * timeout(1) sends with the SIGTERM can leave it waiting for good): then
 * only SIGKILL could end it.  One that came after the last wait is taken
 * first, as a flag.
 */
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

/* SIGTERM (the launcher after -k, systemd's stop) is held except while
 * waiting, and then only sets a flag */
void
signals_init(void)
{
	struct sigaction sa;
	sigset_t term;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);	/* a file size limit is a failed write */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &term, &term_waitmask);
	sigdelset(&term_waitmask, SIGTERM);
	atexit(term_at_exit);	/* before any registered earlier */
}

/* SPDX-License-Identifier: ISC */
/* Detaching (-f) and the pid file (-i) (daemon.c). */
#ifndef DAEMON_H
#define DAEMON_H

/* fork; the parent waits for daemon_ready() and exits 0, or 1 when the
 * daemon failed first.  In the daemon: a session of its own, nothing
 * inherited but lfd.  The pipe to say ready on, or -1 said */
int daemonize(int lfd);
/* stdio to /dev/null, diagnostics to syslog, the parent let go */
void daemon_ready(int ready);
/* path, with our pid, never through a link nor into anything but a
 * regular file: 0, or -1 said */
int write_pidfile(const char *path);
/* at exit: the pid file removed, or emptied when it cannot be */
void pidfile_remove(void);

#endif

/* SPDX-License-Identifier: ISC */
/* Detaching (-f) and the pid file (-i) (daemon.c). */
#ifndef DAEMON_H
#define DAEMON_H

/* fork; the parent waits for daemon_ready() and exits 0, or 1 when the
 * daemon failed first.  In the daemon: a session of its own, nothing
 * inherited but the descriptors keep() says 1 for (the listeners).  The
 * pipe to say ready on, or -1 said */
int daemonize(int (*keep)(int fd));
/* stdio to /dev/null, diagnostics to syslog, the parent let go */
void daemon_ready(int ready);
/* path, with our pid, never through a link nor into anything but a
 * regular file: 0, or -1 said */
int write_pidfile(const char *path);
/* the pid file's descriptor, or -1; a re-exec hands it over and the new
 * image adopts it, to remove the file at exit */
int pidfile_handed(void);
void pidfile_adopt(const char *path, int fd);
/* at exit: the pid file removed, or emptied when it cannot be */
void pidfile_remove(void);

#endif

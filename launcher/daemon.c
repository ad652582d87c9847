/* SPDX-License-Identifier: ISC */
/* Daemon mode (-f) and the pid file (-i): detaching with the parent kept
 * until the daemon is ready, and a pid file written as root with care;
 * apart from start-up, which only calls them in order. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slog.h"
#include "util.h"
#include "daemon.h"
#include "fds.h"

/*
 * Detach.  The parent stays until the daemon says it is ready, so that a
 * failure after the fork (pid file, privileges) is still its exit status
 * and its message still reaches the terminal.  Returns the pipe to report
 * readiness on, or -1.
 */
int
daemonize(int (*keep)(int fd))
{
	int ready[2];
	char c = 0;

	if (pipe(ready) < 0) {
		warn("cannot make a pipe:");
		return -1;
	}
	switch (fork()) {
	case -1:
		warn("cannot fork:");
		return -1;
	case 0:
		break;
	default:
		close(ready[1]);
		while (read(ready[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(c == 'r' ? 0 : 1);	/* nothing read: it failed */
	}
	close(ready[0]);
	fcntl(ready[1], F_SETFD, FD_CLOEXEC);
	/* a daemon holds nothing of its caller's: no files, no locks */
	fds_close_but(keep, ready[1]);
	setsid();
	return ready[1];
}

/* ready to serve: stdio to /dev/null, diagnostics to syslog, parent off */
void
daemon_ready(int ready)
{
	int fd = open("/dev/null", O_RDWR);

	/* else the log, children's failures among it, would go nowhere
	 * unseen: said while the terminal is there */
	if (slog_check() < 0)
		warn("cannot reach syslog at /dev/log, where the daemon logs:");
	if (chdir("/") < 0)
		warn("cannot change to /:");
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	diag_syslog(1);
	(void)!write(ready, "r", 1);
	close(ready);
}

/* kept open: after -u the file may not be removable, only emptied */
static int pidfile_fd = -1;
static const char *pidfile;

/* why the pid file cannot be opened: a symbolic link or something other
 * than a file is named for what it is */
static void
pidfile_refused(int err)
{
	struct stat st;

	if (lstat(pidfile, &st) == 0 && S_ISLNK(st.st_mode))
		warn("cannot write pid file %s: it is a symbolic link",
		    pidfile);
	else if (lstat(pidfile, &st) == 0 && !S_ISREG(st.st_mode))
		warn("cannot write pid file %s: it is not a regular file",
		    pidfile);
	else {
		errno = err;
		warn("cannot write pid file %s:", pidfile);
	}
}

/*
 * Written as root, often in a directory others can write: never through a
 * symbolic link, never into anything but a regular file (O_NONBLOCK: a
 * FIFO there must not hang us), and emptied only once it is known to be
 * one.
 */
int
write_pidfile(const char *path)
{
	struct stat st;
	char buf[32];
	int fd, n;

	pidfile = path;
	fd = open(pidfile, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC, 0644);
	if (fd < 0) {
		pidfile_refused(errno);
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		pidfile_refused(errno);
		close(fd);
		return -1;
	}
	n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || writeall(fd, buf, (size_t)n) < 0) {
		warn("cannot write pid file %s:", pidfile);
		close(fd);
		return -1;
	}
	pidfile_fd = fd;
	return 0;
}

int
pidfile_handed(void)
{
	return pidfile_fd;
}

void
pidfile_adopt(const char *path, int fd)
{
	pidfile = path;
	pidfile_fd = fd;
	fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* at exit: remove the pid file, unless another file has taken its name;
 * when that is not allowed (privileges dropped), empty it: no stale pid
 * is left behind */
void
pidfile_remove(void)
{
	struct stat ours, there;
	int gone;

	if (pidfile_fd < 0)
		return;
	if (lstat(pidfile, &there) == 0)
		gone = fstat(pidfile_fd, &ours) == 0 &&
		    (ours.st_dev != there.st_dev || ours.st_ino != there.st_ino);
	else
		gone = errno == ENOENT;
	if (!gone && unlink(pidfile) < 0 && ftruncate(pidfile_fd, 0) < 0)
		warn("cannot remove or empty pid file %s:", pidfile);
	close(pidfile_fd);
	pidfile_fd = -1;
}

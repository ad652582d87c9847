/* SPDX-License-Identifier: ISC */
/* Appending whole lines to a regular file that records may share: an
 * O_APPEND description of our own, a lock only writers can take, a torn
 * record of ours cut before the append, one write per batch of lines. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "append.h"
#include "deadline.h"

/*
 * The lock is on FILE.lock, made with the record file's owner, group and
 * write permissions only: flock(2) and fcntl(2) read locks need no more
 * than read access, so a lock on the record file itself could be held by
 * anyone who may read the records, stalling every writer.  Where the lock
 * file cannot be had (the directory is not writable, no /proc to name the
 * file) the record file itself is locked, as every msgd writer then does.
 */
static int
lock_open(int fd, const struct stat *st)
{
	char link[32], path[PATH_MAX + 8];
	ssize_t n;
	int lfd;

	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	n = readlink(link, path, PATH_MAX);
	if (n <= 0 || n >= PATH_MAX || path[0] != '/')
		return -1;
	path[n] = '\0';
	if (n > 10 && strcmp(path + n - 10, " (deleted)") == 0)
		return -1;
	strcpy(path + n, ".lock");
	lfd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC |
	    O_NOCTTY, 0600);
	if (lfd >= 0) {
		mode_t w = st->st_mode & 0222;

		/* whoever may write the records, and no one else */
		(void)!fchown(lfd, st->st_uid, st->st_gid);
		(void)!fchmod(lfd, w | w << 1);
	} else if (errno == EEXIST)
		lfd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (lfd >= 0) {
		struct stat ls;

		if (fstat(lfd, &ls) == 0 && S_ISREG(ls.st_mode))
			return lfd;
		close(lfd);
	}
	return -1;
}

int
append_open(struct append *a, int fd, int mine)
{
	char path[32];
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		return -1;
	}
	/* read access too, to find a torn last record; write-only will do */
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	a->fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOCTTY);
	if (a->fd < 0)
		a->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
	a->own = a->fd >= 0 || mine;
	if (a->fd < 0) {
		/* no /proc: the description we were given, made O_APPEND
		 * for all who share it, or our lines would overwrite */
		a->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		if (a->fd < 0)
			return -1;
		fcntl(a->fd, F_SETFL, fcntl(a->fd, F_GETFL) | O_APPEND);
	}
	a->lockfd = lock_open(a->fd, &st);
	if (a->lockfd < 0)
		a->lockfd = a->fd;
	a->dev = st.st_dev;
	a->ino = st.st_ino;
	return 0;
}

void
append_close(struct append *a)
{
	if (a->lockfd != a->fd)
		close(a->lockfd);
	close(a->fd);
	a->fd = a->lockfd = -1;
}

/* the exclusive lock, waited for at most ms */
static int
lock_within(int fd, int ms)
{
	long long end = deadline_in(ms);
	struct timespec nap = { 0, 1000000 };

	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK || deadline_expired(end))
			return -1;
		nanosleep(&nap, NULL);
		if (nap.tv_nsec < 64000000)
			nap.tv_nsec *= 2;
	}
	return 0;
}

/* does our whole record head start at off: "YYYY-MM-DDTHH:MM:SS.mmmZ
 * msgd-handler[PID]: "?  A date alone could start anyone's line. */
static int
ours_at(int fd, off_t off)
{
	static const char shape[] = "9999-99-99T99:99:99.999Z msgd-handler[";
	char h[sizeof shape + 16];
	ssize_t n = pread(fd, h, sizeof h, off), i, k;

	if (n < (ssize_t)sizeof shape + 2)
		return 0;
	for (i = 0; shape[i]; i++)
		if (shape[i] == '9' ? h[i] < '0' || h[i] > '9' : h[i] != shape[i])
			return 0;
	for (k = i; k < n && k - i < 11 && h[k] >= '0' && h[k] <= '9'; k++)
		;
	return k > i && k + 2 < n && h[k] == ']' && h[k + 1] == ':' &&
	    h[k + 2] == ' ';
}

/*
 * A file that does not end in LF holds the start of a line whose writer
 * was killed mid-write.  A record of ours was never acknowledged: cut back
 * to the last LF (under the lock) before appending, or the next line would
 * be glued onto it.  Only a tail that carries our whole record head and is
 * no longer than a record is cut, and only when our description is our
 * own (not one shared with writers the lock cannot exclude); anything else
 * is ended with an LF, never deleted.
 */
static void
repair_tail(int fd, int own)
{
	char b[4096];
	struct stat st;
	off_t end, at, stop;

	if (fstat(fd, &st) < 0 || st.st_size == 0)
		return;
	stop = st.st_size > APPEND_TAIL_MAX ? st.st_size - APPEND_TAIL_MAX : 0;
	for (end = st.st_size; end > stop; end = at) {
		ssize_t n, i;

		at = end - stop > (off_t)sizeof b ? end - (off_t)sizeof b : stop;
		n = pread(fd, b, (size_t)(end - at), at);
		if (n != end - at)
			return;	/* cannot read it (a write-only file) */
		for (i = n; i > 0 && b[i - 1] != '\n'; i--)
			;
		if (i == n && end == st.st_size)
			return;	/* ends in LF: whole */
		if (i > 0) {
			end = at + i;
			break;
		}
	}
	if (end == stop && stop > 0)
		own = 0;	/* longer than any record: not ours */
	if (own && ours_at(fd, end))
		(void)!ftruncate(fd, end);
	else
		(void)!write(fd, "\n", 1);	/* O_APPEND: after any writer */
}

size_t
append_write(struct append *a, const char *p, size_t len, int ms)
{
	size_t done = 0;
	int saved;

	if (lock_within(a->lockfd, ms) < 0)
		return 0;
	repair_tail(a->fd, a->own);
	while (done < len) {
		ssize_t n = write(a->fd, p + done, len - done);

		if (n > 0)
			done += (size_t)n;
		else if (n < 0 && errno == EINTR)
			continue;
		else {
			if (n == 0)
				errno = ENOSPC;
			break;
		}
	}
	saved = errno;
	/* failed part-way (disk full, a file size limit): the partial line
	 * comes back out before anyone appends after it */
	if (done < len && done > 0 && a->own) {
		const char *last = p + done;
		off_t end = lseek(a->fd, 0, SEEK_CUR);
		struct stat st;

		while (last > p && last[-1] != '\n')
			last--;
		if (last < p + done && end >= 0 &&
		    fstat(a->fd, &st) == 0 && st.st_size == end)
			(void)!ftruncate(a->fd, end - (p + done - last));
	}
	flock(a->lockfd, LOCK_UN);
	errno = saved;
	return done;
}

/* SPDX-License-Identifier: ISC */
/* Appending whole lines to a regular file that records may share: an
 * O_APPEND description of our own, a lock on the file itself that only
 * writers can take, a torn record cut only when its writer is gone. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "append.h"
#include "deadline.h"

#ifndef F_OFD_SETLK
#define F_OFD_SETLK 37
#endif
#ifndef F_OFD_GETLK
#define F_OFD_GETLK 36
#endif

/* /proc/PID/stat's flags: a kernel thread, which writes no records */
#define PF_KTHREAD 0x00200000UL
/* a process that started this long after a record's time did not write it
 * (the clocks' rounding, and a record's time is taken before its write) */
#define START_SLACK_MS 2000

/* a tail that grew within this long is being written by someone (a
 * writer that shares read locks with us), looked at this many times */
#define GROW_NAP_NS 200000
#define GROW_NAPS 50

/* a writer finds the lock taken: it looks again after this long, then
 * twice as long each time up to LOCK_NAP_MAX_NS.  A writer holds it for a
 * few system calls (an fstat, perhaps a read of the last byte, the write),
 * so the first look is soon; one preempted while holding it (many writers
 * on few CPUs) is waited for at a falling rate. */
#define LOCK_NAP_NS 50000
#define LOCK_NAP_MAX_NS 64000000

/* how the lock is held */
enum held { HELD_NONE = -1, HELD_SHARED, HELD_WHOLE, HELD_FLOCK };

void
append_handed(const struct stat st[3])
{
	int fd, fl;

	for (fd = 1; fd <= 2; fd++) {
		if (!S_ISREG(st[fd].st_mode))
			continue;
		fl = fcntl(fd, F_GETFL);
		if (fl >= 0 && !(fl & O_APPEND))
			fcntl(fd, F_SETFL, fl | O_APPEND);
	}
}

int
append_open(struct append *a, int fd, int mine)
{
	char path[32];
	struct stat st;
	int fl;

	if (fstat(fd, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		return -1;
	}
	/* read access too, to see a torn last record; write-only will do */
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	a->fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOCTTY);
	a->readable = a->fd >= 0;
	if (a->fd < 0)
		a->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
	a->own = a->fd >= 0 || mine;
	if (a->fd < 0) {
		/* no /proc: the description we were given, made O_APPEND
		 * for all who share it, or our lines would overwrite */
		a->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		if (a->fd < 0)
			return -1;
		fl = fcntl(a->fd, F_GETFL);
		fcntl(a->fd, F_SETFL, fl | O_APPEND);
		a->readable = (fl & O_ACCMODE) != O_WRONLY;
	}
	a->left = -1;
	a->dev = st.st_dev;
	a->ino = st.st_ino;
	return 0;
}

int
append_adopt(struct append *a, int fd, int readable)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		return -1;
	}
	a->fd = fd;
	a->own = 1;
	a->readable = readable;
	a->left = -1;
	a->dev = st.st_dev;
	a->ino = st.st_ino;
	return 0;
}

void
append_close(struct append *a)
{
	close(a->fd);
	a->fd = -1;
}

/* an open file description lock on the whole file: it belongs to the
 * inode, whatever name each writer opened it by */
static int
ofd_lock(int fd, short type)
{
	struct flock fl;

	memset(&fl, 0, sizeof fl);
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	return fcntl(fd, F_OFD_SETLK, &fl);
}

/*
 * The writers' lock, waited for at most ms.  A write lock needs a
 * description open for writing: only writers can take it.  A read lock
 * anyone who may read the records can take; when only read locks stand in
 * the way, we share them instead, and then cut nothing: so a reader can
 * neither stall nor stop recording, and a writer that holds the write lock
 * knows that no other writer is appending.  A kernel without these locks
 * (or a file system) gets flock(2) on the file, as every writer then does.
 */
static enum held
lock_within(struct append *a, int ms)
{
	long long end = DEADLINE_NONE;	/* read the clock only if we wait */
	struct timespec nap = { 0, LOCK_NAP_NS };
	int flock_only = 0, waiting = 0;

	for (;;) {
		if (!flock_only && ofd_lock(a->fd, F_WRLCK) == 0)
			return HELD_WHOLE;
		if (!flock_only && (errno == EINVAL || errno == ENOLCK))
			flock_only = 1;
		if (flock_only && flock(a->fd, LOCK_EX | LOCK_NB) == 0)
			return HELD_FLOCK;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EACCES)
			return HELD_NONE;
		if (!flock_only && a->readable && ofd_lock(a->fd, F_RDLCK) == 0) {
			/* the write lock's holder may have let go meanwhile:
			 * then the read lock becomes the write lock */
			if (ofd_lock(a->fd, F_WRLCK) == 0)
				return HELD_WHOLE;
			return HELD_SHARED;
		}
		if (!waiting) {
			end = deadline_in(ms);
			waiting = 1;
		} else if (deadline_expired(end)) {
			errno = EWOULDBLOCK;
			return HELD_NONE;
		}
		nanosleep(&nap, NULL);
		if (nap.tv_nsec < LOCK_NAP_MAX_NS)
			nap.tv_nsec *= 2;
	}
}

static void
unlock(int fd, enum held held)
{
	if (held == HELD_FLOCK)
		flock(fd, LOCK_UN);
	else
		ofd_lock(fd, F_UNLCK);
}

/* is our whole record head at off, "YYYY-MM-DDTHH:MM:SS.mmmZ
 * msgd-handler[PID]: "?  If so, its time (ms since the epoch) and PID.
 * A date alone could start anyone's line. */
static int
head_at(int fd, off_t off, long long *ms, long *pid)
{
	static const char shape[] = "9999-99-99T99:99:99.999Z msgd-handler[";
	char h[sizeof shape + 16];
	ssize_t n = pread(fd, h, sizeof h, off), i, k;
	struct tm tm;
	time_t t;

	if (n < (ssize_t)sizeof shape + 2)
		return 0;
	for (i = 0; shape[i]; i++)
		if (shape[i] == '9' ? h[i] < '0' || h[i] > '9' : h[i] != shape[i])
			return 0;
	*pid = 0;
	for (k = i; k < n && k - i < 9 && h[k] >= '0' && h[k] <= '9'; k++)
		*pid = *pid * 10 + (h[k] - '0');
	if (k == i || k + 2 >= n || h[k] != ']' || h[k + 1] != ':' ||
	    h[k + 2] != ' ')
		return 0;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = atoi(h) - 1900;
	tm.tm_mon = atoi(h + 5) - 1;
	tm.tm_mday = atoi(h + 8);
	tm.tm_hour = atoi(h + 11);
	tm.tm_min = atoi(h + 14);
	tm.tm_sec = atoi(h + 17);
	t = timegm(&tm);
	*ms = (long long)t * 1000 + atoi(h + 20);
	return 1;
}

/* milliseconds since the epoch that process pid started: from its start
 * in clock ticks after boot; -1 if that cannot be read.  *gone: it is a
 * zombie or a kernel thread. */
static long long
started_ms(long pid, int *gone)
{
	char path[32], buf[1024], *p;
	unsigned long long start = 0, flags = 0;
	struct timespec real, boot;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (p == NULL || p[1] != ' ')
		return -1;
	*gone = p[2] == 'Z' || p[2] == 'X';
	/* field 3 is the state; 9 the flags, 22 the start time */
	for (field = 3, p += 2; *p && field <= 22; field++) {
		if (field == 9)
			flags = strtoull(p, NULL, 10);
		if (field == 22)
			start = strtoull(p, NULL, 10);
		p = strchr(p, ' ');
		if (p == NULL)
			break;
		p++;
	}
	if (field <= 22)
		return -1;
	if (flags & PF_KTHREAD)
		*gone = 1;
	clock_read(CLOCK_REALTIME, &real);
	clock_read(CLOCK_BOOTTIME, &boot);
	return (long long)real.tv_sec * 1000 + real.tv_nsec / 1000000 -
	    ((long long)boot.tv_sec * 1000 + boot.tv_nsec / 1000000) +
	    (long long)(start * 1000 / (unsigned long long)sysconf(_SC_CLK_TCK));
}

/*
 * Is the writer of a record that started at ms, by pid, gone?  Under the
 * write lock no writer that takes it is appending, so a torn record is
 * one whose writer died or failed mid-write; this is the proof against
 * one that does not take it (an older msgd, a shared description): no
 * such process, or one that cannot be it (a zombie, a kernel thread, one
 * started after the record).  Where it cannot be known: not gone.
 */
static int
writer_gone(long pid, long long ms)
{
	long long start;
	int gone = 0;

	if (pid == (long)getpid())
		return 1;	/* ours, left when a write failed: not going on */
	if (pid < 1)
		return 0;
	if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
		return 1;
	start = started_ms(pid, &gone);
	return gone || (start >= 0 && start > ms + START_SLACK_MS);
}

/* an unfinished line is ended: O_APPEND puts the LF after any writer */
static void
end_line(int fd)
{
	(void)!write(fd, "\n", 1);
}

/* the file as fstat saw it (st) does not end in LF: repair_tail's slow
 * part, apart so that its buffer is no part of every append's stack */
static off_t __attribute__((noinline))
repair_torn(struct append *a, struct stat st, int may_cut)
{
	char b[4096];
	off_t end, at, stop;
	long long ms;
	long pid;

	/* another writer may be appending this moment (one sharing read
	 * locks, or one that takes no lock), and the file grows a page at a
	 * time meanwhile.  On ext4 and tmpfs a write holds the file's inode
	 * lock to its end, and a write of nothing takes that lock too: it
	 * waits for the write, and then that write's LF is there (XFS
	 * returns at once) */
	if (write(a->fd, "", 0) == 0 && fstat(a->fd, &st) == 0 &&
	    (st.st_size == 0 || (pread(a->fd, b, 1, st.st_size - 1) == 1 &&
	    b[0] == '\n')))
		return st.st_size;
	/* elsewhere: while the tail still grows it is that writer's record,
	 * which it ends with its own LF */
	if (!may_cut) {
		struct timespec nap = { 0, GROW_NAP_NS };
		struct stat again;
		int k;

		for (k = 0; k < GROW_NAPS; k++) {
			nanosleep(&nap, NULL);
			if (fstat(a->fd, &again) < 0 || again.st_size == st.st_size)
				break;
			st = again;
			if (pread(a->fd, b, 1, st.st_size - 1) == 1 && b[0] == '\n')
				return st.st_size;	/* its LF came */
		}
	}
	stop = st.st_size > APPEND_TAIL_MAX ? st.st_size - APPEND_TAIL_MAX : 0;
	for (end = st.st_size; end > stop; end = at) {
		ssize_t n, i;

		at = end - stop > (off_t)sizeof b ? end - (off_t)sizeof b : stop;
		n = pread(a->fd, b, (size_t)(end - at), at);
		if (n != end - at) {
			end_line(a->fd);	/* cannot read it */
			return -1;
		}
		for (i = n; i > 0 && b[i - 1] != '\n'; i--)
			;
		if (i == n && end == st.st_size)
			return st.st_size;	/* ends in LF: whole */
		if (i > 0) {
			end = at + i;
			break;
		}
	}
	if (end == stop && stop > 0)
		may_cut = 0;	/* longer than any record: not ours */
	if (may_cut && head_at(a->fd, end, &ms, &pid) &&
	    writer_gone(pid, ms) && ftruncate(a->fd, end) == 0)
		return end;
	end_line(a->fd);
	return -1;
}

/*
 * A file that does not end in LF holds the start of a line whose writer
 * failed or was killed mid-write, or is writing it now without our lock.
 * It is cut back to the last LF only when it is proven a torn record of
 * ours that nobody may have acknowledged: our whole record head, no longer
 * than a record, seen under the write lock on a description of our own,
 * and its writer gone.  Anything else is ended with an LF, never deleted,
 * and so is what cannot be cut (an append-only file): a record always
 * starts a line.  A file whose size is where our own last append left it
 * ends with our LF: it needs no read.  A file we may not read gets an LF
 * unless we know its end is ours.  Returns the file's size after the
 * repair, or -1 when it is not known.
 */
static off_t
repair_tail(struct append *a, int may_cut)
{
	struct stat st;
	char last;

	if (fstat(a->fd, &st) < 0)
		return -1;
	/* empty, or where our own last append left it: whole */
	if (st.st_size == 0 || st.st_size == a->left)
		return st.st_size;
	if (!a->readable) {
		end_line(a->fd);
		return -1;
	}
	if (pread(a->fd, &last, 1, st.st_size - 1) == 1 && last == '\n')
		return st.st_size;	/* whole */
	return repair_torn(a, st, may_cut);
}

size_t
append_write(struct append *a, const char *p, size_t len, int ms)
{
	enum held held = lock_within(a, ms);
	size_t done = 0;
	int saved, whole;
	off_t size;

	if (held == HELD_NONE)
		return 0;
	whole = held != HELD_SHARED && a->own;
	size = repair_tail(a, whole);
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
	/* where this append left the file, unless a writer that takes no
	 * lock came in between: then the next append reads the tail */
	if (done < len)
		a->left = -1;
	else
		a->left = size >= 0 ? size + (off_t)len :
		    lseek(a->fd, 0, SEEK_CUR);
	/* failed part-way (disk full, a file size limit): the partial line
	 * comes back out before anyone appends after it */
	if (done < len && done > 0 && whole) {
		const char *last = p + done;
		off_t end = lseek(a->fd, 0, SEEK_CUR);
		struct stat st;

		while (last > p && last[-1] != '\n')
			last--;
		if (last < p + done && end >= 0 &&
		    fstat(a->fd, &st) == 0 && st.st_size == end)
			(void)!ftruncate(a->fd, end - (p + done - last));
	}
	unlock(a->fd, held);
	errno = saved;
	return done;
}

/*
 * Could a writer take the lock now?  A read lock says no writer holds it
 * (a write lock excludes read locks), so one question usually answers;
 * a write lock held is waited for as append_write would, at most ms.
 */
int
append_probe(struct append *a, int ms)
{
	struct flock fl;
	enum held held;

	memset(&fl, 0, sizeof fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(a->fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_WRLCK)
		return 0;
	held = lock_within(a, ms);
	if (held == HELD_NONE)
		return -1;
	unlock(a->fd, held);
	return 0;
}

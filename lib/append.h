/* SPDX-License-Identifier: ISC */
/* One writer discipline for a regular file that records may share: every
 * line any msgd program writes there (records, diagnostics, the launcher's
 * log) goes through append_write(). */
#ifndef MSGD_APPEND_H
#define MSGD_APPEND_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* no record is longer (msgd-handler's 1 MiB line limit escaped to four
 * times that, plus its head): a longer unfinished tail is not ours */
#define APPEND_TAIL_MAX (4 * 1024 * 1024 + 4096)

struct append {
	int fd;		/* O_APPEND, a description of our own if it could be */
	int own;	/* fd is ours alone: its lock excludes every other writer */
	int readable;	/* fd may be read: a torn tail can be seen */
	off_t left;	/* the size our last append left, -1 unknown */
	dev_t dev;	/* the file it is for */
	ino_t ino;
};

/*
 * Descriptions we were handed: fd 1 and fd 2, when they are regular files,
 * are made O_APPEND, for everyone who shares them (a shell's > log 2>&1,
 * tcpserver's 2> log), so that their writes and ours all land at the end
 * and none overwrites another's.  Call it before anything is written,
 * with what std_fds() said of fds 0 to 2.
 */
void append_handed(const struct stat st[3]);

/*
 * Make a for the regular file open on fd: an O_APPEND description of our
 * own (through /proc/self/fd; where that fails a duplicate of fd, which is
 * taken for our own only if mine says fd's description is ours alone).
 * fd stays open.  Returns 0, or -1 (errno set; EINVAL when fd is not a
 * regular file).
 */
int append_open(struct append *a, int fd, int mine);
/* the same for a regular file we opened ourselves, O_APPEND, readable
 * when opened O_RDWR: fd itself is used (and closed by append_close) */
int append_adopt(struct append *a, int fd, int readable);
void append_close(struct append *a);

/*
 * Write len bytes of whole lines in one append, under the writers' lock
 * on the file itself (waited for at most ms, then EWOULDBLOCK), after a
 * torn record of a writer that is gone is cut, or any other unfinished
 * line ended with an LF.  If the write fails part-way, the partial line is
 * taken back out (when that is safe).  Returns the bytes written; short:
 * errno set.
 */
size_t append_write(struct append *a, const char *p, size_t len, int ms);
/* could append_write take the lock?  0 when no writer holds it or one let
 * go within ms; -1 (EWOULDBLOCK, or why it cannot be taken) otherwise */
int append_probe(struct append *a, int ms);

#endif

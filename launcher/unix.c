/* SPDX-License-Identifier: ISC */
/* The launcher on a UNIX-domain socket (-U PATH).  The file at PATH is
 * ours only when we bound it: a stale socket is replaced, anything else
 * left alone, and at the end only the very file we bound is removed. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"
#include "unix.h"

static const char *bound;	/* the path we bound, until it is removed */
static dev_t bound_dev;
static ino_t bound_ino;

static void
address(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, strlen(path));	/* checked by the caller */
}

/* a socket nobody accepts on refuses a connection: 1 when sa is one.
 * Non-blocking: a live listener with a full backlog must not hang us */
static int
stale(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int r;

	if (fd < 0)
		return 0;
	r = connect(fd, (const struct sockaddr *)sa, sizeof *sa) < 0 &&
	    errno == ECONNREFUSED;
	close(fd);
	return r;
}

/* why bind failed, naming what is at path */
static void
refused(const char *path, int err)
{
	struct stat st;

	if (err == EADDRINUSE && lstat(path, &st) == 0) {
		if (S_ISSOCK(st.st_mode))
			warn("%s: address in use", path);
		else if (S_ISLNK(st.st_mode))
			warn("%s: a symbolic link is there, not a socket; "
			    "left alone", path);
		else if (S_ISDIR(st.st_mode))
			warn("%s: a directory is there, not a socket; "
			    "left alone", path);
		else
			warn("%s: a file is there, not a socket; left alone",
			    path);
		return;
	}
	errno = err;
	warn("cannot listen on %s:", path);
}

static int
bind_at(int fd, const char *path, mode_t mode)
{
	struct sockaddr_un sa;
	struct stat st;
	/* the file is made with MODE, never more open for a moment */
	mode_t old = umask(~mode & 0777);
	int r, err;

	address(&sa, path);
	r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	if (r < 0 && errno == EADDRINUSE && lstat(path, &st) == 0 &&
	    S_ISSOCK(st.st_mode) && stale(&sa) &&
	    (unlink(path) == 0 || errno == ENOENT))
		r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	err = errno;
	umask(old);
	if (r < 0) {
		refused(path, err);
		return -1;
	}
	if (lstat(path, &st) < 0) {
		warn("cannot find %s after binding it:", path);
		return -1;
	}
	bound = path;
	bound_dev = st.st_dev;
	bound_ino = st.st_ino;
	/* a default ACL overrides the umask: then set it, never through a
	 * link someone put there since */
	if ((st.st_mode & 07777) != mode &&
	    fchmodat(AT_FDCWD, path, mode, AT_SYMLINK_NOFOLLOW) < 0) {
		warn("cannot set the mode of %s:", path);
		return -1;
	}
	return 0;
}

int
unix_listen(const char *path, mode_t mode, int backlog)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0) {
		warn("cannot listen on %s:", path);
		return -1;
	}
	if (bind_at(fd, path, mode) < 0) {
		unix_unlink();
		close(fd);
		return -1;
	}
	if (listen(fd, backlog) < 0) {
		warn("cannot listen on %s:", path);
		unix_unlink();
		close(fd);
		return -1;
	}
	return fd;
}

int
unix_bound(dev_t *dev, ino_t *ino)
{
	*dev = bound_dev;
	*ino = bound_ino;
	return bound != NULL;
}

void
unix_adopt(const char *path, dev_t dev, ino_t ino)
{
	bound = path;
	bound_dev = dev;
	bound_ino = ino;
}

void
unix_unlink(void)
{
	struct stat st;

	if (bound == NULL)
		return;
	if (lstat(bound, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == bound_dev && st.st_ino == bound_ino &&
	    unlink(bound) < 0)
		warn("cannot remove %s:", bound);
	bound = NULL;
}

int
unix_client(int fd, struct peer_cred *c, unsigned char *key)
{
	if (peer_cred(fd, c) < 0) {
		warn("cannot read a client's credentials:");
		return -1;
	}
	/* -C and -R count per uid; never equal to an IP's key, all the same */
	memset(key, 0, 16);
	memcpy(key, "uid:", 4);
	key[4] = (unsigned char)(c->uid >> 24);
	key[5] = (unsigned char)(c->uid >> 16);
	key[6] = (unsigned char)(c->uid >> 8);
	key[7] = (unsigned char)c->uid;
	return 0;
}

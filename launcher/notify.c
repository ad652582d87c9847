/* SPDX-License-Identifier: ISC */
/* sd_notify(3) without libsystemd: a datagram to NOTIFY_SOCKET. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "deadline.h"
#include "util.h"
#include "notify.h"

/* how long a state change waits for room in the manager's queue */
#define NOTIFY_WAIT_MS 5000

static int fd = -1;
static struct sockaddr_un addr;
static socklen_t addr_len;

int
notify_init(void)
{
	const char *name = getenv("NOTIFY_SOCKET");
	size_t n;

	if (name == NULL)
		return 0;
	n = strlen(name);
	if ((name[0] != '/' && name[0] != '@') || n < 2 ||
	    n > sizeof addr.sun_path) {
		warn("NOTIFY_SOCKET %s: not a socket path or @name; not used",
		    name);
		unsetenv("NOTIFY_SOCKET");
		return 0;
	}
	addr.sun_family = AF_UNIX;
	memcpy(addr.sun_path, name, n);
	if (name[0] == '@')
		addr.sun_path[0] = '\0';	/* the abstract namespace */
	addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	unsetenv("NOTIFY_SOCKET");
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		warn("cannot make a socket for NOTIFY_SOCKET:");
		return 0;
	}
	return 1;
}

int
notify_on(void)
{
	return fd >= 0;
}

/*
 * A state change (READY=1, STOPPING=1) the manager waits for: a full
 * queue (EAGAIN) is tried again, never blocking in the call, for at most
 * NOTIFY_WAIT_MS, and a loss is said.  A STATUS= line is only news: sent
 * if there is room, and the next one follows within a second.
 */
void
notify(const char *msg)
{
	static int said;
	long long end = deadline_in(NOTIFY_WAIT_MS);
	struct timespec nap = { 0, 1000000 };
	int state = strncmp(msg, "STATUS=", 7) != 0;

	if (fd < 0)
		return;
	while (sendto(fd, msg, strlen(msg), MSG_DONTWAIT | MSG_NOSIGNAL,
	    (struct sockaddr *)&addr, addr_len) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN && !state)
			return;
		if (errno == EAGAIN && !deadline_expired(end)) {
			nanosleep(&nap, NULL);
			if (nap.tv_nsec < 64000000)
				nap.tv_nsec *= 2;
			continue;
		}
		if (errno == EAGAIN)
			warn("cannot notify the service manager of %.*s: its "
			    "queue stayed full for %d s", (int)strcspn(msg,
			    "\n"), msg, NOTIFY_WAIT_MS / 1000);
		else if (!said++)
			warn("cannot notify the service manager:");
		return;
	}
}

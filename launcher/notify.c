/* SPDX-License-Identifier: ISC */
/* sd_notify(3) without libsystemd: a datagram to NOTIFY_SOCKET. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"
#include "notify.h"

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

void
notify(const char *msg)
{
	static int said;

	if (fd < 0)
		return;
	/* never block the loop on a manager that reads slowly; said once */
	if (sendto(fd, msg, strlen(msg), MSG_DONTWAIT | MSG_NOSIGNAL,
	    (struct sockaddr *)&addr, addr_len) < 0 && errno != EAGAIN &&
	    !said++)
		warn("cannot notify the service manager:");
}

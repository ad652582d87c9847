/* SPDX-License-Identifier: ISC */
/* msgd-client: a netcat-compatible client.  Copy stdin to a TCP connection
 * (or, with -U, a UNIX-domain one) and the connection to stdout with
 * poll(2); half-close at end of input. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ack.h"
#include "addr.h"
#include "deadline.h"
#include "util.h"

#define SYNOPSIS "msgd-client [-46ahVNnvz] [-w SECS] [-q SECS] [-C] HOST PORT\n" \
	"       msgd-client -U [-ahVNnvz] [-w SECS] [-q SECS] [-C] PATH"
/* -h: a line an option, in the man page's order */
#define OPTIONS \
	"  -4, -6    IPv4 / IPv6 only\n" \
	"  -a        exit 0 only if the server said bye N, N the lines sent; " \
	"else 3\n" \
	"  -C        send CRLF line ends\n" \
	"  -h        this help (--help too)\n" \
	"  -N        accepted for nc; the end of input always half-closes\n" \
	"  -n        no name lookups: HOST and PORT are numbers\n" \
	"  -q SECS   after the end of input wait at most SECS for the server\n" \
	"  -U        PATH is a UNIX-domain socket\n" \
	"  -V        print the version (--version too)\n" \
	"  -v        say when connected\n" \
	"  -w SECS   bound the connect and any silence\n" \
	"  -z        only check that the port accepts\n" \
	"see msgd-client(1)\n"
#define BUFSZ (64 * 1024)
/* stdin is read half a pipe (64 KiB) at a time, so that the writer goes on
 * filling the other half meanwhile: 30% faster than whole-pipe reads here.
 * -C at most doubles it, so up[] always has room. */
#define INSZ (BUFSZ / 2)
/* -a: the server did not acknowledge every line */
#define ACK_MISSING 3
/* seconds as poll(2) milliseconds must fit an int */
#define SECS_MAX 2147483L

struct opts {
	int family;		/* AF_UNSPEC, or AF_INET / AF_INET6 by -4 / -6 */
	int numeric;		/* -n: HOST is an address, never a name */
	int verbose;
	int zero;		/* -z: connect and close */
	int crlf;		/* -C */
	long wait;		/* -w: connect and idle timeout, -1 = none */
	long quit;		/* -q: after stdin EOF, -1 = wait for the server */
	int unix_path;		/* -U: host is a socket's PATH, no port */
	int acked;		/* -a: the status says whether all were acked */
	const char *host, *port;
	char peer[512];		/* "HOST port PORT", or PATH, for messages */
};

/* stdin to the connection; the other way needs no buffer between calls,
 * since what is read from the connection is written out at once */
struct relay {
	int sock;
	int in_open;		/* stdin not at EOF */
	int shut;		/* SHUT_WR done */
	int broken;		/* a send failed: stdin is left unsent, exit 1 */
	int cr;			/* -C: the last byte from stdin was CR */
	long long idle_at;	/* deadlines (lib/deadline.h), or DEADLINE_NONE */
	long long quit_at;
	size_t off, len;	/* what of up[] is still to be sent */
	size_t doff, dlen;	/* what of down[] stdout has not taken yet */
	unsigned char up[BUFSZ];
	unsigned char raw[INSZ];	/* -C: stdin before LF -> CRLF */
	unsigned char down[BUFSZ];
};

static struct opts o;
static struct relay r;

/* -U PATH: as OpenBSD nc -U; the options of IP have no place */
static void
unix_opts(int argc, char **argv)
{
	const char *bad = o.family != AF_UNSPEC ?
	    "-4 and -6 are for TCP, not -U" : argc == 0 ? "PATH missing" :
	    argc > 1 ? "too many arguments" : NULL;

	if (bad) {
		warn("%s", bad);
		usage_exit(SYNOPSIS);
	}
	o.host = argv[0];
	snprintf(o.peer, sizeof o.peer, "%s", o.host);
}

static void
parse_opts(int argc, char **argv)
{
	int ch;

	o.family = AF_UNSPEC;
	o.wait = o.quit = -1;
	opt_help(argc, argv, SYNOPSIS, OPTIONS);
	while ((ch = getopt(argc, argv, "+:46aChNnUVvzw:q:")) != -1) {
		switch (ch) {
		case '4': o.family = AF_INET; break;
		case '6': o.family = AF_INET6; break;
		case 'a': o.acked = 1; break;
		case 'C': o.crlf = 1; break;
		case 'h': usage_help(SYNOPSIS, OPTIONS);
		case 'V': version_exit();
		case 'N': break;	/* we always half-close at EOF */
		case 'n': o.numeric = 1; break;
		case 'U': o.unix_path = 1; break;
		case 'v': o.verbose = 1; break;
		case 'z': o.zero = 1; break;
		case 'w': o.wait = opt_num(ch, optarg, 1, SECS_MAX, SYNOPSIS);
			break;
		case 'q': o.quit = opt_num(ch, optarg, 0, SECS_MAX, SYNOPSIS);
			break;
		default: opt_fail(ch, SYNOPSIS);
		}
	}
	if (o.acked && o.zero) {
		warn("-a and -z: -z sends nothing to acknowledge");
		usage_exit(SYNOPSIS);
	}
	if (o.unix_path) {
		unix_opts(argc - optind, argv + optind);
		return;
	}
	if (argc - optind != 2) {
		warn(argc - optind == 0 ? "HOST PORT missing" :
		    argc - optind == 1 ? "PORT missing" : "too many arguments");
		usage_exit(SYNOPSIS);
	}
	o.host = argv[optind];
	o.port = argv[optind + 1];
	port_check(o.port, 1, SYNOPSIS);
	snprintf(o.peer, sizeof o.peer, "%.200s port %.200s", o.host, o.port);
}

/* an address of the wrong family for -4 / -6 is an error, not a name to
 * look up: the resolver would be asked for "::1" otherwise */
static int
check_family(void)
{
	unsigned char a[16];
	int is4 = inet_pton(AF_INET, o.host, a) == 1;
	int is6 = inet_pton(AF_INET6, o.host, a) == 1;

	if (o.family == AF_INET && is6) {
		warn("%s is an IPv6 address, but -4 was given", o.host);
		return -1;
	}
	if (o.family == AF_INET6 && is4) {
		warn("%s is an IPv4 address, but -6 was given", o.host);
		return -1;
	}
	return 0;
}

/* a non-blocking connect, waited for at most -w: 0, or -1 with errno */
static int
connect_one(int fd, const struct addrinfo *ai)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	socklen_t len = sizeof(int);
	int err = 0, n;

	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return -1;
	do
		n = poll(&pfd, 1, o.wait < 0 ? -1 : (int)(o.wait * 1000));
	while (n < 0 && errno == EINTR);
	if (n == 0)
		errno = ETIMEDOUT;
	if (n <= 0)
		return -1;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -1;
	errno = err;
	return err == 0 ? 0 : -1;
}

static void
connect_failed(const struct addrinfo *ai, int last)
{
	char ip[ADDR_IPLEN];
	unsigned port;

	/* -v names every address tried, else the last one only; -z is silent */
	if (!o.verbose && (o.zero || !last))
		return;
	if (addr_ip_port(ai->ai_addr, ip, &port) < 0)
		snprintf(ip, sizeof ip, "%s", o.host);
	warn("connect to %s port %s (tcp) failed:", ip, o.port);
}

/*
 * -U: connect to the socket at PATH.  A blocking connect waits while the
 * listener's backlog is full, as nc's does; SO_SNDTIMEO bounds that wait
 * by -w.  The socket, non-blocking, or -1 (said, unless -z).
 */
static int
dial_unix(void)
{
	struct sockaddr_un sa;
	struct timeval tv = { o.wait, 0 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), err;

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (strlen(o.host) >= sizeof sa.sun_path)
		errno = ENAMETOOLONG;
	else if (fd >= 0) {
		memcpy(sa.sun_path, o.host, strlen(o.host));
		if (o.wait >= 0)
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
		    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0)
			return fd;
	}
	err = errno == EAGAIN || errno == EINPROGRESS ? ETIMEDOUT : errno;
	if (fd >= 0)
		close(fd);
	errno = err;
	if (!o.zero || o.verbose)
		warn("%s:", o.host);
	return -1;
}

/* every address of HOST in turn until one connects: the socket, or -1 */
static int
dial(void)
{
	struct addrinfo hints, *res, *ai;
	int fd = -1, rc;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = o.family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = o.numeric ? AI_NUMERICHOST : 0;
	rc = getaddrinfo(o.host, o.port, &hints, &res);
	if (rc != 0) {
		if (o.zero && !o.verbose)
			return -1;
		if (o.numeric && rc == EAI_NONAME)
			warn("%s: not a numeric address (-n)", o.host);
		else if (rc == EAI_SERVICE)
			warn("%s: unknown port", o.port);
		else
			warn("%s: %s", o.host, rc == EAI_SYSTEM ?
			    strerror(errno) : gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd >= 0 && connect_one(fd, ai) == 0)
			break;
		connect_failed(ai, ai->ai_next == NULL);
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* -C: LF becomes CRLF, but a CR already there (maybe the last byte of the
 * previous read) is not doubled */
static size_t
to_crlf(unsigned char *dst, const unsigned char *src, size_t n)
{
	size_t i, j = 0;

	for (i = 0; i < n; i++) {
		if (src[i] == '\n' && !r.cr)
			dst[j++] = '\r';
		dst[j++] = src[i];
		r.cr = src[i] == '\r';
	}
	return j;
}

static int
again(void)
{
	return errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK;
}

/* stdin into up[]: 0, or -1 after a message */
static int
read_stdin(void)
{
	ssize_t n = read(0, o.crlf ? r.raw : r.up, INSZ);

	if (n < 0 && again())
		return 0;
	if (n < 0) {
		warn("read from stdin:");
		return -1;
	}
	if (n == 0)
		r.in_open = 0;
	r.off = 0;
	r.len = o.crlf ? to_crlf(r.up, r.raw, (size_t)n) : (size_t)n;
	return 0;
}

/* the peer takes no more: stop reading stdin and sending, but go on
 * copying what it sent, as nc does; else its last bytes would be lost */
static void
send_failed(void)
{
	warn("write to %s:", o.peer);
	r.broken = 1;
	r.in_open = 0;
	r.shut = 1;	/* no half-close, and no -q clock: nothing went out */
	r.off = r.len = 0;
}

/* as much of up[] as the socket takes now */
static void
send_up(void)
{
	ssize_t n = send(r.sock, r.up + r.off, r.len - r.off, MSG_NOSIGNAL);

	if (n < 0 && again())
		return;
	if (n < 0) {
		send_failed();
		return;
	}
	if (o.acked)
		ack_sent(r.up + r.off, (size_t)n);
	r.off += (size_t)n;
	if (r.off == r.len)
		r.off = r.len = 0;
}

/* as much of down[] as stdout takes now; a non-blocking stdout that is
 * full (EAGAIN) is polled for, not an error: 1 when stdout is closed, 0 to
 * go on, -1 after a message */
static int
write_out(void)
{
	while (r.doff < r.dlen) {
		ssize_t n = write(1, r.down + r.doff, r.dlen - r.doff);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0 && errno == EPIPE)
			return 1;	/* `| head`: the reader has enough */
		if (n < 0) {
			warn("write to stdout:");
			return -1;
		}
		r.doff += (size_t)n;
	}
	r.doff = r.dlen = 0;
	return 0;
}

/* the connection to stdout: 1 at its end (EOF, or stdout closed), 0 to go
 * on, -1 on an error (said, unless it ends a failed send) */
static int
read_net(void)
{
	ssize_t n = recv(r.sock, r.down, sizeof r.down, 0);

	if (n < 0 && again())
		return 0;
	if (n < 0) {
		/* a reset after a failed send is that failure, said already */
		if (!r.broken || errno != ECONNRESET)
			warn("read from %s:", o.peer);
		return -1;
	}
	if (n == 0)
		return 1;
	if (o.acked)
		ack_received(r.down, (size_t)n);
	r.doff = 0;
	r.dlen = (size_t)n;
	return write_out();
}

/* stdin at EOF and all of it sent: tell the server, start the -q clock */
static void
half_close(void)
{
	shutdown(r.sock, SHUT_WR);	/* fails only when the peer is gone */
	r.shut = 1;
	if (o.quit >= 0)
		r.quit_at = deadline_in(o.quit * 1000);
}

/* poll timed out: 0 when -q is over, 1 after a message when -w is, -1
 * when neither is yet */
static int
timed_out(void)
{
	if (deadline_expired(r.quit_at))
		return 0;
	if (!deadline_expired(r.idle_at))
		return -1;
	warn("timed out: no traffic for %ld s (-w)", o.wait);
	return 1;
}

/* one round of poll: -1 to go on, else the exit status */
static int
relay_once(void)
{
	/* the socket is read only when stdout has taken the last read, and
	 * left out of poll while it has nothing to do: a POLLHUP would spin */
	short ev = (r.dlen ? 0 : POLLIN) | (r.len ? POLLOUT : 0);
	struct pollfd p[3] = {
		{ .fd = r.in_open && r.len == 0 ? 0 : -1, .events = POLLIN },
		{ .fd = ev ? r.sock : -1, .events = ev },
		/* POLLERR / POLLHUP: a reader that went away */
		{ .fd = 1, .events = r.dlen ? POLLOUT : 0 },
	};
	/* the nearer of the idle and quit deadlines */
	int n = poll(p, 3, deadline_poll_ms(deadline_min(r.idle_at, r.quit_at)));

	if (n < 0 && errno == EINTR)
		return -1;
	if (n < 0) {
		warn("poll:");
		return 1;
	}
	if (n == 0)
		return timed_out();
	if (o.wait >= 0)
		r.idle_at = deadline_in(o.wait * 1000);
	if (p[2].revents & (POLLERR | POLLHUP))
		return 0;
	if (p[2].revents & POLLOUT) {
		n = write_out();
		if (n != 0)
			return n < 0;
	}
	if (!r.dlen && p[1].revents & (POLLIN | POLLERR | POLLHUP)) {
		n = read_net();
		if (n != 0)
			return n < 0;
	}
	if (p[0].revents & POLLNVAL)
		r.in_open = 0;	/* no stdin at all: as if empty */
	else if (p[0].revents && read_stdin() < 0)
		return 1;
	/* send at once: the socket usually has room, and poll costs a call */
	if (r.len)
		send_up();
	if (!r.in_open && r.len == 0 && !r.shut)
		half_close();
	return -1;
}

static int
relay(int sock)
{
	int status;

	r.sock = sock;
	r.in_open = 1;
	r.quit_at = DEADLINE_NONE;
	r.idle_at = o.wait >= 0 ? deadline_in(o.wait * 1000) : DEADLINE_NONE;
	while ((status = relay_once()) < 0)
		;
	return r.broken ? 1 : status;	/* not all of stdin was delivered */
}

/* OpenBSD nc's words, without our name in front; the service is always
 * "*": no services(5) look-up for a line that scripts may match */
static void
succeeded(void)
{
	char line[512];
	/* -U: OpenBSD nc says nothing; Solaris nc's words then */
	int n = o.unix_path ? snprintf(line, sizeof line,
	    "Connection to %s succeeded!\n", o.host) : snprintf(line,
	    sizeof line, "Connection to %s %s port [tcp/*] succeeded!\n",
	    o.host, o.port);

	if (n > 0)
		writeall(2, line, (size_t)n < sizeof line ? (size_t)n :
		    sizeof line - 1);
}

int
main(int argc, char **argv)
{
	struct stat st[3];
	int sock, status;

	progname = "msgd-client";
	usage_status = 1;	/* as nc: every failure is 1 */
	signal(SIGPIPE, SIG_IGN);
	std_fds(st);	/* else the socket could take fd 1 */
	parse_opts(argc, argv);
	if (!o.unix_path && check_family() < 0)
		return 1;

	sock = o.unix_path ? dial_unix() : dial();
	if (sock < 0)
		return 1;
	if (o.verbose)
		succeeded();
	if (o.zero) {
		close(sock);
		return 0;
	}
	status = relay(sock);
	/* -a: once connected, what counts is whether every line got its
	 * record: "bye N" said, all of stdin sent */
	if (o.acked)
		return ack_all() && !r.broken ? 0 : ACK_MISSING;
	return status;
}

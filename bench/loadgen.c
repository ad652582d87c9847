/* SPDX-License-Identifier: ISC */
/* loadgen: a closed-loop load generator for the msgd protocol.  CONC clients
 * each connect (TCP, or with -U a UNIX-domain socket), check the greeting,
 * send one line, half-close, check the goodbye and the EOF, and at once
 * start over; one line of results at the end. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define SYNOPSIS "loadgen [-P] [-c CONC] [-n TOTAL | -d SECS] " \
	"[-w WARMUP_CONNS] [-t SECS] HOST PORT\n" \
	"       loadgen -U [-c CONC] [-n TOTAL | -d SECS] " \
	"[-w WARMUP_CONNS] [-t SECS] PATH"

/* everything the server must send, in order; we act at two points in it */
static const char script[] = "hello\nok 1\nbye 1\n";
#define SCRIPT_LEN (sizeof script - 1)
#define AT_HELLO 6		/* the greeting is in: send the line */
#define AT_OK 11		/* the line is acknowledged: half-close */
static const char ping[] = "ping\n";
#define PING_LEN (sizeof ping - 1)
/* -P: a PROXY v2 header first, as HAProxy's send-proxy-v2 sends it: TCP over
 * IPv4 from 192.0.2.1 (a port of its own per connection) to 192.0.2.2:9100 */
static unsigned char proxy_hdr[28] = "\r\n\r\n\0\r\nQUIT\n\x21\x11\0\x0c"
    "\xc0\0\x02\x01\xc0\0\x02\x02\0\0\x23\x8c";
#define PROXY_LEN sizeof proxy_hdr

/* after a failed connection a client pauses, so a dead server is no spin */
#define ERROR_PAUSE_NS 10000000LL
#define WARMUP_MAX_NS 10000000000LL

/* latencies: 10 us buckets up to 1 s, then 1 ms buckets up to 61 s */
#define FINE_US 10
#define FINE_N 100000
#define COARSE_US 1000
#define COARSE_N 60000
static unsigned hist[FINE_N + COARSE_N + 1];

enum kind { E_REFUSED, E_CONNECT, E_LOCAL, E_RESET, E_IO, E_TIMEOUT,
	E_BYTES, E_SHORT, E_EXTRA, E_N };
static const char *const kind_name[E_N] = { "refused", "connect", "local",
	"reset", "io", "timeout", "badbytes", "short", "extra" };

enum state { IDLE, CONNECTING, TALKING };

struct client {
	int fd;
	enum state state;
	size_t got;		/* bytes of the script received */
	size_t sent;		/* bytes of the line sent */
	size_t psent;		/* bytes of the PROXY header sent (-P) */
	int halfclosed;
	long long start;	/* ns, just before socket(2) */
	long long deadline;	/* ns: in flight, the timeout; idle, the restart */
};

struct opts {
	int proxy;
	int unix_path;		/* -U: host is a socket's PATH */
	long conc, total, secs, warmup, timeout;
	const char *host, *port;
};

struct stats {
	int measuring;
	long long t0, t1;	/* the measured window, ns */
	long warm_done;		/* completions before the window */
	long done;		/* completions in the window, errors included */
	long ok;
	long inflight;
	long long max_ns;
	unsigned long errors[E_N];
	char last_error[160];
	struct rusage ru0;
};

static struct opts o;
static struct stats st;
static struct addrinfo *target;

/* ---- options and checks ---- */

static void
parse_opts(int argc, char **argv)
{
	int ch;

	o.conc = 16;
	o.timeout = 10;
	while ((ch = getopt(argc, argv, ":PUc:n:d:w:t:")) != -1) {
		switch (ch) {
		case 'P':
			o.proxy = 1;
			break;
		case 'U':
			o.unix_path = 1;
			break;
		case 'c':
			o.conc = opt_num(ch, optarg, 1, 10000, SYNOPSIS);
			break;
		case 'n':
			o.total = opt_num(ch, optarg, 1, 1000000000L, SYNOPSIS);
			break;
		case 'd':
			o.secs = opt_num(ch, optarg, 1, 3600, SYNOPSIS);
			break;
		case 'w':
			o.warmup = opt_num(ch, optarg, 0, 1000000000L, SYNOPSIS);
			break;
		case 't':
			o.timeout = opt_num(ch, optarg, 1, 60, SYNOPSIS);
			break;
		default:
			opt_fail(ch, SYNOPSIS);
		}
	}
	if (o.total && o.secs) {
		warn("-n and -d exclude each other");
		usage_exit(SYNOPSIS);
	}
	if (!o.total && !o.secs)
		o.secs = 5;
	if (o.unix_path && (o.proxy || argc - optind != 1)) {
		warn(o.proxy ? "-P is for TCP, not -U" : argc - optind < 1 ?
		    "PATH missing" : "too many arguments");
		usage_exit(SYNOPSIS);
	}
	if (o.unix_path) {
		o.host = argv[optind];
		return;
	}
	if (argc - optind != 2) {
		warn(argc - optind < 2 ? "HOST PORT missing" :
		    "too many arguments");
		usage_exit(SYNOPSIS);
	}
	o.host = argv[optind];
	o.port = argv[optind + 1];
}

/* a numeric address only: a benchmark must not wait for DNS */
static void
resolve(void)
{
	struct addrinfo hints;
	int err;

	if (o.unix_path) {
		static struct sockaddr_un sa;
		static struct addrinfo ai;

		if (strlen(o.host) >= sizeof sa.sun_path) {
			warn("%s: longer than a socket address holds", o.host);
			usage_exit(SYNOPSIS);
		}
		sa.sun_family = AF_UNIX;
		memcpy(sa.sun_path, o.host, strlen(o.host));
		ai.ai_family = AF_UNIX;
		ai.ai_socktype = SOCK_STREAM;
		ai.ai_addr = (struct sockaddr *)&sa;
		ai.ai_addrlen = sizeof sa;
		target = &ai;
		return;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	err = getaddrinfo(o.host, o.port, &hints, &target);
	if (err) {
		warn("bad address %s port %s (numeric IPv4 or IPv6 and a "
		    "port number): %s", o.host, o.port, gai_strerror(err));
		usage_exit(SYNOPSIS);
	}
}

/* every client holds one descriptor: make sure CONC of them fit */
static void
check_fds(void)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)o.conc + 16;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= need)
		return;
	if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need) {
		rl.rlim_cur = need;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
			return;
	}
	warn("-c %ld needs %ld descriptors, the limit is %ld", o.conc,
	    (long)need, (long)rl.rlim_cur);
	usage_exit(SYNOPSIS);
}

/* ---- time and results ---- */

static long long
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static size_t
bucket(long long ns)
{
	long long us = ns / 1000;

	if (us < (long long)FINE_N * FINE_US)
		return (size_t)(us / FINE_US);
	us = (us - (long long)FINE_N * FINE_US) / COARSE_US;
	return FINE_N + (size_t)(us < COARSE_N ? us : COARSE_N);
}

/* the upper edge of a bucket, in ms */
static double
bucket_ms(size_t b)
{
	if (b < FINE_N)
		return (double)((b + 1) * FINE_US) / 1000.0;
	return (double)FINE_N * FINE_US / 1000.0 +
	    (double)((b - FINE_N + 1) * COARSE_US) / 1000.0;
}

/* the q-quantile of the successful connections, never above the maximum */
static double
quantile_ms(double q)
{
	unsigned long long rank, seen = 0;
	double max = (double)st.max_ns / 1e6, v;
	size_t b;

	if (st.ok == 0)
		return 0;
	rank = (unsigned long long)(q * (double)st.ok + 0.999999);
	if (rank < 1)
		rank = 1;
	for (b = 0; b < sizeof hist / sizeof hist[0]; b++) {
		seen += hist[b];
		if (seen >= rank)
			break;
	}
	v = bucket_ms(b);
	return v < max ? v : max;
}

static double
cpu_secs(const struct rusage *ru)
{
	return (double)ru->ru_utime.tv_sec + ru->ru_utime.tv_usec / 1e6 +
	    (double)ru->ru_stime.tv_sec + ru->ru_stime.tv_usec / 1e6;
}

static void
begin_window(long long now)
{
	st.measuring = 1;
	st.t0 = now;
	getrusage(RUSAGE_SELF, &st.ru0);
}

static void
report(void)
{
	struct rusage ru;
	double secs = (double)(st.t1 - st.t0) / 1e9;
	unsigned long errors = 0;
	int k, any = 0;

	getrusage(RUSAGE_SELF, &ru);
	for (k = 0; k < E_N; k++)
		errors += st.errors[k];
	if (secs <= 0)
		secs = 1e-9;
	printf("conns=%ld secs=%.3f rate=%.1f p50_ms=%.3f p90_ms=%.3f "
	    "p99_ms=%.3f max_ms=%.3f errors=%lu cpu_pct=%.0f\n", st.ok, secs,
	    (double)st.ok / secs, quantile_ms(0.50), quantile_ms(0.90),
	    quantile_ms(0.99), (double)st.max_ns / 1e6, errors,
	    100.0 * (cpu_secs(&ru) - cpu_secs(&st.ru0)) / secs);
	fflush(stdout);
	if (errors == 0)
		return;
	fputs("loadgen: errors:", stderr);
	for (k = 0; k < E_N; k++)
		if (st.errors[k]) {
			fprintf(stderr, "%s %s=%lu", any ? "," : "",
			    kind_name[k], st.errors[k]);
			any = 1;
		}
	fprintf(stderr, " (last: %s)\n", st.last_error);
}

/* ---- one connection ---- */

/* the connection is over: count it and make the client idle */
static void
finish(struct client *c, int kind, const char *what, int err)
{
	long long now = now_ns();

	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = IDLE;
	c->deadline = kind < 0 ? 0 : now + ERROR_PAUSE_NS;
	st.inflight--;
	if (!st.measuring) {
		if (++st.warm_done >= o.warmup)
			begin_window(now);
		return;
	}
	st.done++;
	if (kind < 0) {
		long long ns = now - c->start;

		st.ok++;
		hist[bucket(ns)]++;
		if (ns > st.max_ns)
			st.max_ns = ns;
		return;
	}
	st.errors[kind]++;
	if (err)
		snprintf(st.last_error, sizeof st.last_error, "%s: %s (%zu of "
		    "%zu bytes in)", what, strerror(err), c->got, SCRIPT_LEN);
	else
		snprintf(st.last_error, sizeof st.last_error, "%s (%zu of %zu "
		    "bytes in)", what, c->got, SCRIPT_LEN);
}

static void
fail_connect(struct client *c, int err)
{
	finish(c, err == ECONNREFUSED ? E_REFUSED :
	    err == EADDRNOTAVAIL || err == EMFILE || err == ENFILE ||
	    err == ENOBUFS || err == ENOMEM ? E_LOCAL : E_CONNECT,
	    "connect", err);
}

static void
start(struct client *c)
{
	c->start = now_ns();
	c->deadline = c->start + o.timeout * 1000000000LL;
	c->got = c->sent = 0;
	c->psent = o.proxy ? 0 : PROXY_LEN;
	c->halfclosed = 0;
	c->state = CONNECTING;
	st.inflight++;
	c->fd = socket(target->ai_family, target->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, target->ai_protocol);
	if (c->fd < 0) {
		finish(c, E_LOCAL, "socket", errno);
		return;
	}
	if (connect(c->fd, target->ai_addr, target->ai_addrlen) == 0)
		c->state = TALKING;
	else if (errno != EINPROGRESS)
		fail_connect(c, errno);
}

/* send the line once greeted, half-close once it is acknowledged;
 * 1 while the connection goes on, 0 when it was finished */
static int
advance(struct client *c)
{
	static unsigned port;

	if (c->psent == 0) {
		port = port % 65535 + 1;
		proxy_hdr[24] = (unsigned char)(port >> 8);
		proxy_hdr[25] = (unsigned char)port;
	}
	while (c->psent < PROXY_LEN) {
		ssize_t n = send(c->fd, proxy_hdr + c->psent,
		    PROXY_LEN - c->psent, MSG_NOSIGNAL);

		if (n >= 0)
			c->psent += (size_t)n;
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 1;
		else if (errno != EINTR) {
			finish(c, errno == ECONNRESET || errno == EPIPE ?
			    E_RESET : E_IO, "send", errno);
			return 0;
		}
	}
	while (c->got >= AT_HELLO && c->sent < PING_LEN) {
		ssize_t n = send(c->fd, ping + c->sent, PING_LEN - c->sent,
		    MSG_NOSIGNAL);

		if (n >= 0)
			c->sent += (size_t)n;
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 1;	/* poll asks for POLLOUT */
		else if (errno != EINTR) {
			finish(c, errno == ECONNRESET || errno == EPIPE ?
			    E_RESET : E_IO, "send", errno);
			return 0;
		}
	}
	if (c->got >= AT_OK && c->sent == PING_LEN && !c->halfclosed) {
		if (shutdown(c->fd, SHUT_WR) < 0) {
			finish(c, errno == ENOTCONN ? E_RESET : E_IO,
			    "shutdown", errno);
			return 0;
		}
		c->halfclosed = 1;
	}
	return 1;
}

/* take what the server sent; 1 while the connection goes on */
static int
receive(struct client *c)
{
	char buf[64];

	for (;;) {
		ssize_t n = read(c->fd, buf, sizeof buf);

		if (n > 0) {
			size_t m = (size_t)n, room = SCRIPT_LEN - c->got;

			if (memcmp(buf, script + c->got, m < room ? m : room)) {
				finish(c, E_BYTES, "unexpected bytes", 0);
				return 0;
			}
			if (m > room) {
				finish(c, E_EXTRA, "bytes after the goodbye", 0);
				return 0;
			}
			c->got += m;
			if (!advance(c))
				return 0;
		} else if (n == 0) {
			if (c->got == SCRIPT_LEN)
				finish(c, -1, NULL, 0);
			else
				finish(c, E_SHORT, "early EOF", 0);
			return 0;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			return 1;
		} else if (errno != EINTR) {
			finish(c, errno == ECONNRESET ? E_RESET : E_IO, "read",
			    errno);
			return 0;
		}
	}
}

static void
on_event(struct client *c, short revents)
{
	if (c->state == CONNECTING) {
		int err = 0;
		socklen_t len = sizeof err;

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			fail_connect(c, err);
			return;
		}
		c->state = TALKING;
	}
	if ((revents & POLLOUT) && !advance(c))
		return;
	if (revents & (POLLIN | POLLHUP | POLLERR))
		receive(c);
}

/* ---- the loop ---- */

static int
may_start(void)
{
	/* -n: the connections in flight will all count, so start no more */
	return !o.total || !st.measuring || st.done + st.inflight < o.total;
}

static int
should_stop(long long now)
{
	if (!st.measuring)
		return 0;
	if (o.total)
		return st.done >= o.total;
	return now >= st.t0 + o.secs * 1000000000LL;
}

static void
run(struct client *cl, struct pollfd *pfd, struct client **owner)
{
	long long begin = now_ns(), now;

	if (o.warmup == 0)
		begin_window(begin);
	for (now = begin; !should_stop(now); now = now_ns()) {
		long long wake = now + 1000000000LL;
		nfds_t n = 0;
		long i;
		int ms, r;

		if (!st.measuring && now - begin >= WARMUP_MAX_NS)
			begin_window(now);	/* a warm-up that never ends */
		for (i = 0; i < o.conc; i++) {
			struct client *c = &cl[i];

			if (c->state == IDLE && now >= c->deadline &&
			    may_start())
				start(c);
			if (c->deadline < wake && (c->state != IDLE ||
			    may_start()))
				wake = c->deadline;
			if (c->state == IDLE)
				continue;
			pfd[n].fd = c->fd;
			pfd[n].events = c->state == CONNECTING ||
			    c->psent < PROXY_LEN ||
			    (c->got >= AT_HELLO && c->sent < PING_LEN) ?
			    POLLOUT : POLLIN;
			pfd[n].revents = 0;
			owner[n++] = c;
		}
		if (st.measuring && !o.total && st.t0 + o.secs * 1000000000LL
		    < wake)
			wake = st.t0 + o.secs * 1000000000LL;
		ms = wake > now ? (int)((wake - now + 999999) / 1000000) : 0;
		r = poll(pfd, n, ms);
		if (r < 0 && errno != EINTR) {
			warn("poll:");
			break;
		}
		for (i = 0; r > 0 && i < (long)n; i++)
			if (pfd[i].revents)
				on_event(owner[i], pfd[i].revents);
		now = now_ns();
		for (i = 0; i < o.conc; i++)
			if (cl[i].state != IDLE && now >= cl[i].deadline)
				finish(&cl[i], E_TIMEOUT, "timeout", 0);
	}
	st.t1 = now;
	if (!st.measuring)
		begin_window(now);
}

int
main(int argc, char **argv)
{
	struct client *cl;
	struct pollfd *pfd;
	struct client **owner;
	long i;

	progname = "loadgen";
	parse_opts(argc, argv);
	resolve();
	check_fds();
	signal(SIGPIPE, SIG_IGN);

	cl = calloc((size_t)o.conc, sizeof *cl);
	pfd = calloc((size_t)o.conc, sizeof *pfd);
	owner = calloc((size_t)o.conc, sizeof *owner);
	if (cl == NULL || pfd == NULL || owner == NULL) {
		warn("out of memory");
		return 1;
	}
	for (i = 0; i < o.conc; i++)
		cl[i].fd = -1;

	run(cl, pfd, owner);
	/* with -d, what is still in flight is not counted */
	for (i = 0; i < o.conc; i++)
		if (cl[i].fd >= 0)
			close(cl[i].fd);
	report();
	if (!o.unix_path)
		freeaddrinfo(target);
	return 0;
}

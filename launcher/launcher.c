/* msgd-launcher: a minimal super-server.  Listen, accept, spawn PROGRAM with
 * the connection on fds 0 and 1, reap, repeat; with access rules (rules.c),
 * limits (limits.c) and a log. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "msgd.h"
#include "launcher.h"
#include "interrupt.h"
#include "notify.h"
#include "status.h"
#include "unix.h"

extern char **environ;

#define SYNOPSIS "msgd-launcher [-46hvq1f] [-c MAX] [-C PERSOURCE] " \
	"[-R RATE] [-x RULES] [-p CIDR] [-b BACKLOG] [-u USER] [-g GROUP] " \
	"[-k GRACE] [-i PIDFILE] HOST PORT PROGRAM [ARG...]\n" \
	"       msgd-launcher -U [-hvqf] [-M MODE] [-c MAX] [-C PERSOURCE] " \
	"[-R RATE] [-x RULES] [-b BACKLOG] [-u USER] [-g GROUP] " \
	"[-k GRACE] [-i PIDFILE] PATH PROGRAM [ARG...]"
/* -h: a line an option, in the man page's order */
#define OPTIONS \
	"  -1            print the bound port on stdout\n" \
	"  -4, -6        IPv4 / IPv6 only\n" \
	"  -b BACKLOG    listen backlog (default 64)\n" \
	"  -C PERSOURCE  at most this many at once from one address " \
	"(default 0, no limit)\n" \
	"  -c MAX        at most MAX children; more wait in the backlog " \
	"(default 40)\n" \
	"  -f            daemon: detach, log to syslog\n" \
	"  -g GROUP      run as GROUP after binding\n" \
	"  -h            this help (--help too)\n" \
	"  -i PIDFILE    write the pid file\n" \
	"  -k GRACE      seconds running children get on SIGTERM " \
	"(default 10)\n" \
	"  -M MODE       with -U: the socket file's mode (default 0666)\n" \
	"  -p CIDR       trusted relay that sends a PROXY header " \
	"(repeatable)\n" \
	"  -q            log errors only\n" \
	"  -R RATE       new connections a second from one address " \
	"(default 0, no limit)\n" \
	"  -U            listen on the UNIX-domain socket PATH\n" \
	"  -u USER       run as USER after binding\n" \
	"  -v            log every connection\n" \
	"  -x RULES      access rules file, re-read on SIGHUP\n" \
	"see msgd-launcher(8)\n"

enum { QUIET, NORMAL, VERBOSE };

struct opts {
	int family;		/* AF_UNSPEC, or AF_INET / AF_INET6 by -4 / -6 */
	int verbosity;
	int print_port;
	int daemon;
	long maxconn, persource, rate, backlog, grace;
	const char *user, *group, *pidfile, *rules;
	char *proxies;		/* -p CIDR, one "CIDR allow" line each */
	size_t proxies_len;
	const char *host, *port;
	const char *path;	/* -U PATH, else NULL */
	int ipc;		/* -U */
	long mode;		/* -M, or -1 */
	char **argv;		/* PROGRAM [ARG...] */
};

static struct opts o;

/* a slot per child, SLOT_FREE ones on a stack; live[] lists the others */
static struct slot *slots, **free_slots, **live;
static long nfree, nchildren;
/* slots whose spawn failed for want of a process or memory: retried after
 * the back-off (due), and no client is taken meanwhile */
static long nretry;
static long long due = -1;
static int starved;	/* the back-off in ms, 0 when not starved */

/* signals arrive through a pipe, so the loop only ever waits in poll(2) */
static int sigpipe_fd[2];
static volatile sig_atomic_t got_term, got_int, got_hup, got_usr1;

/* -x: the rules in force; -p: the relays whose PROXY header is believed */
static struct ruleset *rules, *proxies;

/* the environment of every child: ours less UCSPI variables, then these */
static char **base_env;
static size_t base_env_n;
static char local_env[2][ADDR_IPLEN + 20];
static int local_fixed;	/* bound to one address: TCPLOCAL* never change */

/* signals a child must get back at their defaults before exec */
static sigset_t child_reset;

/* -p CIDR: kept as a line of a rules file, parsed with them at start */
static void
proxy_opt(const char *cidr)
{
	size_t n = strlen(cidr);
	char *p = realloc(o.proxies, o.proxies_len + n + 8);

	if (p == NULL)
		die(1, "out of memory");
	/* one word: more would be read as the rule's, none said as "allow" */
	if (n == 0 || strpbrk(cidr, " \t\r\n#")) {
		warn("-p: bad address '%s' (an address or ADDRESS/PREFIX)", cidr);
		usage_exit(SYNOPSIS);
	}
	memcpy(p + o.proxies_len, cidr, n);
	memcpy(p + o.proxies_len + n, " allow\n", 7);
	o.proxies = p;
	o.proxies_len += n + 7;
}

/* -M MODE: octal, as chmod and systemd's SocketMode= take it */
static long
mode_opt(const char *arg)
{
	char *end;
	long m;

	errno = 0;
	m = strtol(arg, &end, 8);
	if (*arg < '0' || *arg > '7' || *end || errno || m > 0777) {
		warn("-M: bad mode '%s' (octal, from 0 to 0777)", arg);
		usage_exit(SYNOPSIS);
	}
	return m;
}

/* -U PATH PROGRAM [ARG...]: the options that name TCP have no place */
static void
unix_opts(int argc, char **argv)
{
	const char *bad = !o.ipc ? "-M without -U" :
	    o.family != AF_UNSPEC ? "-4 and -6 are for TCP, not -U" :
	    o.proxies ? "-p is for TCP, not -U" :
	    o.print_port ? "-1 is for TCP, not -U" : NULL;

	if (bad == NULL && argc < 2)
		bad = argc == 0 ? "PATH PROGRAM missing" : "PROGRAM missing";
	if (bad == NULL && (argv[0][0] == '\0' ||
	    strlen(argv[0]) > UNIX_PATH_MAX))
		bad = "PATH: empty, or longer than a socket address holds";
	if (bad) {
		warn("%s", bad);
		usage_exit(SYNOPSIS);
	}
	if (o.mode < 0)
		o.mode = 0666;
	o.path = argv[0];
	o.argv = argv + 1;
}

static void
parse_opts(int argc, char **argv)
{
	int ch;

	o.family = AF_UNSPEC;
	o.verbosity = NORMAL;
	o.maxconn = 40;
	o.backlog = 64;
	o.grace = 10;
	o.mode = -1;
	opt_help(argc, argv, SYNOPSIS, OPTIONS);
	while ((ch = getopt(argc, argv, "+:46hvq1fUc:C:R:x:p:b:u:g:k:i:M:")) !=
	    -1) {
		switch (ch) {
		case 'h': usage_help(SYNOPSIS, OPTIONS);
		case '4': o.family = AF_INET; break;
		case '6': o.family = AF_INET6; break;
		case 'v': o.verbosity = VERBOSE; break;
		case 'q': o.verbosity = QUIET; break;
		case '1': o.print_port = 1; break;
		case 'f': o.daemon = 1; break;
		case 'c':
			o.maxconn = opt_num(ch, optarg, 1, 65536, SYNOPSIS);
			break;
		case 'C':
			o.persource = opt_num(ch, optarg, 0, 65536, SYNOPSIS);
			break;
		case 'R':
			o.rate = opt_num(ch, optarg, 0, 1000000, SYNOPSIS);
			break;
		case 'x': o.rules = optarg; break;
		case 'p': proxy_opt(optarg); break;
		case 'b':
			o.backlog = opt_num(ch, optarg, 1, 65535, SYNOPSIS);
			break;
		case 'k':
			o.grace = opt_num(ch, optarg, 0, 86400, SYNOPSIS);
			break;
		case 'u': o.user = optarg; break;
		case 'g': o.group = optarg; break;
		case 'i': o.pidfile = optarg; break;
		case 'U': o.ipc = 1; break;
		case 'M': o.mode = mode_opt(optarg); break;
		default:
			opt_fail(ch, SYNOPSIS);
		}
	}
	if (o.ipc || o.mode >= 0) {
		unix_opts(argc - optind, argv + optind);
		return;
	}
	if (argc - optind < 3) {
		warn(argc - optind == 0 ? "HOST PORT PROGRAM missing" :
		    argc - optind == 1 ? "PORT PROGRAM missing" :
		    "PROGRAM missing");
		usage_exit(SYNOPSIS);
	}
	o.host = argv[optind];
	o.port = argv[optind + 1];
	port_check(o.port, 0, SYNOPSIS);
	o.argv = argv + optind + 2;
}

/* ---- privileges ---- */

struct ids {
	uid_t uid;
	gid_t gid;
	int set_uid, set_gid;
};

/* resolve -u and -g before anything is bound: a typo is a usage error */
static void
resolve_ids(struct ids *id)
{
	long n;

	memset(id, 0, sizeof *id);
	if (o.user) {
		struct passwd *pw = getpwnam(o.user);

		if (pw == NULL && parse_num(o.user, 0, 2147483647L, &n) == 0) {
			id->uid = (uid_t)n;
			pw = getpwuid(id->uid);
			if (pw == NULL && o.group == NULL) {
				/* never run a user's children with root's group */
				warn("-u: uid %ld has no passwd entry: give -g too",
				    n);
				usage_exit(SYNOPSIS);
			}
		} else if (pw == NULL) {
			warn("-u: no such user '%s'", o.user);
			usage_exit(SYNOPSIS);
		}
		if (pw) {
			id->uid = pw->pw_uid;
			id->gid = pw->pw_gid;	/* the user's group by default */
			id->set_gid = 1;
		}
		id->set_uid = 1;
	}
	if (o.group) {
		struct group *gr = getgrnam(o.group);

		if (gr)
			id->gid = gr->gr_gid;
		else if (parse_num(o.group, 0, 2147483647L, &n) == 0)
			id->gid = (gid_t)n;
		else {
			warn("-g: no such group '%s'", o.group);
			usage_exit(SYNOPSIS);
		}
		id->set_gid = 1;
	}
}

static int
drop_privileges(const struct ids *id)
{
	if (!id->set_uid && !id->set_gid)
		return 0;
	if (setgroups(0, NULL) < 0) {
		warn("cannot clear supplementary groups:");
		return -1;
	}
	if (id->set_gid && setgid(id->gid) < 0) {
		warn("cannot set group %ld:", (long)id->gid);
		return -1;
	}
	if (id->set_uid && setuid(id->uid) < 0) {
		warn("cannot set user %ld:", (long)id->uid);
		return -1;
	}
	/* make sure there is no way back */
	if (id->set_uid && id->uid != 0 && setuid(0) == 0) {
		warn("dropped to user %ld, but could become root again",
		    (long)id->uid);
		return -1;
	}
	return 0;
}

/* ---- the listening socket ---- */

static int
listen_on(void)
{
	struct addrinfo hints, *res, *ai;
	const char *host = o.host;
	int fd = -1, err, saved = 0, one = 1, zero = 0;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = o.family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if (strcmp(host, "0") == 0)
		host = "0.0.0.0";
	/* a number is never looked up; a name is, since the user gave one */
	if (strspn(o.port, "0123456789") != strlen(o.port))
		hints.ai_flags &= ~AI_NUMERICSERV;
	err = getaddrinfo(host, o.port, &hints, &res);
	if (err) {
		warn("cannot use %s port %s: %s", o.host, o.port,
		    err == EAI_SYSTEM ? strerror(errno) : gai_strerror(err));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, 0);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		/* "::" serves IPv4 too unless -6, whatever the system
		 * default; with -6 a -4 listener may share the port */
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY,
			    o.family == AF_INET6 ? &one : &zero, sizeof zero);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, (int)o.backlog) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		errno = saved;
		warn("cannot listen on %s port %s:", o.host, o.port);
	}
	freeaddrinfo(res);
	return fd;
}

/*
 * Socket activation (systemd, systemd-socket-activate): with LISTEN_PID
 * our pid and LISTEN_FDS=1, the listening socket is fd 3, already bound;
 * HOST and PORT then only name it.  Returns the fd, -1 when not activated,
 * -2 on a bad hand-over.
 */
static int
activated(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	long p, n;
	int yes = 0;
	socklen_t len = sizeof yes;

	if (pid == NULL || fds == NULL || parse_num(pid, 1, 2147483647L, &p) ||
	    p != (long)getpid())
		return -1;
	/* the children must not think they were activated */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (parse_num(fds, 0, 1024, &n) < 0 || n != 1) {
		warn("LISTEN_FDS=%s: expected exactly one socket", fds);
		return -2;
	}
	if (getsockopt(3, SOL_SOCKET, SO_ACCEPTCONN, &yes, &len) < 0 || !yes) {
		warn("fd 3 from socket activation is not a listening socket");
		return -2;
	}
	fcntl(3, F_SETFL, fcntl(3, F_GETFL) | O_NONBLOCK);
	fcntl(3, F_SETFD, FD_CLOEXEC);
	return 3;
}

/* the address and port actually bound (port 0 lets the kernel choose) */
static int
local_addr(int fd, char *ip, unsigned *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	return addr_ip_port((struct sockaddr *)&ss, ip, port);
}

/* ---- start-up ---- */

static void
on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;

	if (sig == SIGTERM || sig == SIGINT)
		got_term++;
	if (sig == SIGINT)
		got_int = 1;
	else if (sig == SIGHUP)
		got_hup = 1;
	else if (sig == SIGUSR1)
		got_usr1 = 1;
	(void)!write(sigpipe_fd[1], &c, 1);
	errno = saved;
}

static int
signals_init(void)
{
	struct sigaction sa;
	sigset_t reset;
	int sig;

	if (pipe(sigpipe_fd) < 0)
		return -1;
	for (sig = 0; sig < 2; sig++)
		fcntl(sigpipe_fd[sig], F_SETFL, O_NONBLOCK),
		fcntl(sigpipe_fd[sig], F_SETFD, FD_CLOEXEC);
	/* signals we inherited as ignored stay ignored across exec: the child
	 * must get them back at their defaults; caught ones reset by exec */
	sigemptyset(&reset);
	for (sig = 1; sig < NSIG; sig++) {
		struct sigaction old;

		if (sig != SIGKILL && sig != SIGSTOP &&
		    sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			sigaddset(&reset, sig);
	}
	sigaddset(&reset, SIGPIPE);
	signal(SIGPIPE, SIG_IGN);

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);	/* re-read -x; never die of a hangup */
	sigaddset(&reset, SIGHUP);
	sigaction(SIGUSR1, &sa, NULL);	/* log the status line */
	sigaddset(&reset, SIGUSR1);

	sigaddset(&reset, SIGCHLD);
	sigaddset(&reset, SIGTERM);
	sigaddset(&reset, SIGINT);
	child_reset = reset;
	sigemptyset(&reset);
	sigprocmask(SIG_SETMASK, &reset, NULL);
	return 0;
}

static int
is_ucspi(const char *e)
{
	static const char *const names[] = { "PROTO=", "TCPLOCALIP=",
	    "TCPLOCALPORT=", "TCPLOCALHOST=", "TCPREMOTEIP=", "TCPREMOTEPORT=",
	    "TCPREMOTEHOST=", "TCPREMOTEINFO=", "PROXYREMOTEIP=",
	    "PROXYREMOTEPORT=", NULL };
	int i;

	for (i = 0; names[i]; i++)
		if (strncmp(e, names[i], strlen(names[i])) == 0)
			return 1;
	return 0;
}

/* -U: no TCP*, PROXY* or IPC* variable of ours reaches a child, which
 * must believe only the launcher's IPC ones */
static int
is_ipc(const char *e)
{
	return strncmp(e, "TCP", 3) == 0 || strncmp(e, "PROXY", 5) == 0 ||
	    strncmp(e, "IPC", 3) == 0;
}

/* "NAME=..." names the variable of "NAME=VALUE" */
static int
same_name(const char *e, const char *var)
{
	size_t n = (size_t)(strchr(var, '=') - var) + 1;

	return strncmp(e, var, n) == 0;
}

static int
overridden(const char *e, const struct rule *r)
{
	size_t j;

	for (j = 0; r && j < r->nenv; j++)
		if (same_name(e, r->env[j]))
			return 1;
	return 0;
}

static void
env_init(void)
{
	size_t n = 0, i;

	while (environ[n])
		n++;
	base_env = calloc(n + 1, sizeof *base_env);
	if (base_env == NULL)
		die(1, "out of memory");
	for (i = 0; i < n; i++)
		if (!is_ucspi(environ[i]) && !(o.path && is_ipc(environ[i])))
			base_env[base_env_n++] = environ[i];
}

/* "NAMEIP=ip" and "NAMEPORT=port" of sa into e[0] and e[1] */
static int
env_addr(char e[2][ADDR_IPLEN + 20], const char *name,
    const struct sockaddr *sa)
{
	char ip[ADDR_IPLEN];
	unsigned port;

	if (addr_ip_port(sa, ip, &port) < 0)
		return -1;
	snprintf(e[0], ADDR_IPLEN + 20, "%sIP=%s", name, ip);
	snprintf(e[1], ADDR_IPLEN + 20, "%sPORT=%u", name, port);
	return 0;
}

/* the most any child's environment takes under the rules rs (see
 * make_env): ours, 7 UCSPI variables and the largest rule's */
static size_t env_need;

static void
env_need_for(const struct ruleset *rs)
{
	size_t i, j, vars = 0, bytes = 0;

	for (i = 0; rs && i < rs->nrule; i++) {
		size_t n = 0;

		for (j = 0; j < rs->rule[i].nenv; j++)
			n += strlen(rs->rule[i].env[j]) + 1;
		if (rs->rule[i].nenv > vars)
			vars = rs->rule[i].nenv;
		if (n > bytes)
			bytes = n;
	}
	env_need = (base_env_n + 7 + vars + 1) * sizeof(char *) +
	    7 * (ADDR_IPLEN + 20) + bytes;
}

/* PROTO=TCP and the TCPLOCAL and TCPREMOTE pairs (the client as admit()
 * wrote it into the slot); PROXYREMOTE for a proxied client: how many */
static size_t
tcp_env(const char **add, char ucspi[3][2][ADDR_IPLEN + 20],
    const struct slot *s, int cfd, const struct sockaddr *local,
    const struct sockaddr *proxy)
{
	size_t nadd = 0;

	add[nadd++] = "PROTO=TCP";
	if (local_fixed) {
		add[nadd++] = local_env[0];
		add[nadd++] = local_env[1];
	} else {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;

		if (local == NULL && getsockname(cfd, (struct sockaddr *)&ss,
		    &len) == 0)
			local = (struct sockaddr *)&ss;
		if (local && env_addr(ucspi[0], "TCPLOCAL", local) == 0) {
			add[nadd++] = ucspi[0][0];
			add[nadd++] = ucspi[0][1];
		}
	}
	if (s->ip[0]) {
		snprintf(ucspi[1][0], sizeof ucspi[1][0], "TCPREMOTEIP=%s", s->ip);
		snprintf(ucspi[1][1], sizeof ucspi[1][1], "TCPREMOTEPORT=%u",
		    s->port);
		add[nadd++] = ucspi[1][0];
		add[nadd++] = ucspi[1][1];
	}
	if (proxy && env_addr(ucspi[2], "PROXYREMOTE", proxy) == 0) {
		add[nadd++] = ucspi[2][0];
		add[nadd++] = ucspi[2][1];
	}
	return nadd;
}

/* -U: the UCSPI IPC set, as s6-ipcserver makes it (IPCLOCALPATH is at
 * most 121 bytes, the rest 26: within what env_need counts for TCP) */
static size_t
ipc_env(const char **add, char ucspi[3][2][ADDR_IPLEN + 20],
    const struct slot *s)
{
	snprintf(ucspi[0][0], sizeof ucspi[0][0], "IPCREMOTEEUID=%lu",
	    s->cred.uid);
	snprintf(ucspi[0][1], sizeof ucspi[0][1], "IPCREMOTEEGID=%lu",
	    s->cred.gid);
	snprintf(ucspi[1][0], sizeof ucspi[1][0], "IPCREMOTEPID=%ld",
	    s->cred.pid);
	add[0] = "PROTO=IPC";
	add[1] = unix_local_env();
	add[2] = ucspi[0][0];
	add[3] = ucspi[0][1];
	add[4] = ucspi[1][0];
	return 5;
}

/*
 * A child's environment, in its slot's own buffer (made big enough for any
 * rule by env_reserve): ours less UCSPI variables; the UCSPI ones of
 * tcp_env() or, with -U, ipc_env(); last the variables of its allow
 * rule, which replace any of the same name.  The rule's are copied: a
 * reload may free it while the child is still being made.  local NULL: the
 * socket's own address.  0, or -1 when it does not fit.
 */
static int
make_env(struct slot *s, int cfd, const struct sockaddr *local,
    const struct sockaddr *proxy, const struct rule *r)
{
	char ucspi[3][2][ADDR_IPLEN + 20];
	const char *add[7];
	size_t nadd, nvars = r ? r->nenv : 0, bytes = 0, i, k = 0;
	char **env, *p;

	nadd = o.path ? ipc_env(add, ucspi, s) :
	    tcp_env(add, ucspi, s, cfd, local, proxy);
	for (i = 0; i < nadd; i++)
		bytes += strlen(add[i]) + 1;
	for (i = 0; i < nvars; i++)
		bytes += strlen(r->env[i]) + 1;
	bytes += (base_env_n + nadd + nvars + 1) * sizeof *env;
	if (bytes > s->env_size)
		return -1;	/* env_reserve() made room for any rule */
	env = s->env;
	p = (char *)(env + base_env_n + nadd + nvars + 1);
	for (i = 0; i < base_env_n; i++)
		if (!overridden(base_env[i], r))
			env[k++] = base_env[i];
	for (i = 0; i < nadd + nvars; i++) {
		const char *e = i < nadd ? add[i] : r->env[i - nadd];
		size_t n = strlen(e) + 1;

		if (i < nadd && overridden(e, r))
			continue;
		env[k++] = memcpy(p, e, n);
		p += n;
	}
	env[k] = NULL;
	return 0;
}

/* mark every descriptor from `from` on close-on-exec, or close it */
static void
fds_from(int from, int keep1, int keep2, int do_close)
{
	struct rlimit rl;
	int fd, max = 1 << 20;

#ifdef SYS_close_range
	if (!do_close && syscall(SYS_close_range, from, ~0U, 4 /* CLOEXEC */) == 0)
		return;
#endif
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)max)
		max = (int)rl.rlim_cur;
	for (fd = from; fd < max; fd++)
		if (fd != keep1 && fd != keep2) {
			if (do_close)
				close(fd);
			else
				fcntl(fd, F_SETFD, FD_CLOEXEC);
		}
}

/* descriptors we inherited must not reach the children, nor a closed
 * 0, 1 or 2 be taken by a socket that a child would then see there; the
 * soft limit goes up to the hard one, so that a low one cannot stop us
 * taking clients */
static void
fds_init(void)
{
	struct rlimit rl;

	std_fds();
	fds_from(3, -1, -1, 0);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			warn("cannot raise the descriptor limit:");
	}
}

/* how many descriptors under limit are open */
static long
fds_open(long limit)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long n = 0, fd;

	if (d == NULL) {
		/* no /proc: those below the lowest free one, at least */
		fd = fcntl(0, F_DUPFD_CLOEXEC, 0);
		if (fd >= 0)
			close((int)fd);
		return fd < 0 ? limit : fd;
	}
	while ((e = readdir(d)) != NULL)
		n += parse_num(e->d_name, 0, limit - 1, &fd) == 0;
	closedir(d);
	return n - 1;	/* less the directory's own */
}

/*
 * What the descriptor limit leaves for connections held at once.  A
 * child holds none of ours, and one spawn fails before another is
 * tried, so those held are the relays waiting for their header (-p) and
 * one in hand; FD_RESERVE more stay free for what making a child and
 * writing the log may open.  Said when -c MAX relays cannot wait at once,
 * and then fewer do.
 */
#define FD_RESERVE 4

static void
fds_budget(void)
{
	struct rlimit rl;
	long limit = 1L << 20, room;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)limit)
		limit = (long)rl.rlim_cur;
	room = limit - fds_open(limit) - FD_RESERVE - 1;
	if (room < 1) {
		warn("the descriptor limit (%ld) leaves no room for a client",
		    limit);
		room = 1;
	}
	if (proxies == NULL)
		return;
	if (room < o.maxconn)
		warn("the descriptor limit (%ld) leaves room for %ld relays "
		    "waiting for a PROXY header, not -c %ld", limit, room,
		    o.maxconn);
	if (waiting_init(room < o.maxconn ? room : o.maxconn) < 0)
		die(1, "out of memory");
}

/*
 * Detach.  The parent stays until the daemon says it is ready, so that a
 * failure after the fork (pid file, privileges) is still its exit status
 * and its message still reaches the terminal.  Returns the pipe to report
 * readiness on, or -1.
 */
static int
daemonize(int lfd)
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
	fds_from(3, lfd, ready[1], 1);
	setsid();
	return ready[1];
}

/* ready to serve: stdio to /dev/null, diagnostics to syslog, parent off */
static void
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

/* the daemon moves to /: a relative pid file or socket must still be
 * found to remove it at exit, and a relative rules file to re-read it */
static void
absolute(const char **name, char *path, const char *what)
{
	char cwd[PATH_MAX];

	if (*name == NULL || (*name)[0] == '/')
		return;
	if (getcwd(cwd, sizeof cwd) == NULL ||
	    snprintf(path, PATH_MAX, "%s/%s", cwd, *name) >= PATH_MAX)
		die(1, "cannot find the full path of %s %s", what, *name);
	*name = path;
}

static void
paths_absolute(void)
{
	static char pidfile[PATH_MAX];

	absolute(&o.pidfile, pidfile, "pid file");
	if (o.daemon) {
		static char rules_path[PATH_MAX], sock_path[PATH_MAX];

		absolute(&o.rules, rules_path, "rules file");
		/* -U: the socket file is removed at exit, from / */
		absolute(&o.path, sock_path, "socket");
		if (o.path && strlen(o.path) > UNIX_PATH_MAX)
			die(2, "-U: %s is longer than a socket address holds",
			    o.path);
	}
}

/* kept open: after -u the file may not be removable, only emptied */
static int pidfile_fd = -1;

/* why the pid file cannot be opened: a symbolic link or something other
 * than a file is named for what it is */
static void
pidfile_refused(int err)
{
	struct stat st;

	if (lstat(o.pidfile, &st) == 0 && S_ISLNK(st.st_mode))
		warn("cannot write pid file %s: it is a symbolic link",
		    o.pidfile);
	else if (lstat(o.pidfile, &st) == 0 && !S_ISREG(st.st_mode))
		warn("cannot write pid file %s: it is not a regular file",
		    o.pidfile);
	else {
		errno = err;
		warn("cannot write pid file %s:", o.pidfile);
	}
}

/*
 * Written as root, often in a directory others can write: never through a
 * symbolic link, never into anything but a regular file (O_NONBLOCK: a
 * FIFO there must not hang us), and emptied only once it is known to be
 * one.
 */
static int
write_pidfile(void)
{
	struct stat st;
	char buf[32];
	int fd, n;

	fd = open(o.pidfile, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK |
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
		warn("cannot write pid file %s:", o.pidfile);
		close(fd);
		return -1;
	}
	pidfile_fd = fd;
	return 0;
}

/* at exit: remove the pid file, unless another file has taken its name;
 * when that is not allowed (privileges dropped), empty it: no stale pid
 * is left behind */
static void
pidfile_remove(void)
{
	struct stat ours, there;
	int gone;

	if (pidfile_fd < 0)
		return;
	if (lstat(o.pidfile, &there) == 0)
		gone = fstat(pidfile_fd, &ours) == 0 &&
		    (ours.st_dev != there.st_dev || ours.st_ino != there.st_ino);
	else
		gone = errno == ENOENT;
	if (!gone && unlink(o.pidfile) < 0 && ftruncate(pidfile_fd, 0) < 0)
		warn("cannot remove or empty pid file %s:", o.pidfile);
	close(pidfile_fd);
	pidfile_fd = -1;
}

/* ---- children ---- */

static long
ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000 +
	    (now.tv_nsec - t->tv_nsec) / 1000000;
}

static void
log_status(void)
{
	if (o.verbosity == VERBOSE)
		note("status: %ld/%ld", nchildren, o.maxconn);
}

/* SIGUSR1: the counters, whatever the verbosity */
static void
log_counters(void)
{
	char line[160];

	got_usr1 = 0;
	status_format(line, sizeof line, nchildren, o.maxconn);
	note("status: %s", line);
}

/* ---- slots ---- */

/*
 * Room for the next child's environment, made before its client is
 * accepted: without memory the client stays in the backlog, never dropped
 * after it was taken.  Each slot keeps its buffer for its next child.
 * 0, or -1 with errno set.
 */
static int
env_reserve(void)
{
	struct slot *s = free_slots[nfree - 1];
	char **env;

	if (s->env_size >= env_need)
		return 0;
	if ((env = malloc(env_need)) == NULL)
		return -1;
	free(s->env);
	s->env = env;
	s->env_size = env_need;
	return 0;
}

static int
slots_init(void)
{
	long i;

	slots = calloc((size_t)o.maxconn, sizeof *slots);
	free_slots = calloc((size_t)o.maxconn, sizeof *free_slots);
	live = calloc((size_t)o.maxconn, sizeof *live);
	if (slots == NULL || free_slots == NULL || live == NULL)
		return -1;
	for (i = o.maxconn; i-- > 0;)
		free_slots[nfree++] = &slots[i];
	return 0;
}

static struct slot *
slot_take(void)
{
	struct slot *s = free_slots[--nfree];

	s->live = nchildren;
	live[nchildren++] = s;
	return s;
}

static void
slot_free(struct slot *s)
{
	live[s->live] = live[--nchildren];
	live[s->live]->live = s->live;
	s->state = SLOT_FREE;
	free_slots[nfree++] = s;
}

static void
child_ended(struct slot *s, int st)
{
	if (WIFSIGNALED(st))
		note("end %ld signal %d", (long)s->pid, WTERMSIG(st));
	else if (o.verbosity == VERBOSE ||
	    (o.verbosity == NORMAL && WEXITSTATUS(st) != 0))
		note("end %ld status %d", (long)s->pid, WEXITSTATUS(st));
	slot_free(s);
	log_status();
}

/* every child that ended; one we did not make (inherited across an
 * exec) is only reaped.  A child whose exec failed is said by PROGRAM's
 * name, not as an end */
static void
reap(void)
{
	int st;
	pid_t pid;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		long i;
		int err;

		for (i = 0; i < nchildren && !(live[i]->state == SLOT_RUNNING &&
		    live[i]->pid == pid); i++)
			;
		if (i == nchildren)
			continue;
		if ((err = spawn_exec_failed(live[i], st)) != 0) {
			/* made, but no PROGRAM ran: a failed spawn, as
			 * posix_spawn reports it, not one served */
			counts.served--;
			counts.failed++;
			errno = err;
			warn("cannot run %s:", o.argv[0]);
			slot_free(live[i]);
			log_status();
		} else
			child_ended(live[i], st);
	}
}

static long
from_source(const unsigned char *addr)
{
	long i, n = 0;

	for (i = 0; i < nchildren; i++)
		n += memcmp(live[i]->key, addr, 16) == 0;
	return n;
}

/* over -R or -C: told so and closed; logged "deny IP WHY" unless ip is
 * NULL */
static void
deny(int fd, const char *ip, const char *why)
{
	static const char msg[] = "error too many connections\n";

	(void)!send(fd, msg, sizeof msg - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	shutdown(fd, SHUT_WR);
	close(fd);
	counts.denied++;
	if (ip && o.verbosity != QUIET)
		note("deny %s %s", ip, why);
}

/*
 * Whether the client at `client` may have a child: the rules first (a
 * denied client costs no -R token), then -R, then -C.  A client refused is
 * closed here and logged.  The client's address is given apart from the
 * socket: it is not always the socket's peer.  Its address, port and
 * source key are written once, into the slot serve() takes next (there is
 * one: the caller checked -c).  On 1, *rule is the allow rule that
 * matched, or NULL.
 */
static int
admit(int cfd, const struct sockaddr *client, const struct rule **rule)
{
	const struct rule *r = NULL;
	struct slot *s = free_slots[nfree - 1];
	int say;

	if (o.path) {
		/* -U: the kernel's word on who it is, in place of an address */
		if (unix_client(cfd, &s->cred, s->key) < 0) {
			close(cfd);
			return 0;
		}
		cred_text(s->ip, &s->cred);
		s->port = 0;
		r = rules ? rules_match_cred(rules, &s->cred) : NULL;
	} else {
		r = rules ? rules_match(rules, client) : NULL;
		if (addr_ip_port(client, s->ip, &s->port) < 0)
			s->ip[0] = '\0';
		source_key(client, s->key);
	}
	if (r && !r->allow) {
		close(cfd);
		counts.denied++;
		if (o.verbosity != QUIET)
			note("deny %s rule %u", s->ip, r->line);
		return 0;
	}
	if (o.rate && !rate_take(s->key, now_ms(), &say)) {
		deny(cfd, say ? s->ip : NULL, "rate limit");
		return 0;
	}
	if (o.persource && from_source(s->key) >= o.persource) {
		deny(cfd, s->ip, "per-source limit");
		return 0;
	}
	*rule = r;
	return 1;
}

/* out of descriptors, memory or processes: said once per episode, then a
 * calm retry with a back-off doubling from 50 ms to 1 s */
static int
starve(const char *what)
{
	if (!starved)
		warn("cannot %s (will retry):", what);
	starved = starved ? starved * 2 : 50;
	if (starved > 1000)
		starved = 1000;
	return starved;
}

static void
fed(void)
{
	if (starved && o.verbosity != QUIET)
		note("accepting again");
	starved = 0;
}

static int
for_want_of_resources(int err)
{
	return err == EAGAIN || err == ENOMEM || err == EMFILE || err == ENFILE;
}

/* a client whose child was not made is closed (it sees EOF) and its slot
 * freed */
static void
close_pending(struct slot *s)
{
	close(s->fd);
	nretry -= s->retry;
	slot_free(s);
}

/*
 * Make s's child (its fd and env set).  A child made is running now.  A
 * spawn that failed for want of a process or memory is kept and tried
 * again after a back-off, never dropped; after SIGTERM it is closed.  Any
 * other failure is exec's, said with PROGRAM's name, and the client gets
 * EOF.
 */
static void
start(struct slot *s)
{
	int err = spawn(s);

	if (err == 0) {
		s->state = SLOT_RUNNING;
		counts.served++;
		if (s->retry) {
			s->retry = 0;
			if (--nretry == 0)
				fed();
		}
		if (o.verbosity == VERBOSE) {
			if (o.path)	/* -U: ip is the credentials */
				note("pid %ld from %s", (long)s->pid, s->ip);
			else
				note("pid %ld from %s port %u", (long)s->pid,
				    s->ip, s->port);
			log_status();
		}
		return;
	}
	if (for_want_of_resources(err)) {
		s->state = SLOT_FAILED;
		if (!s->retry)
			nretry++;
		s->retry = 1;
		if (due < 0) {
			errno = err;
			due = now_ms() + starve("fork");
		}
		return;
	}
	counts.failed++;
	errno = err;
	warn("cannot run %s:", o.argv[0]);
	close_pending(s);
	log_status();
}

/* an admitted client's child; the client is closed and it is said if its
 * environment does not fit (env_reserve made room) */
static void
serve(int cfd, const struct sockaddr *local, const struct sockaddr *proxy,
    const struct rule *rule)
{
	struct slot *s = slot_take();

	if (make_env(s, cfd, local, proxy, rule) < 0) {
		close(cfd);
		slot_free(s);
		counts.failed++;
		warn("no room for a child's environment");
		return;
	}
	s->fd = cfd;
	s->retry = 0;
	start(s);
}

/* a client that left while it waited for a process: reset, or its side
 * closed with not a byte sent; its child would only meet a closed door */
static int
gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };
	int n = 0;

	if (poll(&p, 1, 0) != 1)
		return 0;
	if (p.revents & (POLLERR | POLLHUP))
		return 1;
	return (p.revents & POLLRDHUP) && ioctl(fd, FIONREAD, &n) == 0 &&
	    n == 0;
}

/* the back-off is over: the failed spawns are tried again, but a client
 * that has gone is closed without a child */
static void
retry_failed(void)
{
	long i;

	for (i = nchildren; i-- > 0;) {
		struct slot *s = live[i];

		if (s->state != SLOT_FAILED)
			continue;
		if (gone(s->fd)) {
			close_pending(s);
			if (nretry == 0)
				fed();
			log_status();
		} else
			start(s);
	}
}

/* an executable regular file, for the user we now are: 0, or -1 with
 * errno as exec would set it (EISDIR for a directory, being clearer) */
static int
runnable(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = S_ISDIR(st.st_mode) ? EISDIR : EACCES;
		return -1;
	}
	return access(path, X_OK);
}

/*
 * PROGRAM is checked once at start, as the user the children run as, so
 * that a typo is not a silent EOF for every client: a path must be an
 * executable file; a name is looked up in PATH, once, not per connection.
 * A relative path must survive the daemon's move to /.  0, or -1 said.
 */
static int
find_program(void)
{
	static char path[PATH_MAX];
	const char *name = o.argv[0], *p = getenv("PATH");
	int err = ENOENT;

	if (strchr(name, '/')) {
		if (runnable(name) < 0) {
			warn("cannot run %s:", name);
			return -1;
		}
		if (o.daemon && name[0] != '/' && realpath(name, path))
			o.argv[0] = path;
		return 0;
	}
	if (p == NULL)
		p = "/usr/local/bin:/bin:/usr/bin";
	while (*p) {
		size_t n = strcspn(p, ":");

		/* an empty entry is the current directory, as for execvp */
		if (snprintf(path, sizeof path, "%.*s/%s", n ? (int)n : 1,
		    n ? p : ".", name) < (int)sizeof path) {
			if (runnable(path) == 0) {
				static char full[PATH_MAX];

				o.argv[0] = o.daemon && path[0] != '/' &&
				    realpath(path, full) ? full : path;
				return 0;
			}
			if (errno == EACCES)
				err = EACCES;
		}
		p += n + (p[n] == ':');
	}
	errno = err;
	warn("cannot run %s:", name);
	return -1;
}

/* ---- the loop ---- */

static int
accept_error_is_resources(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOBUFS ||
	    err == ENOMEM;
}

/*
 * Accept what is waiting, up to the limit.  Returns the back-off in ms
 * when the system is out of descriptors or memory, else 0.
 */
static int
accept_some(int lfd)
{
	int i;

	for (i = 0; i < 64 && nchildren < o.maxconn && nretry == 0 &&
	    !(proxies && waiting_full()); i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		const struct rule *rule;
		int cfd;

		if (env_reserve() < 0)
			return starve("accept");
		cfd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
		if (cfd < 0) {
			if (accept_error_is_resources(errno))
				return starve("accept");
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED &&
			    errno != EPROTO && errno != EPERM)
				warn("cannot accept:");
			return 0;
		}
		if (nretry == 0)
			fed();
		if (proxies && rules_match(proxies, (struct sockaddr *)&ss)) {
			waiting_add(cfd, &ss, now_ms());
			continue;
		}
		if (admit(cfd, (struct sockaddr *)&ss, &rule))
			serve(cfd, NULL, NULL, rule);
	}
	return 0;
}

static void
drain_signals(void)
{
	char buf[64];

	while (read(sigpipe_fd[0], buf, sizeof buf) > 0)
		;
}

/* -x at start: a file that cannot be read or has a bad line is bad usage,
 * said with its FILE:LINE */
static void
rules_init(void)
{
	char err[512];

	if (o.rules == NULL)
		return;
	rules = rules_load(o.rules, err, sizeof err);
	if (rules == NULL) {
		warn("%s", err);
		usage_exit(SYNOPSIS);
	}
}

/* -p: the relays, parsed as "CIDR allow" lines; a bad one is bad usage */
static void
proxies_init(void)
{
	char err[512];

	if (o.proxies == NULL)
		return;
	proxies = rules_parse(o.proxies, o.proxies_len, "-p", err, sizeof err);
	if (proxies == NULL || proxies->ntable[1 + RULE_UID] ||
	    proxies->ntable[1 + RULE_GID]) {
		warn("%s", proxies ? "-p: a relay is an address, not a uid: "
		    "or gid:" : err);
		usage_exit(SYNOPSIS);
	}
}

/* SIGHUP: the file again, all of it good, or the old rules stay */
static void
rules_reload(void)
{
	char err[512];
	struct ruleset *rs;

	if (o.rules == NULL)
		return;
	rs = rules_load(o.rules, err, sizeof err);
	if (rs == NULL) {
		warn("cannot reload %s; the old rules stay", err);
		return;
	}
	rules_free(rules);
	rules = rs;
	env_need_for(rules);
	if (o.verbosity != QUIET)
		note("rules reloaded from %s: %zu rules", o.rules, rs->nrule);
}

/* SIGTERM to every child; one still being made gets it when it is */
static void
term_children(void)
{
	long i;

	for (i = 0; i < nchildren; i++)
		if (live[i]->state == SLOT_RUNNING)
			kill(live[i]->pid, SIGTERM);
}

/* SIGTERM: no new connections; the running ones get GRACE seconds */
static void
shutdown_gracefully(void)
{
	struct timespec start;
	long left = o.grace * 1000;
	int extra = 0;
	int seen = got_term;

	clock_gettime(CLOCK_MONOTONIC, &start);
	if (o.verbosity != QUIET)
		note("stopping: %ld running, grace %ld s", nchildren, o.grace);
	while (nchildren > 0) {
		struct pollfd pfd = { .fd = sigpipe_fd[0], .events = POLLIN };

		left = (extra ? 1000 : o.grace * 1000) - ms_since(&start);
		if (got_term != seen || left <= 0) {
			if (extra)
				break;	/* they had their SIGTERM and a second */
			/* grace over, or asked twice: end them now */
			term_children();
			clock_gettime(CLOCK_MONOTONIC, &start);
			extra = 1;
			seen = got_term;
			continue;
		}
		poll(&pfd, 1, (int)left);
		drain_signals();
		reap();
		if (got_usr1)
			log_counters();
	}
}

/*
 * A relay's header is in (pi), or it is bad, cut short or late (why).  A
 * complete one names the client that rules, limits, the log and the child
 * see; a v2 LOCAL or v1 UNKNOWN keeps the socket's addresses.  0 when the
 * connection was taken, -1 to keep it until there is room for a child.
 */
static int
on_header(int fd, const struct proxy_info *pi,
    const struct sockaddr_storage *proxy, const char *why)
{
	const struct sockaddr_storage *client = proxy, *local = NULL;
	const struct rule *rule;
	char ip[ADDR_IPLEN];
	unsigned port;

	if (pi == NULL) {
		close(fd);
		counts.bad_proxy++;
		if (o.verbosity != QUIET &&
		    addr_ip_port((const struct sockaddr *)proxy, ip, &port) == 0)
			note("bad proxy header from %s: %s", ip, why);
		return 0;
	}
	if (due >= 0 || nretry || nchildren >= o.maxconn)
		return -1;
	if (env_reserve() < 0) {
		due = now_ms() + starve("accept");	/* not a busy loop */
		return -1;
	}
	if (!pi->local) {
		client = &pi->src;
		local = &pi->dst;
	}
	if (admit(fd, (const struct sockaddr *)client, &rule))
		serve(fd, (const struct sockaddr *)local,
		    (const struct sockaddr *)proxy, rule);
	return 0;
}

/* the nearer of two deadlines (-1 none) */
static long long
nearer(long long a, long long b)
{
	return a < 0 || (b >= 0 && b < a) ? b : a;
}

/* the poll timeout for the nearer of two deadlines (-1 none) */
static int
timeout_to(long long a, long long b)
{
	long long t = nearer(a, b), left;

	if (t < 0)
		return -1;
	left = t - now_ms();
	return left > 0 ? (int)left : 0;
}

/*
 * Starved, the next try is a deadline, not a poll timeout: a child's end
 * or any other signal may wake us before it, and a client whose child
 * could not be made must still be served when it is due.  Connections
 * from a relay wait for their header in the same poll, each with its own
 * deadline.  Nothing new is taken while starved or while failed spawns
 * are tried again; a whole header kept meanwhile is handed over in the
 * first round after, since no event of its own will come.
 */
static int
loop(int lfd)
{
	struct pollfd *pfd = calloc((size_t)o.maxconn + 2, sizeof *pfd);

	if (pfd == NULL) {
		warn("out of memory");
		return -1;
	}
	while (!got_term) {
		int taking = due < 0 && nretry == 0;
		int nw = proxies && taking ? waiting_fds(pfd + 2) : 0;
		/* a whole header that waited is handed over now that a child
		 * may be made: nothing else may come to wake us */
		int handover = nw && nchildren < o.maxconn && waiting_whole();
		/* STATUS= for the service manager, when due */
		long long told = status_notify(nchildren, o.maxconn, now_ms());
		int r;

		pfd[0].fd = sigpipe_fd[0];
		pfd[0].events = POLLIN;
		/* at the limit, or starved: leave them in the backlog */
		pfd[1].fd = taking && nchildren < o.maxconn &&
		    !(proxies && waiting_full()) ? lfd : -1;
		pfd[1].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		r = poll(pfd, (nfds_t)(2 + nw), handover ? 0 : timeout_to(due,
		    nearer(nw ? waiting_due() : -1, told)));
		if (r < 0 && errno != EINTR) {
			warn("poll:");
			free(pfd);
			return -1;
		}
		if (r > 0 && pfd[0].revents) {
			drain_signals();
			reap();
			if (got_hup) {
				got_hup = 0;
				rules_reload();
			}
			if (got_usr1)
				log_counters();
		}
		if (nw)
			waiting_run(pfd + 2, nw, now_ms(), on_header);
		if (due >= 0) {
			if (now_ms() >= due) {
				due = -1;
				retry_failed();
			}
		} else if (r > 0 && pfd[1].fd >= 0 && pfd[1].revents) {
			int backoff = accept_some(lfd);

			/* a spawn that failed there has set its own */
			if (backoff)
				due = now_ms() + backoff;
		}
	}
	free(pfd);
	return 0;
}

/* at shutdown a client still waiting for a process is closed: it sees EOF
 * now, not after the grace */
static void
drop_pending(void)
{
	long i;

	for (i = nchildren; i-- > 0;)
		if (live[i]->state == SLOT_FAILED)
			close_pending(live[i]);
	if (proxies)
		waiting_close_all();
}

int
main(int argc, char **argv)
{
	struct ids id;
	sigset_t early;
	char ip[ADDR_IPLEN], line[32];
	unsigned port;
	int lfd, ready = -1, status;

	progname = "msgd-launcher";
	diag_shared();
	slog_open(progname);
	parse_opts(argc, argv);
	/* a SIGTERM right after the -1 port line must still end us with 0:
	 * held until signals_init() has the handlers in place */
	sigemptyset(&early);
	sigaddset(&early, SIGTERM);
	sigaddset(&early, SIGINT);
	sigaddset(&early, SIGHUP);
	sigaddset(&early, SIGUSR1);
	sigprocmask(SIG_BLOCK, &early, NULL);
	rules_init();
	proxies_init();
	resolve_ids(&id);
	paths_absolute();
	fds_init();
	if (slots_init() < 0 || (o.rate && rate_init(o.rate) < 0))
		die(1, "out of memory");

	lfd = activated();
	if (lfd >= 0 && o.path && unix_inherited(lfd, o.path) < 0)
		return 1;
	if (lfd == -1)
		lfd = o.path ? unix_listen(o.path, (mode_t)o.mode,
		    (int)o.backlog) : listen_on();
	if (lfd < 0)
		return 1;
	if (o.path == NULL && local_addr(lfd, ip, &port) < 0)
		die(1, "cannot read the bound address:");
	/* activated on a wildcard: TCPLOCALIP comes from each connection;
	 * so it does behind a relay, whose header names what was reached */
	local_fixed = o.path == NULL && strcmp(ip, "0.0.0.0") != 0 &&
	    strcmp(ip, "::") != 0 && proxies == NULL;
	if (o.print_port) {
		int n = snprintf(line, sizeof line, "%u\n", port);

		writeall(1, line, (size_t)n);
	}
	if (local_fixed) {
		snprintf(local_env[0], sizeof local_env[0], "TCPLOCALIP=%s", ip);
		snprintf(local_env[1], sizeof local_env[1], "TCPLOCALPORT=%u",
		    port);
	}
	if ((o.daemon && (ready = daemonize(lfd)) < 0) ||
	    (o.pidfile && write_pidfile() < 0)) {
		unix_unlink();
		return 1;
	}
	if (drop_privileges(&id) < 0 || find_program() < 0 ||
	    signals_init() < 0) {
		unix_unlink();
		pidfile_remove();
		return 1;
	}
	notify_init();	/* before env_init: NOTIFY_SOCKET is not the children's */
	env_init();
	env_need_for(rules);
	if ((errno = spawner_init(slots, o.maxconn, o.argv[0], o.argv,
	    &child_reset)) != 0) {
		warn("cannot make room for the children's stacks:");
		unix_unlink();
		pidfile_remove();
		return 1;
	}
	fds_budget();
	if (o.verbosity != QUIET && o.path)
		note("listening on %s, at most %ld at once", o.path, o.maxconn);
	else if (o.verbosity != QUIET)
		note("listening on %s port %u, at most %ld at once", ip, port,
		    o.maxconn);
	if (ready >= 0)
		daemon_ready(ready);
	notify("READY=1");

	status = loop(lfd) < 0 ? 1 : 0;
	notify("STOPPING=1");
	close(lfd);
	unix_unlink();
	drop_pending();
	shutdown_gracefully();
	pidfile_remove();
	if (got_int)
		interrupt_settle();
	return status;
}

/* SPDX-License-Identifier: ISC */
/* msgd-launcher: a minimal super-server.  Listen, accept, spawn PROGRAM with
 * the connection on fds 0 and 1, reap, repeat.  This file is the options and
 * the start-up in its order; loop.c serves, the other files are its parts. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "slog.h"
#include "util.h"
#include "daemon.h"
#include "env.h"
#include "fds.h"
#include "interrupt.h"
#include "loop.h"
#include "notify.h"
#include "opts.h"
#include "privs.h"
#include "program.h"
#include "reexec.h"
#include "rules.h"
#include "signals.h"
#include "slots.h"
#include "sockets.h"
#include "sources.h"
#include "spawner.h"
#include "unix.h"

#define SYNOPSIS "msgd-launcher [-46hVvq1f] [-c MAX] [-C PERSOURCE] " \
	"[-R RATE] [-N FAMILY:LEN] [-x RULES] [-p CIDR] [-b BACKLOG] " \
	"[-u USER] [-g GROUP] [-k GRACE] [-i PIDFILE] HOST PORT PROGRAM " \
	"[ARG...]\n" \
	"       msgd-launcher -U [-hVvqf] [-M MODE] [-c MAX] [-C PERSOURCE] " \
	"[-R RATE] [-x RULES] [-b BACKLOG] [-u USER] [-g GROUP] " \
	"[-k GRACE] [-i PIDFILE] PATH [HOST PORT] PROGRAM [ARG...]"
/* -h: a line an option, in the man page's order */
#define OPTIONS \
	"  -1            print the bound port on stdout\n" \
	"  -4, -6        IPv4 / IPv6 only\n" \
	"  -b BACKLOG    listen backlog (default 64)\n" \
	"  -C PERSOURCE  at most this many at once from one source " \
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
	"  -N FAMILY:LEN the prefix of one source for -C and -R " \
	"(default 6:64,4:32)\n" \
	"  -p CIDR       trusted relay that sends a PROXY header " \
	"(repeatable)\n" \
	"  -q            log errors only\n" \
	"  -R RATE       new connections a second from one source " \
	"(default 0, no limit)\n" \
	"  -U            listen on the UNIX-domain socket PATH\n" \
	"  -u USER       run as USER after binding\n" \
	"  -V            print the version (--version too)\n" \
	"  -v            log every connection\n" \
	"  -x RULES      access rules file, re-read on SIGHUP\n" \
	"see msgd-launcher(8)\n"

struct opts o;
static int prefix_given;	/* -N */

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

/* -N FAMILY:LEN[,FAMILY:LEN]: the prefix length that makes one source
 * for -C and -R, per family; repeatable, the last of a family wins */
static void
prefix_opt(const char *arg)
{
	const char *s = arg;

	for (;;) {
		char *end = NULL;
		long n = -1;
		int v6 = s[0] == '6';

		if ((s[0] == '4' || v6) && s[1] == ':' && s[2] >= '0' &&
		    s[2] <= '9') {
			errno = 0;
			n = strtol(s + 2, &end, 10);
			if (errno || (*end != '\0' && *end != ',') || n < 1 ||
			    n > (v6 ? 128 : 32))
				n = -1;
		}
		if (n < 0) {
			warn("-N: bad prefix '%s' (6:LEN with LEN from 1 to "
			    "128, 4:LEN from 1 to 32, e.g. -N 6:56,4:24)", arg);
			usage_exit(SYNOPSIS);
		}
		prefix_given = 1;
		if (v6)
			o.prefix6 = (unsigned)n;
		else
			o.prefix4 = (unsigned)n;
		if (*end == '\0')
			return;
		s = end + 1;	/* past the comma: another must follow */
	}
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

/* HOST after -U PATH: a numeric address, never a program's name */
static int
ip_literal(const char *s)
{
	unsigned char a[16];

	return strcmp(s, "0") == 0 || inet_pton(AF_INET, s, a) == 1 ||
	    inet_pton(AF_INET6, s, a) == 1;
}

/* -U PATH [HOST PORT] PROGRAM [ARG...]: without HOST PORT, the options
 * that name TCP have no place */
static void
unix_opts(int argc, char **argv)
{
	int tcp = o.ipc && argc >= 4 && ip_literal(argv[1]);
	const char *bad = !o.ipc ? "-M without -U" : tcp ? NULL :
	    o.family != AF_UNSPEC ? "-4 and -6 are for TCP, not -U" :
	    o.proxies ? "-p is for TCP, not -U" :
	    o.print_port ? "-1 is for TCP, not -U" :
	    prefix_given ? "-N is for TCP, not -U" : NULL;

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
	if (tcp) {
		o.host = argv[1];
		o.port = argv[2];
		port_check(o.port, 0, SYNOPSIS);
		o.argv = argv + 3;
	}
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
	o.prefix4 = 32;
	o.prefix6 = 64;
	opt_help(argc, argv, SYNOPSIS, OPTIONS);
	while ((ch = getopt(argc, argv, "+:46hVvq1fUc:C:R:N:x:p:b:u:g:k:i:M:")) !=
	    -1) {
		switch (ch) {
		case 'h': usage_help(SYNOPSIS, OPTIONS);
		case 'V': version_exit();
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
		case 'N': prefix_opt(optarg); break;
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

/* -x at start: a file that cannot be read or has a bad line is bad usage
 * (exit 2), said with its FILE:LINE and no usage text, which would not help */
static struct ruleset *
rules_init(void)
{
	char err[RULES_ERRLEN];
	struct ruleset *rules;

	if (o.rules == NULL)
		return NULL;
	rules = rules_load(o.rules, err, sizeof err);
	if (rules == NULL)
		die(2, "%s", err);
	return rules;
}

/* -p: the relays, parsed as "CIDR allow" lines; a bad one is bad usage */
static struct ruleset *
proxies_init(void)
{
	char err[RULES_ERRLEN];
	struct ruleset *proxies;

	if (o.proxies == NULL)
		return NULL;
	proxies = rules_parse(o.proxies, o.proxies_len, "-p", err, sizeof err);
	if (proxies == NULL || proxies->ntable[1 + RULE_UID] ||
	    proxies->ntable[1 + RULE_GID] || proxies->ncn) {
		warn("%s", proxies ? "-p: a relay is an address, not a uid:, "
		    "gid: or cn:" : err);
		usage_exit(SYNOPSIS);
	}
	return proxies;
}

/* the listeners: handed over by the image before, by socket activation,
 * or bound here; -1 printed, detached, pid file written unless handed
 * over.  0, or -1 said */
static int
listeners(int relays, int *ready)
{
	long port;
	char line[32];

	if (reexec_heir())
		return reexec_adopt(relays);
	if (sockets_open(o.host, o.port, o.family, o.backlog, o.path, o.mode,
	    relays) < 0)
		return -1;
	if (o.print_port && (port = sockets_tcp_port()) >= 0) {
		int n = snprintf(line, sizeof line, "%ld\n", port);

		writeall(1, line, (size_t)n);
	}
	if ((o.daemon && (*ready = daemonize(sockets_has)) < 0) ||
	    (o.pidfile && write_pidfile(o.pidfile) < 0))
		return -1;
	return 0;
}

int
main(int argc, char **argv)
{
	struct ids id;
	struct stat st[3];
	struct ruleset *rules, *proxies;
	sigset_t child_reset;
	int ready = -1, status;

	progname = "msgd-launcher";
	reexec_init(argv);
	/* no socket of ours may take a closed 0, 1 or 2 */
	std_fds(st);
	diag_shared(st);
	slog_open(progname);
	parse_opts(argc, argv);
	/* a SIGTERM right after the -1 port line must still end us with 0:
	 * held until signals_init() has the handlers in place */
	signals_hold();
	rules = rules_init();
	proxies = proxies_init();
	if (resolve_ids(&id, o.user, o.group) < 0)
		usage_exit(SYNOPSIS);
	if (reexec_checking()) {	/* SIGUSR2's check of a new image */
		rules_free(rules);
		rules_free(proxies);
		return find_program(o.argv, o.daemon) < 0 ? 1 : 0;
	}
	paths_absolute();
	fds_init();
	if (slots_init(o.maxconn) < 0 || (o.rate && rate_init() < 0))
		die(1, "out of memory");

	if (listeners(proxies != NULL, &ready) < 0) {
		sockets_close();
		return 1;
	}
	if (reexec_heir() && o.daemon) {
		diag_syslog(1);
		if (chdir("/") < 0)
			warn("cannot change to /:");
	}
	/* the heir runs as the user the first image dropped to */
	if ((!reexec_heir() && drop_privileges(&id) < 0) ||
	    find_program(o.argv, o.daemon) < 0 ||
	    signals_init(&child_reset) < 0) {
		sockets_close();
		pidfile_remove();
		return 1;
	}
	notify_init();	/* before env_init: NOTIFY_SOCKET is not the children's */
	env_init(sockets_any_ipc());
	env_need_for(rules);
	if ((errno = spawner_init(slots_table(), o.maxconn, o.argv[0], o.argv,
	    &child_reset)) != 0) {
		warn("cannot make room for the children's stacks:");
		sockets_close();
		pidfile_remove();
		return 1;
	}
	fds_budget(o.maxconn, proxies != NULL);
	if (reexec_heir()) {
		if (o.verbosity != QUIET)
			note("re-executed: %ld listening, %ld running adopted",
			    sockets_count(), reexec_adopted());
	} else
		sockets_log(o.maxconn);
	if (ready >= 0)
		daemon_ready(ready);
	notify("READY=1");

	status = loop(rules, proxies) < 0 ? 1 : 0;
	notify("STOPPING=1");
	sockets_close();
	drop_pending();
	shutdown_gracefully();
	pidfile_remove();
	if (got_int)
		interrupt_settle();
	return status;
}

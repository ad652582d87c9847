/* SPDX-License-Identifier: ISC */
/* msgd-handler: the per-connection message service.  The connection is fd 0
 * (in) and fd 1 (out); records go to a file, stderr or syslog.  This file
 * is the core: options and start-up, then the parts do the work. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conn.h"
#include "deadline.h"
#include "frame.h"
#include "addr.h"
#include "slog.h"
#include "util.h"
#include "peer.h"
#include "tlsid.h"
#include "sigterm.h"
#include "writes.h"

#define MAXLINE_DEFAULT 4096
#define TIMEOUT_DEFAULT_SECS 300
/* poll(2) takes milliseconds in an int */
#define SECS_MAX 2000000
/* "disconnect: N messages, N bytes, REASON" (1 message) */
#define TEXT_MAX 128

struct opts {
	const char *greeting;
	long maxline;
	int maxline_set;	/* -m given: say so if the sink needs less */
	long timeout;
	long session;		/* -T: the whole connection's cap, 0 none */
	int proxy;		/* -p: a PROXY header comes first */
	int stunnel_verifies;	/* -c: SSL_CLIENT_DN names a verified cert */
	struct sink_opts sink;
};

#define SYNOPSIS "msgd-handler [-chVpsS] [-g TEXT] [-l FILE] [-m BYTES] " \
	"[-t SECS] [-T SECS]"
/* -h: a line an option, in the man page's order */
#define OPTIONS \
	"  -c        stunnel verifies client certificates: SSL_CLIENT_DN's " \
	"CN is verified\n" \
	"  -g TEXT   greeting line (default hello)\n" \
	"  -h        this help (--help too)\n" \
	"  -l FILE   append records to FILE, made 0640; - is stderr\n" \
	"  -m BYTES  longest line, 1 to 1048576 (default 4096; less to a " \
	"pipe or syslog)\n" \
	"  -p        read a PROXY v1/v2 header first (behind a relay)\n" \
	"  -S        fsync the record file before each ok\n" \
	"  -s        records to syslog (facility daemon)\n" \
	"  -t SECS   idle timeout, 0 never (default 300)\n" \
	"  -T SECS   cap on the whole connection, 0 none (default 0)\n" \
	"  -V        print the version (--version too)\n" \
	"see msgd-handler(8)\n"

/* xinetd puts the connection on fd 2 too: then stderr is no place to talk;
 * nor when it was closed */
static int
stderr_is_conn(int closed, const struct stat st[3])
{
	if (closed & 4)
		return 1;
	/* a terminal on both is someone trying it by hand, not xinetd */
	return S_ISSOCK(st[2].st_mode) && st[0].st_dev == st[2].st_dev &&
	    st[0].st_ino == st[2].st_ino;
}

static void
parse_opts(int argc, char **argv, struct opts *o)
{
	int ch;

	o->greeting = "hello";
	o->maxline = MAXLINE_DEFAULT;
	o->timeout = TIMEOUT_DEFAULT_SECS;
	opt_help(argc, argv, SYNOPSIS, OPTIONS);
	while ((ch = getopt(argc, argv, ":cg:hl:m:psSt:T:V")) != -1) {
		switch (ch) {
		case 'h':
			usage_help(SYNOPSIS, OPTIONS);
		case 'V':
			version_exit();
		case 'c':
			o->stunnel_verifies = 1;
			break;
		case 'g':
			if (strpbrk(optarg, "\r\n")) {
				warn("-g: the greeting must be one line");
				usage_exit(SYNOPSIS);
			}
			o->greeting = optarg;
			break;
		case 'l':
			o->sink.logpath = optarg;
			break;
		case 'm':
			o->maxline = opt_num(ch, optarg, 1, MAXLINE_LIMIT, SYNOPSIS);
			o->maxline_set = 1;
			break;
		case 's':
			o->sink.use_syslog = 1;
			break;
		case 'S':
			o->sink.sync = 1;
			break;
		case 't':
			o->timeout = opt_num(ch, optarg, 0, SECS_MAX, SYNOPSIS);
			break;
		case 'T':
			o->session = opt_num(ch, optarg, 0, SECS_MAX, SYNOPSIS);
			break;
		case 'p':
			o->proxy = 1;
			break;
		default:
			opt_fail(ch, SYNOPSIS);
		}
	}
	if (optind < argc) {
		warn("unexpected argument '%s'", argv[optind]);
		usage_exit(SYNOPSIS);
	}
	if (o->sink.logpath && o->sink.use_syslog) {
		warn("-l and -s both say where records go: pick one");
		usage_exit(SYNOPSIS);
	}
}

/* say one line to a client we cannot serve, then let it go */
static int
refuse(const struct output *out, const char *line)
{
	write_within(out->fd, line, strlen(line), out->sendwait_ms, out->how);
	linger();
	return 1;
}

/* what a connection works in: no malloc, brk or mmap unless it outgrows
 * the rooms (each its own heap then), and the rooms of a short connection
 * together on few pages, each of which costs a fault when first touched */
#define ROOM_PEND 1024
#define ROOM_REP 256
static struct conn c;
static char pend_room[ROOM_PEND], rep_room[ROOM_REP];
/* the input: the longest line -m allows, its CR and one read */
LARGE_BSS static char input[MAXLINE_LIMIT + 1 + READSZ];
/* the client's TLS identity: its texts are written only when there is one */
LARGE_BSS static struct tlsid id;

static int
serve_connection(int argc, char **argv)
{
	struct opts o = { 0 };
	enum endreason why;
	char text[TEXT_MAX], peer[ADDR_PEERLEN];
	enum peer_source from;
	struct stat st[3];	/* fds 0, 1 and 2 */
	int closed, tcp;

	progname = "msgd-handler";
	clock_by_syscall();	/* one connection's few reads: see deadline.h */
	closed = std_fds(st);
	diag_shared(st);
	signals_init();
	slog_open(progname);
	o.sink.conn_on_stderr = stderr_is_conn(closed, st);
	diag_syslog(o.sink.conn_on_stderr);
	parse_opts(argc, argv, &o);

	c.rec.pend = (struct buf){ pend_room, 0, sizeof pend_room, 0 };
	c.out.rep = (struct buf){ rep_room, 0, sizeof rep_room, 0 };
	from = peer_init(peer, &st[0], &tcp);
	tlsid_env(&id, o.proxy ? PEER_OTHER : from, o.stunnel_verifies);
	c.in.maxline = (size_t)o.maxline;
	output_init(&c.out, o.timeout, &st[1]);
	tcp_options(tcp);
	if (o.proxy && proxy_peer(peer, &id, &c.unannounced) < 0)
		return refuse(&c.out, "error bad proxy header\n");
	if (!o.proxy)
		c.unannounced = peer_is_check();
	c.out.session_end = o.session ? deadline_in(o.session * 1000LL) :
	    DEADLINE_NONE;

	/* the sink is opened for a health check too: one that could not
	 * record gets no greeting, and the relay takes the node out */
	c.connect = id.connect;
	if (conn_sink_init(&c, &o.sink, o.maxline_set, peer, id.who) < 0 ||
	    (!c.unannounced && conn_connect(&c) < 0))
		return refuse(&c.out, REPLY_CANNOT);
	c.in.cap = c.in.maxline + 1 + READSZ;
	c.in.p = input;
	reply(&c.out, o.greeting, strlen(o.greeting));
	reply(&c.out, "\n", 1);
	why = END_EOF;
	if (rep_flush(&c.out, &why) == 0)
		why = handle_messages(&c, o.timeout);
	if (why == END_EOF) {
		char *d = put_u64(put_lit(text, "bye "), c.count.durable);

		*d++ = '\n';
		reply(&c.out, text, (size_t)(d - text));
		rep_flush(&c.out, &why);
	}
	/* a health check that sent nothing and closed: nothing to record,
	 * nothing wrong (the launcher logs no "end PID status 1") */
	if (c.unannounced && (why == END_EOF || why == END_RESET))
		return 0;
	conn_announce(&c);
	if (!c.failed) {
		char *d;

		if (c.in.discarding)	/* cut off inside an over-long line */
			rec_rejected(&c.rec, c.in.skipped);
		d = put_u64(put_lit(text, "disconnect: "), c.count.durable);
		d = c.count.durable == 1 ? put_lit(d, " message, ") :
		    put_lit(d, " messages, ");
		d = put_lit(put_u64(d, c.count.bytes), " bytes, ");
		strcpy(d, end_reason(why));
		if (rec_single(&c.rec, &c.sink, text) < 0 &&
		    (why == END_EOF || why == END_SHUTDOWN))
			why = END_ERROR;
	}
	if (why != END_EOF && why != END_RESET)
		linger();
	return why == END_EOF || why == END_SHUTDOWN ? 0 : 1;
}

int
main(int argc, char **argv)
{
	int status = serve_connection(argc, argv);

	exit_status_is(status);	/* a SIGTERM from here on ends us with it */
	return status;
}

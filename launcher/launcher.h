/* The launcher's own parts, shared by its files only: access rules
 * (rules.c), per-source rate limits (limits.c), connections waiting for a
 * PROXY header (proxied.c) and the making of children (spawner.c). */
#ifndef LAUNCHER_H
#define LAUNCHER_H

#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "cred.h"
#include "msgd.h"
#include "proxy.h"

/* ---- access rules: rules.c ---- */

/* what a rule's address is: a network, or a local client's uid or gid */
enum { RULE_IP, RULE_UID, RULE_GID };

/* one line of a rules file, as parsed */
struct rule {
	unsigned line;		/* its line number in the file, from 1 */
	unsigned char cred;	/* RULE_IP, or RULE_UID / RULE_GID (-U) */
	unsigned char v6;	/* 0: an IPv4 rule, 1: an IPv6 rule */
	unsigned char plen;	/* prefix length, 0 to 32 or 128 */
	unsigned char allow;
	unsigned char addr[16];	/* network address (IPv4 in the first 4);
				 * a uid or gid in the first 4, big-endian */
	size_t nenv;		/* its NAME=VALUE words, allow rules only */
	char **env;
};

/* the addresses of one family with one prefix length, masked, sorted,
 * each with the first rule (smallest line) that has it */
struct rule_key {
	unsigned char addr[16];
	unsigned rule;		/* index into rule[] */
};
struct rule_table {
	unsigned plen;
	size_t n;
	struct rule_key *key;
};

struct ruleset {
	struct rule *rule;	/* in file order */
	size_t nrule;
	/* per family (IPv4, IPv6, uid, gid): one per prefix length used */
	struct rule_table *table[4];
	size_t ntable[4];
	char **envs;		/* every rule's variables, pointing into text */
	char *text;		/* the file, its words NUL-terminated in place */
};

/* parse a rules file's bytes; name is the file's name for messages.
 * Returns the rules, or NULL with "NAME:LINE: what is wrong" (or "out of
 * memory") in err */
struct ruleset *rules_parse(const char *data, size_t len, const char *name,
    char *err, size_t errlen);
/* read and parse the file at path, the same way; a file that cannot be
 * read gets "PATH: why" */
struct ruleset *rules_load(const char *path, char *err, size_t errlen);
void rules_free(struct ruleset *rs);
/* the first rule matching the client's address, or NULL when none does.
 * An IPv4 client seen as ::ffff:a.b.c.d matches IPv4 rules only */
const struct rule *rules_match(const struct ruleset *rs,
    const struct sockaddr *sa);
/* the first uid: or gid: rule matching a local client, or NULL; IP rules
 * never match one */
const struct rule *rules_match_cred(const struct ruleset *rs,
    const struct peer_cred *c);

/* ---- per-source limits: limits.c ---- */

/* a client's address as 16 bytes, IPv4 as mapped IPv6, for comparing */
void source_key(const struct sockaddr *sa, unsigned char *key);

/* -R: a token bucket of rate tokens a second, burst rate, per source, in
 * a table of fixed size.  0, or -1 out of memory */
int rate_init(long rate);
/* take a token for the source key at now_ms (a monotonic clock): 1 when
 * it had one, 0 when it is over the rate; then *say is 1 when this
 * denial is the source's first in a second, to be logged */
int rate_take(const unsigned char *key, long long now_ms, int *say);

/* ---- connections waiting for a PROXY header (-p): proxied.c ---- */

/* a trusted relay's header must be whole within this */
#define PROXY_WAIT_MS 5000

int waiting_init(long max);
/* at the bound: accept no more until one is done */
int waiting_full(void);
void waiting_add(int fd, const struct sockaddr_storage *proxy, long long now);
/* the nearest deadline, or -1 when none waits */
long long waiting_due(void);
/* a header read whole waits for a child: no poll event will come for it */
int waiting_whole(void);
/* their descriptors into pfd (room for max): how many */
int waiting_fds(struct pollfd *pfd);
/* done() returns 0 when it took the connection, -1 to keep it waiting (a
 * complete header is kept whole and handed over again) */
void waiting_run(const struct pollfd *pfd, int n, long long now,
    int (*done)(int fd, const struct proxy_info *pi,
    const struct sockaddr_storage *proxy, const char *why));
void waiting_close_all(void);

/* ---- making children: spawner.c ---- */

enum slot_state { SLOT_FREE, SLOT_RUNNING, SLOT_FAILED };

/* one client's child, from the moment it is admitted until it is reaped */
struct slot {
	enum slot_state state;
	pid_t pid;		/* the child, once made */
	int fd;			/* the connection, until the child has it */
	int retry;		/* its spawn failed for want of resources */
	long live;		/* its index in the launcher's list of slots in use */
	unsigned char key[16];	/* the source, for -C */
	struct peer_cred cred;	/* -U: the client's */
	char **env;		/* its own environment, one allocation */
	size_t env_size;	/* in bytes */
	char ip[ADDR_IPLEN];	/* the client, for the log (-U: its cred_text) */
	unsigned port;
	/* the spawner's, untouched from spawn() until the child is reaped */
	char *stack_top;
	int child_fd;
	char **child_env;
	volatile int exec_err;
};

/* children of program with args (a path), for the n slots; reset: the
 * signals a child must get back at their defaults.  0, or an errno value */
int spawner_init(struct slot *slot, long n, const char *program,
    char *const *args, const sigset_t *reset);
/* make s's child, s->fd on its fds 0 and 1, s->env its environment: 0
 * (s->pid runs, s->fd is closed), or why not as an errno value */
int spawn(struct slot *s);
/* s's child was reaped with status: the errno value of its failed exec,
 * or 0 */
int spawn_exec_failed(const struct slot *s, int status);

#endif

/* SPDX-License-Identifier: ISC */
/* Access rules (-x, and -p's relays): a rules file parsed once into
 * sorted tables, and the first rule that matches a client (rules.c). */
#ifndef RULES_H
#define RULES_H

#include <stddef.h>
#include <sys/socket.h>

#include "cred.h"

/* room for a parse's "NAME:LINE: what is wrong" */
#define RULES_ERRLEN 512

/* what a rule's address is: a network, a local client's uid or gid, or
 * the CN of a verified client certificate (rules_cn.h) */
enum { RULE_IP, RULE_UID, RULE_GID, RULE_CN };

/* one line of a rules file, as parsed */
struct rule {
	unsigned line;		/* its line number in the file, from 1 */
	unsigned char cred;	/* RULE_IP, or RULE_UID / RULE_GID (-U), RULE_CN */
	unsigned char v6;	/* 0: an IPv4 rule, 1: an IPv6 rule */
	unsigned char plen;	/* prefix length, 0 to 32 or 128 */
	unsigned char allow;
	unsigned char addr[16];	/* network address (IPv4 in the first 4);
				 * a uid or gid in the first 4, big-endian */
	char *cn;		/* RULE_CN: the name, decoded, in text */
	size_t cnlen;
	long persource, rate;	/* its -CN and -RN words (allow rules
				 * only), or -1: the command line's */
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
	unsigned *cns;		/* the cn: rules, sorted by name (rules_cn.c) */
	size_t ncn;
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

#endif

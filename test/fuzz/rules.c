/* SPDX-License-Identifier: ISC */
/* Fuzz the launcher's access rules (launcher/rules.c): any bytes as a
 * rules file are either refused with "NAME:LINE: ..." for a line that is
 * there, or parsed into rules that
 *  - match every address exactly as a plain walk through the rules in file
 *    order does (the first rule whose network holds the address; IPv4
 *    clients seen as ::ffff:a.b.c.d match IPv4 rules only; a local
 *    client's uid and gid match the first uid: or gid: rule with either;
 *    a CN the first cn: rule with its name, bytes for bytes),
 *  - carry limits (-CN, -RN) only on allow rules, in range,
 *  - are printed back as a file that parses into the same rules.
 * Input: the rules file. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "../../launcher/rules.h"
#include "../../launcher/rules_cn.h"

/* ---- the reference: the rules' meaning, one rule after another ---- */

static int
ref_bit(const unsigned char *a, unsigned i)
{
	return a[i / 8] >> (7 - i % 8) & 1;
}

static int
ref_holds(const struct rule *r, int v6, const unsigned char *addr)
{
	unsigned i;

	if (r->cred != RULE_IP || r->v6 != v6)
		return 0;
	for (i = 0; i < r->plen; i++)
		if (ref_bit(r->addr, i) != ref_bit(addr, i))
			return 0;
	return 1;
}

static const struct rule *
ref_match(const struct ruleset *rs, int v6, const unsigned char *addr)
{
	size_t i;

	for (i = 0; i < rs->nrule; i++)
		if (ref_holds(&rs->rule[i], v6, addr))
			return &rs->rule[i];
	return NULL;
}

/* addr (IPv4 in its first 4 bytes) as the launcher gets it from accept:
 * IPv4, or IPv4 on a dual-stack socket, or IPv6 */
static void
probe(const struct ruleset *rs, int v6, const unsigned char *addr)
{
	const struct rule *want = ref_match(rs, v6, addr);
	struct sockaddr_in s4;
	struct sockaddr_in6 s6;

	memset(&s6, 0, sizeof s6);
	s6.sin6_family = AF_INET6;
	if (v6) {
		memcpy(&s6.sin6_addr, addr, 16);
		/* the kernel never shows an IPv6 client as v4-mapped */
		if (IN6_IS_ADDR_V4MAPPED(&s6.sin6_addr))
			return;
	} else {
		memset(&s4, 0, sizeof s4);
		s4.sin_family = AF_INET;
		memcpy(&s4.sin_addr, addr, 4);
		CHECK(rules_match(rs, (struct sockaddr *)&s4) == want,
		    "IPv4 %u.%u.%u.%u: rule %u, the reference says %u",
		    addr[0], addr[1], addr[2], addr[3],
		    rules_match(rs, (struct sockaddr *)&s4) ?
		    rules_match(rs, (struct sockaddr *)&s4)->line : 0,
		    want ? want->line : 0);
		s6.sin6_addr.s6_addr[10] = 0xff;
		s6.sin6_addr.s6_addr[11] = 0xff;
		memcpy(s6.sin6_addr.s6_addr + 12, addr, 4);
	}
	CHECK(rules_match(rs, (struct sockaddr *)&s6) == want,
	    "%s client: rule %u, the reference says %u", v6 ? "IPv6" :
	    "v4-mapped", rules_match(rs, (struct sockaddr *)&s6) ?
	    rules_match(rs, (struct sockaddr *)&s6)->line : 0,
	    want ? want->line : 0);
}

/* a uid: or gid: rule's id, and its neighbours, as a local client's uid
 * and gid: the first uid: or gid: rule with either decides */
static void
probe_cred(const struct ruleset *rs, const struct rule *r)
{
	unsigned long id = (unsigned long)r->addr[0] << 24 |
	    (unsigned long)r->addr[1] << 16 | (unsigned long)r->addr[2] << 8 |
	    r->addr[3];
	int d;

	for (d = -1; d <= 1; d++) {
		struct peer_cred c = { (id + (unsigned long)d) & 0xffffffffUL,
		    (id + 1) & 0xffffffffUL, 1 };
		const struct rule *want = NULL;
		size_t i;

		if (r->cred == RULE_GID) {
			c.gid = c.uid;
			c.uid = (id + 1) & 0xffffffffUL;
		}
		for (i = 0; i < rs->nrule && want == NULL; i++) {
			const struct rule *x = &rs->rule[i];
			unsigned long xid = (unsigned long)x->addr[0] << 24 |
			    (unsigned long)x->addr[1] << 16 |
			    (unsigned long)x->addr[2] << 8 | x->addr[3];

			if ((x->cred == RULE_UID && xid == c.uid) ||
			    (x->cred == RULE_GID && xid == c.gid))
				want = x;
		}
		CHECK(rules_match_cred(rs, &c) == want,
		    "uid %lu gid %lu: rule %u, the reference says %u", c.uid,
		    c.gid, rules_match_cred(rs, &c) ?
		    rules_match_cred(rs, &c)->line : 0, want ? want->line : 0);
	}
}

/* a cn: rule's name, and the same a byte shorter and longer, as a
 * verified CN: the first cn: rule of that name decides */
static void
probe_cn(const struct ruleset *rs, const struct rule *r)
{
	unsigned char name[300];
	size_t k, d;

	memcpy(name, r->cn, r->cnlen);
	name[r->cnlen] = 'x';
	for (d = 0; d < 3; d++) {
		size_t n = r->cnlen + d - (d == 2 ? 2 : 0);
		const struct rule *want = NULL;

		if (d == 2 && r->cnlen == 0)
			continue;
		for (k = 0; k < rs->nrule && !want; k++)
			if (rs->rule[k].cred == RULE_CN &&
			    rs->rule[k].cnlen == n &&
			    memcmp(rs->rule[k].cn, name, n) == 0)
				want = &rs->rule[k];
		CHECK(rules_match_cn(rs, name, n) == want, "a CN of %zu bytes "
		    "matches line %u, not %u", n, rules_match_cn(rs, name, n) ?
		    rules_match_cn(rs, name, n)->line : 0, want ? want->line : 0);
	}
}

/* each rule's network, its edges and its neighbours, and some addresses
 * taken from the input */
static void
probe_all(const struct ruleset *rs, const uint8_t *data, size_t size)
{
	unsigned char a[16];
	size_t i, n = rs->nrule < 200 ? rs->nrule : 200;
	int v6;

	for (i = 0; i < n; i++) {
		const struct rule *r = &rs->rule[i];
		unsigned max = r->v6 ? 128 : 32, k;

		if (r->cred == RULE_CN) {
			probe_cn(rs, r);
			continue;
		}
		if (r->cred != RULE_IP) {
			probe_cred(rs, r);
			continue;
		}
		memcpy(a, r->addr, 16);
		probe(rs, r->v6, a);
		/* the last address of the network */
		for (k = r->plen; k < max; k++)
			a[k / 8] |= (unsigned char)(0x80 >> (k % 8));
		probe(rs, r->v6, a);
		/* just outside it, on either side */
		if (r->plen > 0) {
			memcpy(a, r->addr, 16);
			a[(r->plen - 1) / 8] ^= (unsigned char)(0x80 >>
			    ((r->plen - 1) % 8));
			probe(rs, r->v6, a);
		}
	}
	for (i = 0; i + 16 <= size && i < 16 * 32; i += 16) {
		memcpy(a, data + i, 16);
		for (v6 = 0; v6 < 2; v6++) {
			if (!v6)
				memset(a + 4, 0, 12);
			probe(rs, v6, a);
		}
	}
	memset(a, 0, sizeof a);
	probe(rs, 0, a);
	probe(rs, 1, a);
}

/* ---- the round trip ---- */

/* the rules as a file, one a line */
static char *
print_rules(const struct ruleset *rs, size_t *len)
{
	size_t cap = 64, n = 0, i, j;
	char *out = malloc(cap);

	CHECK(out != NULL, "out of memory");
	for (i = 0; i < rs->nrule; i++) {
		const struct rule *r = &rs->rule[i];
		char ip[INET6_ADDRSTRLEN];
		size_t need = 96 + 4 * r->cnlen;	/* address, prefix, verb,
						 * limits, the CN escaped */

		for (j = 0; j < r->nenv; j++)
			need += strlen(r->env[j]) + 1;
		while (cap < n + need) {
			cap *= 2;
			out = realloc(out, cap);
			CHECK(out != NULL, "out of memory");
		}
		if (r->cred == RULE_CN) {
			n += (size_t)sprintf(out + n, "cn:");
			for (j = 0; j < r->cnlen; j++) {
				unsigned char c = (unsigned char)r->cn[j];

				n += (size_t)sprintf(out + n, c > 0x20 &&
				    c < 0x7f && c != '\\' && c != '#' ? "%c" :
				    "\\x%02x", c);
			}
			n += (size_t)sprintf(out + n, " %s",
			    r->allow ? "allow" : "deny");
		} else if (r->cred != RULE_IP)
			n += (size_t)sprintf(out + n, "%s:%lu %s",
			    r->cred == RULE_UID ? "uid" : "gid",
			    (unsigned long)r->addr[0] << 24 |
			    (unsigned long)r->addr[1] << 16 |
			    (unsigned long)r->addr[2] << 8 | r->addr[3],
			    r->allow ? "allow" : "deny");
		else {
			inet_ntop(r->v6 ? AF_INET6 : AF_INET, r->addr, ip,
			    sizeof ip);
			n += (size_t)sprintf(out + n, "%s/%u %s", ip, r->plen,
			    r->allow ? "allow" : "deny");
		}
		/* limits first or last, as the line number says: anywhere
		 * among the variables reads the same */
		if (r->line % 2 && r->persource >= 0)
			n += (size_t)sprintf(out + n, " -C%ld", r->persource);
		for (j = 0; j < r->nenv; j++)
			n += (size_t)sprintf(out + n, " %s", r->env[j]);
		if (!(r->line % 2) && r->persource >= 0)
			n += (size_t)sprintf(out + n, " -C%ld", r->persource);
		if (r->rate >= 0)
			n += (size_t)sprintf(out + n, " -R%ld", r->rate);
		out[n++] = '\n';
	}
	*len = n;
	return out;
}

static void
same_rules(const struct ruleset *a, const struct ruleset *b)
{
	size_t i, j;

	CHECK(a->nrule == b->nrule, "%zu rules printed back as %zu",
	    a->nrule, b->nrule);
	for (i = 0; i < a->nrule; i++) {
		const struct rule *x = &a->rule[i], *y = &b->rule[i];

		CHECK(y->line == i + 1, "printed rule %zu on line %u", i + 1,
		    y->line);
		CHECK(x->cred == y->cred && x->v6 == y->v6 &&
		    x->plen == y->plen &&
		    x->allow == y->allow && memcmp(x->addr, y->addr, 16) == 0 &&
		    x->nenv == y->nenv && x->cnlen == y->cnlen &&
		    (x->cnlen == 0 || memcmp(x->cn, y->cn, x->cnlen) == 0) &&
		    x->persource == y->persource && x->rate == y->rate,
		    "line %u printed back differs", x->line);
		for (j = 0; j < x->nenv; j++)
			CHECK(strcmp(x->env[j], y->env[j]) == 0,
			    "line %u: variable %s printed back as %s", x->line,
			    x->env[j], y->env[j]);
	}
}

/* ---- what any parse must give ---- */

static void
check_rules(const struct ruleset *rs, size_t lines)
{
	size_t i, j;

	for (i = 0; i < rs->nrule; i++) {
		const struct rule *r = &rs->rule[i];

		CHECK(r->line >= 1 && r->line <= lines, "line %u of %zu",
		    r->line, lines);
		CHECK(i == 0 || r->line > r[-1].line, "rules out of order");
		CHECK(r->plen <= (r->v6 ? 128 : 32), "prefix /%u", r->plen);
		CHECK(r->allow || r->nenv == 0, "deny with variables");
		CHECK(r->allow || (r->persource < 0 && r->rate < 0),
		    "deny with limits");
		CHECK(r->persource >= -1 && r->persource <= 65536 &&
		    r->rate >= -1 && r->rate <= 1000000, "limits -C%ld -R%ld",
		    r->persource, r->rate);
		for (j = 0; j < r->nenv; j++) {
			const char *eq = strchr(r->env[j], '=');

			CHECK(eq != NULL && eq > r->env[j] &&
			    !(r->env[j][0] >= '0' && r->env[j][0] <= '9') &&
			    strcspn(r->env[j], " \t\r\n#") ==
			    strlen(r->env[j]), "bad variable '%s'", r->env[j]);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[RULES_ERRLEN], *text;
	struct ruleset *rs, *again;
	size_t lines = 1, i, len;
	unsigned at;

	for (i = 0; i < size; i++)
		lines += data[i] == '\n';
	err[0] = '\0';
	rs = rules_parse((const char *)data, size, "fuzz", err, sizeof err);
	if (rs == NULL) {
		CHECK(sscanf(err, "fuzz:%u: ", &at) == 1 && at >= 1 &&
		    at <= lines && strlen(err) > strlen("fuzz:1: "),
		    "refused with '%s' (%zu lines)", err, lines);
		return 0;
	}
	check_rules(rs, lines);
	probe_all(rs, data, size);
	text = print_rules(rs, &len);
	again = rules_parse(text, len, "printed", err, sizeof err);
	CHECK(again != NULL, "printed back, refused: %s", err);
	same_rules(rs, again);
	rules_free(again);
	free(text);
	rules_free(rs);
	return 0;
}

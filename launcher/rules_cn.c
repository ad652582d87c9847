/* SPDX-License-Identifier: ISC */
/* cn:NAME rules: the name decoded from the escaped form records show, and
 * found by binary search among the file's cn: rules.  Apart from rules.c
 * because a name is bytes of any length, not an address of 16. */
#include <stdlib.h>
#include <string.h>

#include "rules_cn.h"
#include "util.h"

const char *
cn_parse(char *w, struct rule *r)
{
	char *s = w + 3, *d = w + 3;

	if (*s == '\0')
		return "cn: names no one (cn:NAME)";
	while (*s) {
		int hi, lo;

		if (*s != '\\') {
			*d++ = *s++;
			continue;
		}
		if (s[1] == '\\') {
			*d++ = '\\';
			s += 2;
			continue;
		}
		if (s[1] != 'x' || (hi = hex_digit(s[2])) < 0 ||
		    (lo = hex_digit(s[3])) < 0)
			return "bad escape in cn: (\\\\ or \\xNN, as records "
			    "show it)";
		if (hi == 0 && lo == 0)
			return "a NUL byte in cn: (no CN holds one)";
		*d++ = (char)(hi << 4 | lo);
		s += 4;
	}
	if (d - (w + 3) > 255)
		return "cn: longer than 255 bytes (no CN msgd accepts is)";
	memset(r->addr, 0, sizeof r->addr);
	r->cred = RULE_CN;
	r->cn = w + 3;
	r->cnlen = (size_t)(d - (w + 3));
	return NULL;
}

static int
cn_cmp(const unsigned char *a, size_t an, const unsigned char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	return c ? c : an < bn ? -1 : an > bn;
}

static const struct ruleset *sorting;

/* by name, then by line: the first line of a name comes first */
static int
key_cmp(const void *a, const void *b)
{
	const struct rule *x = &sorting->rule[*(const unsigned *)a];
	const struct rule *y = &sorting->rule[*(const unsigned *)b];
	int c = cn_cmp((const unsigned char *)x->cn, x->cnlen,
	    (const unsigned char *)y->cn, y->cnlen);

	return c ? c : x->line < y->line ? -1 : x->line > y->line;
}

int
cn_table(struct ruleset *rs)
{
	size_t i, n = 0;

	for (i = 0; i < rs->nrule; i++)
		n += rs->rule[i].cred == RULE_CN;
	if (n == 0)
		return 0;
	if ((rs->cns = malloc(n * sizeof *rs->cns)) == NULL)
		return -1;
	for (i = 0; i < rs->nrule; i++)
		if (rs->rule[i].cred == RULE_CN)
			rs->cns[rs->ncn++] = (unsigned)i;
	sorting = rs;
	qsort(rs->cns, rs->ncn, sizeof *rs->cns, key_cmp);
	return 0;
}

const struct rule *
rules_match_cn(const struct ruleset *rs, const unsigned char *cn, size_t n)
{
	size_t lo = 0, hi = rs->ncn;

	/* the leftmost of the name: its first line */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct rule *r = &rs->rule[rs->cns[mid]];

		if (cn_cmp((const unsigned char *)r->cn, r->cnlen, cn, n) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < rs->ncn) {
		const struct rule *r = &rs->rule[rs->cns[lo]];

		if (cn_cmp((const unsigned char *)r->cn, r->cnlen, cn, n) == 0)
			return r;
	}
	return NULL;
}

/* SPDX-License-Identifier: ISC */
/* cn:NAME rules (rules_cn.c): a client known by the CN of the certificate
 * its TLS relay verified, as rules.c's other kinds know it by address. */
#ifndef RULES_CN_H
#define RULES_CN_H

#include <stddef.h>

#include "rules.h"

/* the word w ("cn:NAME", NAME escaped as records show it: \\ and \xNN)
 * into r, decoded in place: NULL, or what is wrong with it */
const char *cn_parse(char *w, struct rule *r);
/* rs's cn: rules sorted for lookup: 0, or -1 out of memory */
int cn_table(struct ruleset *rs);
/* the first cn: rule for a verified CN of n bytes, or NULL */
const struct rule *rules_match_cn(const struct ruleset *rs,
    const unsigned char *cn, size_t n);

#endif

/* SPDX-License-Identifier: ISC */
/* Access rules (-x): reading a rules file, checking every line of it, and
 * finding the first rule that matches a client (by its address, or with -U
 * by its uid or gid).  A file is parsed into
 * binary form once; a match is a binary search per prefix length in use,
 * not a walk through the rules, so 10,000 rules cost what 10 do.  Reloading
 * is the caller's: a new set is parsed whole before the old one is freed. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rules.h"
#include "rules_cn.h"

/* a rules file larger than this is a mistake (a log, a disk image) */
#define RULES_MAX_BYTES (16L << 20)

/* the state of one parse: where the messages point */
struct parse {
	const char *name;
	unsigned line;
	char *err;
	size_t errlen;
};

static void __attribute__((format(printf, 2, 3)))
bad(struct parse *p, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(p->err, p->errlen, "%s:%u: ", p->name, p->line);

	if (n < 0 || (size_t)n >= p->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

/* the first plen bits of src, the rest zero */
static void
mask(unsigned char *dst, const unsigned char *src, unsigned plen)
{
	int i;

	for (i = 0; i < 16; i++) {
		unsigned bits = plen >= 8 ? 8 : plen;

		dst[i] = src[i] & (unsigned char)(0xff00 >> bits);
		plen -= bits;
	}
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* the next word of the line at *s, NUL-terminated in place, or NULL */
static char *
word(char **s)
{
	char *w = *s;

	while (is_space(*w))
		w++;
	if (*w == '\0')
		return NULL;
	*s = w;
	while (**s != '\0' && !is_space(**s))
		(*s)++;
	if (**s != '\0')
		*(*s)++ = '\0';
	return w;
}

static const unsigned char v4mapped[12] = { [10] = 0xff, [11] = 0xff };

/* uid:N or gid:N (w starts with either) into r: 0, or -1 said */
static int
parse_id(struct parse *p, const char *w, struct rule *r)
{
	unsigned long long n = 0;
	size_t i;

	for (i = 4; w[i] >= '0' && w[i] <= '9' && n <= 0xffffffffULL; i++)
		n = n * 10 + (unsigned)(w[i] - '0');
	if (i == 4 || w[i] != '\0' || n > 0xffffffffULL) {
		bad(p, "bad %.3s '%.32s' (a number from 0 to 4294967295)", w,
		    w + 4);
		return -1;
	}
	memset(r->addr, 0, sizeof r->addr);
	r->cred = w[0] == 'u' ? RULE_UID : RULE_GID;
	r->addr[0] = (unsigned char)(n >> 24);
	r->addr[1] = (unsigned char)(n >> 16);
	r->addr[2] = (unsigned char)(n >> 8);
	r->addr[3] = (unsigned char)n;
	r->plen = 32;
	return 0;
}

/* ADDRESS[/PREFIX] into r: 0, or -1 said */
static int
parse_address(struct parse *p, const char *w, struct rule *r)
{
	char ip[64], shown[INET6_ADDRSTRLEN];
	const char *slash = strchr(w, '/');
	size_t n = slash ? (size_t)(slash - w) : strlen(w);
	unsigned char net[16];
	unsigned max, plen = 0;

	if (strncmp(w, "uid:", 4) == 0 || strncmp(w, "gid:", 4) == 0)
		return parse_id(p, w, r);
	if (strncmp(w, "cn:", 3) == 0) {
		const char *why = cn_parse((char *)w, r);

		if (why)
			bad(p, "%s", why);
		return why ? -1 : 0;
	}
	if (n >= sizeof ip) {
		bad(p, "bad address '%.*s...'", 48, w);
		return -1;
	}
	memcpy(ip, w, n);
	ip[n] = '\0';
	memset(r->addr, 0, sizeof r->addr);
	r->v6 = strchr(ip, ':') != NULL;
	if (inet_pton(r->v6 ? AF_INET6 : AF_INET, ip, r->addr) != 1) {
		bad(p, "bad address '%s'", ip);
		return -1;
	}
	max = r->v6 ? 128 : 32;
	if (slash == NULL) {
		plen = max;
	} else {
		size_t i;

		for (i = 1; slash[i] >= '0' && slash[i] <= '9' && i <= 3; i++)
			plen = plen * 10 + (unsigned)(slash[i] - '0');
		if (i == 1 || slash[i] != '\0' || plen > max) {
			bad(p, "bad prefix '%.8s' (a number from 0 to %u for "
			    "IPv%c)", slash, max, r->v6 ? '6' : '4');
			return -1;
		}
	}
	r->plen = (unsigned char)plen;
	mask(net, r->addr, plen);
	if (memcmp(net, r->addr, sizeof net) != 0) {
		inet_ntop(r->v6 ? AF_INET6 : AF_INET, net, shown, sizeof shown);
		bad(p, "%s has bits set after the prefix: the network is %s/%u",
		    w, shown, plen);
		return -1;
	}
	/* a dual-stack socket shows IPv4 clients as IPv4: such a rule
	 * could never match */
	if (r->v6 && plen >= 96 && memcmp(r->addr, v4mapped, 12) == 0) {
		inet_ntop(AF_INET, r->addr + 12, shown, sizeof shown);
		bad(p, "%s is an IPv4 address: write it as %s/%u", w, shown,
		    plen - 96);
		return -1;
	}
	return 0;
}

static int
name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (i = 0; i < n; i++)
		if (!(s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
			return 0;
	return 1;
}

/* grow *a (of *cap elements of size sz) to hold n: 0, or -1 */
static int
grow(void *a, size_t *cap, size_t n, size_t sz)
{
	void *p;
	size_t c = *cap ? *cap : 16;

	if (n <= *cap)
		return 0;
	while (c < n)
		c *= 2;
	p = realloc(*(void **)a, c * sz);
	if (p == NULL)
		return -1;
	*(void **)a = p;
	*cap = c;
	return 0;
}

struct build {
	size_t rcap, ecap, nenv;
	size_t *env_at;		/* each rule's first variable in envs */
	size_t acap;
};

/* a limit word after allow, -CN or -RN as the options (never a variable:
 * a name does not start with -): 0, or -1 said */
static int
parse_limit(struct parse *p, struct rule *r, const char *w)
{
	long *v = w[1] == 'C' ? &r->persource : w[1] == 'R' ? &r->rate : NULL;
	long max = w[1] == 'C' ? 65536 : 1000000, n = 0;
	size_t i;

	if (v == NULL) {
		bad(p, "unknown limit '%.64s' (-CN or -RN)", w);
		return -1;
	}
	for (i = 2; w[i] >= '0' && w[i] <= '9' && n <= max; i++)
		n = n * 10 + (w[i] - '0');
	if (i == 2 || w[i] != '\0' || n > max) {
		bad(p, "bad limit '%.64s' (-%c and a number from 0 to %ld, "
		    "no space)", w, w[1], max);
		return -1;
	}
	if (*v >= 0) {
		bad(p, "-%c set twice", w[1]);
		return -1;
	}
	*v = n;
	return 0;
}

/* the NAME=VALUE and limit words after allow: 0, -1 said, or -2 out of
 * memory */
static int
parse_vars(struct parse *p, struct ruleset *rs, struct build *b,
    struct rule *r, char *s)
{
	char *w;
	size_t i;

	while ((w = word(&s)) != NULL) {
		char *eq = strchr(w, '=');

		if (!r->allow) {
			bad(p, "deny takes no variables, but has '%.64s'", w);
			return -1;
		}
		if (w[0] == '-') {
			if (parse_limit(p, r, w) < 0)
				return -1;
			continue;
		}
		if (eq == NULL) {
			bad(p, "'%.64s' is not NAME=VALUE", w);
			return -1;
		}
		if (!name_ok(w, (size_t)(eq - w))) {
			bad(p, "bad variable name '%.*s' (letters, digits and "
			    "_, not starting with a digit)",
			    (int)(eq - w > 64 ? 64 : eq - w), w);
			return -1;
		}
		for (i = b->nenv - r->nenv; i < b->nenv; i++)
			if (strncmp(rs->envs[i], w, (size_t)(eq - w) + 1) == 0) {
				bad(p, "variable %.*s set twice",
				    (int)(eq - w > 64 ? 64 : eq - w), w);
				return -1;
			}
		if (grow(&rs->envs, &b->ecap, b->nenv + 1, sizeof *rs->envs))
			return -2;
		rs->envs[b->nenv++] = w;
		r->nenv++;
	}
	return 0;
}

/* one line, its comment cut off: 0 (a rule added, or none there), -1
 * said, -2 out of memory */
static int
parse_line(struct parse *p, struct ruleset *rs, struct build *b, char *s)
{
	struct rule *r;
	char *w, *verb;
	int err;

	if ((w = word(&s)) == NULL)
		return 0;
	if (grow(&rs->rule, &b->rcap, rs->nrule + 1, sizeof *rs->rule) ||
	    grow(&b->env_at, &b->acap, rs->nrule + 1, sizeof *b->env_at))
		return -2;
	r = &rs->rule[rs->nrule];
	memset(r, 0, sizeof *r);
	r->line = p->line;
	r->persource = r->rate = -1;
	if (parse_address(p, w, r) < 0)
		return -1;
	if ((verb = word(&s)) == NULL) {
		bad(p, "allow or deny missing after %.64s", w);
		return -1;
	}
	if (strcmp(verb, "allow") == 0)
		r->allow = 1;
	else if (strcmp(verb, "deny") != 0) {
		bad(p, "unknown verb '%.64s' (allow or deny)", verb);
		return -1;
	}
	b->env_at[rs->nrule] = b->nenv;
	if ((err = parse_vars(p, rs, b, r, s)) != 0)
		return err;
	rs->nrule++;
	return 0;
}

static int
key_cmp(const void *a, const void *b)
{
	const struct rule_key *x = a, *y = b;
	int c = memcmp(x->addr, y->addr, sizeof x->addr);

	return c ? c : x->rule < y->rule ? -1 : x->rule > y->rule;
}

/* a rule's family: its table in a ruleset */
static int
family(const struct rule *r)
{
	return r->cred == RULE_IP ? r->v6 : 1 + r->cred;
}

/* the lookup tables of one family: 0, or -1 out of memory */
static int
build_tables(struct ruleset *rs, int f)
{
	size_t count[129] = { 0 }, i, t = 0;
	unsigned plen;

	for (i = 0; i < rs->nrule; i++)
		if (family(&rs->rule[i]) == f)
			count[rs->rule[i].plen]++;
	for (plen = 0; plen <= 128; plen++)
		t += count[plen] > 0;
	if (t == 0)
		return 0;
	rs->table[f] = calloc(t, sizeof *rs->table[f]);
	if (rs->table[f] == NULL)
		return -1;
	for (plen = 0; plen <= 128; plen++) {
		struct rule_table *tb;
		size_t k = 0, j;

		if (count[plen] == 0)
			continue;
		tb = &rs->table[f][rs->ntable[f]++];
		tb->plen = plen;
		tb->key = malloc(count[plen] * sizeof *tb->key);
		if (tb->key == NULL)
			return -1;
		for (i = 0; i < rs->nrule; i++)
			if (family(&rs->rule[i]) == f &&
			    rs->rule[i].plen == plen) {
				memcpy(tb->key[k].addr, rs->rule[i].addr, 16);
				tb->key[k++].rule = (unsigned)i;
			}
		qsort(tb->key, k, sizeof *tb->key, key_cmp);
		/* the same network twice: only the first line can match */
		for (i = 0, j = 0; i < k; i++)
			if (j == 0 || memcmp(tb->key[j - 1].addr,
			    tb->key[i].addr, 16) != 0)
				tb->key[j++] = tb->key[i];
		tb->n = j;
	}
	return 0;
}

/* parse the NUL-terminated text of len bytes, which the rules then own */
static struct ruleset *
parse_text(char *text, size_t len, const char *name, char *err,
    size_t errlen)
{
	struct parse p = { name, 0, err, errlen };
	struct build b;
	struct ruleset *rs = calloc(1, sizeof *rs);
	char *s = text, *end = text + len;
	int r = 0;

	if (rs == NULL) {
		free(text);
		snprintf(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	memset(&b, 0, sizeof b);
	rs->text = text;
	while (s < end && r == 0) {
		char *nl = memchr(s, '\n', (size_t)(end - s));
		char *eol = nl ? nl : end, *hash;

		p.line++;
		*eol = '\0';
		if ((hash = memchr(s, '#', (size_t)(eol - s))) != NULL)
			*hash = '\0';
		if (strlen(s) != (size_t)((hash ? hash : eol) - s)) {
			bad(&p, "a NUL byte");
			r = -1;
		} else
			r = parse_line(&p, rs, &b, s);
		s = eol + 1;
	}
	if (r == 0) {
		size_t i;

		/* envs has stopped moving */
		for (i = 0; i < rs->nrule; i++)
			if (rs->rule[i].nenv)
				rs->rule[i].env = rs->envs + b.env_at[i];
	}
	free(b.env_at);
	if (r == 0) {
		int f;

		for (f = 0; f < 4 && r == 0; f++)
			if (build_tables(rs, f) < 0)
				r = -2;
		if (r == 0 && cn_table(rs) < 0)
			r = -2;
	}
	if (r != 0) {
		if (r == -2)
			snprintf(err, errlen, "%s: out of memory", name);
		rules_free(rs);
		return NULL;
	}
	return rs;
}

struct ruleset *
rules_parse(const char *data, size_t len, const char *name, char *err,
    size_t errlen)
{
	char *text = malloc(len + 1);

	if (text == NULL) {
		snprintf(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	memcpy(text, data, len);
	text[len] = '\0';
	return parse_text(text, len, name, err, errlen);
}

/* the whole file, NUL-terminated, in *out: its length, or -1 with errno
 * (EFBIG too big, EINVAL not a regular file) */
static long
read_file(const char *path, char **out)
{
	struct stat st;
	char *buf = NULL;
	size_t cap = 0, n = 0;
	ssize_t got;
	/* O_NONBLOCK: a FIFO there must not hang the launcher's loop */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC), e;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0) {
		e = errno;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		e = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
		goto fail;
	}
	do {
		if (n == cap && (n > (size_t)RULES_MAX_BYTES ||
		    grow(&buf, &cap, n + 65536, 1) < 0)) {
			e = n > (size_t)RULES_MAX_BYTES ? EFBIG : ENOMEM;
			goto fail;
		}
		got = read(fd, buf + n, cap - n);
		if (got < 0 && errno != EINTR) {
			e = errno;
			goto fail;
		}
		if (got > 0)
			n += (size_t)got;
	} while (got != 0);
	close(fd);
	if (n > (size_t)RULES_MAX_BYTES) {
		free(buf);
		errno = EFBIG;
		return -1;
	}
	if (n == cap && grow(&buf, &cap, n + 1, 1) < 0) {
		free(buf);
		errno = ENOMEM;
		return -1;
	}
	buf[n] = '\0';
	*out = buf;
	return (long)n;
fail:
	free(buf);
	close(fd);
	errno = e;
	return -1;
}

struct ruleset *
rules_load(const char *path, char *err, size_t errlen)
{
	char *text;
	long n = read_file(path, &text);

	if (n < 0) {
		snprintf(err, errlen, "%s: %s", path,
		    errno == EINVAL ? "not a regular file" :
		    errno == EFBIG ? "larger than 16 MiB" : strerror(errno));
		return NULL;
	}
	return parse_text(text, (size_t)n, path, err, errlen);
}

void
rules_free(struct ruleset *rs)
{
	int f;
	size_t i;

	if (rs == NULL)
		return;
	for (f = 0; f < 4; f++) {
		for (i = 0; i < rs->ntable[f]; i++)
			free(rs->table[f][i].key);
		free(rs->table[f]);
	}
	free(rs->rule);
	free(rs->cns);
	free(rs->envs);
	free(rs->text);
	free(rs);
}

/* the rule index of addr masked to tb's prefix, or -1 */
static long
lookup(const struct rule_table *tb, const unsigned char *addr)
{
	unsigned char net[16];
	size_t lo = 0, hi = tb->n;

	mask(net, addr, tb->plen);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(net, tb->key[mid].addr, 16);

		if (c == 0)
			return tb->key[mid].rule;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

const struct rule *
rules_match(const struct ruleset *rs, const struct sockaddr *sa)
{
	unsigned char addr[16] = { 0 };
	int v6;
	size_t i;
	long best = -1;

	if (sa->sa_family == AF_INET) {
		memcpy(addr, &((const struct sockaddr_in *)(const void *)sa)
		    ->sin_addr, 4);
		v6 = 0;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)
		    (const void *)sa)->sin6_addr;

		v6 = !IN6_IS_ADDR_V4MAPPED(a6);
		memcpy(addr, a6->s6_addr + (v6 ? 0 : 12), v6 ? 16 : 4);
	} else
		return NULL;
	/* the first line among the prefixes that match */
	for (i = 0; i < rs->ntable[v6]; i++) {
		long r = lookup(&rs->table[v6][i], addr);

		if (r >= 0 && (best < 0 || r < best))
			best = r;
	}
	return best < 0 ? NULL : &rs->rule[best];
}

/* the first line of family f's rules for the 4-byte id, or -1 */
static long
match_id(const struct ruleset *rs, int f, unsigned long id)
{
	unsigned char addr[16] = { (unsigned char)(id >> 24),
	    (unsigned char)(id >> 16), (unsigned char)(id >> 8),
	    (unsigned char)id };

	return rs->ntable[f] ? lookup(&rs->table[f][0], addr) : -1;
}

const struct rule *
rules_match_cred(const struct ruleset *rs, const struct peer_cred *c)
{
	long u = match_id(rs, 1 + RULE_UID, c->uid);
	long g = match_id(rs, 1 + RULE_GID, c->gid);
	long best = u < 0 || (g >= 0 && g < u) ? g : u;

	return best < 0 ? NULL : &rs->rule[best];
}

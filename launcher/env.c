/* SPDX-License-Identifier: ISC */
/* A child's environment: ours less UCSPI variables, then the TCP or IPC
 * ones of its client and its allow rule's, built in its slot's own buffer;
 * apart because its sizing must hold for every rule a reload may bring. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "util.h"
#include "env.h"
#include "rules.h"
#include "slots.h"
#include "sockets.h"
#include "tcpopts.h"

extern char **environ;

/* "NAMEIP=ip" and the like: the longest, PROXYREMOTEIP= and an IPv6
 * address, with room to spare */
#define UCSPI_VAR_LEN (ADDR_IPLEN + 20)
/* PROTO, three pairs (TCPLOCAL, TCPREMOTE, PROXYREMOTE), PROXYLOCAL and
 * MSGDTCPOPTS at most */
#define UCSPI_VARS 9
/* a relay's TLS word (tls_env): PROXYSSL, PROXYSSLVERIFIED, five texts of
 * PP2_TYPE_SSL, PROXYAUTHORITY and PROXYUNIQUEID (hex), the longest name
 * 16 bytes, each text at most PROXY_TEXT_MAX */
#define TLS_VARS 9
#define TLS_BYTES (TLS_VARS * 20 + 6 * PROXY_TEXT_MAX + \
	2 * PROXY_UNIQUE_ID_MAX)

/* the environment of every child: ours less UCSPI variables, then these */
static char **base_env;
static size_t base_env_n;

/* UCSPI's, every PROXY* one and MSGDTCPOPTS: a child believes those only
 * from us */
static int
is_ucspi(const char *e)
{
	static const char *const names[] = { "PROTO=", "TCPLOCALIP=",
	    "TCPLOCALPORT=", "TCPLOCALHOST=", "TCPREMOTEIP=", "TCPREMOTEPORT=",
	    "TCPREMOTEHOST=", "TCPREMOTEINFO=", "PROXY", TCPOPTS_VAR "=",
	    NULL };
	int i;

	for (i = 0; names[i]; i++)
		if (strncmp(e, names[i], strlen(names[i])) == 0)
			return 1;
	return 0;
}

/* a UNIX-domain listener: no TCP*, PROXY* or IPC* variable of ours
 * reaches a child, which must believe only the launcher's IPC ones */
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

void
env_init(int ipc)
{
	size_t n = 0, i;

	while (environ[n])
		n++;
	base_env = calloc(n + 1, sizeof *base_env);
	if (base_env == NULL)
		die(1, "out of memory");
	for (i = 0; i < n; i++)
		if (!is_ucspi(environ[i]) && !(ipc && is_ipc(environ[i])))
			base_env[base_env_n++] = environ[i];
}

/* "NAMEIP=ip" and "NAMEPORT=port" of sa into e[0] and e[1] */
static int
env_addr(char e[2][UCSPI_VAR_LEN], const char *name,
    const struct sockaddr *sa)
{
	char ip[ADDR_IPLEN];
	unsigned port;

	if (addr_ip_port(sa, ip, &port) < 0)
		return -1;
	snprintf(e[0], UCSPI_VAR_LEN, "%sIP=%s", name, ip);
	snprintf(e[1], UCSPI_VAR_LEN, "%sPORT=%u", name, port);
	return 0;
}

/* the most any child's environment takes under the rules in force (see
 * make_env): ours, the UCSPI variables and the largest rule's */
static size_t env_need;

void
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
	env_need = (base_env_n + UCSPI_VARS + TLS_VARS + vars + 1) *
	    sizeof(char *) + UCSPI_VARS * UCSPI_VAR_LEN + TLS_BYTES + bytes;
}

/* PROTO=TCP and the TCPLOCAL and TCPREMOTE pairs (the client as admit()
 * wrote it into the slot); PROXYREMOTE for a proxied client: how many */
static size_t
tcp_env(const char **add, char ucspi[3][2][UCSPI_VAR_LEN],
    const struct slot *s, int cfd, const struct sockaddr *local,
    const struct sockaddr *proxy)
{
	size_t nadd = 0;

	const struct listener *l = socket_at(s->ln);

	add[nadd++] = "PROTO=TCP";
	if (l->fixed) {
		add[nadd++] = l->local_env[0];
		add[nadd++] = l->local_env[1];
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
	/* the relay's own connection, no client's: a handler records none */
	if (proxy && s->check)
		add[nadd++] = "PROXYLOCAL=1";
	if (l->tcpopts)
		add[nadd++] = TCPOPTS_ENV;
	return nadd;
}

/* "NAME=" and the n bytes of v (hex: two hex digits a byte) at p, added
 * to add[]: where the next goes */
static char *
tls_var(const char **add, size_t *nadd, char *p, const char *name,
    const struct proxy_text *v, int hex)
{
	size_t n = strlen(name);

	if (v->p == NULL)
		return p;
	add[(*nadd)++] = p;
	memcpy(p, name, n);
	p += n;
	*p++ = '=';
	if (hex) {
		hex_encode(p, v->p, v->n);
		p += 2 * v->n;
	} else {
		memcpy(p, v->p, v->n);
		p += v->n;
	}
	*p++ = '\0';
	return p;
}

/* what a trusted relay's TLVs said of the client's TLS (texts hold no NUL:
 * proxy_tlvs refused those), in buf of TLS_BYTES: how many */
static size_t
tls_env(const char **add, char *buf, const struct proxy_tls *t)
{
	static const struct proxy_text yes = { (const unsigned char *)"1", 1 },
	    no = { (const unsigned char *)"0", 1 };
	size_t n = 0;
	char *p = buf;

	if (t->ssl) {
		p = tls_var(add, &n, p, "PROXYSSL", &yes, 0);
		p = tls_var(add, &n, p, "PROXYSSLVERIFIED",
		    t->verified ? &yes : &no, 0);
		p = tls_var(add, &n, p, "PROXYSSLVERSION", &t->version, 0);
		p = tls_var(add, &n, p, "PROXYSSLCN", &t->cn, 0);
		p = tls_var(add, &n, p, "PROXYSSLCIPHER", &t->cipher, 0);
		p = tls_var(add, &n, p, "PROXYSSLSIGALG", &t->sig_alg, 0);
		p = tls_var(add, &n, p, "PROXYSSLKEYALG", &t->key_alg, 0);
	}
	p = tls_var(add, &n, p, "PROXYAUTHORITY", &t->authority, 0);
	tls_var(add, &n, p, "PROXYUNIQUEID", &t->unique_id, 1);
	return n;
}

/* a UNIX-domain listener's client: the UCSPI IPC set, as s6-ipcserver makes it (IPCLOCALPATH is at
 * most 121 bytes, the rest 26: within what env_need counts for TCP) */
static size_t
ipc_env(const char **add, char ucspi[3][2][UCSPI_VAR_LEN],
    const struct slot *s)
{
	snprintf(ucspi[0][0], sizeof ucspi[0][0], "IPCREMOTEEUID=%lu",
	    s->cred.uid);
	snprintf(ucspi[0][1], sizeof ucspi[0][1], "IPCREMOTEEGID=%lu",
	    s->cred.gid);
	snprintf(ucspi[1][0], sizeof ucspi[1][0], "IPCREMOTEPID=%ld",
	    s->cred.pid);
	add[0] = "PROTO=IPC";
	add[1] = socket_at(s->ln)->local_path;
	add[2] = ucspi[0][0];
	add[3] = ucspi[0][1];
	add[4] = ucspi[1][0];
	return 5;
}

/*
 * A child's environment, in its slot's own buffer (made big enough for any
 * rule by env_reserve): ours less UCSPI variables; the UCSPI ones of
 * tcp_env() or, from a UNIX-domain listener, ipc_env(); last the variables of its allow
 * rule, which replace any of the same name.  The rule's are copied: a
 * reload may free it while the child is still being made.  local NULL: the
 * socket's own address.  0, or -1 when it does not fit.
 */
int
make_env(struct slot *s, int cfd, const struct sockaddr *local,
    const struct sockaddr *proxy, const struct proxy_tls *tls,
    const struct rule *r)
{
	char ucspi[3][2][UCSPI_VAR_LEN], tlsbuf[TLS_BYTES];
	const char *add[UCSPI_VARS + TLS_VARS];
	size_t nadd, nvars = r ? r->nenv : 0, bytes = 0, i, k = 0;
	char **env, *p;

	nadd = socket_at(s->ln)->ipc ? ipc_env(add, ucspi, s) :
	    tcp_env(add, ucspi, s, cfd, local, proxy);
	if (!socket_at(s->ln)->ipc && proxy && tls)
		nadd += tls_env(add + nadd, tlsbuf, tls);
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

/* each slot keeps its buffer for its next child */
int
env_reserve(struct slot *s)
{
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

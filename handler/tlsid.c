/* SPDX-License-Identifier: ISC */
/* The client's TLS identity: from a PROXY header's TLVs, from the
 * launcher's PROXYSSL* variables, or from stunnel's SSL_CLIENT_DN, each
 * believed only from the source that named the peer; written as record
 * words with the record escaper.  Apart because it runs once, at start. */
#include <arpa/inet.h>
#include <string.h>

#include "env.h"
#include "buf.h"
#include "escape.h"
#include "util.h"
#include "tlsid.h"

void
tlsid_none(struct tlsid *id)
{
	id->who = "";
	id->connect = "connect";
}

/* "NAME=" and v escaped as a word, at d: the end */
static char *
word(char *d, const char *name, const struct proxy_text *v)
{
	size_t k = strlen(name);

	memcpy(d, name, k);
	d[k] = '=';
	return escape_word(d + k + 1, v->p, v->n);
}

/* a field sent, within its bound */
static int
sent(const struct proxy_text *v, size_t max)
{
	return v && v->p && v->n <= max;
}

/* the identity from the parts found: a CN (NULL: none), whether verified,
 * and the connect record's words (NULL: not sent) */
static void
make(struct tlsid *id, const struct proxy_text *cn, int verified,
    const struct proxy_text *version, const struct proxy_text *sni,
    const struct proxy_text *uid)
{
	char *d;

	tlsid_none(id);
	if (sent(cn, PROXY_TEXT_MAX) && cn->n > 0) {
		strcpy(word(id->whobuf, "cn", cn), verified ? "(verified)" :
		    "(unverified)");
		id->who = id->whobuf;
	}
	d = put_lit(id->connbuf, "connect");
	id->connect = id->connbuf;
	if (sent(version, PROXY_TEXT_MAX))
		d = word(put_lit(d, " "), "tls", version);
	if (sent(sni, PROXY_TEXT_MAX))
		d = word(put_lit(d, " "), "sni", sni);
	if (sent(uid, PROXY_UNIQUE_ID_MAX))
		d = word(put_lit(d, " "), "unique-id", uid);
	*d = '\0';
}

void
tlsid_proxy(struct tlsid *id, const struct proxy_tls *t)
{
	make(id, t->ssl && t->cert ? &t->cn : NULL, t->verified,
	    t->ssl ? &t->version : NULL, &t->authority, &t->unique_id);
}

/* a variable as a text, or p NULL when it is not set */
static struct proxy_text
var(const char *name)
{
	const char *v = env_get(name);
	struct proxy_text t = { (const unsigned char *)v, v ? strlen(v) : 0 };

	return t;
}

/* PROXYUNIQUEID's hex back into bytes (buf of PROXY_UNIQUE_ID_MAX); p
 * NULL when it is not hex of at most that many */
static struct proxy_text
unhex(const struct proxy_text *h, unsigned char *buf)
{
	struct proxy_text t = { NULL, 0 };

	if (h->p == NULL || h->n % 2 || h->n > 2 * PROXY_UNIQUE_ID_MAX ||
	    hex_decode(buf, (const char *)h->p, h->n / 2) < 0)
		return t;
	t.p = buf;
	t.n = h->n / 2;
	return t;
}

/* the launcher's word: only when it says a trusted relay spoke; apart
 * (not inlined), so that a connection with no TLS word has a short stack */
static void __attribute__((noinline))
from_launcher(struct tlsid *id)
{
	const char *ip = env_get("PROXYREMOTEIP"), *port, *ssl, *ok;
	struct proxy_text cn, version, sni, hex, uid;
	unsigned char a[16], buf[PROXY_UNIQUE_ID_MAX];
	long p;
	int tls;

	if (ip == NULL)
		return;	/* no relay spoke: the common case, one look */
	port = env_get("PROXYREMOTEPORT");
	if (port == NULL || parse_num(port, 0, 65535, &p) < 0 ||
	    (inet_pton(AF_INET, ip, a) != 1 && inet_pton(AF_INET6, ip, a) != 1))
		return;
	ssl = env_get("PROXYSSL");
	ok = env_get("PROXYSSLVERIFIED");
	tls = ssl && strcmp(ssl, "1") == 0;
	cn = var("PROXYSSLCN");
	version = var("PROXYSSLVERSION");
	sni = var("PROXYAUTHORITY");
	hex = var("PROXYUNIQUEID");
	uid = unhex(&hex, buf);
	make(id, tls ? &cn : NULL, tls && ok && strcmp(ok, "1") == 0,
	    tls ? &version : NULL, &sni, &uid);
}

/*
 * One value of a DN as OpenSSL's X509_NAME_print_ex writes it with
 * stunnel's flags (XN_FLAG_ONELINE less ESC_MSB and SPC_EQ: "C=PL, O=Org,
 * CN=alice"): quoted when it holds , + < > ; or leading # or edge spaces,
 * \XX for a control byte, \c for " and \.  Decoded into out (at most max
 * bytes) from *s, which is left after it: its length, or -1.
 */
static long
dn_value(const char **s, unsigned char *out, size_t max)
{
	const char *p = *s;
	int quoted = *p == '"';
	size_t n = 0;

	if (quoted)
		p++;
	else if (*p == '#')
		return -1;	/* a DER dump: no text */
	for (;;) {
		int c = (unsigned char)*p, hi, lo;

		if (c == '\0') {
			if (quoted)
				return -1;
			break;
		}
		if (quoted && c == '"') {
			p++;
			break;
		}
		if (!quoted && (strncmp(p, ", ", 2) == 0 ||
		    strncmp(p, " + ", 3) == 0))
			break;
		if (c == '\\') {
			if ((hi = hex_digit(p[1])) >= 0 && (lo = hex_digit(p[2])) >= 0) {
				c = hi << 4 | lo;
				p += 3;
			} else if (p[1] != '\0') {
				c = (unsigned char)p[1];
				p += 2;
			} else
				return -1;
		} else
			p++;
		if (n == max || c == 0)
			return -1;
		out[n++] = (unsigned char)c;
	}
	*s = p;
	return (long)n;
}

/* the first CN of stunnel's SSL_CLIENT_DN into buf (PROXY_TEXT_MAX); p
 * NULL when it has none, or one that cannot be read */
static struct proxy_text
dn_cn(const char *dn, unsigned char *buf)
{
	struct proxy_text t = { NULL, 0 };
	unsigned char skip[PROXY_TEXT_MAX * 4];
	const char *p = dn;

	while (p && *p) {
		const char *eq = strchr(p, '=');
		int cn = eq && eq - p == 2 && strncmp(p, "CN", 2) == 0;
		long n;

		if (eq == NULL)
			return t;
		p = eq + 1;
		n = dn_value(&p, cn ? buf : skip, cn ? PROXY_TEXT_MAX :
		    sizeof skip);
		if (n < 0)
			return t;
		if (cn) {
			t.p = buf;
			t.n = (size_t)n;
			return t;
		}
		if (strncmp(p, ", ", 2) == 0)
			p += 2;
		else if (strncmp(p, " + ", 3) == 0)
			p += 3;
		else if (*p)
			return t;
	}
	return t;
}

/* stunnel's exec mode: the CN of SSL_CLIENT_DN (its buffer on the stack
 * only when stunnel is the source, as from_launcher's) */
static void __attribute__((noinline))
from_stunnel(struct tlsid *id, int verifies)
{
	const char *dn = env_get("SSL_CLIENT_DN");
	unsigned char buf[PROXY_TEXT_MAX];
	struct proxy_text cn = dn_cn(dn, buf);

	make(id, &cn, verifies, NULL, NULL, NULL);
}

void
tlsid_env(struct tlsid *id, enum peer_source from, int stunnel_verifies)
{
	tlsid_none(id);
	if (from == PEER_UCSPI)	/* peer_init saw PROTO=TCP */
		from_launcher(id);
	else if (from == PEER_STUNNEL)
		from_stunnel(id, stunnel_verifies);
}

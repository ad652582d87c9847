/* SPDX-License-Identifier: ISC */
/* Who the client is: the peer's credentials or address, the environment
 * of whoever started us (UCSPI, stunnel, systemd), or a relay's PROXY
 * header.  Apart because it runs once, before the first record. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "env.h"
#include "cred.h"
#include "deadline.h"
#include "addr.h"
#include "util.h"
#include "peer.h"
#include "proxy.h"

/* an IP and port from the environment (UCSPI, systemd), checked */
static int
env_peer(char *peer, const char *ipvar, const char *portvar)
{
	const char *ip = env_get(ipvar), *port = env_get(portvar);
	unsigned char a[16];
	long p;

	if (ip == NULL || port == NULL || parse_num(port, 0, 65535, &p) < 0)
		return 0;
	if (inet_pton(AF_INET, ip, a) != 1 && inet_pton(AF_INET6, ip, a) != 1)
		return 0;
	addr_peer(peer, ip, (unsigned)p);
	return 1;
}

/* fd 0, a socket of family: a UNIX-domain one's peer credentials, the
 * kernel's word, beat any variable.  1 when it is one */
static int
cred_peer(char *peer, int family)
{
	struct peer_cred c;

	if (family != AF_UNIX || peer_cred(0, &c) < 0)
		return 0;
	cred_text(peer, &c);
	return 1;
}

/* fd 0 is no socket but PROTO=IPC: the credentials a UCSPI IPC server
 * passed, all three numbers, else "local".  1 when it applies */
static int
ipc_peer(char *peer, const char *proto, int family)
{
	const char *uid, *gid, *pid;
	long u, g, p;

	if (proto == NULL || strcmp(proto, "IPC") != 0 || family != AF_UNSPEC)
		return 0;
	uid = env_get("IPCREMOTEEUID");
	gid = env_get("IPCREMOTEEGID");
	pid = env_get("IPCREMOTEPID");
	if (uid && gid && pid && parse_num(uid, 0, 4294967295L, &u) == 0 &&
	    parse_num(gid, 0, 4294967295L, &g) == 0 &&
	    parse_num(pid, 0, 2147483647L, &p) == 0) {
		struct peer_cred c = { (unsigned long)u, (unsigned long)g, p };

		cred_text(peer, &c);
	} else
		strcpy(peer, "local");
	return 1;
}

/*
 * Who the client is, first that applies: a UNIX-domain socket's peer
 * credentials; a UCSPI IPC server's word on a descriptor that is no
 * socket; the launcher's word (UCSPI, when PROTO=TCP says it is one),
 * stunnel's exec mode, systemd, the socket's own peer, else "local".  The environment comes first: behind a TLS
 * terminator or a proxy the socket's peer is that relay, not the client.
 * (A PROXY header, with -p, overrides all of these.)  st0: fd 0's fstat.
 */
enum peer_source
peer_init(char *peer, const struct stat *st0, int *tcp)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char ip[ADDR_IPLEN];
	unsigned port;
	const char *proto = env_get("PROTO");
	int family = AF_UNSPEC;	/* no socket; -1 a socket of no known family */

	if (S_ISSOCK(st0->st_mode))
		family = getsockname(0, (struct sockaddr *)&ss, &len) == 0 ?
		    ss.ss_family : -1;
	*tcp = family == AF_INET || family == AF_INET6;
	if (cred_peer(peer, family) || ipc_peer(peer, proto, family))
		return PEER_OTHER;
	if (proto && strcmp(proto, "TCP") == 0 &&
	    env_peer(peer, "TCPREMOTEIP", "TCPREMOTEPORT"))
		return PEER_UCSPI;
	if (env_peer(peer, "REMOTE_HOST", "REMOTE_PORT"))
		return PEER_STUNNEL;
	if (env_peer(peer, "REMOTE_ADDR", "REMOTE_PORT"))
		return PEER_OTHER;
	len = sizeof ss;
	if (family != AF_UNSPEC &&
	    getpeername(0, (struct sockaddr *)&ss, &len) == 0 &&
	    addr_ip_port((struct sockaddr *)&ss, ip, &port) == 0)
		addr_peer(peer, ip, port);
	else
		strcpy(peer, "local");
	return PEER_OTHER;
}

/*
 * -p: the relay's PROXY header, read before anything else and never a
 * byte past it, within PROXY_WAIT_MS.  Its client becomes the peer (a v2
 * LOCAL or v1 UNKNOWN keeps the one found so far), its TLVs the client's
 * TLS identity, and nothing else's.  0, or -1 said.
 */
int
proxy_peer(char *peer, struct tlsid *id, int *check)
{
	struct proxy_reader r;
	struct proxy_info pi;
	long long end = deadline_in(PROXY_WAIT_MS);
	char ip[ADDR_IPLEN];
	unsigned port;
	int k;

	memset(&r, 0, sizeof r);
	while ((k = proxy_read(0, &r, &pi)) == 0) {
		struct pollfd pfd = { .fd = 0, .events = POLLIN };

		if (deadline_expired(end) ||
		    poll(&pfd, 1, deadline_poll_ms(end)) == 0) {
			warn("bad proxy header from %s: none within %d s", peer,
			    PROXY_WAIT_MS / 1000);
			proxy_reader_free(&r);
			return -1;
		}
	}
	if (k < 0) {
		if (errno)
			warn("bad proxy header from %s: cannot read it:", peer);
		else
			warn("bad proxy header from %s", peer);
		proxy_reader_free(&r);
		return -1;
	}
	if (!pi.local && addr_ip_port((struct sockaddr *)&pi.src, ip,
	    &port) == 0)
		addr_peer(peer, ip, port);
	*check = pi.check;
	tlsid_proxy(id, &pi.tls);
	proxy_reader_free(&r);
	return 0;
}

int
peer_is_check(void)
{
	const char *check = env_get("PROXYLOCAL"), *proto;

	if (check == NULL || strcmp(check, "1") != 0)
		return 0;
	proto = env_get("PROTO");
	return proto && strcmp(proto, "TCP") == 0;
}

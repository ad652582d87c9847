/* SPDX-License-Identifier: ISC */
/* Socket addresses as text, numeric only: no resolver is ever asked. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "addr.h"

int
addr_ip_port(const struct sockaddr *sa, char *ip, unsigned *port)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, ip, ADDR_IPLEN);
		*port = ntohs(s4->sin_port);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		/* a dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d */
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, s6->sin6_addr.s6_addr + 12, ip,
			    ADDR_IPLEN);
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, ip, ADDR_IPLEN);
		*port = ntohs(s6->sin6_port);
		return 0;
	}
	return -1;
}

/* by hand: printf's machinery is most of what a handler's start-up
 * would run, for one line */
void
addr_peer(char *buf, const char *ip, unsigned port)
{
	size_t n = strnlen(ip, ADDR_IPLEN - 1);
	int v6 = memchr(ip, ':', n) != NULL, k = 0;
	char digits[10], *d = buf;

	if (v6)
		*d++ = '[';
	memcpy(d, ip, n);
	d += n;
	if (v6)
		*d++ = ']';
	*d++ = ':';
	do
		digits[k++] = (char)('0' + port % 10);
	while ((port /= 10) != 0);
	while (k > 0)
		*d++ = digits[--k];
	*d = '\0';
}

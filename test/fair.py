#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Clients from many source addresses, for test/fair.bats and bench/fair.sh.

Each runs in a network namespace where the sources are routed to lo
(`ip -6 route add local 2001:db8::/32 dev lo`); a client binds its source
with IPV6_FREEBIND (IP_FREEBIND for IPv4), so any address of the prefix will
do.  A source is a Python format: {i} the connection's number from 1, {hi}
and {lo} its upper and lower 16 bits ("2001:db8:1::{i:x}" rotates through
one /64, "2001:db8:{hi:x}:{lo:x}::1" through /64s).  The server is ::1 for
an IPv6 source, 127.0.0.1 for an IPv4 one (or -d ADDR).

fair.py burst [-d ADDR] PORT N SOURCE [N SOURCE]...
    Open N connections at once, the k-th from SOURCE for i = k, then those
    of the next N SOURCE; then read one line from each (at most 10 s), in
    the same order: print it, or "eof"; then close all.

fair.py rotate [-d ADDR] PORT N SOURCE [FIRST]
    N connections one after another (up to 64 under way), from SOURCE for
    i = FIRST (default 1) on; each is closed as soon as it is connected.
    Print how many connected.

fair.py steady [-d ADDR] PORT SOURCE SECS EVERY [STOPFILE]
    For SECS seconds (or until STOPFILE exists), every EVERY seconds,
    connect from SOURCE (i = 1) and
    read one line; print "served S of N, p50 A ms, p99 B ms, max C ms" (the
    time from connect to the line), then any line that was not "hello".
"""
import errno
import os
import selectors
import socket
import sys
import time

TIMEOUT = 10
IPV6_FREEBIND = getattr(socket, "IPV6_FREEBIND", 78)
IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)


def source(pattern, i):
    return pattern.format(i=i, hi=i >> 16, lo=i & 0xffff)


def sock_from(src, blocking=True):
    v6 = ":" in src
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET)
    if v6:
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_FREEBIND, 1)
    else:
        s.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src, 0))
    if blocking:
        s.settimeout(TIMEOUT)
    else:
        s.setblocking(False)
    return s


def line_of(s):
    data = b""
    try:
        while not data.endswith(b"\n"):
            b = s.recv(4096)
            if not b:
                break
            data += b
    except socket.timeout:
        return "timeout"
    except OSError as e:
        return "error: %s" % e.strerror
    return data.decode(errors="replace").strip() or "eof"


def burst(dst, port, groups):
    conns = []
    for n, pattern in groups:
        for k in range(1, n + 1):
            s = sock_from(source(pattern, k))
            s.connect((dst, port))
            conns.append(s)
    for s in conns:
        print(line_of(s), flush=True)
    for s in conns:
        s.close()


def rotate(dst, port, n, pattern, first):
    sel = selectors.DefaultSelector()
    done = ok = 0
    i = first
    deadline = time.monotonic() + 600
    while done < n and time.monotonic() < deadline:
        while i < first + n and len(sel.get_map()) < 64:
            s = sock_from(source(pattern, i), blocking=False)
            i += 1
            err = s.connect_ex((dst, port))
            if err in (0, errno.EINPROGRESS):
                sel.register(s, selectors.EVENT_WRITE)
            else:
                s.close()
                done += 1
        for key, _ in sel.select(TIMEOUT):
            s = key.fileobj
            sel.unregister(s)
            ok += s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
            s.close()
            done += 1
    print(ok)


def steady(dst, port, pattern, secs, every, stop):
    times, odd, n = [], [], 0
    end = time.monotonic() + secs
    while time.monotonic() < end and not (stop and os.path.exists(stop)):
        t0 = time.monotonic()
        n += 1
        try:
            s = sock_from(source(pattern, 1))
            s.connect((dst, port))
            got = line_of(s)
            s.close()
        except OSError as e:
            got = "connect: %s" % e.strerror
        if got == "hello":
            times.append((time.monotonic() - t0) * 1000)
        else:
            odd.append(got)
        time.sleep(max(0.0, every - (time.monotonic() - t0)))
    times.sort()

    def at(q):
        return times[min(len(times) - 1, int(q * len(times)))] if times \
            else float("nan")
    print("served %d of %d, p50 %.1f ms, p99 %.1f ms, max %.1f ms" % (
        len(times), n, at(0.5), at(0.99), times[-1] if times else
        float("nan")))
    for line in odd:
        print(line)


def main(argv):
    dst = None
    if argv[1:2] and argv[1] in ("burst", "rotate", "steady") and \
            argv[2:3] == ["-d"]:
        dst = argv[3]
        del argv[2:4]
    if len(argv) < 5:
        sys.exit(__doc__)
    cmd, port = argv[1], int(argv[2])
    pattern = argv[4] if cmd != "steady" else argv[3]
    if dst is None:
        dst = "::1" if ":" in pattern else "127.0.0.1"
    if cmd == "burst" and len(argv) % 2 == 1:
        burst(dst, port, [(int(argv[k]), argv[k + 1]) for k in
                          range(3, len(argv), 2)])
    elif cmd == "rotate":
        rotate(dst, port, int(argv[3]), pattern,
               int(argv[5]) if len(argv) > 5 else 1)
    elif cmd == "steady" and len(argv) in (6, 7):
        steady(dst, port, pattern, float(argv[4]), float(argv[5]),
               argv[6] if len(argv) == 7 else None)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)

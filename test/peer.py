#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Servers that misbehave on purpose, for test/client.bats: loopback only,
every wait bounded.  Each listens on 127.0.0.1 port 0, prints the port as
one line, serves one connection the MODE's way, and exits.

peer.py MODE [FILE]
    silent  accept and say nothing, never close (until killed or 30 s)
    close   accept, send "goodbye\\n" and close at once, whatever comes in
    reset   accept, send "partial\\n", then close with an RST (SO_LINGER 0)
    record  accept, write every byte received to FILE until EOF, then close
    flood   accept, send 64 KiB blocks until the peer goes away
    full    listen(0) and never accept, after filling the backlog with
            connections of its own: the kernel then drops further SYNs
"""
import socket
import struct
import sys
import time

HOLD = 30   # the longest any mode keeps a connection or a listener


def listener(backlog=1):
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(backlog)
    return lsock


def announce(lsock):
    print(lsock.getsockname()[1], flush=True)


def accept_one(lsock):
    lsock.settimeout(HOLD)
    conn, _ = lsock.accept()
    conn.settimeout(HOLD)
    return conn


def fill_backlog(lsock):
    """Connect until the kernel stops completing handshakes."""
    held = []
    for _ in range(16):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(0.3)
        try:
            s.connect(lsock.getsockname())
        except OSError:
            s.close()
            return held
        held.append(s)
    sys.exit("peer.py: full: the backlog never filled")


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "full":
        lsock = listener(0)
        held = fill_backlog(lsock)
        announce(lsock)
        time.sleep(HOLD)
        del held
        return
    if mode not in ("silent", "close", "reset", "record", "flood"):
        sys.exit("usage: peer.py silent|close|reset|record FILE|flood|full|free")
    lsock = listener()
    announce(lsock)
    conn = accept_one(lsock)
    if mode == "silent":
        time.sleep(HOLD)
    elif mode == "close":
        conn.sendall(b"goodbye\n")
        conn.close()
    elif mode == "reset":
        conn.sendall(b"partial\n")
        time.sleep(0.2)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
        conn.close()
    elif mode == "record":
        with open(sys.argv[2], "wb") as out:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                out.write(data)
        conn.close()
    elif mode == "flood":
        block = b"y\n" * 32768
        try:
            while True:
                conn.sendall(block)
        except OSError:
            pass


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""A scriptable TCP client for test/launcher.bats (standard library only).

client.py [-s SRC] [-w SECS] HOST PORT STEP...
    Connect to HOST PORT (from address SRC when given), then run the steps
    in order.  Everything read is written to stdout at once, so a test can
    watch the output file while the client is still connected.
      port        print the connection's local (client) port
      send:TEXT   send TEXT; \\n \\r \\t \\\\ and \\xNN are escapes
      file:PATH   send the contents of the file PATH
      line        read one line and print it
      eof         read until EOF and print everything read
      quiet:SECS  expect no byte for SECS: print "quiet", or what came
      wait:FILE   wait until FILE exists
      shut        half-close (shutdown SHUT_WR)
      reset       close with an RST (SO_LINGER 0), as HAProxy ends a check;
                  no step may follow
    A connect failure prints "connect: REASON" and exits 1.  Every read and
    wait gives up after -w SECS (default 10), printing "timeout", exit 1.

client.py flood [-s SRC] [-w SECS] HOST PORT N FILE
    Open N connections, print "N open", hold them until FILE exists, close
    them all and print "closed".

client.py syslog PATH
    Bind a datagram socket at PATH (a stand-in for /dev/log), print
    "ready", then print each datagram that arrives as one line.

client.py loop [-w SECS] HOST PORT N
    N connections one after another, each read until EOF; print how many
    connections there were and how many distinct replies came, with each
    reply (escaped) and its count.
"""
import os
import socket
import struct
import sys
import time


def die(msg):
    out(msg + "\n")
    sys.exit(1)


def out(data):
    if isinstance(data, str):
        data = data.encode()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def unescape(text):
    return text.encode().decode("unicode_escape").encode("latin-1")


def connect(host, port, src, timeout):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        if src:
            s.bind((src, 0))
        s.connect((host, port))
    except socket.timeout:
        die("connect: timeout")
    except OSError as e:
        die("connect: " + (e.strerror or str(e)))
    return s


def recv(s, n=65536):
    try:
        return s.recv(n)
    except socket.timeout:
        die("timeout")
    except ConnectionResetError:
        die("reset")


def steps(s, argv, timeout):
    for step in argv:
        name, _, arg = step.partition(":")
        if name == "port":
            out("%d\n" % s.getsockname()[1])
        elif name == "send":
            s.sendall(unescape(arg))
        elif name == "file":
            with open(arg, "rb") as f:
                s.sendall(f.read())
        elif name == "line":
            buf = b""
            while not buf.endswith(b"\n"):
                # one byte at a time: nothing after the line is consumed
                b = recv(s, 1)
                if not b:
                    out(buf)
                    die("eof")
                buf += b
            out(buf)
        elif name == "eof":
            while True:
                b = recv(s)
                if not b:
                    break
                out(b)
        elif name == "quiet":
            s.settimeout(float(arg))
            try:
                b = s.recv(65536)
                out(b if b else b"eof\n")
                if not b:
                    sys.exit(1)
            except socket.timeout:
                out("quiet\n")
            s.settimeout(timeout)
        elif name == "wait":
            end = time.monotonic() + timeout
            while not os.path.exists(arg):
                if time.monotonic() > end:
                    die("timeout")
                time.sleep(0.01)
        elif name == "shut":
            s.shutdown(socket.SHUT_WR)
        elif name == "reset":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack("ii", 1, 0))
            s.close()
            return
        else:
            die("unknown step " + step)


def flood(host, port, src, timeout, n, path):
    conns = [connect(host, port, src, timeout) for _ in range(n)]
    out("%d open\n" % len(conns))
    end = time.monotonic() + 60
    while not os.path.exists(path) and time.monotonic() < end:
        time.sleep(0.01)
    for s in conns:
        s.close()
    out("closed\n")


def loop(host, port, timeout, n):
    replies = {}
    for _ in range(n):
        s = connect(host, port, None, timeout)
        data = b""
        while True:
            b = recv(s)
            if not b:
                break
            data += b
        s.close()
        replies[data] = replies.get(data, 0) + 1
    out("%d connections, %d replies\n" % (n, len(replies)))
    for data, count in sorted(replies.items()):
        out("%d %r\n" % (count, data))


def syslog(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    out("ready\n")
    while True:
        out(s.recv(65536) + b"\n")


def main(argv):
    if argv[:1] == ["syslog"] and len(argv) == 2:
        syslog(argv[1])
    mode = None
    if argv and argv[0] in ("flood", "loop"):
        mode = argv.pop(0)
    src, timeout = None, 10.0
    while argv and argv[0] in ("-s", "-w"):
        opt, val = argv[0], argv[1]
        argv = argv[2:]
        if opt == "-s":
            src = val
        else:
            timeout = float(val)
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    host, port = argv[0], int(argv[1])
    if mode == "flood":
        flood(host, port, src, timeout, int(argv[2]), argv[3])
    elif mode == "loop":
        loop(host, port, timeout, int(argv[2]))
    else:
        steps(connect(host, port, src, timeout), argv[2:], timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

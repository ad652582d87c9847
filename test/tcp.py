#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""A small test peer for the msgd tests: loopback only, every wait bounded.

tcp.py serve-once [-6] [--fd2] [--env NAME=VALUE]... PROGRAM [ARG...]
    Listen on 127.0.0.1 (::1 with -6) port 0, print the port as one line,
    accept one connection and run PROGRAM with the socket on fds 0 and 1
    (and 2 with --fd2, as xinetd does).  PROGRAM's environment has no
    TCPREMOTEIP, REMOTE_ADDR and friends unless --env sets them.  Exits with
    PROGRAM's status (128+N if signal N killed it), 124 if it did not end.

tcp.py client HOST PORT [--trickle] [--trickle-bytes N] [--delay SECS]
                        [--no-shutdown] [--reset-after-send] [--wait-lines N]
                        [--port-file FILE]
    Connect, send stdin (one byte at a time with --trickle), then half-close
    and print everything received until EOF.  --trickle-bytes trickles only
    the first N bytes and sends the rest in one write after them; --delay
    is the pause after each trickled byte (default 0.02).  --no-shutdown
    never half-closes: the server must end the connection.
    --reset-after-send closes with an RST instead of a FIN, right after
    sending, or after N reply lines with --wait-lines.  The client's own
    port goes to FILE, or to stderr as "local port N".

tcp.py syslog PATH
    Bind a unix datagram socket at PATH (a /dev/log), print PATH as one
    line, then print each datagram as one line, until 30 s pass idle.
"""
import os
import socket
import subprocess
import sys
import time

TIMEOUT = 10        # any one network wait
CHILD_TIMEOUT = 30  # the program run by serve-once
STRIP_ENV = ("TCPREMOTEIP", "TCPREMOTEPORT", "TCPREMOTEHOST", "TCPREMOTEINFO",
             "TCPLOCALIP", "TCPLOCALPORT", "TCPLOCALHOST", "PROTO",
             "REMOTE_ADDR", "REMOTE_PORT", "REMOTE_HOST")


def die(msg, status=2):
    sys.stderr.write("tcp.py: %s\n" % msg)
    sys.exit(status)


def serve_once(args):
    family, host, fd2, extra = socket.AF_INET, "127.0.0.1", False, {}
    while args and args[0].startswith("-"):
        opt = args.pop(0)
        if opt == "-6":
            family, host = socket.AF_INET6, "::1"
        elif opt == "--fd2":
            fd2 = True
        elif opt == "--env" and args and "=" in args[0]:
            name, value = args.pop(0).split("=", 1)
            extra[name] = value
        else:
            die("serve-once: bad option %s" % opt)
    if not args:
        die("serve-once: no PROGRAM")
    env = {k: v for k, v in os.environ.items() if k not in STRIP_ENV}
    env.update(extra)

    lsock = socket.socket(family, socket.SOCK_STREAM)
    lsock.bind((host, 0))
    lsock.listen(1)
    lsock.settimeout(TIMEOUT)
    sys.stdout.write("%d\n" % lsock.getsockname()[1])
    sys.stdout.flush()
    try:
        conn, _ = lsock.accept()
    except socket.timeout:
        die("serve-once: no client in %d s" % TIMEOUT, 1)
    lsock.close()
    conn.setblocking(True)
    # the socket on 0 and 1 (and 2); SIGPIPE back to its default, so a
    # program that forgets to ignore it dies of it
    child = subprocess.Popen(args, stdin=conn, stdout=conn,
                             stderr=conn if fd2 else None, env=env,
                             restore_signals=True)
    conn.close()  # only the child holds the connection now
    try:
        status = child.wait(CHILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
        die("serve-once: %s still running after %d s" % (args[0],
            CHILD_TIMEOUT), 124)
    sys.exit(128 - status if status < 0 else status)


def client(args):
    if len(args) < 2:
        die("client: HOST PORT needed")
    host, port = args[0], int(args[1])
    trickle = reset = no_shutdown = False
    wait_lines, port_file, trickle_bytes, delay = None, None, None, 0.02
    rest = args[2:]
    while rest:
        opt = rest.pop(0)
        if opt == "--trickle":
            trickle = True
        elif opt == "--reset-after-send":
            reset = True
        elif opt == "--wait-lines" and rest:
            wait_lines = int(rest.pop(0))
        elif opt == "--port-file" and rest:
            port_file = rest.pop(0)
        elif opt == "--trickle-bytes" and rest:
            trickle, trickle_bytes = True, int(rest.pop(0))
        elif opt == "--delay" and rest:
            delay = float(rest.pop(0))
        elif opt == "--no-shutdown":
            no_shutdown = True
        else:
            die("client: bad option %s" % opt)

    data = sys.stdin.buffer.read()
    sock = socket.create_connection((host, port), timeout=TIMEOUT)
    local_port = sock.getsockname()[1]
    if port_file:
        with open(port_file, "w") as f:
            f.write("%d\n" % local_port)
    else:
        sys.stderr.write("local port %d\n" % local_port)
        sys.stderr.flush()

    out = sys.stdout.buffer
    try:
        if trickle:
            n = len(data) if trickle_bytes is None else trickle_bytes
            for i in range(min(n, len(data))):
                sock.sendall(data[i:i + 1])
                time.sleep(delay)
            if n < len(data):
                sock.sendall(data[n:])
        else:
            sock.sendall(data)
        if reset:
            got = b""
            while wait_lines is not None and got.count(b"\n") < wait_lines:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                got += chunk
            out.write(got)
            out.flush()
            # SO_LINGER on, 0 s: close sends an RST, not a FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            b"\x01\x00\x00\x00\x00\x00\x00\x00")
            sock.close()
            return 0
        if not no_shutdown:
            sock.shutdown(socket.SHUT_WR)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            out.write(chunk)
            out.flush()
    except socket.timeout:
        die("client: no answer in %d s" % TIMEOUT, 1)
    except OSError as e:
        die("client: %s" % e.strerror, 1)
    sock.close()
    return 0


def syslog(args):
    if len(args) != 1:
        die("syslog: PATH needed")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(args[0])
    sock.settimeout(30)
    out = sys.stdout.buffer
    out.write(args[0].encode() + b"\n")
    out.flush()
    try:
        while True:
            out.write(sock.recv(65536) + b"\n")
            out.flush()
    except socket.timeout:
        return 0


def main():
    if len(sys.argv) < 2:
        die("usage: tcp.py serve-once|client|syslog ...")
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "serve-once":
        serve_once(args)
    elif mode == "client":
        sys.exit(client(args))
    elif mode == "syslog":
        sys.exit(syslog(args))
    die("unknown mode %s" % mode)


if __name__ == "__main__":
    main()

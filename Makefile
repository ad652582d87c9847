# SPDX-License-Identifier: ISC
# msgd: make builds bin/, make test runs every test, make install installs.
.POSIX:

PREFIX = /usr/local
BINDIR = $(PREFIX)/bin
SBINDIR = $(PREFIX)/sbin
MANPREFIX = $(PREFIX)/share/man
# under PREFIX like everything else; a system xinetd reads SYSCONFDIR=/etc
SYSCONFDIR = $(PREFIX)/etc
SYSTEMDDIR = $(PREFIX)/lib/systemd/system
DOCDIR = $(PREFIX)/share/doc/msgd
DESTDIR =

# one version for the programs (-V), the man pages and the package:
# debian/changelog's, less the Debian revision; read with sed, so that make
# needs no dpkg tools
VERSION != sed -n -e '1s/^[^(]*(\([^)]*\)).*/\1/' -e '1s/^[0-9]*://' \
	-e '1s/-[^-]*$$//p' debian/changelog

# A static musl binary is exec'd several times faster than a dynamic glibc
# one, and exec is the whole per-connection cost: use musl where it exists.
TOOLCHAIN != if command -v musl-gcc >/dev/null 2>&1; then echo musl; else echo cc; fi
CC_musl = musl-gcc
CC_cc = cc
LDSTATIC_musl = -static
LDSTATIC_cc =
CC = $(CC_$(TOOLCHAIN))
OPT = -O2
CFLAGS = -std=c99 -D_GNU_SOURCE -DMSGD_VERSION=\"$(VERSION)\" $(OPT) \
	-Wall -Wextra -Wshadow -Werror $(XCFLAGS)
LDFLAGS = $(LDSTATIC_$(TOOLCHAIN)) $(XLDFLAGS)

# where objects and programs go; the sanitizer and memcheck builds use others
BUILD = build
BIN = bin
BATS = bats

LIBOBJ = $(BUILD)/lib/util.o $(BUILD)/lib/addr.o $(BUILD)/lib/slog.o \
	$(BUILD)/lib/proxy.o $(BUILD)/lib/cred.o \
	$(BUILD)/lib/append.o $(BUILD)/lib/deadline.o $(BUILD)/lib/tcpopts.o
HANDLEROBJ = $(BUILD)/handler/main.o $(BUILD)/handler/peer.o \
	$(BUILD)/handler/tlsid.o $(BUILD)/handler/frame.o $(BUILD)/handler/input.o $(CONNOBJ)
# the message loop (conn.o) and what it records and replies through: the
# framer harness links it with frame.o and its own input
CONNOBJ = $(BUILD)/handler/conn.o $(BUILD)/handler/record.o \
	$(BUILD)/handler/sink.o $(BUILD)/handler/sigterm.o $(BUILD)/handler/writes.o \
	$(BUILD)/handler/escape.o $(BUILD)/handler/buf.o $(BUILD)/handler/env.o
LAUNCHEROBJ = $(BUILD)/launcher/main.o $(BUILD)/launcher/loop.o \
	$(BUILD)/launcher/admit.o $(BUILD)/launcher/children.o \
	$(BUILD)/launcher/slots.o $(BUILD)/launcher/env.o \
	$(BUILD)/launcher/fds.o $(BUILD)/launcher/daemon.o \
	$(BUILD)/launcher/privs.o $(BUILD)/launcher/listen.o \
	$(BUILD)/launcher/program.o $(BUILD)/launcher/signals.o \
	$(BUILD)/launcher/rules.o $(BUILD)/launcher/rules_cn.o \
	$(BUILD)/launcher/sources.o $(BUILD)/launcher/proxied.o \
	$(BUILD)/launcher/spawner.o $(BUILD)/launcher/notify.o \
	$(BUILD)/launcher/status.o $(BUILD)/launcher/interrupt.o \
	$(BUILD)/launcher/unix.o $(BUILD)/launcher/sockets.o \
	$(BUILD)/launcher/reexec.o
PROGS = $(BIN)/msgd-handler $(BIN)/msgd-launcher $(BIN)/msgd-client
CLIENTOBJ = $(BUILD)/client/client.o $(BUILD)/client/ack.o
OBJS = $(LIBOBJ) $(HANDLEROBJ) $(LAUNCHEROBJ) $(CLIENTOBJ)

all: $(PROGS)

$(BIN)/msgd-handler: $(HANDLEROBJ) $(BUILD)/libmsgd.a
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $(HANDLEROBJ) $(BUILD)/libmsgd.a

$(BIN)/msgd-launcher: $(LAUNCHEROBJ) $(BUILD)/libmsgd.a
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $(LAUNCHEROBJ) $(BUILD)/libmsgd.a

$(BIN)/msgd-client: $(CLIENTOBJ) $(BUILD)/libmsgd.a
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $(CLIENTOBJ) $(BUILD)/libmsgd.a

$(BUILD)/libmsgd.a: $(LIBOBJ)
	rm -f $@
	ar rcs $@ $(LIBOBJ)

# every object from the source of its name: a file is added to one list
# above and nothing else.  -MMD writes what each object was made of (its
# source and headers) next to it, so a change to any of them remakes it
.SUFFIXES:
$(OBJS):
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Ilib -MMD -MP -c -o $@ $(@:$(BUILD)/%.o=%.c)
# the version is util.c's (-V)
$(BUILD)/lib/util.o: debian/changelog
-include $(OBJS:.o=.d)

# the load generator of bench/launcher.sh
$(BUILD)/loadgen: bench/loadgen.c $(BUILD)/libmsgd.a
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) -Ilib $(LDFLAGS) -o $@ bench/loadgen.c $(BUILD)/libmsgd.a

# the protocol's floor: what bench/floor.sh measures msgd-handler against
$(BUILD)/floor: bench/floor.c
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ bench/floor.c

# bare reference spawners: the ceiling bench/launcher.sh measures against
$(BUILD)/refspawn: bench/refspawn.c
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) -pthread $(LDFLAGS) -o $@ bench/refspawn.c

# what one run of a program costs, exec to exit: bench/sweep.sh
$(BUILD)/execcost: bench/execcost.c
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ bench/execcost.c

# what one connection costs the program serving it: bench/README.md
$(BUILD)/conncost: bench/conncost.c
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ bench/conncost.c

# the PROXY header parser's table of cases, run by test/proxy.bats
$(BUILD)/proxy-unit: test/proxy-unit.c lib/proxy.h $(BUILD)/libmsgd.a
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) -Ilib $(LDFLAGS) -o $@ test/proxy-unit.c $(BUILD)/libmsgd.a

# the service in the foreground: records and launcher log on this terminal
HOST = 127.0.0.1
PORT = 9100
run: all
	$(BIN)/msgd-launcher $(HOST) $(PORT) $(BIN)/msgd-handler -l -

# test/run first installs what test/deps lists (as root) or says how; then
# every test, or those of TESTS (bats files or directories)
TESTS =
test: all $(BUILD)/proxy-unit
	BATS="$(BATS)" MSGD_BIN="$$PWD/$(BIN)" \
	MSGD_UNIT="$$PWD/$(BUILD)/proxy-unit" test/run $(TESTS)

# the whole suite again with AddressSanitizer and UBSan (glibc: no musl ASan);
# the launcher then makes its children with posix_spawn, which they can
# follow, so the suite runs both ways of making them.
# Every exec costs ~17 ms under ASan and as much again for LeakSanitizer's
# check at exit (1.5 ms for the static musl build): SANLEAKS=0 halves that
SANFLAGS = -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
SANLEAKS = 1
sanitize:
	$(MAKE) BUILD=build/san BIN=build/san/bin TOOLCHAIN=cc OPT=-O1 \
		XCFLAGS="$(SANFLAGS) -DMSGD_POSIX_SPAWN" XLDFLAGS="$(SANFLAGS)" \
		all build/san/proxy-unit
	ASAN_OPTIONS=detect_leaks=$(SANLEAKS):abort_on_error=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	BATS="$(BATS)" MSGD_BIN="$$PWD/build/san/bin" \
	MSGD_UNIT="$$PWD/build/san/proxy-unit" test/run $(TESTS)

# the handler tests with every handler under valgrind memcheck
memcheck:
	$(MAKE) BUILD=build/dbg BIN=build/dbg/bin TOOLCHAIN=cc OPT="-O1 -g" \
		XCFLAGS=-DMSGD_POSIX_SPAWN all
	MSGD_BIN="$$PWD/build/dbg/bin" \
	MSGD_WRAP="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite" \
	BATS="$(BATS)" test/run test/handler.bats

# libFuzzer harnesses (clang): each test/fuzz/NAME.c is built into
# build/fuzz/NAME and run for FUZZ_SECS seconds from its seeds in
# test/fuzz/NAME/; new inputs go to build/fuzz/corpus/NAME, findings to
# build/fuzz/crashes/.  A new harness is one more .c file and seed folder.
FUZZ_SECS = 20
FUZZCC = clang
FUZZFLAGS = -g -fsanitize=address,undefined -fno-sanitize-recover=all
# batches small enough for a fuzzer's short inputs (handler/frame.c)
FUZZBATCH = -DRECBUF=512 -DSTREAM_READ=16
FUZZERS != ls test/fuzz/*.c 2>/dev/null | sed -e 's|^test/|build/|' -e 's|\.c$$||'
FUZZSRC != ls test/fuzz/*.c test/fuzz/*.h 2>/dev/null
fuzz:
	$(MAKE) BUILD=build/fuzz/obj TOOLCHAIN=cc CC=$(FUZZCC) OPT=-O1 \
		XCFLAGS="$(FUZZFLAGS) $(FUZZBATCH) -fsanitize=fuzzer-no-link" fuzzers
	FUZZ_SECS=$(FUZZ_SECS) test/fuzz/run $(FUZZERS)

# only through make fuzz, which sets CC and the flags; FUZZOBJ_NAME are
# the program objects harness NAME links (the framer brings its own input,
# escape_words includes the escaper's source)
FUZZOBJ_escape = $(BUILD)/handler/escape.o
FUZZOBJ_framer = $(BUILD)/handler/frame.o $(CONNOBJ)
fuzzers: $(FUZZERS)
# the objects a harness tests, linked beside it
FUZZOBJ_rules = $(BUILD)/launcher/rules.o $(BUILD)/launcher/rules_cn.o
build/fuzz/escape: $(FUZZOBJ_escape)
build/fuzz/escape_words: handler/escape.c
build/fuzz/framer: $(FUZZOBJ_framer)
build/fuzz/rules: $(FUZZOBJ_rules)
$(FUZZERS): $(BUILD)/libmsgd.a $(FUZZSRC) lib/util.c
	$(CC) $(CFLAGS) -fsanitize=fuzzer -Ilib -Ihandler -o $@ \
		$(@:build/%=test/%).c $(FUZZOBJ_$(@F)) $(BUILD)/libmsgd.a

# the service files and examples name the installed handler and launcher
SUBST = sed -e 's|@SBINDIR@|$(SBINDIR)|g'
# the man pages' footer names the version installed
MANSUBST = sed -e 's|^\.Os.*|.Os msgd $(VERSION)|'
UNITS = msgd.service msgd.socket msgd-inetd.socket msgd-inetd@.service \
	msgd-local-inetd.socket msgd-local-inetd@.service
EXAMPLES = haproxy.cfg rsyslog-central.conf rsyslog-node.conf \
	stunnel-exec.conf stunnel-proxy.conf

install: all
	mkdir -p $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) \
		$(DESTDIR)$(MANPREFIX)/man1 $(DESTDIR)$(MANPREFIX)/man8 \
		$(DESTDIR)$(SYSCONFDIR)/xinetd.d $(DESTDIR)$(SYSTEMDDIR) \
		$(DESTDIR)$(DOCDIR)/examples
	cp -f $(BIN)/msgd-handler $(BIN)/msgd-launcher $(DESTDIR)$(SBINDIR)/
	cp -f $(BIN)/msgd-client $(DESTDIR)$(BINDIR)/
	cd $(DESTDIR)$(SBINDIR) && chmod 755 msgd-handler msgd-launcher
	chmod 755 $(DESTDIR)$(BINDIR)/msgd-client
	$(MANSUBST) man/msgd-client.1 >$(DESTDIR)$(MANPREFIX)/man1/msgd-client.1
	for m in msgd-handler.8 msgd-launcher.8; do \
		$(MANSUBST) man/$$m >$(DESTDIR)$(MANPREFIX)/man8/$$m || exit 1; \
	done
	cd $(DESTDIR)$(MANPREFIX) && chmod 644 man1/msgd-client.1 \
		man8/msgd-handler.8 man8/msgd-launcher.8
	$(SUBST) xinetd.d/msgd >$(DESTDIR)$(SYSCONFDIR)/xinetd.d/msgd
	for u in $(UNITS); do \
		$(SUBST) systemd/$$u >$(DESTDIR)$(SYSTEMDDIR)/$$u || exit 1; \
	done
	cd $(DESTDIR)$(SYSTEMDDIR) && chmod 644 $(UNITS)
	chmod 644 $(DESTDIR)$(SYSCONFDIR)/xinetd.d/msgd
	for e in $(EXAMPLES); do \
		$(SUBST) examples/$$e >$(DESTDIR)$(DOCDIR)/examples/$$e || exit 1; \
	done
	cd $(DESTDIR)$(DOCDIR)/examples && chmod 644 $(EXAMPLES)

# full paths and rm -f only: succeeds whatever is (no longer) there; the
# directories of msgd's kinds of file that install made go too, if nothing
# else is in them (bin, sbin, share/doc and the like stay)
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/msgd-handler $(DESTDIR)$(SBINDIR)/msgd-launcher
	rm -f $(DESTDIR)$(BINDIR)/msgd-client
	rm -f $(DESTDIR)$(MANPREFIX)/man1/msgd-client.1 \
		$(DESTDIR)$(MANPREFIX)/man8/msgd-handler.8 \
		$(DESTDIR)$(MANPREFIX)/man8/msgd-launcher.8
	rm -f $(DESTDIR)$(SYSCONFDIR)/xinetd.d/msgd
	for u in $(UNITS); do rm -f $(DESTDIR)$(SYSTEMDDIR)/$$u || exit 1; done
	for e in $(EXAMPLES); do rm -f $(DESTDIR)$(DOCDIR)/examples/$$e || exit 1; done
	for d in $(DOCDIR)/examples $(DOCDIR) $(MANPREFIX)/man1 \
		$(MANPREFIX)/man8 $(SYSCONFDIR)/xinetd.d $(SYSTEMDDIR); do \
		rmdir $(DESTDIR)$$d 2>/dev/null || :; \
	done
	d=$(DESTDIR)$(SYSTEMDDIR); rmdir "$${d%/*}" 2>/dev/null || :

# the Debian package from debian/, built in a copy of the sources under
# build/deb so that dpkg-buildpackage writes nothing beside the repository;
# all that is left is build/msgd_VERSION_ARCH.deb
DEBSRC = Makefile README.md doc client handler launcher lib man systemd \
	xinetd.d logrotate.d examples debian
deb:
	rm -rf $(BUILD)/deb $(BUILD)/msgd_*.deb
	mkdir -p $(BUILD)/deb/msgd
	tar -cf - $(DEBSRC) | tar -C $(BUILD)/deb/msgd -xf -
	cd $(BUILD)/deb/msgd && DEB_BUILD_OPTIONS=noautodbgsym \
		dpkg-buildpackage -us -uc -b
	mv $(BUILD)/deb/msgd_*.deb $(BUILD)/
	rm -rf $(BUILD)/deb

clean:
	rm -rf build bin

.PHONY: all run test sanitize memcheck fuzz fuzzers install uninstall deb clean

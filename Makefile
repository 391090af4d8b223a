# edgepool -- build, test, run.
#
#   make            build bin/edge-node, bin/edge-balancer, bin/edgectl
#   make test       install what tests need (as root), build, run every test
#   make run        start a local pool on loopback: Redis, 3 nodes, a balancer (see README)
#   make stop       stop what `make run` started
#   make install    binaries, sample configs, systemd units (PREFIX, DESTDIR)
#   make fuzz       the three fuzz targets (SIP, XMPP, DNS), FUZZ_SECONDS each
#   make bench      performance figures against Kamailio / HAProxy / NSD
#   make SAN=1      build with AddressSanitizer + UBSan into build-san/
#
# Every Debian package the project needs is named here, once.

BUILD_PKGS := build-essential pkg-config libevent-dev libssl-dev libc-ares-dev \
              libhiredis-dev libconfig-dev libexpat1-dev libcmocka-dev
TEST_PKGS  := clang libclang-rt-14-dev sip-tester kamailio kamailio-tls-modules \
              nsd knot-dnsutils redis-server stunnel4 openssl iproute2 procps psmisc prosody lua-unbound python3-slixmpp \
              chromium systemd nftables keepalived
BENCH_PKGS := haproxy dnsperf
# make run: the build, plus what the local pool runs (Redis, kdig, openssl for
# its demo PKI, python3 for its demo UA and client, ss)
RUN_PKGS   := $(BUILD_PKGS) redis-server knot-dnsutils openssl python3 iproute2 procps util-linux

CC      ?= cc
PKGS    := libevent libevent_openssl openssl libcares hiredis libconfig expat
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -g -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wno-format-truncation \
               -Ishared -Inode -Ibalancer $(PKG_CFLAGS)
ifeq ($(SAN),1)
  BUILD   := build-san
  BIN     := build-san/bin
  CFLAGS  := $(CFLAGS_BASE) -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
             -fno-sanitize-recover=undefined
  LDFLAGS := -fsanitize=address,undefined
else
  BUILD   := build
  BIN     := bin
  CFLAGS  := $(CFLAGS_BASE) -O2
  LDFLAGS :=
endif

SHARED_SRC := $(sort $(wildcard shared/*.c))
NODE_SRC   := $(sort $(shell find node -name '*.c' ! -name main.c ! -path 'node/edgectl/*'))
CTL_SRC    := $(sort $(wildcard node/edgectl/*.c))
BAL_SRC    := $(sort $(shell find balancer -name '*.c' ! -name main.c 2>/dev/null))
UNIT_SRC   := $(sort $(wildcard tests/unit/test_*.c))
TOOL_SRC   := $(sort $(wildcard tests/tools/*.c))

SHARED_OBJ := $(SHARED_SRC:%.c=$(BUILD)/%.o)
NODE_OBJ   := $(NODE_SRC:%.c=$(BUILD)/%.o)
CTL_OBJ    := $(CTL_SRC:%.c=$(BUILD)/%.o)
BAL_OBJ    := $(BAL_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_BIN   := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)

.PHONY: all deps test-deps unit integration fuzz test run stop bench clean format tidy

all: $(BIN)/edge-node $(if $(CTL_SRC),$(BIN)/edgectl) $(if $(wildcard balancer/main.c),$(BIN)/edge-balancer)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libshared.a: $(SHARED_OBJ)
	@rm -f $@; ar rcs $@ $^
$(BUILD)/libnode.a: $(NODE_OBJ)
	@rm -f $@; ar rcs $@ $^
$(BUILD)/libbalancer.a: $(BAL_OBJ)
	@rm -f $@; ar rcs $@ $^ $(if $(BAL_OBJ),,$(BUILD)/shared/log.o)

$(BIN)/edge-node: $(BUILD)/node/main.o $(BUILD)/libnode.a $(BUILD)/libshared.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BIN)/edge-balancer: $(BUILD)/balancer/main.o $(BUILD)/libbalancer.a $(BUILD)/libshared.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# edgectl: the operator's CLI (node/edgectl/), linked with the node's policy code.
$(BIN)/edgectl: $(CTL_OBJ) $(BUILD)/libnode.a $(BUILD)/libshared.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libbalancer.a $(BUILD)/libnode.a $(BUILD)/libshared.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka

# Small programs the integration tests drive (e.g. a resolver probe).
$(BUILD)/tools/%: tests/tools/%.c $(BUILD)/libbalancer.a $(BUILD)/libnode.a $(BUILD)/libshared.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

unit-bins: $(UNIT_BIN) $(TOOL_BIN)

# Packages: installed only when missing, only when root (CI and fresh machines).
deps:
	@tests/lib/install-packages.sh $(BUILD_PKGS)
test-deps:
	@tests/lib/install-packages.sh $(BUILD_PKGS) $(TEST_PKGS)

# The whole suite: normal and sanitizer builds, unit tests under ASan/UBSan,
# integration tests against the sanitizer build, a bounded fuzz run.
test: test-deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory SAN=1 all unit-bins
	@tests/run.sh

fuzz:
	@tests/fuzz/run.sh && tests/fuzz/xmpp_stream.sh && tests/fuzz/dns_query.sh

# make run: a whole pool on loopback 127.0.1.x (deploy/local-run.sh: Redis,
# three nodes, a balancer with DNS and VIP, a demo UA); make stop stops it.
run:
	@tests/lib/install-packages.sh $(RUN_PKGS)
	@$(MAKE) --no-print-directory all
	@deploy/local-run.sh start

stop:
	@deploy/local-run.sh stop

# scale the running local pool: a node more / one less (NODE=nodeN), drain one
.PHONY: scale-out scale-in drain
scale-out:
	@deploy/local-run.sh add-node
scale-in:
	@deploy/local-run.sh remove-node $(or $(NODE),$(error NODE=nodeN: which node to remove))
drain:
	@deploy/local-run.sh drain $(or $(NODE),$(error NODE=nodeN: which node to drain))

bench:
	@tests/lib/install-packages.sh $(BUILD_PKGS) $(TEST_PKGS) $(BENCH_PKGS)
	@$(MAKE) --no-print-directory all
	@tests/bench/run.sh

# ---- install / uninstall (deploy/SITE.md says what comes next) ----------
#   make install [PREFIX=/usr/local] [DESTDIR=/staging]
# Binaries: edge-node, edge-balancer to $(PREFIX)/sbin, edgectl to
# $(PREFIX)/bin; systemd units (paths rewritten to PREFIX) to UNITDIR;
# sysusers.d/tmpfiles.d files; the annotated samples as
# /etc/edgepool/node-edge1.conf and balancer.conf only when absent (existing
# configurations are never overwritten), and always as *.example beside them;
# SITE.md and the Redis/Sentinel/keepalived/sysctl examples to DOCDIR.
# Installing to / as root also creates the edgepool user and directories
# (systemd-sysusers, systemd-tmpfiles) and reloads systemd when it runs.
# `make uninstall` removes binaries, units, sysusers/tmpfiles files and docs,
# never /etc/edgepool nor /var/lib/edgepool.
PREFIX      ?= /usr/local
SBINDIR     ?= $(PREFIX)/sbin
BINDIR      ?= $(PREFIX)/bin
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
DOCDIR      ?= $(PREFIX)/share/doc/edgepool
CONFDIR     ?= /etc/edgepool
EP_UNITS    := edge-node@.service edge-balancer.service
EP_DOCS     := deploy/SITE.md deploy/edge-node.conf deploy/edge-balancer.conf \
               deploy/redis/redis.conf.example deploy/redis/sentinel.conf.example \
               $(wildcard deploy/keepalived/*.example) deploy/systemd/edgepool-sysctl.conf

.PHONY: install uninstall
install: all
	install -d -m 0755 $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(DOCDIR)
	install -m 0755 $(BIN)/edge-node $(BIN)/edge-balancer $(DESTDIR)$(SBINDIR)/
	install -m 0755 $(BIN)/edgectl $(DESTDIR)$(BINDIR)/
	for u in $(EP_UNITS); do \
	    sed -e 's|/usr/local/sbin|$(SBINDIR)|g' -e 's|/usr/local/share/doc/edgepool|$(DOCDIR)|g' \
	        -e 's|/etc/edgepool|$(CONFDIR)|g' deploy/systemd/$$u >$(DESTDIR)$(UNITDIR)/$$u.tmp && \
	    chmod 0644 $(DESTDIR)$(UNITDIR)/$$u.tmp && mv $(DESTDIR)$(UNITDIR)/$$u.tmp $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	install -m 0644 deploy/systemd/edgepool.sysusers $(DESTDIR)$(SYSUSERSDIR)/edgepool.conf
	install -m 0644 deploy/systemd/edgepool.tmpfiles $(DESTDIR)$(TMPFILESDIR)/edgepool.conf
	install -m 0644 $(EP_DOCS) $(DESTDIR)$(DOCDIR)/
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v systemd-sysusers >/dev/null; then \
	    echo "systemd-sysusers: the edgepool user"; systemd-sysusers $(SYSUSERSDIR)/edgepool.conf; fi
	install -d -m 0750 $(DESTDIR)$(CONFDIR)
	install -m 0640 deploy/edge-node.conf $(DESTDIR)$(CONFDIR)/edge-node.conf.example
	install -m 0640 deploy/edge-balancer.conf $(DESTDIR)$(CONFDIR)/edge-balancer.conf.example
	@for p in edge-node.conf:node-edge1.conf edge-balancer.conf:balancer.conf; do \
	    f=$(DESTDIR)$(CONFDIR)/$${p#*:}; \
	    if [ -e "$$f" ]; then echo "kept $$f (exists; the new sample is $${p%%:*}.example)"; \
	    else install -m 0640 deploy/$${p%%:*} "$$f" && echo "installed $$f"; fi; \
	done
	@if getent group edgepool >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    chgrp edgepool $(DESTDIR)$(CONFDIR) $(DESTDIR)$(CONFDIR)/*.conf $(DESTDIR)$(CONFDIR)/*.example; fi
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v systemd-tmpfiles >/dev/null; then \
	    systemd-tmpfiles --create $(TMPFILESDIR)/edgepool.conf; fi
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	@echo "installed under $(DESTDIR)$(PREFIX); next: $(DOCDIR)/SITE.md"

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/edge-node $(DESTDIR)$(SBINDIR)/edge-balancer $(DESTDIR)$(BINDIR)/edgectl
	rm -f $(addprefix $(DESTDIR)$(UNITDIR)/,$(EP_UNITS))
	rm -f $(DESTDIR)$(SYSUSERSDIR)/edgepool.conf $(DESTDIR)$(TMPFILESDIR)/edgepool.conf
	rm -rf $(DESTDIR)$(DOCDIR)
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	@echo "kept $(DESTDIR)$(CONFDIR) and /var/lib/edgepool (configurations, keys, policy snapshots)"

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

tidy:
	@git ls-files -z 'node/*.c' 'shared/*.c' 'balancer/*.c' | xargs -0 -n1 -P2 sh -c 'o=$$(clang-tidy -quiet "$$0" -- -std=c11 -D_GNU_SOURCE -Ishared -Inode -Ibalancer $(PKG_CFLAGS) 2>/dev/null) || { printf "%s\n%s: clang-tidy failed\n" "$$o" "$$0"; exit 1; }; ! printf "%s\n" "$$o" | grep -E ": (warning|error):"'

clean:
	rm -rf build build-san bin tests/out

-include $(shell find build build-san -name '*.d' 2>/dev/null)

# Makefile of the migration control plane. `make` builds the programs into bin/;
# `make test` builds sanitized copies under build/test/ and runs every suite.

CC      ?= cc
OPT     ?= -O2 -g
WARN     = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wstrict-prototypes -Wwrite-strings -Wmissing-prototypes -Wshadow \
           -Werror
INC      = -Icore -I.
PKGS     = hiredis libevent libcurl
LIBS     = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lcjson -lpthread -lm
TESTLIBS = $(shell pkg-config --libs check 2>/dev/null)

# Release objects go to build/rel, sanitized test objects to build/test.
B        ?= build/rel
SANITIZE ?=
SANFLAGS  = $(if $(SANITIZE),-fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all)
CFLAGS_ALL = $(WARN) $(OPT) $(SANFLAGS) $(INC) $(CFLAGS)
LDFLAGS_ALL = $(SANFLAGS) $(LDFLAGS)

Q = @
ifeq ($(V),1)
Q =
endif

# Pure modules (no I/O beyond stderr) and the modules that talk to Redis.
PURE = err states migration ids timefmt log config inventory sentinel path jsonw arena jsonbody redisurl
PURE += mcproto
PURE += utf8
PURE += envelope
PURE += wsframe evid
PURE += strbuf
PURE_OBJS = $(patsubst %,$(B)/core/%.o,$(PURE))
CORE_OBJS = $(PURE_OBJS) $(patsubst %,$(B)/core/%.o,rconn store store_worker lualib) $(B)/gen/lua_source.o
# httpbody needs civetweb: only the programs that serve HTTP (API, fleet-sim) pull it in.
CORE_OBJS += $(B)/core/httpbody.o
LUA_SRCS = lua-scripts/common.lua lua-scripts/migration.lua lua-scripts/scheduler.lua \
           lua-scripts/cleanup.lua lua-scripts/lease.lua lua-scripts/query.lua lua-scripts/inventory.lua

# Programs: each links its own objects and the core library.
API_OBJS = $(patsubst %,$(B)/api/%.o,main http auth guard query routes_migrations routes_inventory routes_session metrics relay relay_client relay_redis)
SCHED_OBJS = $(patsubst %,$(B)/scheduler/%.o,main rules)
WORKER_OBJS = $(patsubst %,$(B)/worker/%.o,main job driver plan lease reply)
PROGRAMS = migrate-api migrate-scheduler migrate-worker
# Pure parts of the programs, unit-tested without Redis or sockets.
PROG_PURE_OBJS = $(B)/scheduler/rules.o $(B)/worker/plan.o $(B)/worker/lease.o $(B)/worker/reply.o
# The simulated fleet: its pure model (unit-tested) and its HTTP, Redis and thread parts.
SIM_PURE = $(patsubst %,$(B)/sim/%.o,model players fault fence fleet route snapshot optimizer)
SIM_OBJS = $(patsubst %,$(B)/sim/%.o,main sim httpd agent proxy control report optimizer_run) $(SIM_PURE)
PROGRAMS += fleet-sim
PROG_PURE_OBJS += $(SIM_PURE)
# The command-line client: its pure parts (unit-tested) and its HTTP and WebSocket parts.
CLI_PURE = $(patsubst %,$(B)/cli/%.o,args format wsproto)
CLI_OBJS = $(patsubst %,$(B)/cli/%.o,main rest watch) $(CLI_PURE)
PROGRAMS += migratectl
PROG_PURE_OBJS += $(CLI_PURE)
# The node agent's pure codecs (RCON, Server List Ping), unit-tested without sockets.
AGENT_PURE = $(patsubst %,$(B)/agent/%.o,rcon slp)
PROG_PURE_OBJS += $(AGENT_PURE)
# The world sync (agent/manifest.c, strong.c, fsx.c: the manifest, its walk, its strong
# hash and wire format, unit-tested; sync.c, sync_source.c: the pass engine, tested
# against directories). Only what links them takes xxHash and libcrypto, so that the
# other programs do not grow.
AGENT_PURE += $(patsubst %,$(B)/agent/%.o,manifest strong fsx)
AGENT_SYNC = $(patsubst %,$(B)/agent/%.o,manifest strong fsx sync sync_final sync_hash sync_source)
SYNC_PKGS = libxxhash libcrypto
SYNC_LIBS = $(shell pkg-config --libs $(SYNC_PKGS) 2>/dev/null)
# bin/migrate-agent: the node agent (agent/main.c and the modules around the sync).
AGENT_OBJS = $(patsubst %,$(B)/agent/%.o,main http state routes sync_routes peer runtime runtime_process runtime_docker rcon slp)
AGENT_OBJS += $(AGENT_SYNC)
PROGRAMS += migrate-agent
# bin/migrate-router: the Minecraft router, proxy bridge and waiting room (router/); its
# pure parts (host mapping, stream tracking, greeting, the bridge's table) unit-tested.
ROUTER_PURE = $(patsubst %,$(B)/router/%.o,hostmap conntrack greet table)
ROUTER_OBJS = $(patsubst %,$(B)/router/%.o,main net limbo http state) $(ROUTER_PURE) $(B)/agent/fsx.o
PROGRAMS += migrate-router
PROG_PURE_OBJS += $(ROUTER_PURE)

UNIT = test_states test_migration test_ids test_timefmt test_log test_err test_rules test_plan test_lease
UNIT += test_sim_model test_fence test_optimizer
UNIT += test_cli
UNIT += test_sentinel test_jsonw test_arena test_jsonbody
UNIT += test_redisurl test_reply
UNIT += test_manifest
UNIT += test_router_pure
UNIT += test_mcproto test_rcon test_slp
UNIT += test_utf8
UNIT += test_envelope
UNIT += test_query
UNIT += test_wsframe test_evid
UNIT += test_strbuf
UNIT_OBJS = $(patsubst %,$(B)/tests/unit/%.o,$(UNIT)) $(B)/tests/unit/main.o
INTEG = fixture stack test_store test_events test_concurrency test_list test_api test_relay test_flow
INTEG += test_envelope
INTEG += test_sim
INTEG += test_cli
INTEG += test_sentinel
INTEG += test_fencing test_records
INTEG += test_schedule
INTEG += test_faults
INTEG += test_soak
INTEG += test_security
INTEG += test_untrusted
INTEG += test_sync
INTEG += test_agent
INTEG += test_agent_system
INTEG += certs test_agent_tls
INTEG += test_router test_router_stream
INTEG_OBJS = $(patsubst %,$(B)/tests/integration/%.o,$(INTEG)) $(B)/tests/integration/main.o \
             $(B)/tests/support/redis_harness.o $(B)/tests/support/http_client.o $(B)/tests/support/agent_proc.o \
             $(B)/tests/support/router_proc.o
INTEG_OBJS += $(B)/tests/support/sentinel_harness.o $(B)/tests/support/ws_client.o
INTEG_OBJS += $(patsubst %,$(B)/api/%.o,relay relay_client relay_redis auth guard)
# the worker's driver, called straight against hostile listeners (test_untrusted.c)
INTEG_OBJS += $(patsubst %,$(B)/worker/%.o,driver reply lease)
INTEG_OBJS += $(AGENT_SYNC)

BENCH = transitions fanout list
BENCH += live
BENCH += sync
BENCH += recovery
BENCH += router
BENCH += move

.PHONY: all deps test test-unit test-integration test-containers bench clean demo
.PHONY: test-deploy test-image
.PHONY: soak soak-run
.PHONY: test-e2e test-web e2e-deps bench-dashboard
.PHONY: test-real real-deps
all: $(patsubst %,bin/%,$(PROGRAMS)) lib/migrate-agent/libssl.so lib/migrate-agent/libcrypto.so

# bin/ holds the release build; tests use their own sanitized copies under build/test/bin.
bin/%: build/rel/bin/%
	@mkdir -p bin
	$(Q)cp $< $@

$(B)/bin/migrate-api: $(API_OBJS) $(B)/lib/libmigcore.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS) -lcivetweb -levent_pthreads

$(B)/bin/migrate-scheduler: $(SCHED_OBJS) $(B)/lib/libmigcore.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(B)/bin/migrate-worker: $(WORKER_OBJS) $(B)/lib/libmigcore.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(B)/bin/fleet-sim: $(SIM_OBJS) $(B)/lib/libmigcore.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS) -lcivetweb

$(B)/bin/migrate-agent: $(AGENT_OBJS) $(B)/lib/libmigcore.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS) $(SYNC_LIBS) -lcivetweb

# The agent's https: the shim Debian's civetweb needs with OpenSSL 3 (agent/tls.h), two
# shared objects under the sonames civetweb dlopens, found by the agent at
# <its folder>/../lib/migrate-agent/. Plain C, never sanitized: no program's code.
AGENT_TLS_SHIM = $(B)/lib/migrate-agent/libssl.so $(B)/lib/migrate-agent/libcrypto.so
$(B)/bin/migrate-agent: $(B)/agent/tls.o | $(AGENT_TLS_SHIM)
$(B)/lib/migrate-agent/libssl.so: agent/tls_shim.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=c11 -O2 -fPIC -shared -Wl,-soname,libssl.so -Wl,--no-as-needed -o $@ $< -lssl -lcrypto
$(B)/lib/migrate-agent/libcrypto.so:
	@mkdir -p $(dir $@)
	$(Q)$(CC) -shared -Wl,-soname,libcrypto.so -Wl,--no-as-needed -o $@ -lcrypto
lib/migrate-agent/%: build/rel/lib/migrate-agent/%
	@mkdir -p $(dir $@)
	$(Q)cp $< $@

$(B)/bin/migrate-router: $(ROUTER_OBJS) $(B)/lib/libmigcore.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS) $(SYNC_LIBS) -lcivetweb -levent_pthreads

# The game server of the agent's tests: a world writer that speaks RCON and Server List
# Ping (tests/support/mcfake.c). Not sanitized: the agent runs it under RLIMIT_AS, which
# ASan's shadow memory would not fit.
$(B)/tests/support/mcfake: tests/support/mcfake.c agent/rcon.c core/mcproto.c core/err.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(WARN) -O1 -g $(INC) -o $@ $^

$(B)/bin/migratectl: $(CLI_OBJS) $(B)/lib/libmigcore.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

deps:
	$(Q)sh tools/deps.sh

# The whole system on this machine (see tools/demo.sh); LEVEL=2 for level-2 optimization;
# AGENTS=real for two real node agents moving a flying-squid server with bots on it.
LEVEL ?= 1
AGENTS ?= sim
demo: deps
	$(Q)$(MAKE) --no-print-directory all $(if $(filter real,$(AGENTS)),real-deps)
	$(Q)LEVEL=$(LEVEL) AGENTS=$(AGENTS) ./tools/demo.sh

$(B)/%.o: %.c | check-libs
	@mkdir -p $(dir $@)
	@echo "  CC $<"
	$(Q)$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(B)/gen/lua_source.c: $(B)/tools/embed $(LUA_SRCS)
	@mkdir -p $(dir $@)
	$(Q)$(B)/tools/embed lua_source $(LUA_SRCS) > $@.tmp && mv $@.tmp $@

$(B)/gen/lua_source.o: $(B)/gen/lua_source.c
	$(Q)$(CC) $(CFLAGS_ALL) -c $< -o $@

$(B)/tools/embed: tools/embed.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -O1 -o $@ $<

# A library pkg-config cannot find stops the build before anything compiles, by name,
# rather than as a missing header or an undefined reference later. Order-only: they run
# first and make nothing out of date. Check is the test runners' alone.
TEST_PKGS = check
need_pkgs = for p in $(1); do pkg-config --exists $$p || { echo "make: pkg-config cannot find $$p (of: $(1)); \
             run \`make deps\`, or set PKG_CONFIG_PATH" >&2; exit 1; }; done
.PHONY: check-libs check-test-libs
check-libs:
	$(Q)$(call need_pkgs,$(PKGS) $(SYNC_PKGS))
check-test-libs:
	$(Q)$(call need_pkgs,$(TEST_PKGS))
$(UNIT_OBJS) $(patsubst %,$(B)/tests/integration/%.o,$(INTEG) main) $(B)/tests/support/ws_client.o: | check-test-libs

$(B)/lib/libmigcore.a: $(CORE_OBJS)
	@mkdir -p $(dir $@)
	$(Q)ar rcs $@ $^

# Unit tests link the pure modules only: they run without Redis or sockets by construction.
# api/query.c is pure too; it takes civetweb's query-string decoder.
$(B)/tests/unit/run: $(UNIT_OBJS) $(PURE_OBJS) $(PROG_PURE_OBJS) $(B)/api/query.o
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS) $(SYNC_LIBS) $(TESTLIBS) -lcivetweb

$(B)/tests/integration/run: $(INTEG_OBJS) $(B)/lib/libmigcore.a
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS) $(SYNC_LIBS) $(TESTLIBS) -lcivetweb

$(B)/bench/%: $(B)/bench/%.o $(B)/tests/support/redis_harness.o $(B)/lib/libmigcore.a
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)
# fanout measures the built migrate-api against bench/ref/relay.js.
$(B)/bench/fanout: | $(B)/bin/migrate-api
# list drives the release migrate-api with wrk (bench/list.c).
$(B)/bench/list: $(B)/tests/support/http_client.o | $(B)/bin/migrate-api
# live runs the release programs of bin/ as processes against fleet-sim (bench/live.c).
$(B)/bench/live: $(B)/tests/support/http_client.o $(B)/bench/live_stack.o | bin/fleet-sim bin/migrate-scheduler bin/migrate-worker
# recovery times the faults of docs/OPERATIONS.md on the same stack (bench/recovery.c).
$(B)/bench/recovery: $(B)/tests/support/http_client.o $(B)/bench/live_stack.o | bin/fleet-sim bin/migrate-scheduler bin/migrate-worker
# router pushes bytes through the release migrate-router against a plain TCP relay, and
# holds idle players through it (bench/router.c).
$(B)/bench/router: | bin/migrate-router
# sync measures the world sync against rsync and the socket floor (bench/sync.c).
$(B)/bench/sync: $(AGENT_SYNC) $(B)/core/err.o
$(B)/bench/sync: LIBS += $(B)/lib/libmigcore.a $(SYNC_LIBS) # again: after agent/sync.o, which logs
# move times a live migration between two real agents against an offline move (bench/move.c).
$(B)/bench/move: $(B)/tests/support/http_client.o $(B)/tests/support/agent_proc.o $(B)/bench/live_stack.o $(B)/agent/slp.o | $(B)/tests/support/mcfake \
                 bin/fleet-sim bin/migrate-scheduler bin/migrate-worker bin/migrate-agent

# Benchmarks print their figures; bench/RESULTS.md records them with the command.
bench: deps $(patsubst %,$(B)/bench/%,$(BENCH))
	$(Q)for b in $(BENCH); do $(B)/bench/$$b || exit 1; done
	$(Q)$(MAKE) --no-print-directory bench-dashboard

# Fuzzing (tests/fuzz/, not part of `make test`): a libFuzzer target per parser of outside
# input, built with clang into build/fuzz and run FUZZ_SECONDS each, one at a time, from
# the seed corpus of tests/fuzz/corpus/<name>/ (new inputs go to build/fuzz/corpus/, crashes
# to build/fuzz/crashes/). Installs clang when it is missing, as tools/deps.sh does.
FUZZ = jsonbody query wsframe reply sentinel mcproto rcon slp manifest greet conntrack
FUZZ_SECONDS ?= 60
FUZZ_B = build/fuzz
FUZZ_OBJS = $(PURE_OBJS) $(patsubst %,$(B)/%.o,api/query worker/reply agent/rcon agent/slp agent/manifest agent/strong agent/fsx)
FUZZ_OBJS += $(patsubst %,$(B)/router/%.o,greet hostmap conntrack)
.PHONY: fuzz fuzz-build
fuzz: deps
	$(Q)command -v clang >/dev/null 2>&1 || { S=; [ "$$(id -u)" -eq 0 ] || S=sudo; \
		$$S apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$S apt-get install -y -qq --no-install-recommends clang; }
	$(Q)$(MAKE) --no-print-directory B=$(FUZZ_B) CC=clang SANITIZE=fuzzer-no-link,address,undefined OPT="-O1 -g" fuzz-build
	$(Q)sh tests/fuzz/run.sh $(FUZZ_B) $(FUZZ_SECONDS) $(FUZZ)

fuzz-build: $(patsubst %,$(B)/tests/fuzz/%,$(FUZZ))
.SECONDARY: $(patsubst %,$(B)/tests/fuzz/%.o,$(FUZZ))

$(B)/tests/fuzz/%: $(B)/tests/fuzz/%.o $(FUZZ_OBJS)
	$(Q)$(CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LIBS) $(SYNC_LIBS) -lcivetweb

# The test build: the same sources, sanitized, in their own tree.
TEST_MAKE = $(MAKE) --no-print-directory B=build/test SANITIZE=address,undefined OPT="-O1 -g"

test: deps
	$(Q)$(TEST_MAKE) test-unit test-integration test-web test-e2e test-real
	$(Q)$(MAKE) --no-print-directory test-deploy

# The suites run the build of the B they are given (`make test` gives build/test; an
# engineer may give a folder of their own, with its SANITIZE and OPT). Given none, as in
# a bare `make test-unit`, they hand over to $(TEST_MAKE): the tests are the sanitized
# build's, never the release objects of build/rel.
ifneq ($(origin B),file)
test-unit: $(B)/tests/unit/run
	$(Q)$(B)/tests/unit/run

test-integration: $(B)/tests/integration/run $(patsubst %,$(B)/bin/%,$(PROGRAMS)) $(B)/tests/support/mcfake
	$(Q)MIG_BIN_DIR=$(B)/bin $(B)/tests/integration/run
else
test-unit test-integration:
	$(Q)$(TEST_MAKE) $@
endif

# Real Minecraft-protocol software (tests/real/, docs/OPERATIONS.md): a flying-squid server
# run by two migrate-agents, each in a network namespace of its own (so root; skipped
# otherwise), mineflayer bots building on it, and a live migration through the API, the
# scheduler and a worker; in router.test.mjs the bots join through bin/migrate-router, the
# worker's proxy bridge, which moves them through its waiting room. The npm packages are
# pinned by tests/real/package-lock.json and installed again only when it changed (the
# stamp is touched: npm may rewrite the lock).
# `make test` runs it; not root, nothing is installed and the test says it is skipped.
REAL_MODULES = tests/real/node_modules/.package-lock.json
$(REAL_MODULES): tests/real/package.json tests/real/package-lock.json
	$(Q)cd tests/real && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.package-lock.json

real-deps: $(REAL_MODULES)

ifneq ($(origin B),file)
test-real: $(if $(filter 0,$(shell id -u)),real-deps) $(B)/bin/migrate-agent $(B)/bin/migrate-api $(B)/bin/migrate-scheduler $(B)/bin/migrate-worker \
           $(B)/bin/migrate-router
	$(Q)MIG_BIN_DIR=$(B)/bin node --test tests/real/
else
test-real:
	$(Q)$(TEST_MAKE) $@
endif

# The agent's docker runtime against podman's Docker-compatible service (tests/containers/),
# outside `make test`: it installs podman when missing and needs a machine that can run
# containers; where none can run, it prints SKIPPED and why, and exits 0 only then.
$(B)/tests/containers/run: $(B)/tests/containers/test_docker_runtime.o $(B)/tests/support/http_client.o \
                           $(B)/tests/support/agent_proc.o $(B)/tests/support/redis_harness.o $(B)/lib/libmigcore.a
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS) $(TESTLIBS)

ifneq ($(origin B),file)
test-containers: $(B)/tests/containers/run $(B)/bin/migrate-agent $(B)/tests/support/mcfake
	$(Q)bash tests/containers/run.sh $(B)
else
test-containers:
	$(Q)$(TEST_MAKE) $@
endif

# A seeded randomized fault soak (tests/integration/test_soak.c), long, in the sanitized
# test build (build/test, or the B given): `make soak SEED=7 SECONDS=600`. SEED replays the
# stream of decisions (not the timing); SECONDS is the length of the fault phase. `make
# test` runs the same suite short, with two fixed seeds.
SEED ?= 1
SECONDS ?= 120
SOAK_B = $(if $(filter command line,$(origin B)),$(B),build/test)
soak:
	$(Q)$(MAKE) --no-print-directory B=$(SOAK_B) SANITIZE=address,undefined OPT="-O1 -g" soak-run

soak-run: $(B)/tests/integration/run $(patsubst %,$(B)/bin/%,$(PROGRAMS))
	$(Q)CK_RUN_SUITE=soak MIG_SOAK_SEED=$(SEED) MIG_SOAK_SECONDS=$(SECONDS) MIG_BIN_DIR=$(B)/bin \
		$(B)/tests/integration/run

# The dashboard in a real browser (tests/e2e/): Debian's chromium, driven by playwright-core
# from npm, against the programs of this build (the sanitized ones under `make test`, so
# that the browser's traffic through the API and the relay runs under the sanitizers too).
E2E_MODULES = tests/e2e/node_modules/.package-lock.json
$(E2E_MODULES): tests/e2e/package.json tests/e2e/package-lock.json
	$(Q)cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error

e2e-deps: $(E2E_MODULES)
	$(Q)test -x /usr/bin/chromium || { echo "test-e2e: /usr/bin/chromium is missing; the dashboard's tests need Debian's chromium (make deps installs it)" >&2; exit 1; }

# The dashboard's pure modules (tests/web/: states, events, geometry, format, the page's
# preloads), under node --test with no browser and no program running.
test-web:
	$(Q)node --test tests/web/

test-e2e: e2e-deps $(patsubst %,$(B)/bin/%,$(PROGRAMS))
	$(Q)MIG_BIN_DIR=$(B)/bin node --test tests/e2e/

# The dashboard with 50 nodes, 2,000 servers and 200 migrations in flight (release build).
bench-dashboard: e2e-deps all
	$(Q)MIG_BIN_DIR=bin node tests/e2e/bench.mjs

# Offline checks of deploy/: the Kubernetes manifests rendered and validated against the
# Kubernetes and KEDA schemas, the systemd units verified (tests/deploy/run.sh).
test-deploy:
	$(Q)sh tests/deploy/run.sh

# Optional: the image of deploy/Dockerfile built with podman, and the stack run from it
# (tests/deploy/image.sh); not part of `make test`, which must pass without podman.
test-image:
	$(Q)sh tests/deploy/image.sh

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)

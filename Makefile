# PixelCraft API: build, test and run. See README.md.

VERSION  := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
PKGS     := libpq hiredis json-c libjwt libcurl libcrypto
CC       ?= cc
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wformat=2 -Wno-format-nonliteral
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -D_GNU_SOURCE $(WARN) -Iinclude \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null) \
            -DPIXELCRAFT_VERSION='"$(VERSION)"'
LDLIBS   := -lfcgi $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm

BUILD    ?= build
BIN      := $(BUILD)/pixelcraft-api
STUB     := $(BUILD)/stub-ollama
SRCS     := $(wildcard src/*.c)
OBJS     := $(SRCS:src/%.c=$(BUILD)/obj/%.o)
LIBOBJS  := $(filter-out $(BUILD)/obj/main.o,$(OBJS))

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(BUILD)/unit-tests
INTEG_SRCS := $(wildcard tests/integration/*.c) tests/tools/token.c tests/tools/livesub.c
INTEG_BIN  := $(BUILD)/integration-tests

.PHONY: all deps run stop test unit integration bench load-test faults slow-clients docs docs-site npm format format-check clean

all: $(BIN) $(STUB) $(BUILD)/bench-hello $(BUILD)/bench-floor $(BUILD)/bench-chat-floor $(BUILD)/pc-token $(BUILD)/live-load

$(BUILD)/obj/%.o: src/%.c $(wildcard include/*.h) $(wildcard src/*.h) | $(BUILD)/obj
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj:
	mkdir -p $@

$(BIN): $(OBJS)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libpixelcraft.a: $(LIBOBJS)
	rm -f $@ && ar rcs $@ $^

# Unit tests: one Criterion file per module, linked into one runner.
$(UNIT_BIN): $(UNIT_SRCS) $(BUILD)/libpixelcraft.a
	$(CC) $(CFLAGS) -Wno-missing-prototypes -o $@ $(UNIT_SRCS) $(BUILD)/libpixelcraft.a \
	    $(LDLIBS) -lcriterion

# Integration tests: Criterion + libcurl against a running stack.
$(INTEG_BIN): $(INTEG_SRCS) $(wildcard tests/integration/*.h) $(wildcard tests/tools/*.h)
	$(CC) $(CFLAGS) -Wno-missing-prototypes -Itests/integration -Itests/tools -o $@ $(INTEG_SRCS) \
	    $(LDLIBS) -lcriterion

# Documentation checks (the last suite of make test): scripts/openapi.sh driven by Criterion.
$(BUILD)/docs-tests: tests/docs/test_docs.c
	@echo "  CC      $@"
	@$(CC) $(CFLAGS) -Wno-missing-prototypes -o $@ $< -lcriterion

$(STUB): tests/stub-ollama.c
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -Wno-missing-prototypes -o $@ $< \
	    $(shell pkg-config --cflags --libs libmicrohttpd json-c) -lpthread

$(BUILD)/pc-token: tests/tools/pc-token.c tests/tools/token.c tests/tools/token.h
	@echo "  CC      $@"
	@$(CC) $(CFLAGS) -Wno-missing-prototypes -Itests/tools -o $@ tests/tools/pc-token.c \
	    tests/tools/token.c -lcrypto

$(BUILD)/live-load: tests/tools/live-load.c tests/tools/livesub.c tests/tools/livesub.h
	@echo "  CC      $@"
	@$(CC) $(CFLAGS) -Wno-missing-prototypes -Itests/tools -o $@ tests/tools/live-load.c \
	    tests/tools/livesub.c -lpthread

$(BUILD)/bench-hello: scripts/bench/hello.c
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -Wno-missing-prototypes -o $@ $< -lfcgi

# the floors: linked with every library a worker uses
$(BUILD)/bench-floor $(BUILD)/bench-chat-floor: $(BUILD)/bench-%: scripts/bench/%.c scripts/bench/floor.h
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -Wno-missing-prototypes -o $@ $< $(LDLIBS)

# The documentation site: ops/openapi.json, Swagger UI and ReDoc from the npm
# packages pinned in ops/docs/package-lock.json (installed with npm ci, no
# install scripts), served by nginx at /openapi.json, /docs and /redoc.
NPM_DIR := $(BUILD)/npm

npm: $(NPM_DIR)/.installed

$(NPM_DIR)/.installed: ops/docs/package.json ops/docs/package-lock.json
	rm -rf $(NPM_DIR) && mkdir -p $(NPM_DIR)
	cp ops/docs/package.json ops/docs/package-lock.json $(NPM_DIR)/
	cd $(NPM_DIR) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

docs-site: $(BUILD)/docs-site/openapi.json

$(BUILD)/docs-site/openapi.json: $(NPM_DIR)/.installed ops/openapi.json $(wildcard ops/docs/*.html ops/docs/*.js)
	scripts/openapi.sh site $(BUILD)/docs-site

deps:
	scripts/install-deps.sh

run: deps
	$(MAKE) all docs-site
	scripts/run.sh start

stop:
	scripts/run.sh stop

test: deps
	scripts/test.sh

unit: $(UNIT_BIN)
	$(UNIT_BIN) --jobs 2

integration: $(BIN) $(INTEG_BIN)
	scripts/test.sh integration

bench: deps
	$(MAKE) all
	scripts/bench.sh

# The load-test suite (not part of make test): report and plots in build/load-test/.
load-test: deps
	$(MAKE) all
	scripts/load-test.sh

# Eight faults under chat load, with the nothing-lost checks (make test runs three, short).
faults: deps
	$(MAKE) all
	scripts/faults.sh

# Slow clients (slowhttptest) beside normal ones through nginx (also in make test).
slow-clients: deps
	$(MAKE) all
	scripts/slow-clients.sh

docs: $(BIN)
	scripts/docs.sh

format:
	clang-format -i src/*.c src/*.h include/*.h tests/unit/*.c tests/integration/*.c

format-check:
	clang-format --dry-run --Werror src/*.c src/*.h include/*.h

clean:
	rm -rf $(BUILD)

# ---- Sanitizers, fuzzing, memory checks -------------------------------------
#   make asan         ASan+UBSan worker and unit tests in build/asan (normal build untouched)
#   make sanitize     scripts/sanitize.sh: ASan unit tests, unit tests under valgrind,
#                     one integration pass (nginx) whose workers are the ASan build
#   make fuzz         every libFuzzer harness for FUZZ_SECONDS (300) each, new inputs
#                     merged into tests/fuzz/corpus/, crashes kept in tests/fuzz/crashes/
#   make fuzz-replay  corpus and saved crashes once through every harness (make test)
#   make memcheck     RSS growth over 100,000 requests, and a worker under valgrind
# SANITIZE=1 adds the sanitizer flags to any build; give it its own BUILD directory:
#   make BUILD=build/asan SANITIZE=1 build/asan/pixelcraft-api
SAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
             -fno-sanitize-recover=all
ifeq ($(SANITIZE),1)
CFLAGS += $(SAN_FLAGS)
endif
ASAN_BUILD ?= build/asan
ASAN_CC    ?= clang

# Fuzzing: clang, the sources compiled again with the sanitizers and libFuzzer's
# coverage, linked against json-c built from Debian's source the same way
# (scripts/fuzz.sh json-c) instead of the uninstrumented system library.
FUZZ_BUILD   ?= build/fuzz
FUZZ_CC      ?= clang
FUZZ_JSONC   := $(FUZZ_BUILD)/json-c/lib/libjson-c.a
FUZZ_PKGS    := $(filter-out json-c,$(PKGS))
FUZZ_CFLAGS  := $(SAN_FLAGS) -std=c11 -D_GNU_SOURCE $(WARN) -Iinclude \
                -I$(FUZZ_BUILD)/json-c/include \
                $(shell pkg-config --cflags $(FUZZ_PKGS) 2>/dev/null) \
                -DPIXELCRAFT_VERSION='"fuzz"'
FUZZ_LDLIBS  := $(FUZZ_JSONC) -lfcgi $(shell pkg-config --libs $(FUZZ_PKGS) 2>/dev/null) -lm
FUZZ_OBJS    := $(filter-out $(FUZZ_BUILD)/obj/main.o,$(SRCS:src/%.c=$(FUZZ_BUILD)/obj/%.o))
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

.PHONY: asan fuzz fuzz-build fuzz-replay sanitize memcheck

asan:
	@$(MAKE) -s BUILD=$(ASAN_BUILD) SANITIZE=1 CC=$(ASAN_CC) $(ASAN_BUILD)/pixelcraft-api \
	    $(ASAN_BUILD)/unit-tests

$(FUZZ_JSONC):
	scripts/fuzz.sh json-c

$(FUZZ_BUILD)/obj/%.o: src/%.c $(wildcard include/*.h) $(wildcard src/*.h) | $(FUZZ_JSONC)
	@mkdir -p $(@D)
	@echo "  FUZZCC  $<"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_BUILD)/libpixelcraft.a: $(FUZZ_OBJS)
	@rm -f $@ && ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_BUILD)/libpixelcraft.a
	@echo "  FUZZLD  $@"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -Wno-missing-prototypes -fsanitize=fuzzer -Itests/fuzz -o $@ $< \
	    $(FUZZ_BUILD)/libpixelcraft.a $(FUZZ_LDLIBS)

fuzz-build: $(FUZZ_BINS)

fuzz:
	scripts/fuzz.sh run

fuzz-replay:
	scripts/fuzz.sh replay

sanitize: all $(UNIT_BIN) $(INTEG_BIN)
	scripts/sanitize.sh all

memcheck: all
	scripts/memcheck.sh

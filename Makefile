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
INTEG_SRCS := $(wildcard tests/integration/*.c) tests/tools/token.c
INTEG_BIN  := $(BUILD)/integration-tests

.PHONY: all deps run stop test unit integration bench docs format format-check clean

all: $(BIN) $(STUB) $(BUILD)/bench-hello $(BUILD)/pc-token

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
$(INTEG_BIN): $(INTEG_SRCS) $(wildcard tests/integration/*.h) tests/tools/token.h
	$(CC) $(CFLAGS) -Wno-missing-prototypes -Itests/integration -Itests/tools -o $@ $(INTEG_SRCS) \
	    $(LDLIBS) -lcriterion

$(STUB): tests/stub-ollama.c
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -Wno-missing-prototypes -o $@ $< \
	    $(shell pkg-config --cflags --libs libmicrohttpd json-c) -lpthread

$(BUILD)/pc-token: tests/tools/pc-token.c tests/tools/token.c tests/tools/token.h
	@echo "  CC      $@"
	@$(CC) $(CFLAGS) -Wno-missing-prototypes -Itests/tools -o $@ tests/tools/pc-token.c \
	    tests/tools/token.c -lcrypto

$(BUILD)/bench-hello: scripts/bench/hello.c
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -Wno-missing-prototypes -o $@ $< -lfcgi

deps:
	scripts/install-deps.sh

run: deps
	$(MAKE) all
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

docs: $(BIN)
	scripts/docs.sh

format:
	clang-format -i src/*.c src/*.h include/*.h tests/unit/*.c tests/integration/*.c

format-check:
	clang-format --dry-run --Werror src/*.c src/*.h include/*.h

clean:
	rm -rf $(BUILD)

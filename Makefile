# Flywheel — `make demo` and `make test` work from a clean clone on Debian 12 with Swift 6.
SHELL := /bin/bash
SWIFT ?= swift
APT_PACKAGES := libgit2-dev libcurl4-openssl-dev libcmark-gfm-dev libcmark-gfm-extensions-dev pkg-config
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
DEMO_DIR ?= demo
DEMO_OUT ?= $(DEMO_DIR)/site

.PHONY: all build demo test deps test-deps bench release clean

all: build

## deps: install the system libraries when pkg-config cannot find them.
deps:
	@if ! pkg-config --exists libgit2 libcurl libcmark-gfm 2>/dev/null || [ ! -e /usr/include/cmark-gfm-core-extensions.h ]; then \
		echo "Installing system libraries: $(APT_PACKAGES)"; \
		$(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y $(APT_PACKAGES); \
	fi

## test-deps: what the tests use besides the libraries: git and node as peers, python3-venv for HALO's own
## parser, chromium for the browser tests (installed when missing).
test-deps: deps
	@missing=""; \
	command -v git >/dev/null || missing="$$missing git"; \
	command -v python3 >/dev/null || missing="$$missing python3"; \
	command -v node >/dev/null || missing="$$missing nodejs"; \
	python3 -c 'import ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		echo "Installing test tools:$$missing"; \
		$(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y $$missing; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

## demo: build, run three offline cycles of the example loop, render the site, print where it is.
demo: build
	rm -rf $(DEMO_DIR)
	$$($(SWIFT) build --show-bin-path)/flywheel demo --dir $(DEMO_DIR) --out $(DEMO_OUT)

## test: build and run every test (Swift Testing); peers and browser installed if missing.
test: test-deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

## bench: the speed targets of the issues, release build (prints figures).
bench: release
	$$($(SWIFT) build -c release --show-bin-path)/bench-git
	$$($(SWIFT) build -c release --show-bin-path)/bench-traces
	$$($(SWIFT) build -c release --show-bin-path)/bench-evals
	$$($(SWIFT) build -c release --show-bin-path)/bench-site
	$$($(SWIFT) build -c release --show-bin-path)/bench-run
	$$($(SWIFT) build -c release --show-bin-path)/bench-redact

clean:
	rm -rf .build $(DEMO_DIR)

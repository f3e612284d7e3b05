# The two commands of the README:
#   make run   - the main job: the lab, every failure scenario in every mode
#                (BGP, SDN, HAProxy) plus the baselines, and the comparison table
#   make test  - install test dependencies, then lint and run every test
#                (lint type-checks the fuzz targets too, so they never rot)
#   make fuzz  - run every fuzz target for FUZZ_SECONDS each (nightly)
.PHONY: run test deps lint build nextest lab check-example fuzz fuzz-check fuzz-deps release install install-files deb man hot-text

CARGO ?= cargo

run: lab

check-example:
	@for f in examples/*.toml; do echo "== $$f"; $(CARGO) run --quiet --release -p orbitd -- check-config --skip-files $$f || exit 1; done

test: deps lint nextest

deps:
	./scripts/install-deps.sh
	@command -v cargo-nextest >/dev/null || $(CARGO) install --locked cargo-nextest

lint: fuzz-check
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

# The fuzz crate is outside the workspace (cargo-fuzz builds it with nightly
# and its own committed lock file); stable type-checks it. If this fails
# with "the lock file needs to be updated", a fuzz target gained a
# dependency: run `cargo check --manifest-path fuzz/Cargo.toml` once and
# commit fuzz/Cargo.lock.
fuzz-check:
	$(CARGO) check --manifest-path fuzz/Cargo.toml --bins --locked

nextest:
	$(CARGO) nextest run --workspace --locked --no-fail-fast

build:
	$(CARGO) build --workspace --release --locked

# The lab (docs/lab.md): every scenario in every mode, the comparison table
# on stdout, JSON / Markdown / SVG in lab-results/. `make lab LAB_ARGS="--runs 1"`
# for a quicker pass; `--modes` and `--scenarios` select.
LAB_ARGS ?=
lab: deps
	$(CARGO) build --quiet --release --locked -p orbitd -p orbitctl -p orbit-lab
	./target/release/orbit-lab run --out lab-results $(LAB_ARGS)

# Regenerate daemon/hot-text.ld, the list of functions orbitd runs that
# release builds place first (docs/bgp.md "Memory"), after code changes
# have moved orbitd's resident memory (`cargo bench -p orbitd --bench
# cold_start -- --quick`). Needs valgrind; ~15 minutes.
hot-text: deps
	./scripts/hot-text.sh

# Fuzzing (docs in README "Fuzzing"): every target in fuzz/fuzz_targets/ for
# FUZZ_SECONDS each, then a table of executions and crashes per target; exit
# status 1 if any crashed. FUZZ_TARGETS="ovsdb_reader bgp_decode" selects.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
fuzz: fuzz-deps
	./scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# nightly (for the sanitizer flags) and cargo-fuzz, each only if missing.
fuzz-deps:
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@command -v cargo-fuzz >/dev/null || $(CARGO) install --locked cargo-fuzz

# Installing (README "Install"). One script lays out the files for both
# (scripts/stage.sh), so `make install` and the package ship the same ones.
#   make install PREFIX=/usr/local DESTDIR=   binaries, man pages, completions,
#       /etc/orbit/orbit.toml (never overwritten), the systemd unit, docs
#   make deb      target/debian/orbit_VERSION_ARCH.deb (dpkg-deb, no extra tool)
#   make man      target/man/orbitd.8, orbit.toml.5, orbitctl.1 (uncompressed)
PREFIX ?= /usr/local
DESTDIR ?=
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)

release:
	$(CARGO) build --release --locked -p orbitd -p orbitctl

install: release install-files

# BINDIR=target/debug installs other binaries (the package test does).
BINDIR ?= $(TARGET_DIR)/release
install-files:
	./scripts/stage.sh $(BINDIR) "$(DESTDIR)" $(PREFIX)

deb: release
	./scripts/deb.sh $(TARGET_DIR)/release $(TARGET_DIR)/debian

man:
	$(CARGO) build --locked -p orbitd -p orbitctl
	mkdir -p $(TARGET_DIR)/man
	$(TARGET_DIR)/debug/orbitd man orbitd >$(TARGET_DIR)/man/orbitd.8
	$(TARGET_DIR)/debug/orbitd man orbit.toml >$(TARGET_DIR)/man/orbit.toml.5
	$(TARGET_DIR)/debug/orbitctl man >$(TARGET_DIR)/man/orbitctl.1

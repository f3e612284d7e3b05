# The two commands of the README:
#   make run   - the main job (today: validate and explain the example config)
#   make test  - install test dependencies, then lint and run every test
.PHONY: run test deps lint build nextest lab

CARGO ?= cargo

run:
	$(CARGO) run --quiet --release -p orbitd -- check-config examples/orbit.toml

test: deps lint nextest

deps:
	./scripts/install-deps.sh
	@command -v cargo-nextest >/dev/null || $(CARGO) install --locked cargo-nextest

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

nextest:
	$(CARGO) nextest run --workspace --locked --no-fail-fast

build:
	$(CARGO) build --workspace --release --locked

# The lab (docs/lab.md): every scenario in every mode, the comparison table
# on stdout, JSON / Markdown / SVG in lab-results/. Proposed as `make run`.
LAB_ARGS ?=
lab: deps
	$(CARGO) build --quiet --release --locked -p orbitd -p orbitctl -p orbit-lab
	./target/release/orbit-lab run --out lab-results $(LAB_ARGS)

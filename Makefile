# The two commands of the README:
#   make run   - the main job: the lab, every failure scenario in every mode
#                (BGP, SDN, HAProxy) plus the baselines, and the comparison table
#   make test  - install test dependencies, then lint and run every test
.PHONY: run test deps lint build nextest lab check-example

CARGO ?= cargo

run: lab

check-example:
	$(CARGO) run --quiet --release -p orbitd -- check-config --skip-files examples/orbit.toml

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
# on stdout, JSON / Markdown / SVG in lab-results/. `make lab LAB_ARGS="--runs 1"`
# for a quicker pass; `--modes` and `--scenarios` select.
LAB_ARGS ?=
lab: deps
	$(CARGO) build --quiet --release --locked -p orbitd -p orbitctl -p orbit-lab
	./target/release/orbit-lab run --out lab-results $(LAB_ARGS)

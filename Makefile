# The two commands: `make run` starts Salon with embedded defaults, `make test` runs the gate.
DATA_DIR ?= salon-data
PORT ?= 8443

.PHONY: run test bench check

run:
	@scripts/bootstrap.sh
	@.venv/bin/salon --data-dir $(DATA_DIR) serve --port $(PORT)

test:
	@scripts/bootstrap.sh --test
	@scripts/check

# The gate alone, without the install step.
check:
	@scripts/check

bench:
	@scripts/bootstrap.sh --test
	@.venv/bin/python bench/api.py
	@.venv/bin/python bench/signaling.py
	@.venv/bin/python bench/join.py
	@.venv/bin/python bench/sfu.py

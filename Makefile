# Two commands for a newcomer: `make run` (demo on SQLite) and `make test` (the whole suite).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/pbx_admin
TEST_REDIS_URL ?= redis://127.0.0.1:6379/1
# postgresql and redis-server: the outage tests start a cluster and a Redis of their own to kill.
APT_PACKAGES := kamailio kamailio-postgres-modules kamailio-websocket-modules \
	kamailio-sqlite-modules kamailio-tls-modules chromium postgresql-client postgresql redis-server
# The media relay (rtpengine; Kamailio's rtpengine module ships in the kamailio package) and the
# real softphone the media tests call with (baresip without its GTK front end).
APT_PACKAGES += rtpengine-daemon baresip-core
# (The cluster's dmq, dmq_usrloc, path and textopsx modules ship in `kamailio` itself.)
# The web phone's short-lived credentials (Kamailio's auth_ephemeral module).
APT_PACKAGES += kamailio-autheph-modules
# SIPp, the called extensions of the calls bench (bench-calls): answers and echoes RTP.
APT_PACKAGES += sip-tester
# The web phone's TURN server (coturn): `make turn` for local use, and the tests of relayed media.
APT_PACKAGES += coturn
RUN_ENV := DJANGO_DEBUG=1
# `make run PORT=8001` serves the demo on another port.
PORT ?= 8000
# Settings that import with no secret or server: for makemigrations --check and mypy's plugin.
CHECK_ENV := DJANGO_DEBUG=1 DATABASE_URL=sqlite:///:memory:

.PHONY: run test sip turn sip-cluster bench-cluster lint mypy mypy-baseline system-deps messages bench js-deps js-app bench-register bench-register-overload bench-subscriber-triggers bench-capacity bench-scale \
	bench-export bench-load bench-calls-history bench-call-exports bench-calls bench-status-poll

$(VENV)/.run-installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev-installed: $(VENV)/.run-installed requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

# Debian packages the tests use (the SIP server and the browser); installs only what is missing.
system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages: $$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
		if echo "$$missing" | grep -qx coturn; then \
			echo "Stopping and disabling the coturn service the package starts (an open relay with its default config; make turn and the tests run their own)"; \
			$$SUDO systemctl disable --now coturn 2>/dev/null || $$SUDO service coturn stop 2>/dev/null || true; \
		fi; \
	fi

run: $(VENV)/.run-installed js-app
	mkdir -p var
	$(RUN_ENV) $(PY) manage.py migrate --noinput
	$(RUN_ENV) $(PY) manage.py seed_demo
	@echo "Dashboard: http://127.0.0.1:$(PORT)/  —  sign in as admin / admin (agent: agent / agent)"
	@# The task queue's worker (webhook deliveries) beside the server; Ctrl-C stops both.
	$(RUN_ENV) $(PY) manage.py run_huey --workers 2 & worker=$$!; \
		trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
		$(RUN_ENV) $(PY) manage.py runserver 127.0.0.1:$(PORT)

test: $(VENV)/.dev-installed system-deps js-deps
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	# Models against migrations; no server needed (an in-memory SQLite answers the history check).
	$(CHECK_ENV) $(PY) manage.py makemigrations --check --dry-run
	# Domain code flows one way between apps (.importlinter: core < audit < tenants < hotlines <
	# extensions < dialplan < sip); presentation code may use any app.
	$(VENV)/bin/lint-imports
	# mypy against mypy-baseline.txt (make mypy).
	$(CHECK_ENV) $(PY) tools/mypy_baseline.py

# mypy with django-stubs against mypy-baseline.txt: fails on an error the baseline does not list
# (matched by file, code and message; line numbers aside). About a minute cold; the cache in
# .mypy_cache makes the next run take seconds.
mypy: $(VENV)/.dev-installed
	$(CHECK_ENV) $(PY) tools/mypy_baseline.py

# Rewrites mypy-baseline.txt from today's errors: after fixing some, or after a merge.
mypy-baseline: $(VENV)/.dev-installed
	$(CHECK_ENV) $(PY) tools/mypy_baseline.py --update

messages: $(VENV)/.dev-installed
	$(RUN_ENV) $(PY) manage.py makemessages -l vi --no-obsolete --ignore=.venv --ignore=frontend --ignore=sip/tests/js
	$(RUN_ENV) $(PY) manage.py compilemessages --ignore=.venv --ignore=frontend --ignore=sip/tests/js

# The SIP server for the dashboard's login info: Kamailio in the foreground on 127.0.0.1:5060
# (UDP+TCP) and ws://127.0.0.1:8088/ws, reading the same database as `make run` (or DATABASE_URL),
# and rtpengine, the media relay (RTP ports 30000-30199). Ctrl-C stops both. Their own Prometheus
# counters: http://127.0.0.1:9102/metrics (Kamailio), http://127.0.0.1:9101/metrics (rtpengine).
sip: $(VENV)/.run-installed system-deps
	mkdir -p var
	$(RUN_ENV) $(PY) manage.py migrate --noinput
	@# The call-history importer (Kamailio's accounting rows → calls, call.ended webhooks) beside
	@# Kamailio; Ctrl-C stops both.
	$(RUN_ENV) $(PY) manage.py import_call_records --follow & importer=$$!; \
		trap 'kill $$importer 2>/dev/null; wait $$importer' EXIT INT TERM; \
		$(RUN_ENV) $(PY) manage.py run_kamailio

# TURN for the web phone on this machine (coturn on 127.0.0.1:3478 UDP+TCP, relay ports
# 49160-49200, the dashboard's TURN secret); run the dashboard with the WEB_PHONE_TURN_URLS it
# prints. Ctrl-C stops it. Production: docs/deployment.md, "TURN for the web phone".
turn: $(VENV)/.run-installed system-deps
	mkdir -p var
	$(RUN_ENV) $(PY) manage.py run_turn

# SIP_CLUSTER_NODES Kamailio nodes as one service on the same database (docs/deployment.md, "A
# cluster of SIP servers"): node n on 127.0.0.<n+1> with SIP on 5060 and WebSocket on 8088 (as
# `make sip`), DMQ between them on 5070, each with its own rtpengine; Ctrl-C stops them all.
SIP_CLUSTER_NODES ?= 2
sip-cluster: $(VENV)/.run-installed system-deps
	mkdir -p var
	$(RUN_ENV) $(PY) manage.py migrate --noinput
	$(RUN_ENV) $(PY) manage.py import_call_records --follow & importer=$$!; \
		trap 'kill $$importer 2>/dev/null; wait $$importer' EXIT INT TERM; \
		$(RUN_ENV) $(PY) manage.py run_kamailio --cluster $(SIP_CLUSTER_NODES)

# JsSIP (npm) bundled for the browser test that registers over WebSocket.
JS_DIR := sip/tests/js
$(JS_DIR)/build/jssip.js: $(JS_DIR)/package.json $(JS_DIR)/package-lock.json
	npm ci --prefix $(JS_DIR) --no-audit --no-fund --loglevel=error
	npm run --prefix $(JS_DIR) --silent build

# axe-core (npm), the accessibility engine the page tests inject into every page (tests/test_pages.py).
PAGE_JS_DIR := tests/js
$(PAGE_JS_DIR)/node_modules/axe-core/axe.min.js: $(PAGE_JS_DIR)/package.json $(PAGE_JS_DIR)/package-lock.json
	npm ci --prefix $(PAGE_JS_DIR) --no-audit --no-fund --loglevel=error
	touch $@

js-deps: $(JS_DIR)/build/jssip.js $(PAGE_JS_DIR)/node_modules/axe-core/axe.min.js js-app

# The dashboard's own bundles (the web phone: frontend/src + JsSIP from npm, exact versions from
# the lockfile) into frontend/build/, which Django serves and collectstatic collects.
FRONTEND := frontend
$(FRONTEND)/node_modules/.package-lock.json: $(FRONTEND)/package.json $(FRONTEND)/package-lock.json
	npm ci --prefix $(FRONTEND) --no-audit --no-fund --loglevel=error
	touch $@

$(FRONTEND)/build/webphone/phone.js: $(FRONTEND)/node_modules/.package-lock.json $(wildcard $(FRONTEND)/src/*.js)
	npm run --prefix $(FRONTEND) --silent build

js-app: $(FRONTEND)/build/webphone/phone.js


# Sustained authenticated REGISTERs per second (SIPp at rising rates over 5,000 extensions): our
# sip_subscriber table vs Kamailio's stock subscriber table, interleaved; ends with a `ratio`
# line (loopback, bounded: ~8 minutes, 5 of steps; needs PostgreSQL). BENCH_ARGS=--quick for a smoke run.
# See docs/performance.md.
bench-register: $(VENV)/.dev-installed system-deps
	$(PY) bench/register_bench.py $(BENCH_ARGS)

# What keeping sip_subscriber current costs bulk writes of 10,000 extensions: triggers on vs off
# (a scratch database it creates and drops, BENCH_DATABASE_URL; ~3 minutes).
bench-subscriber-triggers: $(VENV)/.dev-installed
	$(PY) bench/subscriber_triggers_bench.py $(BENCH_ARGS)

# REGISTERs offered at rising rates (200–4000 registrations/s) against REGISTER_RATE_LIMIT:
# counts 200s, 503s with Retry-After and silence per rate (docs/performance.md).
bench-register-overload: $(VENV)/.dev-installed system-deps
	$(PY) bench/register_bench.py --overload --users 1000 $(BENCH_ARGS)

# Registrations across a cluster: replication delay, rows written per REGISTER, a node joining
# later (loopback, a scratch database; about a minute). See docs/performance.md.
bench-cluster: $(VENV)/.dev-installed system-deps
	$(PY) bench/cluster_bench.py $(BENCH_ARGS)

# Concurrent calls with RTP through Kamailio and rtpengine at rising counts (10 … 1000): packet
# loss, CPU per call, the count where loss passes 0.1 % (loopback, bounded: about 8 minutes; a
# scratch database it creates and drops, BENCH_DATABASE_URL). BENCH_ARGS=--quick for a 2-call
# smoke run. See docs/performance.md, "Calls through the media relay".
bench-calls: $(VENV)/.dev-installed system-deps
	$(PY) bench/calls_bench.py $(BENCH_ARGS)

# The extension list page, the list API, range create and CSV import at 10,000 extensions,
# next to Django admin's changelist and a bare view (PostgreSQL: a scratch database it creates
# and drops; BENCH_DATABASE_URL). See docs/performance.md, "Scale".
bench-scale: $(VENV)/.dev-installed
	$(PY) bench/bench_scale.py

# The CSV export of a hotline of 100,000 extensions, plain and with passwords: time to the first
# chunk, total time, peak memory (a scratch database it creates and drops; BENCH_DATABASE_URL).
# See docs/performance.md, "Export".
bench-export: $(VENV)/.dev-installed
	$(PY) bench/bench_export.py

# The dashboard on gunicorn under 5, 20 and 50 concurrent users (pages, saves, API), next to Django
# admin doing the same job, at 10,000 extensions in one hotline and 100,000 over 10 (loopback,
# bounded: about 10 minutes; a scratch database it creates and drops, BENCH_DATABASE_URL).
# BENCH_ARGS=--quick for a two-minute smoke run. See docs/performance.md, "Load".
bench-load: $(VENV)/.dev-installed
	$(PY) bench/load_bench.py $(BENCH_ARGS)

# The call history at 1,000,000 calls (pages with each filter, keyset page 200, CSV, the API)
# next to the extension list and a bare query (scratch database it creates and drops;
# BENCH_DATABASE_URL). BENCH_ARGS="--calls=100000 --rounds=10" for a quick run, --purge for the
# retention purge. See docs/performance.md, "Call history".
bench-calls-history: $(VENV)/.dev-installed
	$(PY) bench/bench_calls.py $(BENCH_ARGS)

# The call history's CSV export of 200,000 calls: the request before (streamed to its end) and
# now (counted up to CALL_EXPORT_INLINE_ROWS and queued), and the worker's file (scratch database
# it creates and drops; BENCH_DATABASE_URL). See docs/performance.md, "Call history".
bench-call-exports: $(VENV)/.dev-installed
	$(PY) bench/bench_call_exports.py $(BENCH_ARGS)

# The capacity model for 1,000 tenants and 100,000 extensions: bytes per extension, registration,
# call record and audit row measured on a scratch database (BENCH_DATABASE_URL; about a minute),
# then REGISTER load, calls, database size, write rate and nodes from parameters
# (BENCH_ARGS, see --help). See docs/performance.md, "Capacity model".
bench-capacity: $(VENV)/.dev-installed
	$(PY) bench/capacity.py $(BENCH_ARGS)
# Live status at 100 open pages: pages polling /hotlines/<id>/status/ on gunicorn (sync workers),
# against /healthz in the same run; req/s, p50/p95, CPU per poll, database connections, and
# whether registration changes reach the pages within 2 s (docs/performance.md, "Live status:
# 100 open pages"). About 3 minutes; BENCH_ARGS=--quick about 1.
bench-status-poll: $(VENV)/.dev-installed
	$(PY) bench/status_poll_bench.py $(BENCH_ARGS)

# lago_ros: one-command set-up, run and test on a fresh machine (no apt ROS needed).
#   make run    create .venv, install everything pinned, run the main job on its defaults
#   make test   create/update .venv, run the whole test suite
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
# Local-only DDS on a per-invocation domain: no traffic leaves the machine, parallel runs stay apart.
ROS_ENV := ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_DOMAIN_ID=$${ROS_DOMAIN_ID:-$$((RANDOM % 100 + 1))} \
	AMENT_PREFIX_PATH=$(CURDIR)/$(VENV)$${AMENT_PREFIX_PATH:+:$$AMENT_PREFIX_PATH} MUJOCO_GL=egl

PKG_FILES := $(shell find lago_ros launch config sim resource -type f -not -name '*.pyc' 2>/dev/null) \
	setup.py setup.cfg package.xml
IFACE_FILES := $(shell find lago_interfaces -type f -not -path '*/build/*' 2>/dev/null)

.PHONY: run test bench bench-quick lint clean venv

venv: $(VENV)/.pkg

# The ROS 2 wheels and the rest, in one resolver run (a ROS install uses requirements.txt alone).
REQUIREMENTS := requirements-ros.txt requirements.txt

$(VENV)/.deps: $(REQUIREMENTS)
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: ROS 2 Kilted wheels need CPython 3.11"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(addprefix -r ,$(REQUIREMENTS))
	touch $@

$(VENV)/.iface: $(VENV)/.deps $(IFACE_FILES)
	$(PY) -m pip install --quiet --no-build-isolation --no-deps ./lago_interfaces
	touch $@

$(VENV)/.pkg: $(VENV)/.iface $(PKG_FILES)
	$(PY) -m pip install --quiet --no-build-isolation --no-deps --force-reinstall .
	touch $@

run: venv
	$(ROS_ENV) $(VENV)/bin/lago run

# pytest exits 5 when it collected no tests: for us that means a broken suite, so it fails too.
test: venv
	@$(ROS_ENV) $(PY) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: treating as a failure"; exit 1; fi; \
	exit $$rc

bench: venv
	$(PY) -m pip install --quiet -r bench/requirements.txt
	$(ROS_ENV) $(PY) -m bench.run

bench-quick: venv
	$(PY) -m pip install --quiet -r bench/requirements.txt
	$(ROS_ENV) $(PY) -m bench.run --quick

lint: venv
	$(PY) -m pytest -m linter

clean:
	rm -rf $(VENV) build *.egg-info lago_interfaces/build

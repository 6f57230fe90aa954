# apigee-mtls-demo — every target runs the numbered scripts in scripts/ in the tutorial's order.
# Settings: env/defaults.env, overridden by env/local.env and then by the environment,
# e.g.  CERTS_DIR=/tmp/pki SERVER_HOST=10.0.0.5 make certs
# The targets below follow the tutorial's sections; `make help` lists them in this order.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.PHONY: help deps system-deps all test typecheck

help: ## List the targets, in the tutorial's order
	@awk -F':.*## ' '/^##@ / { printf "\n%s\n", substr($$0, 5); next } /^[a-z][a-z0-9-]*:.*## / { printf "  make %-18s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

##@ Start here
# Reinstall when node_modules is missing or older than the lockfile. Only the lockfile: editing
# package.json "scripts" must not wipe node_modules (npm ci) under running processes.
node_modules/.installed: package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.installed ## Install the pinned dependencies (npm ci) when needed

# For `all` and `rotate`: notes which local services already run, and on exit (also on failure)
# stops the backend and stand-in only when this recipe started them.
STOP_WHAT_WE_START = ours_backend=1; ours_apigee=1; \
	./scripts/20-backend.ts --running && ours_backend=0; \
	./scripts/40-apigee-local.ts --running && ours_apigee=0; \
	trap '[ $$ours_apigee = 0 ] || ./scripts/40-apigee-local.ts --stop; [ $$ours_backend = 0 ] || ./scripts/20-backend.ts --stop' EXIT

# The whole demo on this machine. Services it starts are stopped on exit, also on failure; a
# backend or stand-in that was already running is reused and left running. The scenario steps
# keep going after a mismatch so the summary shows every result.
all: deps certs ## Run the whole demo locally: PKI, backend, direct calls, Apigee stand-in, Apigee steps, summary
	./scripts/90-summary.ts --clear
	status=0; $(STOP_WHAT_WE_START); \
	./scripts/20-backend.ts --detach; \
	./scripts/21-direct-scenarios.ts || status=1; \
	./scripts/40-apigee-local.ts --detach; \
	for step in $(APIGEE_STEPS); do ./scripts/$$step || { status=1; break; }; done; \
	./scripts/48-gateway-failures.ts || status=1; \
	./scripts/90-summary.ts || status=1; \
	exit $$status

##@ Certificates (tutorial: "Crear los certificados…", steps 1-12; docs/certificates.md)
.PHONY: certs k8s-secrets
# The five steps in one Node process (each also runs alone, e.g. ./scripts/10-ca.ts). FORCE=1 remakes
# all but the CA, which only NEW_CA=1 replaces.
certs: deps ## Steps 1-12: CA, server and client certificates, keystores, truststore, verify
	./scripts/run-steps.ts 10-ca 11-server-cert 12-client-cert 13-server-stores 14-verify-certs

k8s-secrets: deps ## "Crear secret … (k8s)": print the kubectl commands for the Secrets (DRY_RUN=0 applies them)
	DRY_RUN=$${DRY_RUN:-1} ./scripts/22-k8s-secrets.ts

##@ Backend (tutorial: "Construcción del Microservicio"; docs/backend.md)
.PHONY: backend backend-start backend-stop scenarios
backend: deps ## Run the mTLS backend in the foreground, like java -jar (Ctrl-C drains and stops it)
	./scripts/20-backend.ts

backend-start: deps ## Start the mTLS backend in the background (pid and JSON log in RUN_DIR)
	./scripts/20-backend.ts --detach

backend-stop: ## Stop the background backend (fine when it is not running)
	./scripts/20-backend.ts --stop

scenarios: deps ## The tutorial's three direct curl checks against the running backend
	./scripts/21-direct-scenarios.ts

##@ Infrastructure (tutorial: "Realizar la configuración de la infraestructura…", "Despliegue en k8s"; docs/cloud.md)
# DRY_RUN=1 prints every command and needs no account.
.PHONY: vm k8s teardown
vm: deps certs ## GCP VM backend: address, certificate for it, firewall, VM, install, mTLS check
	./scripts/30-gcp-preflight.ts
	./scripts/31-gcp-address.ts
	./scripts/32-gcp-firewall.ts
	./scripts/33-gcp-vm.ts
	./scripts/34-gcp-install-backend.ts
	./scripts/35-gcp-wait-backend.ts

k8s: deps certs ## Kubernetes backend: image, Secrets, manifests, LoadBalancer on the static IP
	./scripts/30-gcp-preflight.ts --k8s
	./scripts/31-gcp-address.ts
	./scripts/36-k8s-deploy.ts

teardown: deps ## Delete the cloud resources (asks first; YES=1 skips the question)
	./scripts/39-teardown.ts

##@ Apigee (tutorial: "Crear el proxy en Apigee"; docs/tutorial.md): local stand-in by default, Apigee X when the settings say so (env/local.env, LOCAL_ENV_FILE or the environment)
.PHONY: apigee-local apigee-local-start apigee-local-stop apigee gateway-failures summary clean
APIGEE_STEPS := 41-proxy-bundle.ts 42-keystore.ts 43-truststore.ts 44-references.ts 45-target-server.ts 46-deploy.ts 47-call-gateway.ts
apigee-local: deps ## Run the local Apigee X stand-in in the foreground (Ctrl-C stops it; docs/apigee-local.md)
	npm run --silent apigee-local

apigee-local-start: deps ## Start the local Apigee stand-in in the background (pid and log in RUN_DIR)
	./scripts/40-apigee-local.ts --detach

apigee-local-stop: ## Stop the background Apigee stand-in
	./scripts/40-apigee-local.ts --stop

apigee: deps ## Apigee steps: bundle, keystore, truststore, references, target server, deploy, call
	for step in $(APIGEE_STEPS); do ./scripts/$$step; done

gateway-failures: deps ## Break the mTLS chain one piece at a time, explain each 503, restore
	./scripts/48-gateway-failures.ts

# Like `all`, starts the local backend and stand-in unless they run, and stops what it started.
.PHONY: rotate
rotate: deps ## Rotate the Apigee client and backend certificates while gateway calls run (reports 0 failed)
	$(STOP_WHAT_WE_START); \
	./scripts/20-backend.ts --detach; \
	./scripts/40-apigee-local.ts --detach; \
	./scripts/49-rotate-certs.ts

summary: deps ## Table of every recorded scenario (expected vs got)
	./scripts/90-summary.ts

clean: deps ## Undeploy and delete the Apigee resources, stop local services (certificates kept)
	./scripts/99-cleanup.ts

##@ Development (docs/contributing.md)
.PHONY: bench bench-certs bench-backend bench-backend-ab bench-gateway
# The system packages first (installed when missing and run as root; .ci/packages), then the suite.
test: deps system-deps ## Run the test suite (ends with "N passed, N failed")
	npm test --silent

system-deps: ## Install the system packages the tests need when missing (.ci/packages; needs root)
	.ci/system-deps

typecheck: deps ## Type-check the project
	npx tsc --noEmit -p .

bench-certs: deps ## Certificate section speed against the tutorial's commands (writes bench/certs/results.md)
	node --import tsx bench/certs/bench.ts

bench-backend: deps ## Backend vs bare node:https, JDK and nginx (handshakes, keep-alive, memory, CPU profiles; ~20 min) → bench/backend/RESULTS.md
	node --import tsx bench/backend/run.ts

bench-backend-ab: deps ## Two builds of the backend side by side in one run: this tree's against BASE=<git revision> (default HEAD; ~3 min); prints the ratios
	BASE='$(BASE)' node --import tsx bench/backend/ab.ts

bench-gateway: deps ## Gateway speed: the stand-in vs nginx as mTLS reverse proxy vs direct (~2 min) → bench/gateway/results.md
	node --import tsx bench/gateway/run.ts

bench: bench-certs bench-backend bench-gateway ## Every benchmark (several minutes; run on a quiet machine)

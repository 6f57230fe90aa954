#!/usr/bin/env bash
# Boot-time provisioning of the mTLS backend VM, run as root by the guest agent from the
# "startup-script" metadata key on every boot (so it is idempotent). It installs the Node runtime,
# a system user and a hardened systemd unit. It never sees keys or passwords: scripts/34 uploads
# the backend, the stores and their passwords over SSH and runs install-bundle.sh.
#
# Settings come from non-secret metadata attributes (node-version, backend-port, health-port,
# client-auth) with the defaults below. ROOT prefixes every path this script writes, so the tests
# can run it in a temporary folder with stand-ins for apt-get, useradd and systemctl.
set -euo pipefail

ROOT="${ROOT:-}"
SERVICE=mtls-backend
SERVICE_USER=mtls-backend
NODE_DIR=/opt/node
APP_DIR=/opt/mtls-backend
CONF_DIR=/etc/mtls-backend
UNIT_FILE=/etc/systemd/system/$SERVICE.service
METADATA_URL=http://metadata.google.internal/computeMetadata/v1/instance/attributes

log() { printf 'mtls-startup: %s\n' "$*"; }
die() { log "$*" >&2; exit 1; }

# One metadata attribute, or the default when the attribute is not set.
attribute() {
  local value
  if value=$(curl -fsS --max-time 5 -H 'Metadata-Flavor: Google' "$METADATA_URL/$1" 2>/dev/null); then
    printf '%s' "$value"
  else
    printf '%s' "$2"
  fi
}

NODE_VERSION=$(attribute node-version 20.20.2)
NODE_SHA256=$(attribute node-sha256 '')
BACKEND_PORT=$(attribute backend-port 8443)
HEALTH_PORT=$(attribute health-port 8081)
CLIENT_AUTH=$(attribute client-auth need)

# Metadata is typed by hand sometimes: refuse values that would write a broken unit.
[[ $NODE_VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "node-version '$NODE_VERSION' is not like 20.20.2"
[[ -z $NODE_SHA256 || $NODE_SHA256 =~ ^[0-9a-f]{64}$ ]] || die "node-sha256 must be 64 hex digits"
[[ $BACKEND_PORT =~ ^[0-9]{1,5}$ ]] || die "backend-port '$BACKEND_PORT' is not a port number"
[[ $HEALTH_PORT =~ ^[0-9]{1,5}$ ]] || die "health-port '$HEALTH_PORT' is not a port number"
[[ $CLIENT_AUTH =~ ^(need|want|none)$ ]] || die "client-auth '$CLIENT_AUTH' must be need, want or none"

install_packages() {
  log "apt: ca-certificates curl xz-utils"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends ca-certificates curl xz-utils
}

# Ubuntu LTS ships Node 18 (24.04) or older, so the runtime comes from nodejs.org's release
# tarball, checked against the release's SHASUMS256.txt (and NODE_SHA256 when pinned).
install_node() {
  local arch tarball url work
  if [ -x "$ROOT$NODE_DIR/bin/node" ] && [ "$("$ROOT$NODE_DIR/bin/node" --version)" = "v$NODE_VERSION" ]; then
    log "node v$NODE_VERSION already installed"
    return
  fi
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64) arch=arm64 ;;
    *) die "no Node.js build for $(uname -m)" ;;
  esac
  tarball=node-v$NODE_VERSION-linux-$arch.tar.xz
  url=https://nodejs.org/dist/v$NODE_VERSION
  work=$(mktemp -d)
  log "node: $url/$tarball"
  curl -fsSL --retry 3 -o "$work/$tarball" "$url/$tarball"
  curl -fsSL --retry 3 -o "$work/SHASUMS256.txt" "$url/SHASUMS256.txt"
  grep -E "^[0-9a-f]{64}  $tarball\$" "$work/SHASUMS256.txt" > "$work/expected" || die "$tarball is not listed in SHASUMS256.txt"
  if [ -n "$NODE_SHA256" ]; then
    [ "$(cut -d' ' -f1 "$work/expected")" = "$NODE_SHA256" ] || die "SHASUMS256.txt disagrees with the pinned node-sha256"
  fi
  (cd "$work" && sha256sum --check --strict --quiet expected) || die "checksum mismatch for $tarball"
  rm -rf "$ROOT$NODE_DIR.new"
  mkdir -p "$ROOT$NODE_DIR.new"
  tar -xJf "$work/$tarball" -C "$ROOT$NODE_DIR.new" --strip-components=1 --no-same-owner
  rm -rf "$ROOT$NODE_DIR"
  mv "$ROOT$NODE_DIR.new" "$ROOT$NODE_DIR"
  rm -rf "$work"
  log "node $("$ROOT$NODE_DIR/bin/node" --version) installed in $NODE_DIR"
}

create_user() {
  if id -u "$SERVICE_USER" >/dev/null 2>&1; then
    log "user $SERVICE_USER exists"
  else
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$SERVICE_USER"
    log "user $SERVICE_USER created"
  fi
}

# Code is root-owned and read-only to the service; the config folder is readable by its group only.
create_layout() {
  mkdir -p "$ROOT$APP_DIR" "$ROOT$CONF_DIR" "$ROOT$(dirname "$UNIT_FILE")"
  chown root:root "$ROOT$APP_DIR"
  chmod 0755 "$ROOT$APP_DIR"
  chown "root:$SERVICE_USER" "$ROOT$CONF_DIR"
  chmod 0750 "$ROOT$CONF_DIR"
  cat > "$ROOT$CONF_DIR/runtime.env" <<ENV
# Written by startup.sh from the instance metadata. Passwords live in secrets.env (root only).
PORT=$BACKEND_PORT
HEALTH_PORT=$HEALTH_PORT
SERVER_SSL_KEYSTORE=$CONF_DIR/server-keystore.p12
SERVER_SSL_KEYALIAS=server
SERVER_SSL_TRUSTSTORE=$CONF_DIR/server-truststore.p12
SERVER_SSL_CLIENTAUTH=$CLIENT_AUTH
ENV
  chown "root:$SERVICE_USER" "$ROOT$CONF_DIR/runtime.env"
  chmod 0640 "$ROOT$CONF_DIR/runtime.env"
}

write_unit() {
  cat > "$ROOT$UNIT_FILE" <<UNIT
[Unit]
Description=mTLS demo backend (apigee-mtls-demo)
Wants=network-online.target
After=network-online.target
# Nothing to serve until install-bundle.sh has delivered the code and the stores.
ConditionPathExists=$APP_DIR/app/main.js
ConditionPathExists=$CONF_DIR/server-keystore.p12
ConditionPathExists=$CONF_DIR/server-truststore.p12

[Service]
Type=simple
User=$SERVICE_USER
Group=$SERVICE_USER
EnvironmentFile=$CONF_DIR/runtime.env
# Read by systemd (root) before dropping privileges; the service user cannot read the file.
EnvironmentFile=$CONF_DIR/secrets.env
ExecStart=$NODE_DIR/bin/node $APP_DIR/app/main.js
Restart=on-failure
RestartSec=2
UMask=0077
NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
SystemCallArchitectures=native
SystemCallFilter=@system-service
# A filtered call fails with EPERM instead of killing node, so libuv can fall back (e.g. io_uring).
SystemCallErrorNumber=EPERM
# MemoryDenyWriteExecute stays off: V8 writes machine code at run time.

[Install]
WantedBy=multi-user.target
UNIT
  chmod 0644 "$ROOT$UNIT_FILE"
}

install_packages
install_node
create_user
create_layout
write_unit
systemctl daemon-reload
systemctl enable "$SERVICE.service"
if [ -e "$ROOT$APP_DIR/app/main.js" ] && [ -e "$ROOT$CONF_DIR/server-keystore.p12" ]; then
  systemctl restart "$SERVICE.service"
  log "$SERVICE restarted"
else
  log "$SERVICE enabled; it starts once install-bundle.sh has delivered the backend and the stores"
fi
touch "$ROOT$CONF_DIR/provisioned"
log "done"

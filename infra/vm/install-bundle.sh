#!/usr/bin/env bash
# Installs what scripts/34-gcp-install-backend.ts uploaded to the VM (run with sudo from the
# uploaded folder): the compiled backend into /opt/mtls-backend/app, the two stores into
# /etc/mtls-backend, and the store password, read from stdin, into a root-only systemd
# EnvironmentFile there; then restarts the service and checks it stays up. The password arrives
# over the SSH connection (`gcloud compute ssh … <<<"$STORE_PASSWORD"`), so it is never in a file
# of the upload. The caller removes the upload folder right after this script.
# ROOT prefixes every path written, as in startup.sh, for the tests.
set -euo pipefail
umask 077

ROOT="${ROOT:-}"
SERVICE=mtls-backend
SERVICE_USER=mtls-backend
APP_DIR=/opt/mtls-backend
CONF_DIR=/etc/mtls-backend
PROVISION_TIMEOUT="${PROVISION_TIMEOUT:-600}"
BUNDLE=$(cd "$(dirname "$0")" && pwd)

log() { printf 'mtls-install: %s\n' "$*"; }
die() { log "$*" >&2; exit 1; }

for item in app/main.js server-keystore.p12 server-truststore.p12 app/package.json; do
  [ -e "$BUNDLE/$item" ] || die "the upload lacks $item"
done

# One line on stdin: the password of both stores.
IFS= read -r password || true
[ -n "$password" ] || die "no store password on stdin (gcloud compute ssh … <<<\"\$STORE_PASSWORD\")"

# The startup script may still be installing Node on a fresh VM: wait for its marker, bounded.
waited=0
until [ -e "$ROOT$CONF_DIR/provisioned" ]; do
  [ "$waited" -lt "$PROVISION_TIMEOUT" ] || die "startup.sh has not finished after ${PROVISION_TIMEOUT}s; see: sudo journalctl -u google-startup-scripts"
  [ $((waited % 30)) -eq 0 ] && log "waiting for startup.sh to finish (${waited}s)"
  sleep 5
  waited=$((waited + 5))
done

# Code: replace the whole folder at once, root-owned, readable by everyone, writable by no one else.
rm -rf "$ROOT$APP_DIR/app.new"
cp -R "$BUNDLE/app" "$ROOT$APP_DIR/app.new"
chown -R root:root "$ROOT$APP_DIR/app.new"
chmod -R u=rwX,go=rX "$ROOT$APP_DIR/app.new"
rm -rf "$ROOT$APP_DIR/app"
mv "$ROOT$APP_DIR/app.new" "$ROOT$APP_DIR/app"
log "backend installed in $APP_DIR/app"

# Stores: readable by the service's group; passwords: root only (systemd reads them).
for store in server-keystore.p12 server-truststore.p12; do
  cp "$BUNDLE/$store" "$ROOT$CONF_DIR/$store.new"
  chown "root:$SERVICE_USER" "$ROOT$CONF_DIR/$store.new"
  chmod 0640 "$ROOT$CONF_DIR/$store.new"
  mv "$ROOT$CONF_DIR/$store.new" "$ROOT$CONF_DIR/$store"
done
# systemd EnvironmentFile syntax: a double-quoted value with backslashes and quotes escaped.
quoted=${password//\\/\\\\}
quoted=${quoted//\"/\\\"}
printf 'SERVER_SSL_KEYSTOREPASSWORD="%s"\nSERVER_SSL_TRUSTSTOREPASSWORD="%s"\n' "$quoted" "$quoted" > "$ROOT$CONF_DIR/secrets.env.new"
chown root:root "$ROOT$CONF_DIR/secrets.env.new"
chmod 0600 "$ROOT$CONF_DIR/secrets.env.new"
mv "$ROOT$CONF_DIR/secrets.env.new" "$ROOT$CONF_DIR/secrets.env"
log "stores and passwords installed in $CONF_DIR"

systemctl restart "$SERVICE.service"
sleep 2
if ! systemctl is-active --quiet "$SERVICE.service"; then
  journalctl -u "$SERVICE.service" -n 20 --no-pager || true
  die "$SERVICE did not stay up (log above)"
fi
log "$SERVICE is running"

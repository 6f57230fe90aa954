#!/usr/bin/env bash
# The tutorial's certificate commands (steps 1-12) as a plain shell script, for the speed baseline.
# Two changes so it runs unattended: san.cnf is written with a heredoc instead of an editor, and the
# truststore (step 8) is built after the client certificate exists (in the tutorial's order the
# first keytool call fails: apigee-client-cert.pem is not there yet).
# Usage: bench/certs/tutorial.sh <empty folder>
set -euo pipefail
cd "$1"
HOST=127.0.0.1
SUBJ="/C=CO/ST=Bogota/L=Bogota/O=DemomTLSCompany/OU=mTLS"

openssl genpkey -algorithm RSA -out ca-key.pem 2>/dev/null
openssl req -x509 -new -nodes -key ca-key.pem -sha256 -days 365 -out ca-cert.pem -subj "$SUBJ/CN=Entidad Certificadora"

cat > san.cnf <<CNF
[ req ]
prompt = no
distinguished_name = req_distinguished_name
[ req_distinguished_name ]
C = CO
ST = Bogota
L = Bogota
O = DemomTLSCompany
OU = mTLS
CN = $HOST
[ req_ext ]
subjectAltName = @alt_names
[ alt_names ]
IP.1 = $HOST
CNF

openssl genpkey -algorithm RSA -out server-key.pem 2>/dev/null
openssl req -new -key server-key.pem -out server.csr -config san.cnf
openssl x509 -req -in server.csr -CA ca-cert.pem -CAkey ca-key.pem -CAcreateserial -out server-cert.pem -days 365 -sha256 -extensions req_ext -extfile san.cnf 2>/dev/null
openssl pkcs12 -export -in server-cert.pem -inkey server-key.pem -out server-keystore.p12 -name server -password pass:changeit

openssl genpkey -algorithm RSA -out apigee-client-key.pem 2>/dev/null
openssl req -new -key apigee-client-key.pem -out client.csr -subj "$SUBJ/CN=apigee-client"
openssl x509 -req -in client.csr -CA ca-cert.pem -CAkey ca-key.pem -CAcreateserial -out apigee-client-cert.pem -days 365 -sha256 2>/dev/null
openssl pkcs12 -export -in apigee-client-cert.pem -inkey apigee-client-key.pem -out client-apigee-keystore.p12 -name client -password pass:changeit

keytool -importcert -noprompt -file apigee-client-cert.pem -keystore server-truststore.p12 -storepass changeit -alias client >/dev/null 2>&1
keytool -importcert -noprompt -alias ca -file ca-cert.pem -keystore server-truststore.p12 -storepass changeit >/dev/null 2>&1

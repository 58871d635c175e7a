#!/usr/bin/env bash
# What CI runs for the deployment files; builds nothing itself.
#   CGO_ENABLED=0 go build -o /tmp/flotilla-ci ./cmd/flotilla
#   bash deploy/check.sh /tmp/flotilla-ci
# Checks provision.sh in --check mode (a temporary root: nothing of this
# machine's /usr/local, /etc or systemd changes) and, where ruby and shellcheck
# are installed (apt-get install ruby shellcheck), the Vagrantfile and the scripts.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
binary=${1:?usage: deploy/check.sh PATH-TO-FLOTILLA-BINARY}

if command -v shellcheck >/dev/null; then
	shellcheck deploy/provision.sh deploy/check.sh
	echo "check: shellcheck ok"
else
	echo "check: shellcheck not installed: scripts not linted"
fi
bash deploy/provision.sh --check --binary "$binary" --role both --name s1 --ip 127.0.0.1 --servers 127.0.0.1
# With gossip encryption: the key file installed, given to both units.
key_file=$(mktemp)
tls=$(mktemp -d)
token_dir=$(mktemp -d)
trap 'rm -rf "$key_file" "$tls" "$token_dir"' EXIT
"$binary" operator gossip keyring generate >"$key_file"
bash deploy/provision.sh --check --binary "$binary" --role both --name s1 --ip 127.0.0.1 --servers 127.0.0.1 --gossip-key-file "$key_file"
# With TLS, as docs/REAL-CLUSTERS.md makes it: a CA, then this machine's
# server, agent and CLI certificates in its own directory.
binary_abs=$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")
(
	cd "$tls"
	"$binary_abs" tls ca create >/dev/null
	mkdir s1
	cp flotilla-ca.pem s1/
	"$binary_abs" tls cert create --server --dir s1 --name server --additional-ipaddress 192.0.2.11 >/dev/null
	"$binary_abs" tls cert create --agent --dir s1 --name agent --additional-ipaddress 192.0.2.11 >/dev/null
	"$binary_abs" tls cert create --cli --dir s1 --name cli >/dev/null
)
bash deploy/provision.sh --check --binary "$binary" --role both --name s1 --ip 192.0.2.11 --servers 192.0.2.11 --tls-dir "$tls/s1"
# Beyond loopback without TLS files, provisioning is refused unless --insecure.
if out=$(bash deploy/provision.sh --check --binary "$binary" --role both --name s1 --ip 192.0.2.11 --servers 192.0.2.11 2>&1); then
	echo "check FAILED: provision.sh without --tls-dir or --insecure on 192.0.2.11 was accepted"
	exit 1
fi
grep -q -- "--insecure" <<<"$out" || {
	echo "check FAILED: the refusal does not name --insecure: $out"
	exit 1
}
bash deploy/provision.sh --check --binary "$binary" --role agent --name n4 --ip 192.0.2.14 --servers 192.0.2.11 --insecure
# And with ACLs: the servers' --acl and bootstrap token, the agent's token.
"$binary" acl token generate >"$token_dir/bootstrap.token"
bash deploy/provision.sh --check --binary "$binary" --role both --name s1 --ip 127.0.0.1 --servers 127.0.0.1 \
	--acl --bootstrap-token-file "$token_dir/bootstrap.token" --token-file "$token_dir/bootstrap.token"
# Everything on at once, as docs/REAL-CLUSTERS.md's step by step does it:
# TLS, the gossip key, the servers' shared keyring and ACLs.
"$binary" operator keyring generate >"$token_dir/keyring.json"
chmod 600 "$token_dir/keyring.json"
bash deploy/provision.sh --check --binary "$binary" --role both --name s1 --ip 192.0.2.11 --servers 192.0.2.11 \
	--tls-dir "$tls/s1" --gossip-key-file "$key_file" --keyring-file "$token_dir/keyring.json" \
	--acl --bootstrap-token-file "$token_dir/bootstrap.token" --token-file "$token_dir/bootstrap.token"
if command -v ruby >/dev/null; then
	ruby -c Vagrantfile
else
	echo "check: ruby not installed: Vagrantfile not checked"
fi

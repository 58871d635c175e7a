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
# And with ACLs: the servers' --acl and bootstrap token, the agent's token.
token_dir=$(mktemp -d)
trap 'rm -rf "$token_dir"' EXIT
"$binary" acl token generate >"$token_dir/bootstrap.token"
bash deploy/provision.sh --check --binary "$binary" --role both --name s1 --ip 127.0.0.1 --servers 127.0.0.1 \
	--acl --bootstrap-token-file "$token_dir/bootstrap.token" --token-file "$token_dir/bootstrap.token"
if command -v ruby >/dev/null; then
	ruby -c Vagrantfile
else
	echo "check: ruby not installed: Vagrantfile not checked"
fi

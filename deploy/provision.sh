#!/usr/bin/env bash
# Provision one machine of a real Flotilla cluster (Debian 12): install
# containerd, runc and the CNI plugins, the flotilla binary, its systemd units
# and their flags, then start them. The Vagrantfile runs this on each VM; on
# bare metal you run it yourself on each machine. Safe to run again: it changes
# only what differs and restarts only the services whose files changed.
#
#   provision.sh --role server|agent|both --name s1 --ip 192.168.56.11 \
#                --servers 192.168.56.11,192.168.56.12,192.168.56.13 \
#                --tls-dir tls/s1 [options]
#
# --tls-dir holds this machine's certificates, made with `flotilla tls`
# (docs/REAL-CLUSTERS.md, "Mutual TLS"); without it, a machine whose --ip is
# not loopback needs --insecure (anyone who reaches the ports controls the
# cluster).
#
# --check does everything that needs no systemd into a temporary root (never
# /usr/local/bin, /etc or systemd of this machine; only missing apt packages
# are installed for real) and then checks the result. See usage() below.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
UNIT_DIR="$SCRIPT_DIR/systemd"
PACKAGES=(containerd runc containernetworking-plugins iproute2 ca-certificates)
CNI_PLUGINS=(bridge host-local loopback portmap)

# Where the binary goes: $ROOT$PREFIX/bin/flotilla. The units name
# $PREFIX/bin/flotilla (ROOT is a staging root, PREFIX is where it will live).
PREFIX=${PREFIX:-/usr/local}

usage() {
	cat <<EOF
usage: provision.sh --role server|agent|both --name NAME --ip IP --servers IP1,IP2,IP3 [options]

  --role ROLE           server, agent, or both (a server and an agent on this machine)
  --name NAME           this machine's server name, or its node name for --role agent
  --agent-name NAME     the agent's node name with --role both (default: s1 -> n1,
                        otherwise NAME-agent; gossip needs names distinct from the server's)
  --ip IP               this machine's IPv4 address that the others reach it on
  --servers IPS         the servers' IPv4 addresses, comma-separated (all of them)
  --binary PATH         the flotilla binary to install (default ./flotilla, else /vagrant/flotilla)
  --bootstrap-expect N  servers to wait for before bootstrapping Raft (default: how many --servers;
                        0 to add a server to a running cluster)
  --cluster-cidr CIDR   pod block, a /24 per node (default 10.200.0.0/16)
  --vip-cidr CIDR       service VIP block (default 10.201.0.0/16)
  --cpu CPU             CPU the agent offers (default: nproc x 1000m)
  --memory MEM          memory the agent offers (default: MemTotal less 512Mi, in Mi)
  --labels K=V,...      node labels for the agent
  --keyring-file PATH   servers: the keyring that encrypts secrets at rest, the same file on every
                        server (flotilla operator keyring generate > keyring.json); installed as
                        /etc/flotilla/keyring.json, mode 0600 (default: each server makes its own,
                        which only suits a one-server cluster)
  --server-args "..."   extra flags appended to FLOTILLA_SERVER_ARGS
  --agent-args "..."    extra flags appended to FLOTILLA_AGENT_ARGS
  --tls-dir DIR         this machine's TLS files, made with flotilla tls: flotilla-ca.pem, and
                        server.pem + server-key.pem (server role), agent.pem + agent-key.pem
                        (agent role), optionally cli.pem + cli-key.pem (the CLI on this machine);
                        installed into /etc/flotilla/tls, keys readable by root only
  --insecure            no TLS although --ip is not loopback (a lab on a private network)
  --acl                 servers enforce ACLs (docs/REAL-CLUSTERS.md, "ACLs")
  --bootstrap-token-file F  with --acl: a file holding the first management token's secret
                        (flotilla acl token generate > F); installed as /etc/flotilla/bootstrap.token
  --token-file F        the agent's ACL token (a file with its secret); installed as
                        /etc/flotilla/agent-token.env (mode 0600), read by flotilla-agent.service
  --containerd-socket P (default /run/containerd/containerd.sock)
  --cni-bin-dir DIR     (default /usr/lib/cni, Debian's containernetworking-plugins)
  --gossip-key-file P   encrypt gossip: a file holding the base64 key (flotilla operator gossip
                        keyring generate), the same on every machine; installed as
                        /etc/flotilla/gossip.key (mode 0600) and given to the server and the agent
  --check               install into a temporary root and check it; start nothing
  --root DIR            the root to install into (default / ; with --check a new temporary dir)

Environment: PREFIX (default /usr/local): the binary goes to \$PREFIX/bin/flotilla.
EOF
}

say() { printf 'provision: %s\n' "$*"; }
warn() { printf 'provision: warning: %s\n' "$*" >&2; }
die() {
	printf 'provision: error: %s\n' "$*" >&2
	exit 1
}
fail() {
	printf 'provision: check FAILED: %s\n' "$*" >&2
	exit 1
}
ok() { printf 'provision: check ok: %s\n' "$*"; }

ROLE="" NAME="" AGENT_NAME="" IP="" SERVERS="" BINARY="" ROOT="" CHECK=0 TLS_DIR="" INSECURE=0
ACL=0 BOOTSTRAP_TOKEN_FILE="" TOKEN_FILE=""
BOOTSTRAP_EXPECT="" CPU="" MEMORY="" LABELS="" EXTRA_SERVER_ARGS="" EXTRA_AGENT_ARGS="" KEYRING_FILE=""
CLUSTER_CIDR=10.200.0.0/16
VIP_CIDR=10.201.0.0/16
CONTAINERD_SOCKET=/run/containerd/containerd.sock
CNI_BIN_DIR=/usr/lib/cni
GOSSIP_KEY_FILE=""
GOSSIP_KEY_DEST=/etc/flotilla/gossip.key

while (($#)); do
	opt=$1
	case $opt in
	--check)
		CHECK=1
		shift
		continue
		;;
	--insecure)
		INSECURE=1
		shift
		continue
		;;
	--acl)
		ACL=1
		shift
		continue
		;;
	-h | --help)
		usage
		exit 0
		;;
	--role | --name | --agent-name | --ip | --servers | --binary | --root | --bootstrap-expect | \
		--cluster-cidr | --vip-cidr | --cpu | --memory | --labels | --server-args | --agent-args | \
		--containerd-socket | --cni-bin-dir | --gossip-key-file | --keyring-file | --tls-dir | \
		--bootstrap-token-file | --token-file)
		(($# >= 2)) || die "$opt needs a value"
		val=$2
		shift 2
		;;
	--*=*)
		# --flag=value: split it into two words and go round again.
		set -- "${opt%%=*}" "${opt#*=}" "${@:2}"
		continue
		;;
	*)
		usage >&2
		die "unknown argument: $opt"
		;;
	esac
	case $opt in
	--role) ROLE=$val ;;
	--name) NAME=$val ;;
	--agent-name) AGENT_NAME=$val ;;
	--ip) IP=$val ;;
	--servers) SERVERS=$val ;;
	--binary) BINARY=$val ;;
	--root) ROOT=$val ;;
	--bootstrap-expect) BOOTSTRAP_EXPECT=$val ;;
	--cluster-cidr) CLUSTER_CIDR=$val ;;
	--vip-cidr) VIP_CIDR=$val ;;
	--cpu) CPU=$val ;;
	--memory) MEMORY=$val ;;
	--labels) LABELS=$val ;;
	--server-args) EXTRA_SERVER_ARGS=$val ;;
	--agent-args) EXTRA_AGENT_ARGS=$val ;;
	--containerd-socket) CONTAINERD_SOCKET=$val ;;
	--cni-bin-dir) CNI_BIN_DIR=$val ;;
	--gossip-key-file) GOSSIP_KEY_FILE=$val ;;
	--keyring-file) KEYRING_FILE=$val ;;
	--tls-dir) TLS_DIR=$val ;;
	--bootstrap-token-file) BOOTSTRAP_TOKEN_FILE=$val ;;
	--token-file) TOKEN_FILE=$val ;;
	esac
done

# ---------------------------------------------------------------- validation

ipv4_re='^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$'
valid_ipv4() {
	[[ $1 =~ $ipv4_re ]] || return 1
	local i
	for i in 1 2 3 4; do ((BASH_REMATCH[i] <= 255)) || return 1; done
}
name_re='^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'
cidr_re='^[0-9.]+/[0-9]{1,2}$'
word_re='^[^[:space:]"\\$]+$'

case $ROLE in
server | agent | both) ;;
"") die "--role is required (server, agent or both)" ;;
*) die "--role $ROLE: want server, agent or both" ;;
esac
[[ -n $NAME ]] || die "--name is required"
[[ $NAME =~ $name_re ]] || die "--name $NAME: want a DNS label ([a-z0-9-], at most 63)"
[[ -n $IP ]] || die "--ip is required"
valid_ipv4 "$IP" || die "--ip $IP: want an IPv4 address"
[[ -n $SERVERS ]] || die "--servers is required (the servers' IPv4 addresses, comma-separated)"
IFS=, read -r -a SERVER_IPS <<<"$SERVERS"
((${#SERVER_IPS[@]} > 0)) || die "--servers $SERVERS: no address"
for s in "${SERVER_IPS[@]}"; do
	valid_ipv4 "$s" || die "--servers: $s is not an IPv4 address"
done
server_role() { [[ $ROLE == server || $ROLE == both ]]; }
agent_role() { [[ $ROLE == agent || $ROLE == both ]]; }
if server_role; then
	in_list=0
	for s in "${SERVER_IPS[@]}"; do [[ $s == "$IP" ]] && in_list=1; done
	((in_list)) || die "--ip $IP is not in --servers $SERVERS (a server must be in the list)"
fi
if [[ $ROLE == both && -z $AGENT_NAME ]]; then
	if [[ $NAME =~ ^s([0-9]+)$ ]]; then AGENT_NAME="n${BASH_REMATCH[1]}"; else AGENT_NAME="$NAME-agent"; fi
fi
if [[ $ROLE == agent ]]; then AGENT_NAME=$NAME; fi
if agent_role; then
	[[ $AGENT_NAME =~ $name_re ]] || die "--agent-name $AGENT_NAME: want a DNS label"
	[[ $ROLE != both || $AGENT_NAME != "$NAME" ]] ||
		die "--agent-name must differ from --name: the server and the agent share one gossip pool"
fi
if [[ -n $KEYRING_FILE ]]; then
	server_role || die "--keyring-file is for servers (--role server or both): agents hold no keys"
	[[ -f $KEYRING_FILE && -r $KEYRING_FILE ]] || die "--keyring-file $KEYRING_FILE: not a readable file (make one: flotilla operator keyring generate > keyring.json)"
	grep -q '"active"' "$KEYRING_FILE" || die "--keyring-file $KEYRING_FILE: not a keyring file (flotilla operator keyring generate makes one)"
fi
[[ -z $BOOTSTRAP_EXPECT ]] && BOOTSTRAP_EXPECT=${#SERVER_IPS[@]}
[[ $BOOTSTRAP_EXPECT =~ ^[0-9]+$ ]] || die "--bootstrap-expect $BOOTSTRAP_EXPECT: want a number"
[[ $CLUSTER_CIDR =~ $cidr_re ]] || die "--cluster-cidr $CLUSTER_CIDR: want an IPv4 CIDR"
[[ $VIP_CIDR =~ $cidr_re ]] || die "--vip-cidr $VIP_CIDR: want an IPv4 CIDR"
if [[ -z $CPU ]]; then CPU="$(($(nproc) * 1000))m"; fi
if [[ -z $MEMORY ]]; then
	mem_kib=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
	mem_mib=$((mem_kib / 1024 - 512))
	((mem_mib >= 256)) || mem_mib=256
	MEMORY="${mem_mib}Mi"
fi
for v in "$CPU" "$MEMORY" "$CONTAINERD_SOCKET" "$CNI_BIN_DIR" "$PREFIX"; do
	[[ $v =~ $word_re ]] || die "\"$v\": no spaces, quotes, \$ or \\ (systemd splits the flags at spaces)"
done
[[ -z $LABELS || $LABELS =~ $word_re ]] || die "--labels $LABELS: no spaces or quotes"
if [[ -n $GOSSIP_KEY_FILE ]]; then
	[[ -f $GOSSIP_KEY_FILE && -r $GOSSIP_KEY_FILE ]] || die "--gossip-key-file $GOSSIP_KEY_FILE: not a readable file"
	gossip_key=$(tr -d '[:space:]' <"$GOSSIP_KEY_FILE")
	key_bytes=$(base64 -d <<<"$gossip_key" 2>/dev/null | wc -c) || key_bytes=0
	case $key_bytes in
	16 | 24 | 32) ;;
	*) die "--gossip-key-file $GOSSIP_KEY_FILE: want the base64 of 32 bytes (flotilla operator gossip keyring generate)" ;;
	esac
fi
for v in "$EXTRA_SERVER_ARGS" "$EXTRA_AGENT_ARGS"; do
	[[ $v != *[\"\\\$\']* ]] || die "extra args \"$v\": no quotes, \$ or \\ (systemd splits at spaces)"
done

# TLS: the files --tls-dir must hold for this machine's roles.
TLS_ETC=/etc/flotilla/tls
tls_files=()
if [[ -n $TLS_DIR ]]; then
	((!INSECURE)) || die "--tls-dir and --insecure contradict each other: give one or the other"
	[[ -d $TLS_DIR ]] || die "--tls-dir $TLS_DIR: not a directory"
	tls_files=(flotilla-ca.pem)
	if server_role; then tls_files+=(server.pem server-key.pem); fi
	if agent_role; then tls_files+=(agent.pem agent-key.pem); fi
	if [[ -f $TLS_DIR/cli.pem || -f $TLS_DIR/cli-key.pem ]]; then tls_files+=(cli.pem cli-key.pem); fi
	for f in "${tls_files[@]}"; do
		[[ -f $TLS_DIR/$f ]] || die "--tls-dir $TLS_DIR has no $f (make it with flotilla tls; see docs/REAL-CLUSTERS.md)"
	done
elif ((!INSECURE)) && [[ ! $IP =~ ^127\. ]]; then
	die "--ip $IP is not loopback: give --tls-dir DIR (certificates made with flotilla tls; docs/REAL-CLUSTERS.md) or --insecure"
fi
tls_on() { [[ -n $TLS_DIR ]]; }
# read_secret FLAG FILE: the token secret in FILE (one line: 16 to 128 of
# letters, digits and -_.), or die naming the flag.
read_secret() {
	local secret
	[[ -f $2 && -r $2 ]] || die "$1 $2: not a readable file"
	secret=$(tr -d '[:space:]' <"$2")
	[[ $secret =~ ^[A-Za-z0-9_.-]{16,128}$ ]] ||
		die "$1 $2: want one token secret (16 to 128 letters, digits and -_.; flotilla acl token generate makes one)"
	printf '%s' "$secret"
}
BOOTSTRAP_SECRET="" AGENT_TOKEN=""
if ((ACL)); then
	server_role || die "--acl is a server flag (--role server or both); an agent needs --token-file"
fi
if [[ -n $BOOTSTRAP_TOKEN_FILE ]]; then
	((ACL)) || die "--bootstrap-token-file needs --acl"
	BOOTSTRAP_SECRET=$(read_secret --bootstrap-token-file "$BOOTSTRAP_TOKEN_FILE")
fi
if [[ -n $TOKEN_FILE ]]; then
	agent_role || die "--token-file is the agent's token (--role agent or both)"
	AGENT_TOKEN=$(read_secret --token-file "$TOKEN_FILE")
fi

if [[ -z $BINARY ]]; then
	if [[ -x ./flotilla ]]; then BINARY=./flotilla; elif [[ -x /vagrant/flotilla ]]; then BINARY=/vagrant/flotilla; fi
fi
[[ -n $BINARY ]] || die "no flotilla binary: pass --binary PATH (build it: CGO_ENABLED=0 go build ./cmd/flotilla)"
[[ -f $BINARY && -x $BINARY ]] || die "--binary $BINARY: not an executable file"
for u in flotilla-server.service flotilla-agent.service; do
	[[ -f $UNIT_DIR/$u ]] || die "$UNIT_DIR/$u is missing (run provision.sh from its deploy/ folder)"
done

TMP_ROOT=""
if [[ -n $ROOT ]]; then
	mkdir -p "$ROOT"
	ROOT=$(cd "$ROOT" && pwd -P)
fi
if ((CHECK)); then
	if [[ -z $ROOT ]]; then
		TMP_ROOT=$(mktemp -d /tmp/flotilla-provision-check.XXXXXX)
		ROOT=$TMP_ROOT
	fi
	[[ $ROOT != / ]] || die "--check needs a --root other than /"
	on_exit() {
		local rc=$?
		if [[ -n $TMP_ROOT ]]; then
			if ((rc == 0)); then rm -rf "$TMP_ROOT"; else warn "left $TMP_ROOT for inspection"; fi
		fi
	}
	trap on_exit EXIT
else
	ROOT=${ROOT:-/}
fi
ROOT=${ROOT%/}
STAGED=0 # files only, no sysctl or systemctl: --check, or a --root other than /
if ((CHECK)) || [[ -n $ROOT ]]; then STAGED=1; fi
if ((!STAGED)) && ((EUID != 0)); then die "run as root (or use --check)"; fi

# ---------------------------------------------------------------- arguments

join_by() {
	local IFS=$1
	shift
	printf '%s' "$*"
}
server_urls=() server_gossip=() server_peers=()
scheme=http
if tls_on; then scheme=https; fi
for s in "${SERVER_IPS[@]}"; do
	server_urls+=("$scheme://$s:4646")
	server_gossip+=("$s:4648")
	[[ $s == "$IP" ]] || server_peers+=("$s:4648")
done

SERVER_ARGS=(
	--name "$NAME"
	--data-dir /var/lib/flotilla/server
	--http "$IP:4646"
	--raft "$IP:4647"
	--gossip "$IP:4648"
	--bootstrap-expect "$BOOTSTRAP_EXPECT"
	--cluster-cidr "$CLUSTER_CIDR"
	--vip-cidr "$VIP_CIDR"
)
((${#server_peers[@]})) && SERVER_ARGS+=(--join "$(join_by , "${server_peers[@]}")")
[[ -n $KEYRING_FILE ]] && SERVER_ARGS+=(--keyring-file /etc/flotilla/keyring.json)
((ACL)) && SERVER_ARGS+=(--acl)
[[ -n $BOOTSTRAP_SECRET ]] && SERVER_ARGS+=(--acl-bootstrap-token-file /etc/flotilla/bootstrap.token)
AGENT_ARGS=(
	--name "$AGENT_NAME"
	--data-dir /var/lib/flotilla/agent
	--servers "$(join_by , "${server_urls[@]}")"
	--http "$IP:4746"
	--gossip "$IP:4748"
	--join "$(join_by , "${server_gossip[@]}")"
	--runtime containerd
	--containerd-socket "$CONTAINERD_SOCKET"
	--cni-bin-dir "$CNI_BIN_DIR"
	--address "$IP"
	--dns "$IP:53"
	--cpu "$CPU"
	--memory "$MEMORY"
)
[[ -n $LABELS ]] && AGENT_ARGS+=(--labels "$LABELS")
if [[ -n $GOSSIP_KEY_FILE ]]; then
	SERVER_ARGS+=(--gossip-key-file "$GOSSIP_KEY_DEST")
	AGENT_ARGS+=(--gossip-key-file "$GOSSIP_KEY_DEST")
fi
if tls_on; then
	SERVER_ARGS+=(--tls-ca "$TLS_ETC/flotilla-ca.pem" --tls-cert "$TLS_ETC/server.pem" --tls-key "$TLS_ETC/server-key.pem")
	AGENT_ARGS+=(--tls-ca "$TLS_ETC/flotilla-ca.pem" --tls-cert "$TLS_ETC/agent.pem" --tls-key "$TLS_ETC/agent-key.pem")
elif ((INSECURE)); then
	SERVER_ARGS+=(--insecure)
	AGENT_ARGS+=(--insecure)
fi
read -r -a extra <<<"$EXTRA_SERVER_ARGS"
((${#extra[@]})) && SERVER_ARGS+=("${extra[@]}")
read -r -a extra <<<"$EXTRA_AGENT_ARGS"
((${#extra[@]})) && AGENT_ARGS+=("${extra[@]}")

# ---------------------------------------------------------------- install

changed=() # files written this run whose content differed

# put_file MODE DEST: write stdin to $ROOT/DEST if its content differs.
put_file() {
	local mode=$1 dest=$ROOT$2 tmp
	tmp=$(mktemp)
	cat >"$tmp"
	if [[ -f $dest ]] && cmp -s "$tmp" "$dest"; then
		rm -f "$tmp"
		return 0
	fi
	install -D -m "$mode" "$tmp" "$dest"
	rm -f "$tmp"
	changed+=("$2")
	say "wrote $dest"
}

install_packages() {
	local p missing=()
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	if ((${#missing[@]} == 0)); then
		say "packages present: ${PACKAGES[*]}"
		return 0
	fi
	((EUID == 0)) || die "packages missing (${missing[*]}); run as root to apt-get install them"
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y --no-install-recommends "${missing[@]}"; then
		apt-get update
		apt-get install -y --no-install-recommends "${missing[@]}"
	fi
}

install_packages

if ((!CHECK)) && ! ip -o -4 addr show 2>/dev/null | grep -qF " $IP/"; then
	warn "--ip $IP is on no interface of this machine; the services will not be able to bind it"
fi

BIN_DEST=$PREFIX/bin/flotilla
put_file 0755 "$BIN_DEST" <"$BINARY"
# The key's first use writes each member's keyring (gossip-keyring.json in
# its data dir), which wins over this file from then on: rotate keys with
# flotilla operator gossip keyring (docs/REAL-CLUSTERS.md).
if [[ -n $GOSSIP_KEY_FILE ]]; then
	printf '%s\n' "$gossip_key" | put_file 0600 "$GOSSIP_KEY_DEST"
fi

for f in "${tls_files[@]}"; do
	mode=0644
	[[ $f == *-key.pem ]] && mode=0600
	put_file "$mode" "$TLS_ETC/$f" <"$TLS_DIR/$f"
done

env_file() { # NAME VAR ARGS...
	local unit=$1 var=$2
	shift 2
	printf '# Flags of flotilla-%s.service, written by deploy/provision.sh.\n' "$unit"
	printf '# systemd splits $%s at spaces; edit, then: systemctl restart flotilla-%s\n' "$var" "$unit"
	printf '%s="%s"\n' "$var" "$*"
}
unit_file() { # UNIT: the unit, with the binary path this PREFIX installs to
	sed "s#/usr/local/bin/flotilla #$BIN_DEST #" "$UNIT_DIR/$1"
}
if [[ -n $BOOTSTRAP_SECRET ]]; then
	printf '%s\n' "$BOOTSTRAP_SECRET" | put_file 0600 /etc/flotilla/bootstrap.token
fi
if [[ -n $AGENT_TOKEN ]]; then
	printf '# The agent'"'"'s ACL token, written by deploy/provision.sh (--token-file).\nFLOTILLA_TOKEN=%s\n' "$AGENT_TOKEN" |
		put_file 0600 /etc/flotilla/agent-token.env
fi
if server_role; then
	# The keyring first: a server started with the flag needs the file.
	[[ -n $KEYRING_FILE ]] && put_file 0600 /etc/flotilla/keyring.json <"$KEYRING_FILE"
	env_file server FLOTILLA_SERVER_ARGS "${SERVER_ARGS[@]}" | put_file 0644 /etc/flotilla/server.env
	unit_file flotilla-server.service | put_file 0644 /etc/systemd/system/flotilla-server.service
fi
if agent_role; then
	env_file agent FLOTILLA_AGENT_ARGS "${AGENT_ARGS[@]}" | put_file 0644 /etc/flotilla/agent.env
	unit_file flotilla-agent.service | put_file 0644 /etc/systemd/system/flotilla-agent.service
fi
# Host-gw routing forwards pod traffic between nodes. Nothing else: no
# masquerading, no br_netfilter, no firewall rules.
printf '# Written by deploy/provision.sh: nodes route pod subnets to each other.\nnet.ipv4.ip_forward = 1\n' |
	put_file 0644 /etc/sysctl.d/90-flotilla.conf
{
	printf '# Written by deploy/provision.sh: where the flotilla CLI finds the servers.\nexport FLOTILLA_ADDR=%s\n' \
		"$(join_by , "${server_urls[@]}")"
	if tls_on; then
		printf 'export FLOTILLA_CACERT=%s\n' "$TLS_ETC/flotilla-ca.pem"
		if [[ -f $TLS_DIR/cli.pem ]]; then
			# The key is root's: the CLI on this machine works as root (sudo -E).
			printf 'export FLOTILLA_CLIENT_CERT=%s FLOTILLA_CLIENT_KEY=%s\n' "$TLS_ETC/cli.pem" "$TLS_ETC/cli-key.pem"
		fi
	fi
} | put_file 0644 /etc/profile.d/flotilla.sh

# ---------------------------------------------------------------- check mode

# env_args FILE VAR: the flags systemd passes for $VAR (unquoted: split at spaces).
env_args() {
	local line
	line=$(grep -E "^$2=" "$1" | tail -n 1) || return 1
	line=${line#"$2"=}
	line=${line#\"}
	line=${line%\"}
	printf '%s' "$line"
}

# expect_flags FILE VAR FLAG VALUE...: each FLAG VALUE pair is in the file's flags.
expect_flags() {
	local file=$1 var=$2 joined
	shift 2
	joined=" $(env_args "$file" "$var") " || fail "$file has no $var= line"
	while (($#)); do
		[[ $joined == *" $1 $2 "* ]] || fail "$file: $var lacks \"$1 $2\" (has:$joined)"
		shift 2
	done
	ok "$file has the expected flags"
}

# parse_flags BIN CMD FILE VAR: the flags parse as "flotilla CMD" flags.
# --help comes first, so cobra parses every flag (an unknown flag, a bad value or
# a missing value is an error) and then prints the help instead of running.
parse_flags() {
	local bin=$1 cmd=$2 file=$3 var=$4 out args=()
	read -r -a args <<<"$(env_args "$file" "$var")"
	if ! out=$(timeout 20 "$bin" "$cmd" --help "${args[@]}" 2>&1); then
		fail "flotilla $cmd refuses the flags in $file: $out"
	fi
	[[ $out == *"Usage:"* ]] || fail "flotilla $cmd --help printed no usage"
	ok "flotilla $cmd accepts every flag in $file"
}

run_checks() {
	local bin=$ROOT$BIN_DEST out p
	out=$("$bin" --help 2>&1) || fail "$bin --help: $out"
	[[ $out == *"Usage:"* ]] || fail "$bin --help printed no usage"
	ok "flotilla runs ($bin)"
	if command -v ldd >/dev/null && ldd "$bin" >/dev/null 2>&1; then
		warn "$bin is dynamically linked; build it with CGO_ENABLED=0 to run on any Debian 12"
	fi
	out=$(containerd --version 2>&1) || fail "containerd --version: $out"
	ok "$out"
	out=$(runc --version 2>&1 | head -n 1) || fail "runc --version: $out"
	ok "$out"
	for p in "${CNI_PLUGINS[@]}"; do
		[[ -x $CNI_BIN_DIR/$p ]] || fail "CNI plugin $CNI_BIN_DIR/$p is missing (containernetworking-plugins)"
	done
	ok "CNI plugins in $CNI_BIN_DIR: ${CNI_PLUGINS[*]}"

	grep -qx 'net.ipv4.ip_forward = 1' "$ROOT/etc/sysctl.d/90-flotilla.conf" || fail "sysctl file lacks ip_forward"
	check_tls
	local units=()
	if server_role; then
		expect_flags "$ROOT/etc/flotilla/server.env" FLOTILLA_SERVER_ARGS \
			--name "$NAME" --data-dir /var/lib/flotilla/server --http "$IP:4646" --raft "$IP:4647" \
			--gossip "$IP:4648" --bootstrap-expect "$BOOTSTRAP_EXPECT" \
			--cluster-cidr "$CLUSTER_CIDR" --vip-cidr "$VIP_CIDR"
		[[ -z $GOSSIP_KEY_FILE ]] || expect_flags "$ROOT/etc/flotilla/server.env" FLOTILLA_SERVER_ARGS --gossip-key-file "$GOSSIP_KEY_DEST"
		parse_flags "$bin" server "$ROOT/etc/flotilla/server.env" FLOTILLA_SERVER_ARGS
		if [[ -n $KEYRING_FILE ]]; then
			expect_flags "$ROOT/etc/flotilla/server.env" FLOTILLA_SERVER_ARGS --keyring-file /etc/flotilla/keyring.json
			[[ $(stat -c %a "$ROOT/etc/flotilla/keyring.json") == 600 ]] || fail "/etc/flotilla/keyring.json is not mode 0600"
			cmp -s "$KEYRING_FILE" "$ROOT/etc/flotilla/keyring.json" || fail "/etc/flotilla/keyring.json differs from --keyring-file"
			ok "keyring installed, mode 0600"
		fi
		if ((ACL)); then
			[[ " $(env_args "$ROOT/etc/flotilla/server.env" FLOTILLA_SERVER_ARGS) " == *" --acl "* ]] ||
				fail "server.env lacks --acl"
			ok "the server enforces ACLs"
		fi
		if [[ -n $BOOTSTRAP_SECRET ]]; then
			expect_flags "$ROOT/etc/flotilla/server.env" FLOTILLA_SERVER_ARGS --acl-bootstrap-token-file /etc/flotilla/bootstrap.token
			[[ $(stat -c %a "$ROOT/etc/flotilla/bootstrap.token") == 600 ]] || fail "bootstrap.token is not mode 0600"
			ok "bootstrap.token is mode 0600"
		fi
		units+=(flotilla-server.service)
	fi
	if agent_role; then
		expect_flags "$ROOT/etc/flotilla/agent.env" FLOTILLA_AGENT_ARGS \
			--name "$AGENT_NAME" --data-dir /var/lib/flotilla/agent --http "$IP:4746" --gossip "$IP:4748" \
			--servers "$(join_by , "${server_urls[@]}")" --join "$(join_by , "${server_gossip[@]}")" \
			--runtime containerd --containerd-socket "$CONTAINERD_SOCKET" --cni-bin-dir "$CNI_BIN_DIR" \
			--address "$IP" --dns "$IP:53"
		[[ -z $GOSSIP_KEY_FILE ]] || expect_flags "$ROOT/etc/flotilla/agent.env" FLOTILLA_AGENT_ARGS --gossip-key-file "$GOSSIP_KEY_DEST"
		parse_flags "$bin" agent "$ROOT/etc/flotilla/agent.env" FLOTILLA_AGENT_ARGS
		if [[ -n $AGENT_TOKEN ]]; then
			grep -qx "FLOTILLA_TOKEN=$AGENT_TOKEN" "$ROOT/etc/flotilla/agent-token.env" || fail "agent-token.env lacks the token"
			[[ $(stat -c %a "$ROOT/etc/flotilla/agent-token.env") == 600 ]] || fail "agent-token.env is not mode 0600"
			ok "agent-token.env holds the agent's token, mode 0600"
		fi
		units+=(flotilla-agent.service)
	fi

	if [[ -n $GOSSIP_KEY_FILE ]]; then
		[[ $(stat -c %a "$ROOT$GOSSIP_KEY_DEST") == 600 ]] || fail "$ROOT$GOSSIP_KEY_DEST: want mode 0600"
		[[ $(tr -d '[:space:]' <"$ROOT$GOSSIP_KEY_DEST") == "$gossip_key" ]] || fail "$ROOT$GOSSIP_KEY_DEST does not hold the key"
		ok "$ROOT$GOSSIP_KEY_DEST holds the gossip key, mode 0600"
	fi

	local file
	if server_role; then
		file=$ROOT/etc/systemd/system/flotilla-server.service
		grep -qx 'EnvironmentFile=/etc/flotilla/server.env' "$file" || fail "$file: no EnvironmentFile=/etc/flotilla/server.env"
		grep -qx "ExecStart=$BIN_DEST server \$FLOTILLA_SERVER_ARGS" "$file" || fail "$file: unexpected ExecStart"
	fi
	if agent_role; then
		file=$ROOT/etc/systemd/system/flotilla-agent.service
		grep -qx 'EnvironmentFile=/etc/flotilla/agent.env' "$file" || fail "$file: no EnvironmentFile=/etc/flotilla/agent.env"
		grep -qx 'EnvironmentFile=-/etc/flotilla/agent-token.env' "$file" || fail "$file: no EnvironmentFile=-/etc/flotilla/agent-token.env"
		grep -qx "ExecStart=$BIN_DEST agent \$FLOTILLA_AGENT_ARGS" "$file" || fail "$file: unexpected ExecStart"
		grep -qx 'KillMode=process' "$file" || fail "$file: containers must outlive the agent (KillMode=process)"
		grep -qE '^(Wants|After)=.*containerd\.service' "$file" || fail "$file: not ordered after containerd.service"
	fi
	ok "units name $BIN_DEST and their env files"

	if command -v systemd-analyze >/dev/null; then
		verify_units "${units[@]}"
	else
		say "systemd-analyze not found: units not verified"
	fi
	say "check passed (role $ROLE, root $ROOT)"
}

# check_tls: the TLS files are installed (keys root's only) and the units'
# flags name them; without TLS, a machine beyond loopback has --insecure.
check_tls() {
	local f mode want
	if tls_on; then
		for f in "${tls_files[@]}"; do
			cmp -s "$TLS_DIR/$f" "$ROOT$TLS_ETC/$f" || fail "$ROOT$TLS_ETC/$f differs from $TLS_DIR/$f"
			want=644
			[[ $f == *-key.pem ]] && want=600
			mode=$(stat -c %a "$ROOT$TLS_ETC/$f")
			[[ $mode == "$want" ]] || fail "$ROOT$TLS_ETC/$f has mode $mode, want $want"
		done
		if server_role; then
			expect_flags "$ROOT/etc/flotilla/server.env" FLOTILLA_SERVER_ARGS --tls-ca "$TLS_ETC/flotilla-ca.pem" \
				--tls-cert "$TLS_ETC/server.pem" --tls-key "$TLS_ETC/server-key.pem"
		fi
		if agent_role; then
			expect_flags "$ROOT/etc/flotilla/agent.env" FLOTILLA_AGENT_ARGS --tls-ca "$TLS_ETC/flotilla-ca.pem" \
				--tls-cert "$TLS_ETC/agent.pem" --tls-key "$TLS_ETC/agent-key.pem"
		fi
		grep -q "FLOTILLA_CACERT=$TLS_ETC/flotilla-ca.pem" "$ROOT/etc/profile.d/flotilla.sh" || fail "profile.d does not export FLOTILLA_CACERT"
		ok "TLS files in $ROOT$TLS_ETC: ${tls_files[*]}"
	elif ((INSECURE)); then
		if server_role; then grep -q -- ' --insecure' "$ROOT/etc/flotilla/server.env" || fail "server.env lacks --insecure"; fi
		if agent_role; then grep -q -- ' --insecure' "$ROOT/etc/flotilla/agent.env" || fail "agent.env lacks --insecure"; fi
		ok "no TLS (--insecure)"
	fi
}

# verify_units UNIT...: systemd-analyze verify on copies whose paths point into
# ROOT, so nothing of this machine's /etc or /usr/local is needed or touched.
verify_units() {
	local dir u out
	dir=$(mktemp -d)
	for u in "$@"; do
		sed -e "s#^ExecStart=$BIN_DEST #ExecStart=$ROOT$BIN_DEST #" \
			-e "s#^EnvironmentFile=\(-\?\)/etc/flotilla/#EnvironmentFile=\1$ROOT/etc/flotilla/#" \
			"$ROOT/etc/systemd/system/$u" >"$dir/$u"
	done
	if ! out=$(cd "$dir" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$@" 2>&1); then
		rm -rf "$dir"
		fail "systemd-analyze verify: $out"
	fi
	rm -rf "$dir"
	# Unknown keys and bad values are only warnings to systemd: fail on any
	# message about our files; show the others (about this machine) as they are.
	if grep -qF -- "$dir/" <<<"$out"; then fail "systemd-analyze verify: ${out//"$dir"/$ROOT/etc/systemd/system}"; fi
	[[ -z $out ]] || say "systemd-analyze: $out"
	ok "systemd-analyze verify ${*}"
}

if ((CHECK)); then
	run_checks
	exit 0
fi
if ((STAGED)); then
	say "installed into $ROOT; not starting anything (start from the real root)"
	exit 0
fi

# ---------------------------------------------------------------- start

was_changed() { # PATH...: any of them written this run
	local p c
	for p; do for c in "${changed[@]}"; do [[ $c == "$p" ]] && return 0; done; done
	return 1
}
sysctl -q -p /etc/sysctl.d/90-flotilla.conf
systemctl daemon-reload
systemctl enable --now containerd.service

# start_unit UNIT ENVFILE [FILE...]: enable and start it; restart it if its
# files changed.
start_unit() {
	local unit=$1 envf=$2 f tls_paths=()
	shift 2
	for f in "${tls_files[@]}"; do tls_paths+=("$TLS_ETC/$f"); done
	if systemctl is-active -q "$unit"; then
		systemctl enable -q "$unit"
		# New certificates (a rotation) and tokens take effect on restart.
		if was_changed "$BIN_DEST" "$envf" "/etc/systemd/system/$unit" "${tls_paths[@]}" "$@"; then
			say "restarting $unit"
			systemctl restart "$unit"
		fi
	else
		systemctl enable -q --now "$unit"
	fi
	say "$unit: $(systemctl is-active "$unit" || true)"
}
if server_role; then start_unit flotilla-server.service /etc/flotilla/server.env /etc/flotilla/bootstrap.token; fi
if agent_role; then start_unit flotilla-agent.service /etc/flotilla/agent.env /etc/flotilla/agent-token.env; fi
say "done: FLOTILLA_ADDR=$(join_by , "${server_urls[@]}") flotilla status   (new shells have FLOTILLA_ADDR set)"

#!/usr/bin/env bash
# A real Active Directory KDC for Herald's Kerberos tests: a Samba AD DC, provisioned into its own
# directory and listening on 127.0.0.1 only (KDC on port 88, LDAP on 389), with the accounts that
# constrained delegation (S4U2Self + S4U2Proxy) needs:
#
#   alice, bob             users (UPN and mail <name>@herald.test)
#   svc_seg                the gateway: SPN HTTP/gateway.herald.test, trusted for protocol
#                          transition, allowed to delegate to HTTP/exchange.herald.test only
#   exchange               Exchange: SPN HTTP/exchange.herald.test
#   other                  a service the gateway may NOT delegate to: SPN HTTP/other.herald.test
#
# Keytabs for svc_seg and exchange, a krb5.conf for this realm (consumers set KRB5_CONFIG to it;
# /etc/krb5.conf is left alone) and a description of it all in $STATE_DIR/kdc.json, which is also
# printed as the last line of stdout (test/support/kdc.ts reads it).
#
#   scripts/setup-samba-kdc.sh [start] [STATE_DIR]   install, provision (once), start, verify
#   scripts/setup-samba-kdc.sh stop [STATE_DIR]      stop the DC (the provisioned realm stays)
#   scripts/setup-samba-kdc.sh status [STATE_DIR]    exit 0 when the DC runs
#   scripts/setup-samba-kdc.sh destroy [STATE_DIR]   stop and delete STATE_DIR
#
# STATE_DIR defaults to $HERALD_TEST_KDC_DIR or /var/lib/herald-test-kdc; one DC runs at a time
# (port 88). A fresh provision takes about 15 s; re-running when the DC is provisioned and running
# takes about 0.2 s, and when it is provisioned but stopped, it starts it (about 0.5 s). Needs root
# (apt-get, port 88).
set -euo pipefail

MODE=start
case "${1:-}" in
  start | stop | status | destroy)
    MODE=$1
    shift
    ;;
esac
STATE_DIR=${1:-${HERALD_TEST_KDC_DIR:-/var/lib/herald-test-kdc}}
STATE_DIR=$(realpath -m "$STATE_DIR")

REALM=HERALD.TEST
DOMAIN=HERALD
DNS_DOMAIN=herald.test
KDC_HOST=127.0.0.1
HOSTNAME_DC=kdc

SMB_CONF=$STATE_DIR/etc/smb.conf
KRB5_CONF=$STATE_DIR/krb5.conf
PID_FILE=$STATE_DIR/run/samba.pid
LOG_FILE=$STATE_DIR/samba.log
SECRETS=$STATE_DIR/passwords
SVC_KEYTAB=$STATE_DIR/svc_seg.keytab
EXCHANGE_KEYTAB=$STATE_DIR/exchange.keytab
SUMMARY=$STATE_DIR/kdc.json
SERVICE_PRINCIPAL=svc_seg@$REALM
SERVICE_SPN=HTTP/gateway.$DNS_DOMAIN
TARGET_SPN=HTTP/exchange.$DNS_DOMAIN
OTHER_SPN=HTTP/other.$DNS_DOMAIN

log() { echo "setup-samba-kdc: $*" >&2; }
die() {
  log "$*"
  exit 1
}

running_pid() {
  [ -f "$PID_FILE" ] || return 1
  local pid
  pid=$(cat "$PID_FILE" 2>/dev/null || true)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # Only a samba process counts: a stale pid file may name an unrelated process by now.
  [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = samba ] || return 1
  echo "$pid"
}

stop_samba() {
  local pid
  if pid=$(running_pid); then
    log "stopping samba (pid $pid)"
    kill "$pid"
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "samba (pid $pid) did not stop in 10 s; killing its process group"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$PID_FILE"
}

case "$MODE" in
  stop)
    stop_samba
    exit 0
    ;;
  status)
    if pid=$(running_pid); then
      echo "running (pid $pid, $STATE_DIR)"
      exit 0
    fi
    echo "not running ($STATE_DIR)"
    exit 1
    ;;
  destroy)
    stop_samba
    rm -rf "$STATE_DIR"
    exit 0
    ;;
esac

[ "$(id -u)" -eq 0 ] || die "needs root (apt-get, the KDC on port 88)"

T0=$(date +%s.%N)
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# --- packages --------------------------------------------------------------------------------
# The samba packages WITH their recommends: without them (python3-gpg, attr, ...) provisioning
# fails. MIT's kinit/kvno (krb5-user) verify the realm; libkrb5-dev builds Herald's addon.
PACKAGES=(samba samba-ad-dc samba-ad-provision samba-dsdb-modules winbind krb5-user libkrb5-dev)
missing=()
for package in "${PACKAGES[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)" != "install ok installed" ]; then
    missing+=("$package")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -q "${missing[@]}" >&2
fi
# Debian starts the daemons it installs where it can (not in a container without systemd);
# this realm's samba is started below with its own configuration, so the package's units don't
# matter, but a running system samba would hold port 88.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet samba-ad-dc 2>/dev/null; then
  die "the system's samba-ad-dc service runs (and holds port 88): systemctl stop samba-ad-dc"
fi

# STATE_DIR is wiped when a provision has to start over: only ever one of ours (or empty).
MARKER=$STATE_DIR/.herald-test-kdc
if [ -d "$STATE_DIR" ] && [ ! -f "$MARKER" ] && [ ! -f "$STATE_DIR/.provisioned" ] && [ -n "$(ls -A "$STATE_DIR")" ]; then
  die "$STATE_DIR is not empty and not a Herald test KDC directory; name another one"
fi
mkdir -p "$STATE_DIR"
chmod 0755 "$STATE_DIR"
touch "$MARKER"

# --- provision (once) --------------------------------------------------------------------------
password() {
  # A random password that meets AD's complexity rules (upper, lower, digit, symbol).
  echo "Hd-$(head -c 18 /dev/urandom | base64 | tr -d '/+=' | head -c 20)-9a"
}

if [ ! -f "$STATE_DIR/.provisioned" ]; then
  stop_samba
  # A half-done provision (interrupted, failed) is started over.
  find "$STATE_DIR" -mindepth 1 ! -name .herald-test-kdc -delete
  ADMIN_PASSWORD=$(password)
  USER_PASSWORD=$(password)
  umask 077
  printf 'ADMIN_PASSWORD=%s\nUSER_PASSWORD=%s\n' "$ADMIN_PASSWORD" "$USER_PASSWORD" >"$SECRETS"
  umask 022
  log "provisioning realm $REALM into $STATE_DIR"
  # --targetdir keeps every file (smb.conf, sam.ldb, the KDC's own krb5.conf, pid files) under
  # STATE_DIR; the options make this DC bind to the loopback interface only and run only what
  # the tests need: the KDC, LDAP (samba-tool reaches sam.ldb directly) and the RPC server.
  # No DNS: nothing here resolves through it (krb5.conf names the KDC, no SRV lookups).
  provision() {
    samba-tool domain provision \
      --targetdir="$STATE_DIR" \
      --realm="$REALM" --domain="$DOMAIN" --host-name="$HOSTNAME_DC" \
      --server-role=dc --use-rfc2307 --dns-backend="$1" \
      --host-ip="$KDC_HOST" \
      --adminpass="$ADMIN_PASSWORD" \
      --option="interfaces = lo" \
      --option="bind interfaces only = yes" \
      --option="server services = kdc ldap rpc" \
      --option="dcerpc endpoint servers = epmapper samr lsarpc netlogon drsuapi dssetup" \
      --option="log file = $LOG_FILE" \
      --option="max log size = 10000" \
      --option="kerberos encryption types = strong" >"$STATE_DIR/provision.log" 2>&1
  }
  if ! provision NONE; then
    log "provisioning with --dns-backend=NONE failed (see $STATE_DIR/provision.log); trying SAMBA_INTERNAL"
    find "$STATE_DIR" -mindepth 1 ! -name .herald-test-kdc ! -name passwords ! -name provision.log -delete
    provision SAMBA_INTERNAL || {
      tail -30 "$STATE_DIR/provision.log" >&2
      die "provisioning failed (see $STATE_DIR/provision.log)"
    }
  fi
  log "provisioned in $(elapsed) s"
  touch "$STATE_DIR/.provisioning-accounts"
fi
# shellcheck disable=SC1090
. "$SECRETS"
[ -f "$SMB_CONF" ] || die "$SMB_CONF is missing: delete $STATE_DIR and run again"

# --- krb5.conf for consumers ---------------------------------------------------------------
# request_timeout caps one request over all tries from MIT 1.21 on (Debian 12 has 1.20, which
# ignores it; the gateway bounds its KDC calls itself); udp_preference_limit = 1 sends TCP only
# (AD's PACs are big).
cat >"$KRB5_CONF" <<EOF
# Written by scripts/setup-samba-kdc.sh for the test realm in $STATE_DIR; use with KRB5_CONFIG.
[libdefaults]
  default_realm = $REALM
  dns_lookup_kdc = false
  dns_lookup_realm = false
  dns_canonicalize_hostname = false
  rdns = false
  forwardable = true
  udp_preference_limit = 1
  request_timeout = 5

[realms]
  $REALM = {
    kdc = $KDC_HOST
    admin_server = $KDC_HOST
  }

[domain_realm]
  .$DNS_DOMAIN = $REALM
  $DNS_DOMAIN = $REALM
EOF
chmod 0644 "$KRB5_CONF"
export KRB5_CONFIG=$KRB5_CONF

# --- start --------------------------------------------------------------------------------------
mkdir -p "$STATE_DIR/run"
if ! running_pid >/dev/null; then
  # Another KDC on 127.0.0.1:88 (a second STATE_DIR's samba, say) would answer in this one's place.
  if (exec 3<>/dev/tcp/$KDC_HOST/88) 2>/dev/null; then
    die "something else listens on $KDC_HOST:88 (another test KDC? scripts/setup-samba-kdc.sh stop DIR)"
  fi
  log "starting samba"
  # The pid file lands in "pid directory" (STATE_DIR/run with --targetdir).
  samba -s "$SMB_CONF" -D --option="pid directory = $STATE_DIR/run"
  for _ in $(seq 1 100); do
    running_pid >/dev/null && break
    sleep 0.1
  done
  running_pid >/dev/null || {
    tail -30 "$LOG_FILE" >&2 || true
    die "samba did not start (see $LOG_FILE)"
  }
fi

# Ready when the KDC hands the administrator a ticket.
ADMIN_CCACHE=MEMORY:herald-kdc-admin
ready=
for _ in $(seq 1 150); do
  if echo "$ADMIN_PASSWORD" | KRB5CCNAME=$ADMIN_CCACHE kinit "Administrator@$REALM" >/dev/null 2>&1; then
    ready=1
    break
  fi
  sleep 0.2
done
[ -n "$ready" ] || {
  tail -30 "$LOG_FILE" >&2 || true
  die "the KDC on $KDC_HOST:88 did not answer kinit within 30 s (see $LOG_FILE)"
}
log "KDC answers ($(elapsed) s)"

# --- accounts (once, after provisioning) -----------------------------------------------------
tool() { samba-tool "$@" -s "$SMB_CONF" >/dev/null; }

if [ -f "$STATE_DIR/.provisioning-accounts" ]; then
  log "creating accounts"
  for user in alice bob; do
    tool user create "$user" "$USER_PASSWORD" \
      --userou="CN=Users" --mail-address="$user@$DNS_DOMAIN" \
      --given-name="${user^}" --surname=Test
    # samba-tool sets userPrincipalName = <name>@<dns domain> already; make it explicit.
    tool user rename "$user" --upn="$user@$DNS_DOMAIN" 2>/dev/null || true
  done
  for account in svc_seg:gateway exchange:exchange other:other; do
    user=${account%%:*}
    host=${account##*:}
    tool user create "$user" --random-password --description="Herald test service $host"
    tool spn add "HTTP/$host.$DNS_DOMAIN" "$user"
    # Service passwords never expire (keytabs are exported once).
    tool user setexpiry "$user" --noexpiry
  done
  # Constrained delegation with protocol transition: S4U2Self for any user (the ticket comes back
  # forwardable, which S4U2Proxy needs) and S4U2Proxy to Exchange's SPN only.
  tool delegation for-any-protocol svc_seg on
  tool delegation add-service svc_seg "$TARGET_SPN"

  rm -f "$SVC_KEYTAB" "$EXCHANGE_KEYTAB"
  tool domain exportkeytab "$SVC_KEYTAB" --principal="$SERVICE_PRINCIPAL"
  tool domain exportkeytab "$SVC_KEYTAB" --principal="$SERVICE_SPN@$REALM"
  tool domain exportkeytab "$EXCHANGE_KEYTAB" --principal="$TARGET_SPN@$REALM"
  tool domain exportkeytab "$STATE_DIR/other.keytab" --principal="$OTHER_SPN@$REALM"
  chmod 0644 "$SVC_KEYTAB" "$EXCHANGE_KEYTAB" "$STATE_DIR/other.keytab"
  rm -f "$STATE_DIR/.provisioning-accounts"
  touch "$STATE_DIR/.provisioned"
  log "accounts created ($(elapsed) s)"
fi

# --- verify with MIT's tools: S4U2Self + S4U2Proxy to Exchange, refused to the other SPN ------
# kinit and kvno are two processes, so they share a FILE ccache (a MEMORY one dies with kinit).
SVC_CCACHE_FILE=$(mktemp "/tmp/herald-kdc-svc.XXXXXX")
trap 'rm -f "$SVC_CCACHE_FILE"' EXIT
kinit_out=$(KRB5CCNAME=FILE:$SVC_CCACHE_FILE kinit -k -t "$SVC_KEYTAB" "$SERVICE_PRINCIPAL" 2>&1) ||
  die "kinit -k -t $SVC_KEYTAB $SERVICE_PRINCIPAL failed: $kinit_out"
if ! out=$(KRB5CCNAME=FILE:$SVC_CCACHE_FILE kvno -U alice -P "$TARGET_SPN" 2>&1); then
  die "S4U2Self + S4U2Proxy for alice to $TARGET_SPN failed: $out"
fi
if out=$(KRB5CCNAME=FILE:$SVC_CCACHE_FILE kvno -U alice -P "$OTHER_SPN" 2>&1); then
  die "S4U2Proxy to $OTHER_SPN succeeded, but svc_seg must not be allowed to delegate to it: $out"
fi
log "verified: S4U2Self + S4U2Proxy for alice to $TARGET_SPN; $OTHER_SPN refused ($(elapsed) s)"

# --- summary ---------------------------------------------------------------------------------
SUMMARY_JSON=$(
  cat <<EOF
{"realm":"$REALM","kdc":"$KDC_HOST:88","krb5Config":"$KRB5_CONF","servicePrincipal":"$SERVICE_PRINCIPAL","serviceSpn":"$SERVICE_SPN","serviceKeytab":"$SVC_KEYTAB","exchangeKeytab":"$EXCHANGE_KEYTAB","targetSpn":"$TARGET_SPN","nonDelegableSpn":"$OTHER_SPN","otherKeytab":"$STATE_DIR/other.keytab","users":["alice@$REALM","bob@$REALM"],"upns":["alice@$DNS_DOMAIN","bob@$DNS_DOMAIN"],"stateDir":"$STATE_DIR","smbConf":"$SMB_CONF","pidFile":"$PID_FILE"}
EOF
)
echo "$SUMMARY_JSON" >"$SUMMARY"
chmod 0644 "$SUMMARY"
log "ready in $(elapsed) s"
echo "$SUMMARY_JSON"

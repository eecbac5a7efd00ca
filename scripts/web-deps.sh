#!/usr/bin/env bash
# Puts the browser build of socket.io-client (one ES module) where the room app loads it from:
# src/salon/web/static/vendor/ (git-ignored). The version and the tarball's integrity are pinned;
# when that version is already in place this does nothing. Needs npm: as root on Debian it is
# installed with apt-get, otherwise this says what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

version=4.8.4
integrity="sha512-7wjKAvVXYOJsbmUgkWbnhPD4bFpkqrUR0++XOjpGFmqDqsqV1CI93VTraeExLxpjxEqrWgFoSRZu1ihjLWfkAA=="
vendor=src/salon/web/static/vendor
stamp="$vendor/.socket.io-client-version"

if [ -f "$vendor/socket.io.esm.min.js" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "salon: installing Debian package: npm"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends npm >/dev/null
  else
    echo "salon: npm is missing; it fetches the browser's socket.io-client." >&2
    echo "salon: install it as root, then run this again:" >&2
    echo "    sudo apt-get install npm" >&2
    exit 1
  fi
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "salon: fetching socket.io-client $version for the browser"
(cd "$work" && npm pack --loglevel=error "socket.io-client@$version" >/dev/null)
tarball="$work/socket.io-client-$version.tgz"

# npm checks the registry's own integrity; this checks the tarball is the one pinned here.
actual="$(node -e '
  const data = require("fs").readFileSync(process.argv[1]);
  process.stdout.write("sha512-" + require("crypto").createHash("sha512").update(data).digest("base64"));
' "$tarball")"
if [ "$actual" != "$integrity" ]; then
  echo "salon: socket.io-client-$version.tgz has integrity $actual, expected $integrity" >&2
  exit 1
fi

tar -xzf "$tarball" -C "$work" package/LICENSE package/dist/socket.io.esm.min.js
mkdir -p "$vendor"
# Copy beside the target, then rename: the server never serves a half-written file.
cp "$work/package/dist/socket.io.esm.min.js" "$vendor/.socket.io.esm.min.js.tmp"
mv -f "$vendor/.socket.io.esm.min.js.tmp" "$vendor/socket.io.esm.min.js"
cp "$work/package/LICENSE" "$vendor/socket.io-client.LICENSE.txt"
echo "$version" >"$stamp"
echo "salon: socket.io-client $version is in $vendor"

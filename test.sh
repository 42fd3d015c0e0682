#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: installs what the tests need (the wasm
# target, Debian's docker-registry for the registry tests, redis-server, skopeo for the tests that
# copy images with a real OCI tool, buildah for the container image test), builds the wasm guests,
# runs the tests.
set -euo pipefail
cd "$(dirname "$0")"

need_apt=()
command -v docker-registry >/dev/null 2>&1 || need_apt+=(docker-registry)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v skopeo >/dev/null 2>&1 || need_apt+=(skopeo)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  echo "installing ${need_apt[*]} (apt)" >&2
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# buildah builds the container image in one test (skipped, saying so, when it is missing); a
# failed install must not stop the other tests.
if ! command -v buildah >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo -n"; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq buildah >/dev/null 2>&1 \
    || echo "buildah is not installable here: the container image test will be skipped" >&2
fi

# The Python and JavaScript verifiers (tests/polyglot.rs) need python3's venv module and npm;
# `cargo xtask polyglot` installs componentize-py and componentize-js under the target directory
# (cached there) and builds them, or says why it skipped (the tests then skip, saying so too).
need_poly=()
python3 -m venv --help >/dev/null 2>&1 || need_poly+=(python3-venv)
command -v npm >/dev/null 2>&1 || need_poly+=(npm)
if [ ${#need_poly[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo -n"; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_poly[@]}" >/dev/null 2>&1 \
    || echo "${need_poly[*]} not installable here: the Python/JS verifier tests will be skipped" >&2
fi

rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
cargo xtask guests
cargo xtask polyglot
cargo test "$@"
# The verifiers' own logic, natively (their imports are behind traits).
guest_pkgs=()
for m in guest-verifiers/*/Cargo.toml; do
  guest_pkgs+=(-p "$(sed -n 's/^name = "\(.*\)"/\1/p' "$m" | head -1)")
done
cargo test "${guest_pkgs[@]}" "$@"

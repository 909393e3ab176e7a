#!/usr/bin/env bash
# Install what Indblik needs from Debian's packages and create the virtualenv.
#
#   scripts/bootstrap.sh [runtime|test|bench]
#
# runtime: python3-venv and xmlsec1 (SAML signatures). test: also Chromium (browser tests),
# nginx (the deployment test) and Node.js with npm, which installs axe-core (the accessibility
# check the browser tests inject) from package-lock.json.
# As root, missing packages are installed with apt-get; otherwise the exact command is printed
# and the script stops. Python packages come pinned from requirements.lock.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${1:-runtime}
packages=(python3 python3-venv python3-dev xmlsec1 gcc)
if [ "$profile" = bench ]; then
  packages+=(wrk)  # the HTTP load generator of `indblik bench chart`
fi
if [ "$profile" = test ]; then
  packages+=(chromium fonts-dejavu-core)
  # A real nginx for the deployment test (deploy/nginx): Debian's smallest build is enough.
  if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
    packages+=(nginx-light)
  fi
  # Node.js and npm may come from elsewhere (e.g. NodeSource's nodejs, which carries npm and
  # conflicts with Debian's npm package): only ask for Debian's when there is no npm at all.
  if ! command -v npm >/dev/null 2>&1; then
    packages+=(nodejs npm)
  fi
fi

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "bootstrap: installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "bootstrap: missing Debian packages. Run this, then try again:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

PYTHON=${PYTHON:-/usr/bin/python3}
[ -x "$PYTHON" ] || PYTHON=python3
stamp=.venv/.installed-$(sha256sum requirements.lock pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check \
    -c requirements.lock -e ".[dev]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi

if [ "$profile" = test ] && [ ! -d node_modules/axe-core ]; then
  # Test-only JavaScript tools, exactly as locked; no install scripts run.
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
fi

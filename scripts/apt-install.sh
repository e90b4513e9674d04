#!/usr/bin/env bash
# Installs Debian packages the tests need, as root or through passwordless
# sudo; says what to install otherwise. Progress goes to stderr.
#   scripts/apt-install.sh WHAT PACKAGE...   e.g. scripts/apt-install.sh PostgreSQL postgresql
set -euo pipefail
what=$1
shift
sudo=()
if [ "$(id -u)" != 0 ]; then
  sudo -n true 2>/dev/null || { echo "$what is not installed: apt-get install $*" >&2; exit 1; }
  sudo=(sudo -n)
fi
echo "installing $what from Debian's packages..." >&2
install() { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2; }
install "$@" || { "${sudo[@]}" apt-get update -q >&2 && install "$@"; }

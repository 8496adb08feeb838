# shellcheck shell=bash
# Installing Debian packages from the project's scripts. Source, don't run.

# Installs the Debian packages given, as root or with password-less sudo; otherwise prints the
# command to run and fails.
apt_install() {
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo="sudo"
        else
            echo "missing packages; install them with: sudo apt-get install $*" >&2
            return 1
        fi
    fi
    echo "Installing Debian packages: $* ..." >&2
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >&2
}

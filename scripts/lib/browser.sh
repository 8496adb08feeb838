# shellcheck shell=bash
# The headless browser the console tests drive. Source, don't run.

# shellcheck source=apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

# Makes sure Chromium and ChromeDriver are present (Debian's chromium and chromium-driver).
ensure_chromium() {
    if command -v chromedriver >/dev/null 2>&1 && [ -x /usr/bin/chromium ]; then
        return 0
    fi
    apt_install chromium chromium-driver
    command -v chromedriver >/dev/null 2>&1 || { echo "chromium-driver did not provide chromedriver" >&2; return 1; }
}

#!/usr/bin/env bash
# CI: the system Chromium that tests/server/test_server_browser.py drives through Playwright.
# Idempotent: does nothing when /usr/bin/chromium exists. Never uses `playwright install`.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium >/dev/null

test -x /usr/bin/chromium

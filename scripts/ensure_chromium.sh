#!/usr/bin/env bash
# Headless Chromium for the test that opens the built book in a browser. Installed from Debian when we can
# (root with apt-get); otherwise say how, and that test skips itself.
set -uo pipefail
for name in chromium chromium-browser google-chrome; do
  command -v "$name" >/dev/null && exit 0
done
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "setup: installing Debian's chromium for the rendered-page test ..."
  apt-get install -y -qq chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
    || echo "setup: could not install chromium; the rendered-page test will be skipped" >&2
else
  echo "setup: headless Chromium not found (sudo apt-get install chromium); the rendered-page test will be skipped" >&2
fi
exit 0

#!/usr/bin/env bash
# Installs the mail servers the IMAP/SMTP mailbox tests run against (they start throwaway
# instances themselves, on 127.0.0.1 high ports with temporary configs): Dovecot (IMAP + LMTP)
# and Postfix (the SMTP receiver that delivers into Dovecot over LMTP). Installs only; the
# Debian packages' own services are left unconfigured ("No configuration") and stopped.
# Without root and without the binaries, the tests skip with a printed notice.
set -euo pipefail

need=()
[ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd dovecot-lmtpd)
[ -x /usr/sbin/postfix ] || need+=(postfix)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "note: ${need[*]} not installed (not root): the IMAP/SMTP mailbox tests will skip" >&2
  exit 0
fi
echo "installing: ${need[*]}"
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The packages' system-wide services are not used by the tests.
if command -v service >/dev/null 2>&1; then
  service dovecot stop >/dev/null 2>&1 || true
  service postfix stop >/dev/null 2>&1 || true
fi

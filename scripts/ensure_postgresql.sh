#!/usr/bin/env bash
# PostgreSQL for the tracking tests (tests/system/test_tracking_scale.py): Debian's `postgresql`
# package. The tests start a private server themselves (initdb as an unprivileged user, 127.0.0.1
# on a free port) and skip, naming the reason, where the binaries are missing. Installed when this
# runs as root with apt-get, without the package's default cluster (no server on port 5432).
set -u
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "== installing Debian's postgresql (for tests/system/test_tracking_scale.py)"
  export DEBIAN_FRONTEND=noninteractive
  (apt-get update -qq \
    && apt-get install -y -qq postgresql-common \
    && sed -ri 's/^#?\s*create_main_cluster\s*=.*/create_main_cluster = false/' \
         /etc/postgresql-common/createcluster.conf \
    && apt-get install -y -qq postgresql) >/dev/null 2>&1 \
    || echo "   (apt-get failed: the PostgreSQL tests skip)"
else
  echo "== PostgreSQL missing and not root: the PostgreSQL tests skip"
fi
exit 0

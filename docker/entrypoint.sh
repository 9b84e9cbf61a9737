#!/bin/sh
# Container entrypoint: optionally apply database migrations, then run the command.
#
# Only the web service sets RUN_MIGRATIONS=1, so that exactly one container
# migrates; the worker waits for web to be healthy before it starts (compose.yaml).
# migrate is retried because PostgreSQL may still be starting or restarting.
#
#   RUN_MIGRATIONS      1 to run `manage.py migrate` first (default 0)
#   MIGRATE_ATTEMPTS    how many times to try (default 10)
#   MIGRATE_RETRY_DELAY seconds between tries (default 3)
set -eu

if [ "${RUN_MIGRATIONS:-0}" = "1" ]; then
    attempts="${MIGRATE_ATTEMPTS:-10}"
    delay="${MIGRATE_RETRY_DELAY:-3}"
    attempt=1
    until python manage.py migrate --noinput; do
        if [ "$attempt" -ge "$attempts" ]; then
            echo "entrypoint: migrate failed $attempt times; giving up." >&2
            exit 1
        fi
        echo "entrypoint: migrate failed (attempt $attempt of $attempts); retrying in ${delay}s." >&2
        attempt=$((attempt + 1))
        sleep "$delay"
    done
fi

exec "$@"

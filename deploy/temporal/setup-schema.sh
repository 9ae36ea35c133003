#!/bin/sh
# Creates Temporal's two databases on the shared PostgreSQL server and brings their schemas
# up to the versions this admin-tools image ships. Safe to run at every `docker compose up`:
# each step leaves what exists in place and applies only missing schema versions.
set -eu

sql() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" \
    -u "$POSTGRES_USER" --pw "$POSTGRES_PWD" "$@"
}

schemas=/etc/temporal/schema/postgresql/v12
for db in temporal:temporal temporal_visibility:visibility; do
  name=${db%%:*}
  dir=${db##*:}
  echo "database $name: create, base schema, versioned updates"
  sql --db "$name" create
  sql --db "$name" setup-schema -v 0.0
  sql --db "$name" update-schema -d "$schemas/$dir/versioned"
done

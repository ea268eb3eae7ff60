#!/bin/sh
# One database per service (architecture.md, "Database per service"), owned by the compose user. Runs once, when
# the postgres container initialises an empty data volume.
set -eu
for db in leadnet_intake leadnet_router leadnet_scheduler leadnet_ledger; do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<SQL
SELECT 'CREATE DATABASE $db OWNER "$POSTGRES_USER"'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$db')\gexec
SQL
done

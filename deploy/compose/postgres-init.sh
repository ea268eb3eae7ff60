#!/bin/sh
# One database per service (architecture.md, "Database per service") and the roles that use them. Runs once, when
# the postgres container initialises an empty data volume, as the image's superuser, which nothing else uses:
#   leadnet_migrate          owns the services' databases; the *-migrate containers run the migrations as it
#   leadnet_<service>_svc    the service's application role: it connects to its own database only, and gets what
#                            the migrations grant (the ledger: through leadnet_ledger_app, INSERT and SELECT on money,
#                            never UPDATE or DELETE; the others: read and write on their tables)
# The passwords come from the environment (docker-compose.yml requires each; scripts/compose-secrets.sh makes them).
# Also run by tests/test_compose_roles.py against a real PostgreSQL.
set -eu
PSQL="psql -v ON_ERROR_STOP=1 --no-psqlrc --username ${POSTGRES_USER} ${PGHOST:+--host $PGHOST} ${PGPORT:+--port $PGPORT}"

$PSQL --dbname postgres -v pw="${LEADNET_DB_MIGRATE_PASSWORD}" <<'SQL'
SELECT 'CREATE ROLE leadnet_migrate LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'leadnet_migrate')\gexec
ALTER ROLE leadnet_migrate PASSWORD :'pw';
-- The ledger's migration grants its tables to this role; the service's login role is a member of it.
SELECT 'CREATE ROLE leadnet_ledger_app NOLOGIN'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'leadnet_ledger_app')\gexec
SQL

for service in intake router scheduler ledger notifier; do
  db="leadnet_${service}"
  role="leadnet_${service}_svc"
  case "$service" in
    intake) password="${LEADNET_DB_INTAKE_PASSWORD}" ;;
    router) password="${LEADNET_DB_ROUTER_PASSWORD}" ;;
    scheduler) password="${LEADNET_DB_SCHEDULER_PASSWORD}" ;;
    ledger) password="${LEADNET_DB_LEDGER_PASSWORD}" ;;
    notifier) password="${LEADNET_DB_NOTIFIER_PASSWORD}" ;;
  esac
  $PSQL --dbname postgres -v db="$db" -v role="$role" -v pw="$password" <<'SQL'
SELECT format('CREATE DATABASE %I OWNER leadnet_migrate', :'db')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db')\gexec
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE', :'role')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role')\gexec
SELECT format('ALTER ROLE %I PASSWORD %L', :'role', :'pw')\gexec
-- Only the database's own roles may connect to it.
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db')\gexec
SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', :'db', :'role')\gexec
SQL
  $PSQL --dbname "$db" -v role="$role" -v service="$service" <<'SQL'
SELECT format('GRANT USAGE ON SCHEMA public TO %I', :'role')\gexec
-- The ledger: what its migrations grant leadnet_ledger_app (append-only money). The others: read and write on
-- the tables and sequences their migrations create.
SELECT format('GRANT leadnet_ledger_app TO %I', :'role') WHERE :'service' = 'ledger'\gexec
SELECT format('ALTER DEFAULT PRIVILEGES FOR ROLE leadnet_migrate IN SCHEMA public '
              'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I', :'role') WHERE :'service' <> 'ledger'\gexec
SELECT format('ALTER DEFAULT PRIVILEGES FOR ROLE leadnet_migrate IN SCHEMA public '
              'GRANT USAGE, SELECT ON SEQUENCES TO %I', :'role') WHERE :'service' <> 'ledger'\gexec
SQL
done

#!/bin/sh
# The topics of contract.md with their cleanup policies (12 partitions; one broker, so replication 1). Existing
# topics are left alone. Broker auto-creation is off, so a topic missing here fails loudly instead of appearing
# with the broker's defaults.
set -eu
BOOTSTRAP="${BOOTSTRAP:-kafka:19092}"
PREFIX="${LEADNET_TOPIC_PREFIX:-}"
DAY_MS=86400000
create() {  # name cleanup retention_days(or -)
  if [ "$3" = "-" ]; then retention=""; else retention="--config retention.ms=$(($3 * DAY_MS))"; fi
  # shellcheck disable=SC2086  # $retention is either empty or one flag and its value
  /opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
    --topic "$PREFIX$1" --partitions 12 --replication-factor 1 --config "cleanup.policy=$2" $retention
}
create leadnet.internal.leads.v1 delete 7
create leadnet.internal.dlq.v1 delete 30
create leadnet.public.leads.v1 delete 30
create leadnet.public.customers.v1 compact -
create leadnet.public.dealers.v1 compact -
create leadnet.public.tasks.v1 delete 30
create leadnet.public.sales.v1 delete 30
create leadnet.public.ledger.v1 delete 400
create leadnet.public.networks.v1 delete 400
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --list

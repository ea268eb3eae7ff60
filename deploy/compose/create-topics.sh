#!/bin/sh
# The topics of contract.md with their cleanup policies (12 partitions; one broker, so replication 1). Existing
# topics are left alone. Broker auto-creation is off, so a topic missing here fails loudly instead of appearing
# with the broker's defaults. Runs in the kafka-init container, which shares the broker's network namespace and
# reaches its loopback-only administration listener (BOOTSTRAP, 127.0.0.1:19093).
set -eu
BOOTSTRAP="${BOOTSTRAP:-127.0.0.1:19093}"
KAFKA_BIN="${KAFKA_BIN:-/opt/kafka/bin}"
PREFIX="${LEADNET_TOPIC_PREFIX:-}"
PARTITIONS="${LEADNET_PARTITIONS:-12}"
DAY_MS=86400000
create() {  # name cleanup retention_days(or -)
  if [ "$3" = "-" ]; then retention=""; else retention="--config retention.ms=$(($3 * DAY_MS))"; fi
  # shellcheck disable=SC2086  # $retention is either empty or one flag and its value
  "$KAFKA_BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
    --topic "$PREFIX$1" --partitions "$PARTITIONS" --replication-factor 1 --config "cleanup.policy=$2" $retention
}
create leadnet.internal.leads.v1 delete 7
create leadnet.internal.dlq.v1 delete 7
# Created with 30 days before dead letters carried ids only: cut an existing DLQ to the internal topic's week.
/opt/kafka/bin/kafka-configs.sh --bootstrap-server "$BOOTSTRAP" --alter --entity-type topics \
  --entity-name "${PREFIX}leadnet.internal.dlq.v1" --add-config "retention.ms=$((7 * DAY_MS))"
create leadnet.public.leads.v1 delete 30
create leadnet.public.customers.v1 compact -
create leadnet.public.dealers.v1 compact -
create leadnet.public.tasks.v1 delete 30
create leadnet.public.sales.v1 delete 30
create leadnet.public.ledger.v1 delete 400
create leadnet.public.networks.v1 delete 400
create leadnet.public.plans.v1 delete 400
"$KAFKA_BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" --list

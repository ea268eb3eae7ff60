#!/bin/sh
# One SCRAM-SHA-512 Kafka user per service, with ACLs for exactly the topics and consumer groups its code uses:
# the same table as the Kubernetes KafkaUsers (leadnet_shared/access.py; tests compare both with it). The broker's
# authorizer refuses everything no ACL allows. Runs in the kafka-init container against the broker's loopback-only
# administration listener; the passwords come from the environment (scripts/compose-secrets.sh makes them).
set -eu
BOOTSTRAP="${BOOTSTRAP:-127.0.0.1:19093}"
KAFKA_BIN="${KAFKA_BIN:-/opt/kafka/bin}"
PREFIX="${LEADNET_TOPIC_PREFIX:-}"

user() {  # name password
  "$KAFKA_BIN/kafka-configs.sh" --bootstrap-server "$BOOTSTRAP" --alter --entity-type users --entity-name "$1" \
    --add-config "SCRAM-SHA-512=[password=$2]"
}
acl() {  # principal operation... -- resource flags
  principal="$1"; shift
  "$KAFKA_BIN/kafka-acls.sh" --bootstrap-server "$BOOTSTRAP" --add --allow-principal "User:$principal" "$@"
}
grant_write() {  # user topic...
  u="$1"; shift
  topics=""; for t in "$@"; do topics="$topics --topic $PREFIX$t"; done
  # shellcheck disable=SC2086  # one --topic flag per topic
  acl "$u" --operation Write --operation Describe $topics
}
grant_read() {  # user topic...
  u="$1"; shift
  topics=""; for t in "$@"; do topics="$topics --topic $PREFIX$t"; done
  # shellcheck disable=SC2086  # one --topic flag per topic
  acl "$u" --operation Read --operation Describe $topics
}
grant_groups() {  # user group-prefix
  acl "$1" --operation Read --group "$PREFIX$2" --resource-pattern-type prefixed
}

user leadnet-intake "$LEADNET_KAFKA_INTAKE_PASSWORD"
grant_write leadnet-intake leadnet.internal.dlq.v1 leadnet.internal.leads.v1 leadnet.public.leads.v1 leadnet.public.networks.v1
grant_read leadnet-intake leadnet.internal.leads.v1 leadnet.public.dealers.v1 leadnet.public.leads.v1
grant_groups leadnet-intake leadnet-intake-

user leadnet-router "$LEADNET_KAFKA_ROUTER_PASSWORD"
grant_write leadnet-router leadnet.internal.dlq.v1 leadnet.public.customers.v1 leadnet.public.dealers.v1 leadnet.public.leads.v1 leadnet.public.sales.v1
grant_read leadnet-router leadnet.internal.leads.v1 leadnet.public.customers.v1 leadnet.public.leads.v1 leadnet.public.ledger.v1 leadnet.public.sales.v1 leadnet.public.tasks.v1
grant_groups leadnet-router leadnet-router-

user leadnet-scheduler "$LEADNET_KAFKA_SCHEDULER_PASSWORD"
grant_write leadnet-scheduler leadnet.internal.dlq.v1 leadnet.internal.leads.v1 leadnet.public.leads.v1 leadnet.public.plans.v1 leadnet.public.tasks.v1
grant_read leadnet-scheduler leadnet.public.dealers.v1 leadnet.public.leads.v1 leadnet.public.sales.v1
grant_groups leadnet-scheduler leadnet-scheduler-

user leadnet-ledger "$LEADNET_KAFKA_LEDGER_PASSWORD"
grant_write leadnet-ledger leadnet.internal.dlq.v1 leadnet.public.ledger.v1
grant_read leadnet-ledger leadnet.public.leads.v1 leadnet.public.sales.v1
grant_groups leadnet-ledger leadnet-ledger-

user leadnet-console "$LEADNET_KAFKA_CONSOLE_PASSWORD"
grant_write leadnet-console leadnet.internal.dlq.v1
grant_read leadnet-console leadnet.public.customers.v1 leadnet.public.dealers.v1 leadnet.public.leads.v1 leadnet.public.ledger.v1 leadnet.public.networks.v1 leadnet.public.plans.v1 leadnet.public.sales.v1 leadnet.public.tasks.v1
grant_groups leadnet-console leadnet-console-
user leadnet-notifier "$LEADNET_KAFKA_NOTIFIER_PASSWORD"
grant_write leadnet-notifier leadnet.internal.dlq.v1
grant_read leadnet-notifier leadnet.public.dealers.v1 leadnet.public.leads.v1 leadnet.public.ledger.v1 leadnet.public.networks.v1 leadnet.public.plans.v1 leadnet.public.sales.v1 leadnet.public.tasks.v1
grant_groups leadnet-notifier leadnet-notifier-

#!/usr/bin/env bash
# Regenerates deploy/schemas/strimzi/*.json from the Strimzi API model of a pinned release, fetched from Maven
# Central (io.strimzi:api + io.strimzi:crd-generator). Run it by hand when moving to another Strimzi release and
# commit the result; CI and the tests only read the vendored files.
# Needs: mvn, a Java 21+ runtime (JAVA=/path/to/java to choose one), python3 with PyYAML.
set -euo pipefail
STRIMZI_VERSION="${STRIMZI_VERSION:-1.2.0}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
JAVA="${JAVA:-java}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cat >"$WORK/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>leadnet</groupId><artifactId>strimzi-crds</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>io.strimzi</groupId><artifactId>api</artifactId><version>$STRIMZI_VERSION</version></dependency>
    <dependency><groupId>io.strimzi</groupId><artifactId>crd-generator</artifactId><version>$STRIMZI_VERSION</version></dependency>
  </dependencies>
</project>
POM
(cd "$WORK" && mvn -q dependency:build-classpath -Dmdep.outputFile="$WORK/cp.txt")
"$JAVA" -cp "$(cat "$WORK/cp.txt")" io.strimzi.crdgenerator.CrdGenerator --yaml --crd-api-version v1 --api-versions v1 \
  "io.strimzi.api.kafka.model.kafka.Kafka=$WORK/kafka.yaml" \
  "io.strimzi.api.kafka.model.nodepool.KafkaNodePool=$WORK/kafkanodepool.yaml" \
  "io.strimzi.api.kafka.model.topic.KafkaTopic=$WORK/kafkatopic.yaml" \
  "io.strimzi.api.kafka.model.user.KafkaUser=$WORK/kafkauser.yaml"
rm -f "$HERE"/strimzi/*.json
python3 "$HERE/crd_to_jsonschema.py" "$HERE/strimzi" "$WORK/kafka.yaml" "$WORK/kafkanodepool.yaml" "$WORK/kafkatopic.yaml" "$WORK/kafkauser.yaml"
echo "$STRIMZI_VERSION" >"$HERE/strimzi/STRIMZI_VERSION"

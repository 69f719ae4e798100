#!/usr/bin/env bash
# Fetch the Apache ZooKeeper server jars from Maven Central into the herd test cache, so the
# integration tests (crates/mesos-client/tests/zookeeper.rs) can start a real ZooKeeper with
#   java -cp "<cache>/zookeeper-<version>/lib/*" org.apache.zookeeper.server.ZooKeeperServerMain <zoo.cfg>
#
# Cache: ${HERD_TEST_CACHE:-$HOME/.cache/herd-test}/zookeeper-<version>/lib/
# Idempotent: does nothing when <cache>/zookeeper-<version>/.complete exists and names the same
# artifact versions (the marker is written last, after every jar was copied). Needs `mvn` and network access to Maven Central
# (or a mirror configured in ~/.m2/settings.xml); works with an empty ~/.m2.
#
# The ZooKeeper POM marks some runtime needs as provided/optional, so they are listed here:
#   * io.dropwizard.metrics:metrics-core  (provided; the server dies with NoClassDefFoundError
#     without it) — same version ZooKeeper 3.9.5 builds against (parent POM dropwizard.version);
#   * ch.qos.logback:logback-classic      (runtime+optional; the slf4j 2 provider, else no logs);
#   * org.xerial.snappy:snappy-java       (provided, but NOT optional in practice: 3.9.5's
#     persistence.Util.makeSnapshotName references SnappyInputStream, so without it the server's
#     main thread dies with NoClassDefFoundError while loading/saving the first snapshot — and
#     the JVM stays up with the client port open, answering srvr with "not currently serving");
#   * commons-cli:commons-cli             (provided; only for the zkCli-style tools).
# netty-tcnative-boringssl-static (native TLS for five platforms, ~15 MB) is excluded: the tests
# use plaintext on 127.0.0.1.
set -euo pipefail

ZK_VERSION="${ZK_VERSION:-3.9.5}"
METRICS_VERSION="4.1.12.1"
LOGBACK_VERSION="1.3.15"
COMMONS_CLI_VERSION="1.5.0"
SNAPPY_VERSION="1.1.10.5"
DEPENDENCY_PLUGIN_VERSION="3.8.1"

cache="${HERD_TEST_CACHE:-$HOME/.cache/herd-test}"
dest="$cache/zookeeper-$ZK_VERSION"
marker="$dest/.complete"

# The marker records the artifact set, so editing the versions above re-fetches.
stamp="zookeeper=$ZK_VERSION metrics-core=$METRICS_VERSION logback-classic=$LOGBACK_VERSION snappy-java=$SNAPPY_VERSION commons-cli=$COMMONS_CLI_VERSION"
if [[ -f "$marker" && "$(cat "$marker")" == "$stamp" ]]; then
  echo "ZooKeeper $ZK_VERSION already fetched: $dest/lib"
  exit 0
fi
rm -f "$marker"

for tool in mvn java; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "fetch-zookeeper.sh: '$tool' not found on PATH (need Maven and a JDK 17)" >&2
    exit 1
  fi
done

work="$(mktemp -d "${TMPDIR:-/tmp}/herd-fetch-zookeeper.XXXXXX")"
trap 'rm -rf "$work"' EXIT

cat >"$work/pom.xml" <<POM
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 https://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>herd.test</groupId>
  <artifactId>fetch-zookeeper</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.zookeeper</groupId>
      <artifactId>zookeeper</artifactId>
      <version>$ZK_VERSION</version>
      <exclusions>
        <exclusion>
          <groupId>io.netty</groupId>
          <artifactId>netty-tcnative-boringssl-static</artifactId>
        </exclusion>
      </exclusions>
    </dependency>
    <dependency>
      <groupId>io.dropwizard.metrics</groupId>
      <artifactId>metrics-core</artifactId>
      <version>$METRICS_VERSION</version>
      <exclusions>
        <exclusion>
          <groupId>org.slf4j</groupId>
          <artifactId>slf4j-api</artifactId>
        </exclusion>
      </exclusions>
    </dependency>
    <dependency>
      <groupId>ch.qos.logback</groupId>
      <artifactId>logback-classic</artifactId>
      <version>$LOGBACK_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.xerial.snappy</groupId>
      <artifactId>snappy-java</artifactId>
      <version>$SNAPPY_VERSION</version>
    </dependency>
    <dependency>
      <groupId>commons-cli</groupId>
      <artifactId>commons-cli</artifactId>
      <version>$COMMONS_CLI_VERSION</version>
    </dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-dependency-plugin</artifactId>
        <version>$DEPENDENCY_PLUGIN_VERSION</version>
      </plugin>
    </plugins>
  </build>
</project>
POM

# Copy into a staging dir next to the destination, then move it into place, so an interrupted
# run never leaves a half-filled lib/ that looks usable.
mkdir -p "$dest"
staging="$dest/lib.partial"
rm -rf "$staging"
echo "Fetching ZooKeeper $ZK_VERSION jars from Maven Central into $dest/lib ..."
mvn -q -B -Dstyle.color=never -f "$work/pom.xml" dependency:copy-dependencies \
  -DincludeScope=runtime \
  -DoutputDirectory="$staging"

# Sanity check: the classes the tests launch and the provided/optional ones added above.
for jar in "zookeeper-$ZK_VERSION.jar" "zookeeper-jute-$ZK_VERSION.jar" \
           "metrics-core-$METRICS_VERSION.jar" "logback-classic-$LOGBACK_VERSION.jar" \
           "snappy-java-$SNAPPY_VERSION.jar" \
           "slf4j-api-"; do
  if ! ls "$staging" | grep -q "^$jar"; then
    echo "fetch-zookeeper.sh: expected $jar* in $staging, got:" >&2
    ls "$staging" >&2
    exit 1
  fi
done

rm -rf "$dest/lib"
mv "$staging" "$dest/lib"
echo "$stamp" >"$marker.tmp"
mv "$marker.tmp" "$marker"
echo "ZooKeeper $ZK_VERSION ready: $dest/lib ($(ls "$dest/lib" | wc -l) jars)"

#!/usr/bin/env bash
# Submit the tokenlake pipeline to a Spark cluster.
#
#   MASTER=spark://host:7077 infra/spark-submit/submit.sh pipeline.yaml [--stage NAME ...] [--set k=v ...]
#
# Prerequisites on the driver and every executor: the tokenlake wheel installed into the Python
# that PYSPARK_PYTHON names (pip install tokenlake-*.whl), Java 17.
#
# Environment:
#   MASTER          spark master URL (default local[*])
#   TABLE_FORMAT    delta (default) or parquet; delta adds the Delta Lake package below
#   DELTA_PACKAGE   Maven coordinates of delta-spark (default io.delta:delta-spark_4.2_2.13:4.4.1)
#   EXTRA_PACKAGES  comma-separated extra Maven coordinates, e.g. org.apache.hadoop:hadoop-aws:3.4.1
#                   for s3a:// or org.apache.hadoop:hadoop-azure:3.4.1 for abfss://
#   PYSPARK_PYTHON  the executors' Python (default: python3 on the PATH)
#   SUBMIT_ARGS     extra spark-submit arguments, e.g. "--executor-memory 8g --conf spark.executor.cores=4"
# Credentials are never passed here: S3 uses the default AWS chain (instance profile, env),
# ADLS the cluster's configured identity or the AZURE_* environment variables.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
config="${1:?usage: submit.sh CONFIG [--stage NAME ...] [--set k=v ...]}"; shift
master="${MASTER:-local[*]}"
format="${TABLE_FORMAT:-delta}"
packages=()
conf=(--conf spark.sql.session.timeZone=UTC)
if [ "$format" = delta ]; then
  packages+=("${DELTA_PACKAGE:-io.delta:delta-spark_4.2_2.13:4.4.1}")
  conf+=(--conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension
         --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog)
fi
[ -n "${EXTRA_PACKAGES:-}" ] && packages+=("$EXTRA_PACKAGES")
pkg_args=()
[ ${#packages[@]} -gt 0 ] && pkg_args=(--packages "$(IFS=,; echo "${packages[*]}")")
read -r -a extra <<< "${SUBMIT_ARGS:-}"
exec spark-submit --master "$master" "${pkg_args[@]}" "${conf[@]}" "${extra[@]}" \
  "$here/../../jobs/pipeline.py" --config "$config" --engine spark --set "table_format=$format" "$@"

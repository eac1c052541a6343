"""Load a data domain's landed files into the raw Iceberg tables (Spark job of the pipelines).

Sources (NiFi, Airbyte) land files in <bucket>/landing/<dataset>/ (in S3, the
cluster's store or Cloud Storage). Each dataset folder is appended to the
Iceberg table <catalog>.<schema>.<dataset> through the Lakekeeper REST
catalog. Every domain appends to the same raw
tables (the dbt project's contract, dbt/README.md): rows carry their domain in
data_domain, plus _source_file, _run_id and _ingested_at. Loaded files then
move to archive/<run>/<dataset>/. A file already present in the table (a
retried run) is archived without being loaded again, so re-running is safe.

Every run appends one row per dataset to <catalog>.<schema>.ingestion_log;
the pipeline's quality gate reconciles those counts with the tables.
"""

import argparse
import os
import re

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.utils import AnalysisException

FORMATS = {".parquet": "parquet", ".json": "json", ".jsonl": "json", ".csv": "csv", ".orc": "orc"}
DATASET_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


S3_FILE_IO = "org.apache.iceberg.aws.s3.S3FileIO"


def session(catalog: str) -> SparkSession:
    prefix = f"spark.sql.catalog.{catalog}"
    credential = f"{os.environ['KEYCLOAK_CLIENT_ID']}:{os.environ['KEYCLOAK_CLIENT_SECRET']}"
    # S3's FileIO (S3 or the cluster's store), or Cloud Storage's or
    # Azure's, which take the catalog's vended token and need no endpoint.
    io_impl = os.environ.get("ICEBERG_IO_IMPL", S3_FILE_IO)
    builder = (
        SparkSession.builder.appName("ingest-landing")
        .config(prefix, "org.apache.iceberg.spark.SparkCatalog")
        .config(f"{prefix}.type", "rest")
        .config(f"{prefix}.uri", os.environ["ICEBERG_CATALOG_URI"])
        .config(f"{prefix}.warehouse", os.environ["ICEBERG_WAREHOUSE"])
        .config(f"{prefix}.credential", credential)
        .config(f"{prefix}.oauth2-server-uri", os.environ["TOKEN_URL"])
        .config(f"{prefix}.scope", "lakekeeper")
        # The tables' files with the credentials Lakekeeper vends for each
        # (the pipelines' own keys read only the landing buckets).
        .config(f"{prefix}.header.X-Iceberg-Access-Delegation", "vended-credentials")
        .config(f"{prefix}.io-impl", io_impl)
    )
    if io_impl == S3_FILE_IO:
        # Where the tables' files are: the landing buckets' store, or the
        # cloud's (the catalog names no endpoint for a cloud's warehouse).
        builder = (
            builder.config(f"{prefix}.s3.endpoint", os.environ["ICEBERG_S3_ENDPOINT"])
            .config(f"{prefix}.s3.path-style-access", os.environ["ICEBERG_S3_PATH_STYLE"])
            .config(f"{prefix}.client.region", os.environ["ICEBERG_S3_REGION"])
        )
    return builder.getOrCreate()


def _existing(spark: SparkSession, folder: str):
    """The Hadoop file system and path of `folder`, or None when it is absent."""
    path = spark._jvm.org.apache.hadoop.fs.Path(folder)
    fs = path.getFileSystem(spark._jsc.hadoopConfiguration())
    return (fs, path) if fs.exists(path) else None


def landed_files(spark: SparkSession, folder: str) -> list:
    found = _existing(spark, folder)
    if found is None:
        return []
    fs, path = found
    files = []
    iterator = fs.listFiles(path, True)
    while iterator.hasNext():
        name = iterator.next().getPath().toString()
        if not os.path.basename(name).startswith(("_", ".")):
            files.append(name)
    return sorted(files)


def datasets(spark: SparkSession, landing: str) -> list:
    found = _existing(spark, landing)
    if found is None:
        return []
    fs, path = found
    return sorted(s.getPath().getName() for s in fs.listStatus(path) if s.isDirectory())


def archive(spark: SparkSession, files: list, run: str) -> None:
    jvm = spark._jvm
    for name in files:
        source = jvm.org.apache.hadoop.fs.Path(name)
        target = jvm.org.apache.hadoop.fs.Path(name.replace("/landing/", f"/archive/{run}/", 1))
        fs = source.getFileSystem(spark._jsc.hadoopConfiguration())
        fs.mkdirs(target.getParent())
        if not fs.rename(source, target):
            raise RuntimeError(f"could not archive {name}")


def load(spark: SparkSession, table: str, files: list, run_id: str, domain: str) -> int:
    formats = {FORMATS.get(os.path.splitext(f)[1].lower()) for f in files}
    if None in formats or len(formats) != 1:
        raise ValueError(f"{table}: landed files must share one of {sorted(FORMATS)} extensions")
    fmt = formats.pop()
    exists = spark.catalog.tableExists(table)
    if exists:
        loaded = {
            r[0]
            for r in spark.table(table).where(F.col("_source_file").isin(files)).select("_source_file").distinct().collect()
        }
        files = [f for f in files if f not in loaded]
    if files:
        reader = spark.read.format(fmt)
        if fmt == "csv":
            reader = reader.option("header", "true").option("inferSchema", "true")
        frame = (
            reader.load(files)
            .withColumn("data_domain", F.lit(domain))
            .withColumn("_source_file", F.input_file_name())
            .withColumn("_run_id", F.lit(run_id))
            .withColumn("_ingested_at", F.current_timestamp())
        )
        created = False
        if not exists:
            # Domains load in parallel: another one may create the table first.
            try:
                (
                    frame.writeTo(table)
                    .using("iceberg")
                    .tableProperty("format-version", "2")
                    .tableProperty("write.spark.accept-any-schema", "true")
                    .partitionedBy(F.col("data_domain"))
                    .create()
                )
                created = True
            except AnalysisException as error:
                if "already exists" not in str(error).lower():
                    raise
        if not created:
            frame.writeTo(table).option("mergeSchema", "true").append()
    if not spark.catalog.tableExists(table):
        return 0
    return spark.table(table).where((F.col("_run_id") == run_id) & (F.col("data_domain") == domain)).count()


def ensure(spark: SparkSession, statement: str) -> None:
    """Run a CREATE ... IF NOT EXISTS that a domain loading in parallel may win."""
    try:
        spark.sql(statement)
    except AnalysisException as error:
        if "already exists" not in str(error).lower():
            raise


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--domain", required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--catalog", required=True)
    parser.add_argument("--schema", required=True)
    parser.add_argument("--run-id", required=True)
    args = parser.parse_args()

    spark = session(args.catalog)
    namespace = f"{args.catalog}.{args.schema}"
    ensure(spark, f"CREATE NAMESPACE IF NOT EXISTS {namespace}")
    ensure(
        spark,
        f"CREATE TABLE IF NOT EXISTS {namespace}.ingestion_log "
        "(run_id STRING, data_domain STRING, dataset STRING, files INT, rows_loaded BIGINT, logged_at TIMESTAMP) "
        "USING iceberg",
    )
    run = re.sub(r"[^A-Za-z0-9._-]", "_", args.run_id)
    # s3a (S3 or the cluster's store) or gs (Cloud Storage), as the
    # environment's SparkApplication says.
    landing = f"{os.environ.get('LANDING_SCHEME', 's3a')}://{args.bucket}/landing/"
    entries = []
    for dataset in datasets(spark, landing):
        if not DATASET_NAME.match(dataset):
            raise ValueError(f"landing folder {dataset!r} is not a table name ([a-z][a-z0-9_]*)")
        files = landed_files(spark, landing + dataset)
        if not files:
            continue
        rows = load(spark, f"{namespace}.{dataset}", files, args.run_id, args.domain)
        archive(spark, files, run)
        entries.append((args.run_id, args.domain, dataset, len(files), rows))
        print(f"{dataset}: {len(files)} files, {rows} rows for run {args.run_id}")
    if not entries:
        entries.append((args.run_id, args.domain, None, 0, 0))
        print("nothing landed")
    (
        spark.createDataFrame(entries, "run_id STRING, data_domain STRING, dataset STRING, files INT, rows_loaded BIGINT")
        .withColumn("logged_at", F.current_timestamp())
        .writeTo(f"{namespace}.ingestion_log")
        .append()
    )
    spark.stop()


if __name__ == "__main__":
    main()

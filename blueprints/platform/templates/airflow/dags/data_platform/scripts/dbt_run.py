"""Entry point of the dbt pod: Keycloak token, then `dbt build` of the project
(through dbt-ol, which reports its lineage, when OPENLINEAGE_URL is set).

Runs with the Python standard library plus dbt-trino (installed by the
init container into PYTHONPATH). Trino authenticates the token as a JWT on
every request: the client's access token lifespan must cover a whole build.
The profile (dbt/profiles.yml) reads the token from DBT_TRINO_JWT and the
user, the token's preferred_username, from DBT_TRINO_USER.

With ARTIFACTS_BUCKET set (the catalog pulls dbt's metadata), the build's
artifacts are copied to that bucket afterwards, failed builds included:
their run results are what the catalog shows.
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
import sys
import urllib.parse
import urllib.request

# What the catalog's dbt ingestion reads (catalog.json only exists after
# `dbt docs generate`, which the build does not run).
ARTIFACTS = ("manifest.json", "run_results.json", "catalog.json")


def token() -> str:
    form = urllib.parse.urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": os.environ["KEYCLOAK_CLIENT_ID"],
            "client_secret": os.environ["KEYCLOAK_CLIENT_SECRET"],
        }
    ).encode()
    with urllib.request.urlopen(os.environ["TOKEN_URL"], data=form, timeout=30) as response:
        return json.load(response)["access_token"]


def principal(jwt: str) -> str:
    payload = jwt.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    return json.loads(base64.urlsafe_b64decode(payload))["preferred_username"]


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def put_object(endpoint: str, region: str, bucket: str, key: str, body: bytes) -> None:
    """PUT one object, path-style, signed with AWS Signature Version 4
    (standard library only: the pod installs nothing for it)."""
    url = urllib.parse.urlsplit(endpoint)
    path = "/" + urllib.parse.quote(f"{bucket}/{key}", safe="/-_.~")
    now = datetime.datetime.now(datetime.timezone.utc)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    digest = hashlib.sha256(body).hexdigest()
    headers = {"host": url.netloc, "x-amz-content-sha256": digest, "x-amz-date": stamp}
    signed = ";".join(headers)
    canonical = "\n".join(
        ["PUT", path, "", *(f"{k}:{v}" for k, v in headers.items()), "", signed, digest]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    signing = b"AWS4" + os.environ["AWS_SECRET_ACCESS_KEY"].encode()
    for part in (day, region, "s3", "aws4_request"):
        signing = _hmac(signing, part)
    signature = hmac.new(signing, to_sign.encode(), hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"{url.scheme}://{url.netloc}{path}", data=body, method="PUT"
    )
    request.add_header("x-amz-content-sha256", digest)
    request.add_header("x-amz-date", stamp)
    request.add_header(
        "Authorization",
        f"AWS4-HMAC-SHA256 Credential={os.environ['AWS_ACCESS_KEY_ID']}/{scope}, "
        f"SignedHeaders={signed}, Signature={signature}",
    )
    with urllib.request.urlopen(request, timeout=60):
        pass


def upload_artifacts(project: str) -> None:
    bucket = os.environ.get("ARTIFACTS_BUCKET")
    if not bucket:
        return
    prefix = os.environ["ARTIFACTS_PREFIX"]
    for name in ARTIFACTS:
        path = os.path.join(project, "target", name)
        if os.path.exists(path):
            with open(path, "rb") as f:
                put_object(os.environ["S3_ENDPOINT"], os.environ["S3_REGION"], bucket, f"{prefix}/{name}", f.read())
            print(f"{name} copied to s3://{bucket}/{prefix}/{name}")


def main() -> int:
    from dbt.cli.main import dbtRunner

    project = os.environ["DBT_PROJECT_DIR"]
    jwt = token()
    os.environ["DBT_TRINO_JWT"] = jwt
    os.environ["DBT_TRINO_USER"] = principal(jwt)
    common = ["--project-dir", project, "--target", os.environ["DBT_TARGET"]]
    if os.path.exists(os.path.join(project, "profiles.yml")):
        common += ["--profiles-dir", project]
    runner = dbtRunner()
    if any(os.path.exists(os.path.join(project, f)) for f in ("packages.yml", "dependencies.yml")):
        if not runner.invoke(["deps", "--project-dir", project]).success:
            return 1
    if os.environ.get("OPENLINEAGE_URL"):
        # dbt-ol runs `dbt build` and sends the lineage of every model, seed,
        # snapshot and test to the catalog from the run's artifacts
        # (manifest.json, run_results.json) as OpenLineage events.
        from openlineage.dbt import main as dbt_ol

        sys.argv = ["dbt-ol", "build", *common]
        return dbt_ol()
    result = runner.invoke(["build", *common])
    upload_artifacts(project)
    if result.exception is not None:
        print(f"dbt build did not run: {result.exception}", file=sys.stderr)
        return 1
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())

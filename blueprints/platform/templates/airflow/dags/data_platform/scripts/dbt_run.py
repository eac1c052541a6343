"""Entry point of the dbt pod: Keycloak token, then `dbt build` of the project
(through dbt-ol, which reports its lineage, when OPENLINEAGE_URL is set).

Runs with the Python standard library plus dbt-trino (installed by the
init container into PYTHONPATH). Trino authenticates the token as a JWT on
every request: the client's access token lifespan must cover a whole build.
The profile (dbt/profiles.yml) reads the token from DBT_TRINO_JWT and the
user, the token's preferred_username, from DBT_TRINO_USER.

With ARTIFACTS_BUCKET set (the catalog pulls dbt's metadata), the build's
artifacts are copied to that bucket afterwards, failed builds included:
their run results are what the catalog shows. ARTIFACTS_STORE says where
the bucket is and how the pod signs in: "store", the cluster's S3 store,
with the keys in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; "s3", Amazon
S3, as the role the pod's service account takes (by web identity, or from
EKS's Pod Identity agent); "gcs", Cloud Storage, as the account's identity,
from the metadata server. No cloud SDK is installed for it.
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
import xml.etree.ElementTree as ElementTree
from typing import NamedTuple

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


class Credentials(NamedTuple):
    access_key: str
    secret_key: str
    session_token: str | None = None


STS_NS = {"sts": "https://sts.amazonaws.com/doc/2011-06-15/"}


def s3_credentials(region: str) -> Credentials:
    """The store's keys when the pod has them, else the role its service
    account takes: by web identity (IRSA: AWS_ROLE_ARN and the projected
    token AWS_WEB_IDENTITY_TOKEN_FILE, exchanged at STS), or from the Pod
    Identity agent (AWS_CONTAINER_CREDENTIALS_FULL_URI)."""
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        return Credentials(
            os.environ["AWS_ACCESS_KEY_ID"],
            os.environ["AWS_SECRET_ACCESS_KEY"],
            os.environ.get("AWS_SESSION_TOKEN"),
        )
    if os.environ.get("AWS_WEB_IDENTITY_TOKEN_FILE"):
        with open(os.environ["AWS_WEB_IDENTITY_TOKEN_FILE"]) as f:
            token = f.read().strip()
        # The SDKs' variable for STS's address; the regional endpoint, which
        # the VPC's interface endpoint answers, otherwise.
        sts = os.environ.get("AWS_ENDPOINT_URL_STS") or f"https://sts.{region}.amazonaws.com"
        form = urllib.parse.urlencode(
            {
                "Action": "AssumeRoleWithWebIdentity",
                "Version": "2011-06-15",
                "RoleArn": os.environ["AWS_ROLE_ARN"],
                "RoleSessionName": "dbt-artifacts",
                "WebIdentityToken": token,
                "DurationSeconds": "900",
            }
        ).encode()
        with urllib.request.urlopen(sts.rstrip("/") + "/", data=form, timeout=30) as response:
            answer = ElementTree.fromstring(response.read())
        c = answer.find("sts:AssumeRoleWithWebIdentityResult/sts:Credentials", STS_NS)
        if c is None:
            raise RuntimeError(f"{sts} answered no credentials")
        return Credentials(
            c.findtext("sts:AccessKeyId", "", STS_NS),
            c.findtext("sts:SecretAccessKey", "", STS_NS),
            c.findtext("sts:SessionToken", None, STS_NS),
        )
    if os.environ.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        request = urllib.request.Request(os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"])
        with open(os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]) as f:
            request.add_header("Authorization", f.read().strip())
        with urllib.request.urlopen(request, timeout=30) as response:
            given = json.load(response)
        return Credentials(given["AccessKeyId"], given["SecretAccessKey"], given.get("Token"))
    raise RuntimeError(
        "no S3 credentials: neither the store's keys (AWS_ACCESS_KEY_ID) nor a role for the "
        "pod's service account (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_CONTAINER_CREDENTIALS_FULL_URI)"
    )


def put_object(
    endpoint: str, region: str, bucket: str, key: str, body: bytes, credentials: Credentials
) -> None:
    """PUT one object, path-style, signed with AWS Signature Version 4
    (standard library only: the pod installs nothing for it)."""
    url = urllib.parse.urlsplit(endpoint)
    path = "/" + urllib.parse.quote(f"{bucket}/{key}", safe="/-_.~")
    now = datetime.datetime.now(datetime.timezone.utc)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    digest = hashlib.sha256(body).hexdigest()
    # Signed headers in the order of their names, as the signature wants.
    headers = {"host": url.netloc, "x-amz-content-sha256": digest, "x-amz-date": stamp}
    if credentials.session_token:
        headers["x-amz-security-token"] = credentials.session_token
    signed = ";".join(headers)
    canonical = "\n".join(
        ["PUT", path, "", *(f"{k}:{v}" for k, v in headers.items()), "", signed, digest]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    signing = b"AWS4" + credentials.secret_key.encode()
    for part in (day, region, "s3", "aws4_request"):
        signing = _hmac(signing, part)
    signature = hmac.new(signing, to_sign.encode(), hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"{url.scheme}://{url.netloc}{path}", data=body, method="PUT"
    )
    for name, value in headers.items():
        if name != "host":
            request.add_header(name, value)
    request.add_header(
        "Authorization",
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={signed}, Signature={signature}",
    )
    with urllib.request.urlopen(request, timeout=60):
        pass


def gcs_token() -> str:
    """An access token for the pod's service account, from the metadata
    server (GKE's, with Workload Identity Federation: the account's own)."""
    host = os.environ.get("GCE_METADATA_HOST", "metadata.google.internal")
    request = urllib.request.Request(
        f"http://{host}/computeMetadata/v1/instance/service-accounts/default/token"
    )
    request.add_header("Metadata-Flavor", "Google")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["access_token"]


def gcs_put(bucket: str, key: str, body: bytes, token: str) -> None:
    """Upload one object with Cloud Storage's JSON API (a simple upload)."""
    base = os.environ.get("STORAGE_EMULATOR_HOST", "https://storage.googleapis.com")
    query = urllib.parse.urlencode({"uploadType": "media", "name": key})
    request = urllib.request.Request(
        f"{base}/upload/storage/v1/b/{urllib.parse.quote(bucket, safe='')}/o?{query}",
        data=body,
        method="POST",
    )
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=60):
        pass


def upload_artifacts(project: str) -> None:
    bucket = os.environ.get("ARTIFACTS_BUCKET")
    if not bucket:
        return
    prefix = os.environ["ARTIFACTS_PREFIX"]
    store = os.environ.get("ARTIFACTS_STORE", "store")
    found = [
        (name, os.path.join(project, "target", name))
        for name in ARTIFACTS
        if os.path.exists(os.path.join(project, "target", name))
    ]
    if not found:
        return
    if store == "gcs":
        token = gcs_token()
        for name, path in found:
            with open(path, "rb") as f:
                gcs_put(bucket, f"{prefix}/{name}", f.read(), token)
            print(f"{name} copied to gs://{bucket}/{prefix}/{name}")
        return
    region = os.environ["S3_REGION"]
    credentials = s3_credentials(region)
    for name, path in found:
        with open(path, "rb") as f:
            put_object(os.environ["S3_ENDPOINT"], region, bucket, f"{prefix}/{name}", f.read(), credentials)
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

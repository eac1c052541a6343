"""Entry point of the dbt pod: Keycloak token, then `dbt build` of the project
(through dbt-ol, which reports its lineage, when OPENLINEAGE_URL is set).

Runs with the Python standard library plus dbt-trino (installed by the
init container into PYTHONPATH). Trino authenticates the token as a JWT on
every request: the client's access token lifespan must cover a whole build.
The profile (dbt/profiles.yml) reads the token from DBT_TRINO_JWT and the
user, the token's preferred_username, from DBT_TRINO_USER.
"""

import base64
import json
import os
import sys
import urllib.parse
import urllib.request


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
    if result.exception is not None:
        print(f"dbt build did not run: {result.exception}", file=sys.stderr)
        return 1
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())

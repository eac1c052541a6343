"""HTTP clients the Airflow tasks use: Keycloak, Trino and Airbyte.

They rely on `requests` only (shipped with Airflow), so the official Airflow
image runs these DAGs without extra providers.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import Any

import requests

log = logging.getLogger(__name__)

HTTP_TIMEOUT = 30


def keycloak_token(conn_id: str, scope: str | None = None) -> str:
    """Access token of the pipelines' Keycloak client (client credentials grant).

    The connection holds the realm's token endpoint as host, the client id as
    login and the client secret as password.
    """
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    form = {"grant_type": "client_credentials", "client_id": conn.login, "client_secret": conn.password}
    if scope:
        form["scope"] = scope
    response = requests.post(conn.host, data=form, timeout=HTTP_TIMEOUT)
    response.raise_for_status()
    return response.json()["access_token"]


def token_principal(token: str) -> str:
    """The user Trino derives from a token (its preferred_username claim)."""
    payload = token.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    return json.loads(base64.urlsafe_b64decode(payload))["preferred_username"]


class TrinoClient:
    """Minimal client of Trino's HTTP protocol (POST the statement, follow nextUri)."""

    def __init__(self, host: str, port: int, token: str, catalog: str) -> None:
        self.base = f"http://{host}:{port}"
        self.session = requests.Session()
        self.session.headers.update(
            {
                "Authorization": f"Bearer {token}",
                "X-Trino-User": token_principal(token),
                "X-Trino-Catalog": catalog,
                "X-Trino-Source": "airflow",
            }
        )

    def query(self, sql: str) -> list[list[Any]]:
        log.info("Trino: %s", sql)
        response = self.session.post(f"{self.base}/v1/statement", data=sql.encode(), timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        body = response.json()
        rows: list[list[Any]] = []
        while True:
            if "error" in body:
                error = body["error"]
                raise RuntimeError(f"Trino query failed: {error.get('errorName')}: {error.get('message')}")
            rows.extend(body.get("data", []))
            next_uri = body.get("nextUri")
            if not next_uri:
                return rows
            response = self.session.get(next_uri, timeout=HTTP_TIMEOUT)
            if response.status_code in (502, 503, 504):
                time.sleep(1)
                continue
            response.raise_for_status()
            body = response.json()


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class AirbyteClient:
    """Airbyte public API (v1): trigger a connection sync and follow its job."""

    def __init__(self, api_url: str, conn_id: str) -> None:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(conn_id)
        self.api = api_url.rstrip("/")
        response = requests.post(
            f"{self.api}/applications/token",
            json={"client_id": conn.login, "client_secret": conn.password, "grant-type": "client_credentials"},
            timeout=HTTP_TIMEOUT,
        )
        response.raise_for_status()
        self.headers = {"Authorization": f"Bearer {response.json()['access_token']}"}

    def start_sync(self, connection_id: str) -> int:
        response = requests.post(
            f"{self.api}/jobs",
            json={"connectionId": connection_id, "jobType": "sync"},
            headers=self.headers,
            timeout=HTTP_TIMEOUT,
        )
        response.raise_for_status()
        return int(response.json()["jobId"])

    def job_status(self, job_id: int) -> str:
        response = requests.get(f"{self.api}/jobs/{job_id}", headers=self.headers, timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        return response.json()["status"]

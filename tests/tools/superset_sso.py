"""Signs a user in to a real Superset through a stand-in Keycloak realm.

Run with the python of a virtualenv holding apache-superset, with the
environment of tests/tools/superset_init.sh (which runs it after
superset-init) and the lakehouse's superset_config.py: OIDC_ISSUER names
no host; this script serves the realm's discovery document, token and
userinfo endpoints on the loopback and points the configuration at them.
A browser's round trip is played with Flask's test client: /login/keycloak
must redirect to the realm's authorization endpoint with the client id and
the redirect URI of the generated configuration; the callback then makes
Superset exchange the code and read the userinfo, whose groups decide the
roles. Prints `redirect <client_id> <redirect_uri>` and `user <username>
<roles, sorted>`.
"""

import json
import os
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

REALM = "/realms/acme"


class Realm(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        base = f"http://127.0.0.1:{self.server.server_port}{REALM}"
        if self.path == f"{REALM}/.well-known/openid-configuration":
            self.reply(
                {
                    "issuer": base,
                    "authorization_endpoint": f"{base}/protocol/openid-connect/auth",
                    "token_endpoint": f"{base}/protocol/openid-connect/token",
                    "userinfo_endpoint": f"{base}/protocol/openid-connect/userinfo",
                    "jwks_uri": f"{base}/protocol/openid-connect/certs",
                }
            )
        elif self.path == f"{REALM}/protocol/openid-connect/userinfo":
            assert self.headers["Authorization"] == "Bearer an-access-token"
            self.reply(
                {
                    "preferred_username": "jdoe",
                    "given_name": "Jane",
                    "family_name": "Doe",
                    "email": "jdoe@acme.example",
                    "groups": json.loads(os.environ["SSO_GROUPS"]),
                }
            )
        else:
            self.send_error(404)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        if self.path != f"{REALM}/protocol/openid-connect/token" or form.get("code") != ["a-code"]:
            self.send_error(400)
            return
        self.reply({"access_token": "an-access-token", "token_type": "Bearer", "expires_in": 300})


server = HTTPServer(("127.0.0.1", 0), Realm)
threading.Thread(target=server.serve_forever, daemon=True).start()
os.environ["OIDC_ISSUER"] = f"http://127.0.0.1:{server.server_port}{REALM}"
# The stand-in realm speaks plain HTTP on the loopback.
os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"

from superset.app import create_app  # noqa: E402

app = create_app()
client = app.test_client()
https = "https://superset.acme.example"
login = client.get("/login/keycloak", base_url=https)
assert login.status_code == 302, login.status_code
target = urllib.parse.urlparse(login.headers["Location"])
query = urllib.parse.parse_qs(target.query)
assert target.path == f"{REALM}/protocol/openid-connect/auth", target.path
print("redirect", query["client_id"][0], query["redirect_uri"][0])
back = client.get(
    "/oauth-authorized/keycloak",
    query_string={"code": "a-code", "state": query["state"][0]},
    base_url=https,
)
assert back.status_code == 302, (back.status_code, back.data[:500])
with app.app_context():
    user = app.appbuilder.sm.find_user(username="jdoe")
    assert user is not None, "no user created"
    print("user", user.username, ",".join(sorted(r.name for r in user.roles)))

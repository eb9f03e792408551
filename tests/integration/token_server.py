#!/usr/bin/env python3
"""A registry token service for tests (the Docker token authentication flow).

GET /token?service=S&scope=repository:NAME:ACTIONS answers {"token": JWT, "access_token": JWT}.
The JWT is signed ES256 with --key; its header carries --cert as x5c, so a docker-registry
whose auth.token.rootcertbundle holds that certificate trusts it.

  - Basic credentials that match --users ("user:password" lines): every pull asked for.
  - Wrong credentials: 401.
  - No credentials: pull only on repositories under --public-prefix, else a token with no
    access (the registry then refuses the request, as Docker Hub does for private images).

Listens on 127.0.0.1, port 0; writes the port to --port-file once it listens. Logs one line per
request to stdout, never a credential or a token.
"""
import argparse
import base64
import json
import os
import secrets
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt


def load_users(path):
    users = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if ":" in line:
                user, password = line.split(":", 1)
                users[user] = password
    return users


def cert_der_b64(path):
    with open(path, encoding="ascii") as f:
        pem = f.read()
    body = pem.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
    return "".join(body.split())  # base64 of the DER, as x5c wants it


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--service", required=True)
    ap.add_argument("--users", required=True)
    ap.add_argument("--public-prefix", default="public/")
    args = ap.parse_args()

    users = load_users(args.users)
    with open(args.key, encoding="ascii") as f:
        key = f.read()
    x5c = [cert_der_b64(args.cert)]

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *a):  # the default logs to stderr with the query; ours below
            pass

        def reply(self, status, doc):
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            url = urllib.parse.urlparse(self.path)
            if url.path != "/token":
                self.reply(404, {"errors": [{"code": "NOT_FOUND"}]})
                return
            q = urllib.parse.parse_qs(url.query)
            user = ""
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Basic "):
                try:
                    user, password = base64.b64decode(auth[6:]).decode().split(":", 1)
                except (ValueError, UnicodeDecodeError):
                    user, password = "", None
                if users.get(user) != password:
                    print(f"token: 401 for user {user!r}", flush=True)
                    self.reply(401, {"errors": [{"code": "UNAUTHORIZED",
                                                 "message": "invalid credentials"}]})
                    return
            if q.get("service", [""])[0] != args.service:
                self.reply(400, {"errors": [{"code": "DENIED", "message": "unknown service"}]})
                return
            access = []
            for scope in q.get("scope", []):
                parts = scope.split(":")
                if len(parts) != 3 or parts[0] != "repository":
                    continue
                name, actions = parts[1], parts[2].split(",")
                allowed = [a for a in actions if a == "pull" and
                           (user or name.startswith(args.public_prefix))]
                access.append({"type": "repository", "name": name, "actions": allowed})
            now = int(time.time())
            claims = {"iss": args.issuer, "sub": user, "aud": args.service, "iat": now,
                      "nbf": now - 10, "exp": now + 300, "jti": secrets.token_hex(8),
                      "access": access}
            token = jwt.encode(claims, key, algorithm="ES256", headers={"x5c": x5c})
            print(f"token: 200 for {user or 'anonymous'} scopes {q.get('scope', [])} "
                  f"granted {access}", flush=True)
            self.reply(200, {"token": token, "access_token": token, "expires_in": 300})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, args.port_file)
    print(f"token server on 127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())

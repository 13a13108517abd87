"""`make demo`: a return walked to its refund on the sandbox, every step timed, the result checked.

On the embedded defaults (a fresh SQLite file and an embedded Redis under
var/demo/, whatever DATABASE_URL and REDIS_URL say) it starts Palautus (web,
worker, clock) and the sandbox server, then does what a shop, its customer and
its merchant would:

1. opens a sandbox Stripe account and a sandbox Shopify shop that sends its
   webhooks to Palautus, and registers the shop in Palautus from the command line;
2. a customer orders a sweater and socks, paid through Stripe by a headless
   checkout (the sandbox Stripe really takes the money), and the shop sends
   signed orders/create and orders/paid webhooks;
3. the customer asks to return the sweater in the shop: returns/request;
4. the merchant approves and receives it through Palautus's API;
5. Palautus refunds the sweater at Stripe, records the refund on the Shopify
   order, restocks it and closes the Shopify return;
   then the sandbox Stripe pays out the account's balance (the charge, its fee,
   the refund), Palautus reads the payout and reconciles it with the refund to
   the cent, and the merchant downloads the day's ledger for Finnish Excel;
6. then the same on a sandbox WooCommerce store: registered from the command
   line (its webhooks created and pinged), an order delivered once, a return
   opened by customer service through the API (WooCommerce has none of its
   own), one Stripe refund, recorded in the store with `api_refund: false`;
7. the other payment routes: a Shopify order paid with Klarna in Shopify's own
   checkout (a payments app) is refunded through Shopify's gateway, submitted
   while the app has not answered, succeeded when it has (order_transactions/create);
   a WooCommerce order paid through Paytrail for WooCommerce, the store having
   given Palautus its Paytrail keys, is refunded at Paytrail directly and settled
   by Paytrail's signed callback.

It ends by checking its own result against the sandbox's state: one refund at
Stripe of the sweater's price, one refund on the order, the return closed,
no webhook failed. It exits 1 if anything is wrong (CI runs it as a smoke test).

    python -m sandbox.demo [--keep]     # --keep leaves everything running to look around
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import requests

from integration.config import ROOT

DEMO_DIR = ROOT / "var" / "demo"
SHOP = "villa-demo.myshopify.com"
WOO_STORE = "villa-woo"
STARTUP_SECONDS = 90  # a cold start imports everything in four processes
STEP_SECONDS = 60  # the longest any one step may take
FULFILLED_FROM = "gid://shopify/Location/76543210001"  # the sandbox shop's one location
# What the shop announces on the way: the order, the return's steps, our refund and the order changes it makes.
EXPECTED_WEBHOOKS = ["orders/create", "orders/paid", "returns/request", "returns/approve", "refunds/create",
                     "orders/updated", "orders/updated", "returns/close"]  # fmt: skip


class DemoFailed(Exception):
    pass


def _money(minor: int) -> str:
    return f"{Decimal(minor) / 100:.2f}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Demo:
    def __init__(self, keep: bool = False):
        self.keep = keep
        self.port, self.sandbox_port = _free_port(), _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.sandbox = f"http://127.0.0.1:{self.sandbox_port}"
        self.started = time.monotonic()
        self.step_no = 0
        self.failures: list[str] = []
        self.http = requests.Session()
        self.stack = None
        self.log = DEMO_DIR / "stack.log"
        self.env = {
            **os.environ, "PALAUTUS_ENV": "development", "VAR_DIR": str(DEMO_DIR), "PORT": str(self.port),
            "DATABASE_URL": f"sqlite:///{DEMO_DIR / 'palautus.db'}", "REDIS_URL": "", "QUEUE_NAME": "palautus-demo",
            "SANDBOX": "1", "SANDBOX_URL": self.sandbox, "SANDBOX_PORT": str(self.sandbox_port),
            # Set, not left to SANDBOX: a .env naming real API bases must not send the sandbox's keys there.
            "SHOPIFY_API_BASE": f"{self.sandbox}/shopify/{{shop}}", "STRIPE_API_BASE": f"{self.sandbox}/stripe",
            "PUBLIC_URL": self.base,  # where the WooCommerce store delivers (a real store needs a public address)
            "ENCRYPTION_KEY": "", "BIND_HOST": "127.0.0.1", "WEB_CONCURRENCY": "2", "RETRY_INTERVALS": "2,5,10",
            "PYTHONUNBUFFERED": "1",
        }  # fmt: skip

    # --- output -------------------------------------------------------------------------------------

    def step(self, title: str):
        self.step_no += 1
        self._step_started = time.monotonic()
        print(f"\n{self.step_no}. {title}", flush=True)

    def say(self, text: str):
        print(f"   {text}", flush=True)

    def done(self):
        now = time.monotonic()
        print(f"   ({now - self._step_started:.1f} s; {now - self.started:.1f} s in all)", flush=True)

    def check(self, what: str, ok: bool, detail: str = ""):
        print(f"   {'ok  ' if ok else 'FAIL'} {what}{f': {detail}' if detail else ''}", flush=True)
        if not ok:
            self.failures.append(what)

    # --- helpers --------------------------------------------------------------------------------------

    def wait_for(self, what: str, probe, timeout: float = STEP_SECONDS):
        """Poll `probe` until it returns something truthy; DemoFailed naming `what` after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                found = probe()
            except requests.RequestException:
                found = None
            if found:
                return found
            if self.stack is not None and self.stack.poll() is not None:
                raise DemoFailed(f"Palautus stopped (exit {self.stack.returncode}) while waiting for {what}")
            if time.monotonic() > deadline:
                raise DemoFailed(f"gave up after {timeout:.0f} s waiting for {what}")
            time.sleep(0.2)

    def api(self, method: str, path: str, key: str | None = None, **kwargs):
        answer = self.http.request(method, f"{self.base}/api/v1{path}", headers={"Authorization": f"Bearer {key or self.key}"},
                                   timeout=10, **kwargs)  # fmt: skip
        if answer.status_code >= 400:
            raise DemoFailed(f"{method} /api/v1{path} answered {answer.status_code}: {answer.text[:300]}")
        return answer.json()

    def control(self, method: str, path: str, **kwargs):
        answer = self.http.request(method, f"{self.sandbox}/sandbox{path}", timeout=10, **kwargs)
        if answer.status_code >= 400:
            raise DemoFailed(f"sandbox {method} {path} answered {answer.status_code}: {answer.text[:300]}")
        return answer.json()

    # --- the walk -------------------------------------------------------------------------------------

    def run(self) -> int:
        print("Palautus demo: a return walked to its refund, on the sandbox (no real shop, no real money).")
        try:
            self.start()
            self.open_accounts()
            self.register()
            self.order()
            self.request_return()
            self.approve()
            self.receive()
            self.verify()
            self.payout()
            self.ledger_csv()
            self.woo_open_and_register()
            self.woo_order()
            self.woo_return()
            self.woo_verify()
            self.app_order()
            self.app_return()
            self.app_verify()
            self.paytrail_order()
            self.paytrail_return()
            self.paytrail_verify()
        except DemoFailed as e:
            self.failures.append(str(e))
            print(f"\nFAILED: {e}\n   the stack's log: {self.log}", flush=True)
            self._tail_log()
        finally:
            if self.keep and not self.failures:
                self._linger()
            self.stop()
        if self.failures:
            print(f"\nThe demo FAILED ({len(self.failures)} problem(s)); see above.", flush=True)
            return 1
        print(f"\nThe demo passed in {time.monotonic() - self.started:.1f} s: on each platform and each route (Stripe, "
              f"Shopify's own gateway with a payments app, Paytrail directly) one return, one refund, recorded in the shop; "
              f"the Stripe refund reconciled with its payout to the cent, and in the day's ledger.")
        return 0

    def start(self):
        self.step("Start Palautus (web, worker, clock) and the sandbox, on a fresh SQLite file and embedded Redis")
        shutil.rmtree(DEMO_DIR, ignore_errors=True)
        DEMO_DIR.mkdir(parents=True)
        with open(self.log, "wb") as log:
            self.stack = subprocess.Popen([sys.executable, "-m", "integration.devserver"], cwd=ROOT, env=self.env,
                                          stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        self.wait_for("Palautus to answer /healthz", lambda: self.http.get(f"{self.base}/healthz", timeout=1).ok, STARTUP_SECONDS)
        self.wait_for("the sandbox to answer", lambda: self.http.get(f"{self.sandbox}/", timeout=1).ok, STARTUP_SECONDS)
        self.say(f"Palautus  {self.base}   (API docs: {self.base}/api/v1/docs)")
        self.say(f"Sandbox   {self.sandbox}   (Shopify at /shopify/<shop>/admin/api/..., Stripe at /stripe/v1/...)")
        self.done()

    def open_accounts(self):
        self.step(f"Open the sandbox shop {SHOP} and the Stripe account its checkout charges through")
        self.shop = self.control("POST", "/shopify/shops", json={"domain": SHOP, "webhook_url": f"{self.base}/webhooks/shopify"})
        self.stripe_key = self.shop["stripe_secret_key"]
        self.say(f"Stripe secret key sk_test_sandbox_… ; the shop's Admin API token shpat_sandbox_… ; "
                 f"its webhooks go to {self.base}/webhooks/shopify")  # fmt: skip
        self.done()

    def register(self):
        self.step("Register the shop in Palautus (flask --app wsgi shops register), credentials from SHOP_* variables")
        env = {**self.env, "SHOP_ACCESS_TOKEN": self.shop["access_token"], "SHOP_WEBHOOK_SECRET": self.shop["webhook_secret"],
               "SHOP_STRIPE_SECRET_KEY": self.stripe_key}  # fmt: skip
        done, self.key = self._register(env, "--domain", SHOP, "--name", "Villa (sandbox)")
        self.say(done.stdout.splitlines()[0])
        self.say("API key plt_… (printed once; the demo keeps it for its API calls)")
        self.done()

    def _register(self, env: dict, *args: str):
        done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "shops", "register", *args, "--currency", "EUR"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
        found = re.search(r"API key \(store it now; it is not shown again\): (\S+)", done.stdout)
        if done.returncode != 0 or not found:
            raise DemoFailed(f"shops register failed: {(done.stderr or done.stdout).strip()[-500:]}")
        return done, found.group(1)

    def order(self):
        self.step("A customer orders a sweater and socks; a headless checkout takes the money at Stripe")
        self.order_rest = self.control("POST", f"/shopify/shops/{SHOP}/orders", json={
            "items": [{"sku": "MERINO-M-GREY", "quantity": 1}, {"sku": "SOCKS-WOOL-3", "quantity": 1}], "paid_with": "stripe"})
        shop = self.control("GET", f"/shopify/shops/{SHOP}")
        sale = shop["orders"][-1]["transactions"][0]
        self.payment_id = sale["authorizationCode"]
        self.say(f"Order {self.order_rest['name']}: {self.order_rest['total_price']} {self.order_rest['currency']} "
                 f"(sweater 89.90, socks 19.90, shipping 5.90, VAT 25.5 % included), Stripe {self.payment_id}")  # fmt: skip
        self.say("The shop sends signed orders/create and orders/paid webhooks")
        events = self.wait_for("Palautus to process both order webhooks", lambda: self._processed({"orders/create", "orders/paid"}))
        seen = ", ".join(f"{e['topic']} {e['status']}" for e in events)
        self.say(f"Palautus stored and processed them: {seen}")
        self.done()

    def _processed(self, topics: set[str]):
        events = [e for e in self.api("GET", "/events", params={"page_size": 100}) if e["topic"] in topics]
        if {e["topic"] for e in events} == topics and all(e["status"] == "processed" for e in events):
            return events
        failed = [e for e in events if e["status"] == "failed"]
        if failed:
            raise DemoFailed(f"webhook {failed[0]['topic']} failed in Palautus: {failed[0]['error']}")
        return None

    def request_return(self):
        self.step("The customer asks the shop to return the sweater (too small)")
        sweater = next(line for line in self.order_rest["line_items"] if line["sku"] == "MERINO-M-GREY")
        self.sweater = sweater
        self.return_rest = self.control("POST", f"/shopify/shops/{SHOP}/returns", json={
            "order_id": self.order_rest["admin_graphql_api_id"],
            "items": [{"line_item_id": sweater["admin_graphql_api_id"], "quantity": 1, "reason": "size_too_small",
                       "note": "The sleeves are too short."}]})  # fmt: skip
        self.say(f"Shopify return {self.return_rest['name']} REQUESTED; the shop sends returns/request")
        found = self.wait_for("Palautus to open the return", lambda: self.api("GET", "/returns"))
        self.ret = found[0]
        self.say(f"Palautus opened return {self.ret['id']} (code {self.ret['code']}), status {self.ret['status']}")
        self.done()

    def approve(self):
        self.step("The merchant approves it through Palautus's API (POST /api/v1/returns/{id}/approve)")
        ret = self.api("POST", f"/returns/{self.ret['id']}/approve", json={})
        self.say(f"Palautus: {ret['status']}; a job approves the Shopify return")
        self.wait_for("the Shopify return to be OPEN", lambda: self._shop_return_status() == "OPEN")
        self.say("Sandbox shop: the return is OPEN, and it sent returns/approve back to Palautus")
        self.done()

    def _shop_return_status(self, gid: str | None = None):
        shop = self.control("GET", f"/shopify/shops/{SHOP}")
        gid = gid or self.return_rest["admin_graphql_api_id"]
        return next((r["status"] for r in shop["returns"] if r["id"] == gid), None)

    def receive(self):
        self.step("The parcel arrives: the merchant receives it (POST /api/v1/returns/{id}/receive, restock)")
        item = self.api("GET", f"/returns/{self.ret['id']}")["items"][0]
        ret = self.api("POST", f"/returns/{self.ret['id']}/receive",
                       json={"items": [{"item_id": item["id"], "condition": "new", "restock": True}]})  # fmt: skip
        self.say(f"Palautus: {ret['status']}; the policy refunds on receipt, so a refund job starts")
        refund = self.wait_for("the refund to succeed", self._succeeded)
        self.refund = refund
        self.say(f"Stripe refund {refund['provider_refund_id']}: {_money(refund['amount'])} {refund['currency']} "
                 f"{refund['status']}, VAT {_money(refund['tax'])} of it")  # fmt: skip
        self.wait_for("the refund to be recorded in the shop and the return closed", self._recorded_and_closed)
        self.say("Sandbox shop: the refund is on the order (no money moved by Shopify), the return CLOSED")
        self.wait_for("every webhook to be delivered and processed", self._quiet)
        self.say("Every webhook the shop sent (refunds/create, returns/close too) was delivered and processed")
        self.done()

    def _succeeded(self):
        refunds = self.api("GET", f"/returns/{self.ret['id']}")["refunds"]
        failed = [r for r in refunds if r["status"] == "failed"]
        if failed:
            raise DemoFailed(f"the refund failed: {failed[0]['last_error']}")
        return next((r for r in refunds if r["status"] == "succeeded"), None)

    def _recorded_and_closed(self):
        """The shop shows the refund and the closed return, and Palautus has taken note of the shop's answer (its
        workers run jobs side by side: the return's close can come before the refund's sync is committed)."""
        shop = self.control("GET", f"/shopify/shops/{SHOP}")
        if not (shop["orders"][-1]["refunds"] and self._shop_return_status() == "CLOSED"):
            return False
        return all(r["shop_synced_at"] for r in self.api("GET", f"/returns/{self.ret['id']}")["refunds"])

    def _quiet(self, key: str | None = None, url: str | None = None):
        """Every delivery to `url` (the Shopify receiver by default) settled, and Palautus done with each."""
        webhooks = self.control("GET", "/webhooks")
        if not webhooks["settled"]:
            return False
        url = url or f"{self.base}/webhooks/shopify"
        sent = [d for d in webhooks["deliveries"] if d["url"] == url and d["topic"] != "ping"]
        events = self.api("GET", "/events", key, params={"page_size": 100})
        return len(events) == len(sent) and all(e["status"] in ("processed", "ignored", "failed") for e in events)

    def verify(self):
        self.step("Check the result against the sandbox's own state")
        payment = self.control("GET", f"/stripe/payments/{self.payment_id}")
        refunds = payment["refunds"]
        owed = int(Decimal(self.sweater["price"]) * 100)
        self.check("one refund at Stripe", len(refunds) == 1, f"{len(refunds)} refund(s)")
        self.check("the sweater's price went back", sum(r["amount"] for r in refunds) == owed,
                   f"{sum(r['amount'] for r in refunds)} of {owed} cents")  # fmt: skip
        self.check("the Stripe refund succeeded", all(r["status"] == "succeeded" for r in refunds))
        vat = int(Decimal(self.sweater["tax_lines"][0]["price"]) * 100)
        self.check("the VAT shown is the sale's own", self.refund["tax"] == vat and self.refund["vat"] == {"0.255": vat},
                   f"{_money(self.refund['tax'])} at {self.sweater['tax_lines'][0]['title']}")  # fmt: skip
        self.check("the charge shows it", payment["charge"]["amount_refunded"] == owed,
                   f"amount_refunded {payment['charge']['amount_refunded']}")  # fmt: skip
        shop = self.control("GET", f"/shopify/shops/{SHOP}")
        order = shop["orders"][-1]
        self.check("one refund recorded on the Shopify order", len(order["refunds"]) == 1, f"{len(order['refunds'])}")
        lines = order["refunds"][0]["lines"] if order["refunds"] else []
        self.check("it is the sweater, one unit", [(n["lineItem"]["id"], n["quantity"]) for n in lines]
                   == [(self.sweater["admin_graphql_api_id"], 1)])  # fmt: skip
        recorded = (order["refunds"][0]["recorded_as"] or {}) if order["refunds"] else {}
        restocked = [(row.get("restockType"), row.get("locationId")) for row in recorded.get("refundLineItems", [])]
        self.check("the sweater went back to stock where it was sent from", restocked == [("RETURN", FULFILLED_FROM)],
                   str(restocked))  # fmt: skip
        note = order["refunds"][0]["note"] or "" if order["refunds"] else ""
        self.check("its note names the Stripe refund's amount", "89.90" in note and "Palautus" in note, note.splitlines()[-1] if note else "")
        self.check("the Shopify return is CLOSED", self._shop_return_status() == "CLOSED")
        ret = self.api("GET", f"/returns/{self.ret['id']}")
        mine = ret["refunds"]
        self.check("Palautus has one refund, succeeded and synced", len(mine) == 1 and mine[0]["status"] == "succeeded"
                   and mine[0]["shop_synced_at"] is not None and mine[0]["provider_refund_id"] == (refunds[0]["id"] if refunds else None),
                   str([(r["status"], r["shop_synced_at"], r["provider_refund_id"]) for r in mine]))  # fmt: skip
        self.check("Palautus's return is closed", ret["status"] == "closed", ret["status"])
        failed = self.api("GET", "/events", params={"status": "failed"})
        self.check("no webhook failed in Palautus", not failed, f"{len(failed)} failed")
        deliveries = [d for d in self.control("GET", "/webhooks")["deliveries"] if d["shop"] == SHOP]
        topics = [d["topic"] for d in deliveries]
        self.check("the shop sent what Shopify sends", sorted(topics) == sorted(EXPECTED_WEBHOOKS), ", ".join(topics))
        self.check("every webhook was answered 200 the first time",
                   bool(deliveries) and all(d["attempts"] == 1 and d["answer"] == 200 for d in deliveries),
                   f"{len(deliveries)} deliveries")  # fmt: skip
        events = self.api("GET", "/events", params={"page_size": 100})
        self.check("Palautus stored and processed each one", sorted(e["topic"] for e in events) == sorted(topics)
                   and all(e["status"] == "processed" for e in events), f"{len(events)} events")  # fmt: skip
        self.done()

    # --- the money's way back: Stripe's payout, reconciled, and the day's ledger ----------------------------

    def payout(self):
        self.step("Stripe pays out the account's balance; the merchant has Palautus read the payout and reconcile it")
        payout_id = self.control("POST", "/stripe/payouts", json={"secret_key": self.stripe_key})["id"]
        self.say(f"Sandbox Stripe: automatic payout {payout_id} of the order's charge, less Stripe's fee, and the refund")
        self.api("POST", "/settlements/read", json={"route": "stripe", "settlement_id": payout_id})
        self.say("POST /api/v1/settlements/read answered 202; a job reads the payout and its balance transactions")
        listed = self.wait_for("Palautus to read the payout", lambda: self._settlement(payout_id))
        report = self.api("GET", f"/settlements/{listed['id']}")
        matched, totals = report["matched"], report["totals"]
        self.say(f"Payout {payout_id}: {_money(listed['net'])} {listed['currency']} {listed['status']}; "
                 f"fees {_money(totals['fees'])}, movements {_money(totals['movements'])}")  # fmt: skip
        self.check("the refund is matched in it, by Stripe's refund id", [(m["refund_id"], m["matched_by"]) for m in matched]
                   == [(self.refund["id"], "provider_refund_id")], f"matched {len(matched)}")  # fmt: skip
        self.check("the reconciliation's difference is 0", totals["difference"] == 0 and matched[0]["difference"] == 0,
                   f"difference {totals['difference']}")  # fmt: skip
        self.check("nothing external, nothing in transit", report["external"] == [] and report["in_transit"] == [])
        self.done()

    def _settlement(self, payout_id: str):
        found = next((s for s in self.api("GET", "/settlements") if s["settlement_id"] == payout_id), None)
        alert = (self.api("GET", "/shop").get("alerts") or {}).get("settlements")
        if found is None and alert:
            raise DemoFailed(f"Palautus could not read the payout: {alert['message']}")
        return found

    def ledger_csv(self):
        self.step("The merchant downloads the day's refund ledger for Finnish Excel (semicolons, decimal comma, BOM)")
        zone = ZoneInfo(self.api("GET", "/books/settings")["timezone"])
        refund = next(r for r in self.api("GET", f"/returns/{self.ret['id']}")["refunds"] if r["id"] == self.refund["id"])
        day = datetime.fromisoformat(refund["completed_at"]).astimezone(zone).date().isoformat()
        answer = self.http.get(f"{self.base}/api/v1/books/export/rows.csv", params={"from": day, "to": day, "dialect": "excel-fi"},
                               headers={"Authorization": f"Bearer {self.key}"}, timeout=10)  # fmt: skip
        if answer.status_code != 200:
            raise DemoFailed(f"GET /api/v1/books/export/rows.csv answered {answer.status_code}: {answer.text[:300]}")
        self.check("a UTF-8 file with the byte-order mark Excel needs", answer.content.startswith(b"\xef\xbb\xbf"))
        rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"), newline=""), delimiter=";"))
        mine = [row for row in rows if row["provider_refund_id"] == refund["provider_refund_id"]]
        gross = sum(Decimal(row["gross"].replace(",", ".")) for row in mine)
        vat = sum(Decimal(row["vat"].replace(",", ".")) for row in mine)
        self.say(f"palautus-rows-excel-fi-{day}-{day}.csv: {len(rows)} row(s) of {day} ({zone.key}), "
                 f"{len(mine)} of them the sweater's refund")  # fmt: skip
        self.check("it holds the refund, its gross the sweater's price", bool(mine) and gross == Decimal(refund["amount"]) / 100,
                   f"{str(gross).replace('.', ',')} {refund['currency']}")  # fmt: skip
        self.check("and its VAT the sale's", vat == Decimal(refund["tax"]) / 100, f"VAT {str(vat).replace('.', ',')}")
        self.check("amounts with a decimal comma", all("," in row["gross"] for row in mine), ", ".join(row["gross"] for row in mine))
        self.done()

    # --- the same on a WooCommerce store -------------------------------------------------------------

    def woo_open_and_register(self):
        self.step(f"Open the sandbox WooCommerce store {WOO_STORE} (plain http, so its REST API takes OAuth 1.0a) and register it")
        self.store = self.control("POST", "/woocommerce/stores", json={"name": WOO_STORE})
        env = {**self.env, "SHOP_CONSUMER_KEY": self.store["consumer_key"], "SHOP_CONSUMER_SECRET": self.store["consumer_secret"],
               "SHOP_STRIPE_SECRET_KEY": self.store["stripe_secret_key"]}  # fmt: skip
        done, self.woo_key = self._register(env, "--platform", "woocommerce", "--domain", self.store["url"], "--name", "Villa Woo (sandbox)")
        for line in done.stdout.splitlines():
            if "API key" not in line:
                self.say(line.strip())
            if line.startswith("Webhooks deliver to "):
                self.woo_url = line[len("Webhooks deliver to "):].rstrip(":")
        hooks = self.control("GET", f"/woocommerce/stores/{WOO_STORE}")["webhooks"]
        from adapters.platforms.woocommerce.platform import TOPICS as WOO_TOPICS  # the ones Palautus makes

        if sorted(h["topic"] for h in hooks if h["status"] == "active") != sorted(WOO_TOPICS):
            raise DemoFailed(f"the store's webhooks are not the {len(WOO_TOPICS)} Palautus needs: {hooks}")
        self.say("The store pinged each new webhook (form body webhook_id=N, unsigned); Palautus answered 200")
        self.done()

    def woo_order(self):
        self.step("A customer orders the same in the WooCommerce store; the Stripe plugin takes the money")
        self.woo_order_rest = self.control("POST", f"/woocommerce/stores/{WOO_STORE}/orders", json={
            "items": [{"sku": "MERINO-M-GREY", "quantity": 1}, {"sku": "SOCKS-WOOL-3", "quantity": 1}]})
        order = self.woo_order_rest
        self.woo_payment = next(m["value"] for m in order["meta_data"] if m["key"] == "_stripe_intent_id")
        self.say(f"Order #{order['id']}: {order['total']} {order['currency']} (line totals before VAT, VAT per line "
                 f"against the order's own tax line), charge {order['transaction_id']}, intent {self.woo_payment}")  # fmt: skip
        self.say("The store delivers order.created once, signed with the webhook's own secret (it never retries)")
        self.wait_for("Palautus to process order.created", lambda: self._processed_woo("order.created"))
        self.say("Palautus stored and processed it; the payment came in the order itself, no extra call")
        self.done()

    def _processed_woo(self, topic: str):
        events = [e for e in self.api("GET", "/events", self.woo_key, params={"page_size": 100}) if e["topic"] == topic]
        failed = [e for e in events if e["status"] == "failed"]
        if failed:
            raise DemoFailed(f"webhook {topic} failed in Palautus: {failed[0]['error']}")
        return events and all(e["status"] == "processed" for e in events)

    def woo_return(self):
        self.step("WooCommerce has no returns of its own: customer service opens one through the API, approves, receives")
        sweater = next(line for line in self.woo_order_rest["line_items"] if line["sku"] == "MERINO-M-GREY")
        self.woo_sweater = sweater
        ret = self.api("POST", "/returns", self.woo_key, json={
            "order_id": str(self.woo_order_rest["id"]),
            "items": [{"line_id": str(sweater["id"]), "quantity": 1, "reason": "size_too_small"}]})
        self.woo_ret = ret
        self.api("POST", f"/returns/{ret['id']}/approve", self.woo_key, json={})
        self.api("POST", f"/returns/{ret['id']}/receive", self.woo_key,
                 json={"items": [{"item_id": ret["items"][0]["id"], "condition": "new", "restock": True}]})
        self.say(f"Return {ret['id']} (code {ret['code']}) received; the refund job starts")
        refund = self.wait_for("the refund to succeed and be recorded in the store", lambda: self._woo_synced(ret["id"]))
        self.woo_refund = refund
        self.say(f"Stripe refund {refund['provider_refund_id']}: {_money(refund['amount'])} {refund['currency']}, "
                 f"recorded in the store with api_refund false (WooCommerce moved no money)")
        self.wait_for("the store's order.updated echoes to be processed", lambda: self._quiet(self.woo_key, self.woo_url))
        self.done()

    def _woo_synced(self, return_id: int):
        refunds = self.api("GET", f"/returns/{return_id}", self.woo_key)["refunds"]
        failed = [r for r in refunds if r["status"] == "failed"]
        if failed:
            raise DemoFailed(f"the refund failed: {failed[0]['last_error']}")
        return next((r for r in refunds if r["status"] == "succeeded" and r["shop_synced_at"]), None)

    def woo_verify(self):
        self.step("Check the WooCommerce result against the sandbox's own state")
        payment = self.control("GET", f"/stripe/payments/{self.woo_payment}")
        owed = int(Decimal(self.woo_sweater["total"]) * 100) + int(Decimal(self.woo_sweater["total_tax"]) * 100)
        self.check("one refund at Stripe, the sweater's price", [r["amount"] for r in payment["refunds"]] == [owed],
                   f"{[r['amount'] for r in payment['refunds']]} of {owed} cents")  # fmt: skip
        store = self.control("GET", f"/woocommerce/stores/{WOO_STORE}")
        order = next(o for o in store["orders"] if o["id"] == self.woo_order_rest["id"])
        refunds = order["refunds"]
        self.check("one refund recorded in the store", len(refunds) == 1, str(len(refunds)))
        mine = refunds[0] if refunds else {}
        self.check("recorded with no money moved by WooCommerce (api_refund false)", mine.get("refunded_payment") is False)
        lines = [(row["quantity"], row["total"], row["total_tax"]) for row in mine.get("line_items", [])]
        self.check("the sweater, one unit, net and VAT apart", lines == [(-1, "-" + self.woo_sweater["total"], "-" + self.woo_sweater["total_tax"])],
                   str(lines))  # fmt: skip
        self.check("it carries Palautus's key, so a retry finds it", any(m["key"] == "palautus_refund_key" for m in mine.get("meta_data", [])))
        self.check("the sweater went back to stock", store["stock_returned"] == {str(self.woo_sweater["variation_id"]): 1},
                   str(store["stock_returned"]))
        self.check("an order note names the return", any(self.woo_ret["code"] in n["note"] for n in order["notes"]))
        failed = self.api("GET", "/events", self.woo_key, params={"status": "failed"})
        self.check("no webhook failed in Palautus", not failed, f"{len(failed)} failed")
        deliveries = [d for d in self.control("GET", "/webhooks")["deliveries"] if d["url"] == self.woo_url]
        self.check("every delivery and ping was answered 200", bool(deliveries) and all(d["answer"] == 200 for d in deliveries),
                   f"{len(deliveries)} deliveries")  # fmt: skip
        self.done()

    # --- the payment routes: a payments app through Shopify's own gateway, Paytrail directly --------------

    def app_order(self):
        self.step("Another customer pays in the shop's own checkout with Klarna, a payments app: the money is Shopify's to refund")
        self.app_order_rest = self.control("POST", f"/shopify/shops/{SHOP}/orders", json={
            "items": [{"sku": "MERINO-M-GREY", "quantity": 1}, {"sku": "SOCKS-WOOL-3", "quantity": 1}], "paid_with": "klarna"})
        order = self.app_order_rest
        self.say(f"Order {order['name']}: {order['total_price']} {order['currency']}, gateway klarna (Shopify's payment id, "
                 f"no provider id Palautus could use: only Shopify may refund it)")  # fmt: skip
        self.wait_for("Palautus to process its order webhooks", lambda: self._events_of(order["id"], 2))
        self.done()

    def _events_of(self, order_id: int, count: int):
        events = [e for e in self.api("GET", "/events", params={"page_size": 100}) if e["topic"] in ("orders/create", "orders/paid")]
        return len(events) >= 2 * count and all(e["status"] == "processed" for e in events)

    def app_return(self):
        self.step("Its sweater comes back: Palautus refunds it through Shopify (refundCreate with a REFUND transaction)")
        sweater = next(line for line in self.app_order_rest["line_items"] if line["sku"] == "MERINO-M-GREY")
        self.app_sweater = sweater
        ret = self.control("POST", f"/shopify/shops/{SHOP}/returns", json={
            "order_id": self.app_order_rest["admin_graphql_api_id"],
            "items": [{"line_item_id": sweater["admin_graphql_api_id"], "quantity": 1, "reason": "defective"}]})
        found = self.wait_for("Palautus to open the return", lambda: [r for r in self.api("GET", "/returns") if r["id"] != self.ret["id"]])
        self.app_ret = found[0]
        item = self.api("GET", f"/returns/{self.app_ret['id']}")["items"][0]
        self.api("POST", f"/returns/{self.app_ret['id']}/approve", json={})
        # As a merchant would: the parcel is received after the approval has gone round (Shopify's returns/approve
        # processed), not in the same instant; a receive racing it is answered 409 "reload it and try again".
        self.wait_for("the Shopify return to be OPEN and Palautus to have its returns/approve",
                      lambda: self._shop_return_status(ret["admin_graphql_api_id"]) == "OPEN" and self._quiet())
        self.api("POST", f"/returns/{self.app_ret['id']}/receive", json={"items": [{"item_id": item["id"], "restock": True}]})
        pending = self.wait_for("Shopify to take the refund (Klarna has not answered yet)", self._app_pending)
        self.say(f"Shopify refund {pending['provider_refund_id']}: {pending['provider_status']}; Palautus keeps it "
                 f"{pending['status']} (a Refund object is no proof that money moved), return {ret['name']}")  # fmt: skip
        self.control("POST", f"/shopify/shops/{SHOP}/settle-refunds", json={"status": "SUCCESS"})
        self.say("Klarna answers: the refund transaction turns SUCCESS, and the shop sends order_transactions/create")
        refund = self.wait_for("the refund to succeed and its return to close", self._app_done)
        self.app_refund = refund
        self.say(f"Refunded {_money(refund['amount'])} {refund['currency']} through Shopify's {refund['provider']} gateway; "
                 f"nothing recorded twice, the Shopify return CLOSED")  # fmt: skip
        self.done()

    def _app_refunds(self):
        return self.api("GET", f"/returns/{self.app_ret['id']}")["refunds"]

    def _app_pending(self):
        refunds = self._app_refunds()
        if any(r["status"] == "failed" for r in refunds):
            raise DemoFailed(f"the refund failed: {refunds[0]['last_error']}")
        return next((r for r in refunds if r["status"] == "submitted" and r["provider_status"] == "PENDING"), None)

    def _app_done(self):
        refunds = [r for r in self._app_refunds() if r["status"] == "succeeded" and r["shop_synced_at"]]
        ret = self.api("GET", f"/returns/{self.app_ret['id']}")
        return refunds[0] if refunds and ret["status"] == "closed" else None

    def app_verify(self):
        self.step("Check the payments-app refund against the sandbox's own state")
        shop = self.control("GET", f"/shopify/shops/{SHOP}")
        order = next(o for o in shop["orders"] if o["id"] == self.app_order_rest["admin_graphql_api_id"])
        refunds = [t for t in order["transactions"] if t["kind"] == "REFUND"]
        owed = int(Decimal(self.app_sweater["price"]) * 100)
        self.check("one REFUND transaction through klarna, SUCCESS, the sweater's price",
                   [(t["gateway"], t["status"], t["amountSet"]["presentmentMoney"]["amount"]) for t in refunds]
                   == [("klarna", "SUCCESS", self.app_sweater["price"])], str(refunds and refunds[0]["status"]))  # fmt: skip
        self.check("its parent is the order's sale", refunds and refunds[0]["parentTransaction"]["id"] == order["transactions"][0]["id"])
        self.check("one refund on the order (the sync kept Shopify's, recorded nothing more)", len(order["refunds"]) == 1,
                   str(len(order["refunds"])))  # fmt: skip
        self.check("Palautus booked it through Shopify's gateway, only after the money moved",
                   (self.app_refund["route"], self.app_refund["provider"], self.app_refund["amount"]) == ("shopify", "klarna", owed),
                   f"{self.app_refund['route']} / {self.app_refund['provider']}")  # fmt: skip
        self.check("Stripe was not called for it", len(self.control("GET", f"/stripe/payments/{self.payment_id}")["refunds"]) == 1)
        self.done()

    def paytrail_order(self):
        self.step("The WooCommerce store gives Palautus its Paytrail keys; a customer pays through Paytrail for WooCommerce")
        env = {**self.env, "SHOP_PAYTRAIL_ACCOUNT": "375917", "SHOP_PAYTRAIL_SECRET": "SAIPPUAKAUPPIAS"}  # Paytrail's test account
        done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "shops", "set-credentials", "--platform",
                               "woocommerce", "--domain", self.store["url"]], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=60)  # fmt: skip
        if done.returncode != 0:
            raise DemoFailed(f"shops set-credentials failed: {(done.stderr or done.stdout).strip()[-500:]}")
        self.say(done.stdout.strip().splitlines()[0])
        order = self.control("POST", f"/woocommerce/stores/{WOO_STORE}/orders", json={
            "items": [{"sku": "MERINO-M-GREY", "quantity": 1}, {"sku": "SOCKS-WOOL-3", "quantity": 1}], "paid_with": "paytrail"})
        self.pt_order = order
        self.say(f"Order #{order['id']}: {order['total']} {order['currency']}, Paytrail transaction {order['transaction_id']}")
        self.wait_for("Palautus to process order.created", lambda: self._processed_woo("order.created"))
        self.done()

    def paytrail_return(self):
        self.step("Its sweater comes back: Palautus refunds it at Paytrail directly; Paytrail's signed callback settles it")
        sweater = next(line for line in self.pt_order["line_items"] if line["sku"] == "MERINO-M-GREY")
        self.pt_sweater = sweater
        ret = self.api("POST", "/returns", self.woo_key, json={
            "order_id": str(self.pt_order["id"]), "items": [{"line_id": str(sweater["id"]), "quantity": 1, "reason": "size_too_small"}]})
        self.pt_ret = ret
        self.api("POST", f"/returns/{ret['id']}/approve", self.woo_key, json={})
        self.api("POST", f"/returns/{ret['id']}/receive", self.woo_key, json={"items": [{"item_id": ret["items"][0]["id"]}]})
        refund = self.wait_for("the refund to succeed and be recorded in the store", lambda: self._woo_synced(ret["id"]))
        self.pt_refund = refund
        self.say(f"Paytrail refund {refund['provider_refund_id']}: {_money(refund['amount'])} {refund['currency']}, "
                 f"{refund['provider_status']} (the success callback, checked against the shop's Paytrail secret); "
                 f"recorded in the store with api_refund false")  # fmt: skip
        self.done()

    def paytrail_verify(self):
        self.step("Check the Paytrail refund against the sandbox's own state")
        paytrail = self.control("GET", "/paytrail")
        owed = int(Decimal(self.pt_sweater["total"]) * 100) + int(Decimal(self.pt_sweater["total_tax"]) * 100)
        refunds = [r for r in paytrail["refunds"] if r["payment"] == self.pt_order["transaction_id"]]
        self.check("one refund at Paytrail, the sweater's price, settled, Palautus's key as its refundStamp",
                   [(r["amount"], r["status"], str(r["refundStamp"]).startswith("palautus-")) for r in refunds] == [(owed, "ok", True)],
                   str([(r["amount"], r["status"]) for r in refunds]))  # fmt: skip
        self.check("its callback reached Palautus", bool(paytrail["callbacks"]), f"{len(paytrail['callbacks'])} callback(s)")
        store = self.control("GET", f"/woocommerce/stores/{WOO_STORE}")
        order = next(o for o in store["orders"] if o["id"] == self.pt_order["id"])
        self.check("one refund recorded in the store, moving no money there",
                   len(order["refunds"]) == 1 and order["refunds"][0].get("refunded_payment") is False, str(len(order["refunds"])))  # fmt: skip
        self.check("Palautus refunded it directly at Paytrail", self.pt_refund["route"] == "paytrail", str(self.pt_refund["route"]))
        failed = self.api("GET", "/events", self.woo_key, params={"status": "failed"})
        self.check("no delivery or callback failed in Palautus", not failed, f"{len(failed)} failed")
        self.done()

    # --- the end ---------------------------------------------------------------------------------------

    def _linger(self):
        print(f"\nStill running (Ctrl-C stops it):\n  Palautus API docs  {self.base}/api/v1/docs\n"
              f"  Sandbox            {self.sandbox}/\n  API key            {self.key}", flush=True)  # fmt: skip
        try:
            while self.stack.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            pass

    def _tail_log(self):
        try:
            lines = self.log.read_text(errors="replace").splitlines()[-40:]
        except OSError:
            return
        print("   --- the last lines of the stack's log ---")
        for line in lines:
            print(f"   {line}")

    def stop(self):
        """Stop everything: devserver passes SIGTERM to honcho, which stops each process; what is left is killed."""
        if self.stack is None:
            return
        started = _descendants(self.stack.pid)
        if self.stack.poll() is None:
            os.killpg(self.stack.pid, signal.SIGTERM)
            try:
                self.stack.wait(timeout=20)
            except (subprocess.TimeoutExpired, KeyboardInterrupt):
                pass
        for pid in [self.stack.pid, *started]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.stack.wait(timeout=5)


def _descendants(pid: int) -> list[int]:
    """Every process started under `pid` (honcho gives each of its processes a session of its own)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.split("\n")[0])
    parser.add_argument("--keep", action="store_true", help="leave Palautus and the sandbox running afterwards")
    args = parser.parse_args(argv)
    return Demo(keep=args.keep).run()


if __name__ == "__main__":
    sys.exit(main())

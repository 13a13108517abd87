"""The periodic jobs, for `rq cron jobs/cron.py` (the Procfile's clock process)."""
from rq import cron

from integration.config import load_config
from jobs.catch_up import catch_up
from jobs.privacy import purge_inbox
from jobs.settlements import read_recent_settlements
from jobs.sweep import sweep

SWEEP_EVERY_SECONDS = 60
PURGE_INBOX_EVERY_SECONDS = 3600
READ_SETTLEMENTS_EVERY_SECONDS = 24 * 3600
config = load_config()

cron.register(sweep, queue_name=config["QUEUE_NAME"], interval=SWEEP_EVERY_SECONDS)
# Platforms that never retry a delivery (WooCommerce): read what they failed to deliver.
cron.register(catch_up, queue_name=config["QUEUE_NAME"], interval=config["CATCH_UP_SECONDS"])
# Inbox bodies past INBOX_RETENTION_DAYS become a stub (personal data is not kept longer than needed).
cron.register(purge_inbox, queue_name=config["QUEUE_NAME"], interval=PURGE_INBOX_EVERY_SECONDS)
# The payment providers' payouts of the last days, read for reconciliation (jobs/settlements.py).
cron.register(read_recent_settlements, queue_name=config["QUEUE_NAME"], interval=READ_SETTLEMENTS_EVERY_SECONDS)

"""The periodic jobs, for `rq cron jobs/cron.py` (the Procfile's clock process)."""
from rq import cron

from integration.config import load_config
from jobs.sweep import sweep

SWEEP_EVERY_SECONDS = 60

cron.register(sweep, queue_name=load_config()["QUEUE_NAME"], interval=SWEEP_EVERY_SECONDS)

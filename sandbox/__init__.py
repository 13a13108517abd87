"""Sandboxes: stand-ins for the outside systems (a Shopify shop, Stripe), for trying Palautus on one machine.

They behave as the real services do for the calls Palautus makes, keep their
state in memory, listen on 127.0.0.1 only and label every reply. Production
refuses them: `PALAUTUS_ENV=production` rejects `SANDBOX=1` and any http://
API base, and the sandbox server will not start under it. The test suite's
fakes (`tests/fakes.py`) are these same classes behind a mock transport.

- `python -m sandbox`: the sandbox server (`make run` starts it when `SANDBOX=1`);
- `python -m sandbox.demo`: `make demo`, a return walked to its refund.
"""

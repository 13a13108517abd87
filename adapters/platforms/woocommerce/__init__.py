"""WooCommerce: REST API v3 stores, their webhooks and their orders."""

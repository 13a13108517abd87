"""Shopify: webhook bodies and Admin API answers translated into Palautus records."""

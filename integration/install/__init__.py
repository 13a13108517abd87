"""Installing Palautus in a shop from the browser: one HTTP edge per platform, each speaking that platform's protocol.

- shopify.py: Shopify's authorization code grant (GET /install/shopify, /install/shopify/callback);
- woocommerce.py: WooCommerce's app authorization endpoint (/install/woocommerce, its key callback and done page);
- pages.py: the small escaped HTML pages both show, with their security headers.
"""

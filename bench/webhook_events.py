#!/usr/bin/env python3
"""Signed, distinct customer.subscription.updated deliveries for the webhook benchmark.

Writes one request per line (tab-separated: Stripe-Signature header, JSON body) to stdout.
Usage: webhook_events.py SECRET USER_ID COUNT [FIRST_INDEX]
"""
import hashlib, hmac, json, sys, time

secret, user, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
first = int(sys.argv[4]) if len(sys.argv) > 4 else 0
now = int(time.time())
for i in range(first, first + count):
    sub = f"sub_bench_{i:07d}"
    event = {
        "id": f"evt_bench_{i:07d}", "object": "event", "type": "customer.subscription.updated",
        "created": now - 60, "api_version": "2026-07-29.dahlia", "livemode": False,
        "data": {"object": {
            "id": sub, "object": "subscription", "customer": "cus_bench", "status": "active",
            "cancel_at_period_end": False, "created": now - 3600, "metadata": {"supabase_user_id": user},
            "items": {"object": "list", "data": [{
                "id": f"si_{i}", "object": "subscription_item", "quantity": 1,
                "current_period_start": now - 3600, "current_period_end": now + 30 * 86400,
                "price": {"id": "price_bench", "object": "price", "active": True, "currency": "usd",
                          "unit_amount": 4900, "product": "prod_bench", "type": "recurring",
                          "recurring": {"interval": "month", "interval_count": 1}}}]}}},
    }
    body = json.dumps(event, separators=(",", ":"))
    sig = hmac.new(secret.encode(), f"{now}.{body}".encode(), hashlib.sha256).hexdigest()
    print(f"t={now},v1={sig}\t{body}")

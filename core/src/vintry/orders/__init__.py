"""Orders: carts, pricing, idempotent placement, the order state machine, returns."""

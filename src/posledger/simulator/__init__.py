"""A fleet of simulated POS registers that behave like real ones: they number their events,
complete sales locally, keep an on-disk outbox and send it in batches with retries."""

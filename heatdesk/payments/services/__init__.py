"""Payment use cases, one module per subdomain: `orders` (create, prepare, close),
`settlement` (a confirmed payment onto the billing ledger, exactly once), `notifies` (verified
provider notifications), `sync` (query the provider and apply its truth), `alerts`."""

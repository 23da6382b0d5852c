"""The pure domain: money, events, master data, costing and posting rules. No IO, no clock."""

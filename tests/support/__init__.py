"""Code the tests and benchmarks share but the runtime never runs: a shop
generator (``synthetic``), a one-customer-at-a-time reference of product
selection (``reference``) and a simulator of open histories (``simulate``)."""

"""The PostgreSQL ledger: schema and migrations, the repository that writes credits
and reads balances, and the invariant checks behind ``tachigo reconcile``. All SQL
lives here."""

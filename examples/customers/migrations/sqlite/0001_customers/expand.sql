-- 0001_customers: v1's table; address holds "12 Main St, Springfield, IL 62701".
CREATE TABLE customers (
  id      INTEGER PRIMARY KEY,
  name    TEXT NOT NULL,
  address TEXT
);

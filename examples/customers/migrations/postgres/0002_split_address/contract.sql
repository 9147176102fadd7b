DROP TRIGGER customers_dual_write ON customers;
DROP FUNCTION customers_dual_write();
ALTER TABLE customers DROP COLUMN address;

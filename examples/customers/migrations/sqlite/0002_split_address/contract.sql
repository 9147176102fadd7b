DROP TRIGGER customers_from_address;
DROP TRIGGER customers_to_address;
DROP TRIGGER customers_address_changed;
DROP TRIGGER customers_parts_changed;
ALTER TABLE customers DROP COLUMN address;

-- Rows written after the contract have no archived address: rebuild it.
UPDATE customers SET address = street_address || ', ' || city || ', ' || state || ' ' || zip_code
WHERE address IS NULL AND street_address IS NOT NULL;
CREATE TRIGGER customers_from_address AFTER INSERT ON customers
WHEN NEW.address IS NOT NULL AND NEW.street_address IS NULL
BEGIN
  UPDATE customers SET
    street_address = substr(NEW.address, 1, instr(NEW.address, ', ') - 1),
    city = substr(substr(NEW.address, instr(NEW.address, ', ') + 2), 1, instr(substr(NEW.address, instr(NEW.address, ', ') + 2), ', ') - 1),
    state = substr(substr(substr(NEW.address, instr(NEW.address, ', ') + 2), instr(substr(NEW.address, instr(NEW.address, ', ') + 2), ', ') + 2), 1, instr(substr(substr(NEW.address, instr(NEW.address, ', ') + 2), instr(substr(NEW.address, instr(NEW.address, ', ') + 2), ', ') + 2), ' ') - 1),
    zip_code = substr(substr(substr(NEW.address, instr(NEW.address, ', ') + 2), instr(substr(NEW.address, instr(NEW.address, ', ') + 2), ', ') + 2), instr(substr(substr(NEW.address, instr(NEW.address, ', ') + 2), instr(substr(NEW.address, instr(NEW.address, ', ') + 2), ', ') + 2), ' ') + 1)
  WHERE id = NEW.id;
END;
CREATE TRIGGER customers_to_address AFTER INSERT ON customers
WHEN NEW.address IS NULL AND NEW.street_address IS NOT NULL
BEGIN
  UPDATE customers SET address = NEW.street_address || ', ' || NEW.city || ', ' || NEW.state || ' ' || NEW.zip_code WHERE id = NEW.id;
END;
CREATE TRIGGER customers_address_changed AFTER UPDATE OF address ON customers
WHEN NEW.address IS NOT OLD.address
BEGIN
  UPDATE customers SET
    street_address = substr(NEW.address, 1, instr(NEW.address, ', ') - 1),
    city = substr(substr(NEW.address, instr(NEW.address, ', ') + 2), 1, instr(substr(NEW.address, instr(NEW.address, ', ') + 2), ', ') - 1),
    state = substr(substr(substr(NEW.address, instr(NEW.address, ', ') + 2), instr(substr(NEW.address, instr(NEW.address, ', ') + 2), ', ') + 2), 1, instr(substr(substr(NEW.address, instr(NEW.address, ', ') + 2), instr(substr(NEW.address, instr(NEW.address, ', ') + 2), ', ') + 2), ' ') - 1),
    zip_code = substr(substr(substr(NEW.address, instr(NEW.address, ', ') + 2), instr(substr(NEW.address, instr(NEW.address, ', ') + 2), ', ') + 2), instr(substr(substr(NEW.address, instr(NEW.address, ', ') + 2), instr(substr(NEW.address, instr(NEW.address, ', ') + 2), ', ') + 2), ' ') + 1)
  WHERE id = NEW.id;
END;
CREATE TRIGGER customers_parts_changed AFTER UPDATE OF street_address, city, state, zip_code ON customers
WHEN NEW.address IS OLD.address AND (NEW.street_address IS NOT OLD.street_address OR NEW.city IS NOT OLD.city
  OR NEW.state IS NOT OLD.state OR NEW.zip_code IS NOT OLD.zip_code)
BEGIN
  UPDATE customers SET address = NEW.street_address || ', ' || NEW.city || ', ' || NEW.state || ' ' || NEW.zip_code WHERE id = NEW.id;
END;

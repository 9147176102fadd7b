-- 0002_split_address: split customers.address into four columns.
ALTER TABLE customers ADD COLUMN street_address text;
ALTER TABLE customers ADD COLUMN city text;
ALTER TABLE customers ADD COLUMN state text;
ALTER TABLE customers ADD COLUMN zip_code text;
CREATE FUNCTION customers_dual_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- v1 writes address; v2 writes the four new columns; each side fills the other.
  IF (TG_OP = 'INSERT' AND NEW.address IS NOT NULL AND NEW.street_address IS NULL)
     OR (TG_OP = 'UPDATE' AND NEW.address IS DISTINCT FROM OLD.address) THEN
    NEW.street_address := split_part(NEW.address, ', ', 1);
    NEW.city           := split_part(NEW.address, ', ', 2);
    NEW.state          := split_part(split_part(NEW.address, ', ', 3), ' ', 1);
    NEW.zip_code       := split_part(split_part(NEW.address, ', ', 3), ' ', 2);
  ELSIF (TG_OP = 'INSERT' AND NEW.street_address IS NOT NULL)
     OR (TG_OP = 'UPDATE' AND (NEW.street_address, NEW.city, NEW.state, NEW.zip_code)
         IS DISTINCT FROM (OLD.street_address, OLD.city, OLD.state, OLD.zip_code)) THEN
    NEW.address := NEW.street_address || ', ' || NEW.city || ', ' || NEW.state || ' ' || NEW.zip_code;
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER customers_dual_write BEFORE INSERT OR UPDATE ON customers
  FOR EACH ROW EXECUTE FUNCTION customers_dual_write();

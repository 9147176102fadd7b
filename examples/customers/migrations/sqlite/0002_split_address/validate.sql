-- Every row: the old column equals the new columns put together.
SELECT id, address, street_address, city, state, zip_code FROM customers
WHERE address IS NOT (street_address || ', ' || city || ', ' || state || ' ' || zip_code)
ORDER BY id;

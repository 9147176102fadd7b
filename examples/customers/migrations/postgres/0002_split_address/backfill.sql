-- bluegreen: table=customers key=id
UPDATE customers SET
  street_address = split_part(address, ', ', 1),
  city           = split_part(address, ', ', 2),
  state          = split_part(split_part(address, ', ', 3), ' ', 1),
  zip_code       = split_part(split_part(address, ', ', 3), ' ', 2)
WHERE id >= :lo AND id < :hi AND street_address IS NULL AND address IS NOT NULL;

-- bluegreen: table=customers key=id
UPDATE customers SET
  street_address = substr(address, 1, instr(address, ', ') - 1),
  city = substr(substr(address, instr(address, ', ') + 2), 1, instr(substr(address, instr(address, ', ') + 2), ', ') - 1),
  state = substr(substr(substr(address, instr(address, ', ') + 2), instr(substr(address, instr(address, ', ') + 2), ', ') + 2), 1, instr(substr(substr(address, instr(address, ', ') + 2), instr(substr(address, instr(address, ', ') + 2), ', ') + 2), ' ') - 1),
  zip_code = substr(substr(substr(address, instr(address, ', ') + 2), instr(substr(address, instr(address, ', ') + 2), ', ') + 2), instr(substr(substr(address, instr(address, ', ') + 2), instr(substr(address, instr(address, ', ') + 2), ', ') + 2), ' ') + 1)
WHERE id >= :lo AND id < :hi AND street_address IS NULL AND address IS NOT NULL;

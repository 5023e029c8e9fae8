-- same as postgres/sql/schema_compat.sql
SELECT claim_protocol, compatible_from FROM digis_schema WHERE id = 1

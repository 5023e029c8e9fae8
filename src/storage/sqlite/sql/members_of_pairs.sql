-- After member_select.sql. The pairs come as one JSON array of {subscription_id, person_id} read with json_each (PostgreSQL: json_to_recordset).
WHERE (subscription_id, person_id) IN
      (SELECT value ->> 'subscription_id', value ->> 'person_id' FROM json_each(?1))

-- After member_select.sql. The pairs come as one JSON array of {subscription_id, person_id} read with json_to_recordset (SQLite: json_each).
WHERE (m.subscription_id, m.person_id) IN
      (SELECT subscription_id, person_id FROM json_to_recordset($1::json) AS x(subscription_id bigint, person_id bigint))

-- After member_select.sql. The pairs come as two arrays and unnest (SQLite: two JSON arrays zipped by position).
WHERE (m.subscription_id, m.person_id) IN (SELECT * FROM unnest($1::bigint[], $2::bigint[]))

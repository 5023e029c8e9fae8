-- After member_select.sql. The pairs come as two JSON arrays zipped by position (PostgreSQL: two arrays and unnest).
WHERE (subscription_id, person_id) IN
      (SELECT s.value, p.value FROM json_each(?1) s JOIN json_each(?2) p ON p.key = s.key)

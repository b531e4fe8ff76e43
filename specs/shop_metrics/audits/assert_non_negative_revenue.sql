AUDIT (
  name assert_non_negative_revenue,
);

SELECT *
FROM @this_model
WHERE revenue < 0

-- wrk script: POST the same quote body; every request creates a new quote.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.body = [[{"client_name":"Greenleaf Landscaping","client_email":"maria@example.test",
"line_items":[{"name":"Mowing","unit":"hour","quantity":3,"unit_price":"19.99"},
{"name":"Edging","quantity":"0.333","unit_price":10},{"name":"Mulch","unit":"bag","quantity":2.5,"unit_price":"4.75"}],
"markup_rate":12.5,"tax_rate":"8.25","notes":"Front and back lawn"}]]

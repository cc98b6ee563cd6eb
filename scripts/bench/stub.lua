-- wrk script: the stub LLM's own ceiling (POST /api/chat, answered at once).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"tinyllama:1.1b","stream":false,"messages":[{"role":"user","content":"What does a website cost?"}]}'

#!/usr/bin/env python3
"""A stand-in for an OpenAI-compatible chat-completions endpoint, for the edge run.

Serves POST /v1/chat/completions on 127.0.0.1:PORT with the real response shape. Its
answer says how many messages it was sent (so a test can see the history arrive) and
suggests a command, which the assistant must never carry out by itself.
"""
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0") or 0))
        try:
            req = json.loads(body)
            messages = req["messages"]
            assert isinstance(req["model"], str)
            assert all(m["role"] in ("system", "user", "assistant") for m in messages)
        except Exception as e:  # a malformed request gets the API's error shape
            self.reply(400, {"error": {"message": f"bad request: {e}", "type": "invalid_request_error"}})
            return
        if self.path != "/v1/chat/completions":
            self.reply(404, {"error": {"message": "no such path", "type": "invalid_request_error"}})
            return
        content = f"I saw {len(messages)} messages.\nCOMMAND: deny 1: too risky"
        self.reply(200, {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
            "model": req["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        })

    def reply(self, status, value):
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    # Port 0: the OS picks one; it is printed as "model: PORT" for the caller.
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    print(f"model: {server.server_address[1]}", flush=True)
    server.serve_forever()

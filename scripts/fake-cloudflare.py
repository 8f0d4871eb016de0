#!/usr/bin/env python3
"""A local stand-in for the Cloudflare REST API (v4), stateful, speaking its wire format
(the {success, errors, messages, result} envelope, paged lists, error codes wrangler
acts on): enough for the real wrangler's deploy, secret bulk, d1 migrations apply
--remote and delete, and for `agency deploy apply`/`destroy`'s own calls (D1, KV,
Queues and R2 listed, created and deleted). D1 runs on in-memory SQLite.

Besides the API (under /client/v4) it stands in for what a deployed agency answers,
so apply's last steps can be checked here too:
  /workers/{name}/health and /workers/{name}/api/graph  a deployed Worker's public URL
      (point `agency deploy apply --workers-url` at http://HOST:PORT/workers/{worker})
  /telegram/bot{token}/setWebhook                       Telegram's Bot API
  /discord/api/v10/applications/...                     Discord's (interactions endpoint, commands)
GET /state shows what the account holds. Every request is logged as one JSON line.

Usage:
  python3 fake-cloudflare.py --port 0 --port-file FILE --log FILE.jsonl
Point wrangler and agency at it with:
  CLOUDFLARE_API_BASE_URL=http://127.0.0.1:PORT/client/v4
  CLOUDFLARE_API_TOKEN=anything CLOUDFLARE_ACCOUNT_ID=<32 hex>
  WRANGLER_SEND_METRICS=false WRANGLER_SEND_ERROR_REPORTS=false WRANGLER_HIDE_BANNER=true CI=true
"""
import argparse, email.parser, email.policy, json, re, sqlite3, sys, threading, time, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs

PREFIX = "/client/v4"
LOCK = threading.RLock()
STATE = {"scripts": {}, "queues": {}, "d1": {}, "kv": {}, "r2": {}, "graphs": {}, "telegram": {},
         "discord": {}}
ARGS = None
LOGF = None


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())


def hexid():
    return uuid.uuid4().hex


def ok(result, result_info=None, status=200):
    body = {"success": True, "errors": [], "messages": [], "result": result}
    if result_info is not None:
        body["result_info"] = result_info
    return status, body


def err(status, code, message):
    return status, {"success": False, "errors": [{"code": code, "message": message}],
                    "messages": [], "result": None}


def worker_not_found():
    return err(404, 10007, "This Worker does not exist on your account.")


def parse_multipart(ctype, body):
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
    parts = {}
    for p in msg.iter_parts():
        name = p.get_param("name", header="content-disposition")
        parts[name] = {"filename": p.get_filename(), "content_type": p.get_content_type(),
                       "data": p.get_payload(decode=True) or b""}
    return parts


# ---------------------------------------------------------------- D1 ------
def d1_get(key):
    for db in STATE["d1"].values():
        if key in (db["uuid"], db["name"]):
            return db
    return None


def d1_create(name, db_uuid=None):
    db_uuid = db_uuid or str(uuid.uuid4())
    conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    db = {"uuid": db_uuid, "name": name, "conn": conn, "created_at": now()}
    STATE["d1"][db_uuid] = db
    return db


def d1_public(db):
    return {"uuid": db["uuid"], "name": db["name"], "version": "production",
            "created_at": db["created_at"], "num_tables": 0, "file_size": 0,
            "running_in_region": "WEUR"}


def split_sql(sql):
    """Split on ';' at statement boundaries (sqlite3.complete_statement handles quotes, comments, triggers)."""
    stmts, start = [], 0
    for i, ch in enumerate(sql):
        if ch == ";" and sqlite3.complete_statement(sql[start:i + 1]):
            stmts.append(sql[start:i + 1])
            start = i + 1
    stmts.append(sql[start:])
    no_comments = lambda x: re.sub(r"--[^\n]*|/\*.*?\*/", "", x, flags=re.S).strip().strip(";").strip()
    return [x for x in stmts if no_comments(x)]


def d1_query(db, sql, params, raw=False):
    conn = db["conn"]
    out = []
    stmts = split_sql(sql)
    conn.execute("BEGIN")
    try:
        for s in stmts:
            t0 = time.time()
            c = conn.execute(s, params or [])
            cols = [d[0] for d in (c.description or [])]
            rows = c.fetchall()
            meta = {"duration": (time.time() - t0) * 1000, "changes": c.rowcount if c.rowcount > 0 else 0,
                    "last_row_id": c.lastrowid or 0, "rows_read": len(rows), "rows_written": max(c.rowcount, 0),
                    "changed_db": c.rowcount > 0, "size_after": 0, "served_by": "fake"}
            if raw:
                out.append({"results": {"columns": cols, "rows": [list(r) for r in rows]},
                            "success": True, "meta": meta})
            else:
                out.append({"results": [dict(zip(cols, r)) for r in rows], "success": True, "meta": meta})
        conn.execute("COMMIT")
    except sqlite3.Error as e:
        conn.execute("ROLLBACK")
        return err(400, 7500, f"{e}: SQLITE_ERROR")
    return ok(out)


# ------------------------------------------------------------ queues ------
def queue_get(name, create=None):
    q = STATE["queues"].get(name)
    if q is None and (create if create is not None else not ARGS.strict_queues):
        q = STATE["queues"][name] = {"queue_id": hexid(), "queue_name": name, "created_on": now(),
                                     "modified_on": now(), "producers": [], "consumers": [],
                                     "producers_total_count": 0, "consumers_total_count": 0}
    return q


# ----------------------------------------------------------- scripts ------
def apply_bindings(old, new, keep_types=()):
    """new binding list may contain {type:'inherit'} or bare {type,name} -> keep old one."""
    old_by_name = {b["name"]: b for b in old}
    res = []
    for b in new:
        prev = old_by_name.get(b.get("name"))
        if b.get("type") == "inherit" or (set(b) <= {"type", "name"} and prev and prev["type"] == b["type"]):
            if prev:
                res.append(prev)
            continue
        res.append(b)
    names = {b["name"] for b in res}
    for b in old:
        if b["type"] in keep_types and b["name"] not in names:
            res.append(b)
    return res


def public_bindings(bindings):
    out = []
    for b in bindings:
        b = dict(b)
        if b["type"] in ("secret_text",):
            b.pop("text", None)
        out.append(b)
    return out


def upload_script(acct, name, ctype, body, as_version=False):
    parts = parse_multipart(ctype, body)
    if "metadata" not in parts:
        return err(400, 10021, "metadata part missing")
    md = json.loads(parts["metadata"]["data"])
    s = STATE["scripts"].get(name)
    created = s is None
    if created:
        s = STATE["scripts"][name] = {
            "id": name, "tag": hexid(), "created_on": now(), "migration_tag": None, "bindings": [],
            "versions": [], "deployments": [], "subdomain": {"enabled": False, "previews_enabled": False},
            "schedules": [], "settings": {}, "tags": []}
    mig = md.get("migrations")
    if mig:
        if (mig.get("old_tag") or None) != (s["migration_tag"] or None):
            return err(400, 10079, f"migration old_tag {mig.get('old_tag')!r} != current {s['migration_tag']!r}")
        s["migration_tag"] = mig.get("new_tag")
    # real API: secrets survive a script/version upload even without keep_bindings
    keep = set(md.get("keep_bindings", [])) | {"secret_text", "secret_key"}
    s["bindings"] = apply_bindings(s["bindings"], md.get("bindings", []), keep)
    s["metadata"] = md
    s["modules"] = {k: {"content_type": v["content_type"], "size": len(v["data"])}
                    for k, v in parts.items() if k != "metadata"}
    s["etag"] = hexid()
    s["modified_on"] = now()
    vid = str(uuid.uuid4())
    s["versions"].append({"id": vid, "number": len(s["versions"]) + 1, "created_on": now()})
    if not as_version:
        s["deployments"].insert(0, {"id": str(uuid.uuid4()), "source": "wrangler", "strategy": "percentage",
                                    "created_on": now(), "versions": [{"version_id": vid, "percentage": 100}]})
        return ok({"id": name, "tag": s["tag"], "etag": s["etag"], "deployment_id": vid,
                   "startup_time_ms": 1, "created_on": s["created_on"], "modified_on": s["modified_on"],
                   "migration_tag": s["migration_tag"], "compatibility_date": md.get("compatibility_date"),
                   "usage_model": "standard", "handlers": ["fetch"], "has_modules": True})
    return ok({"id": vid, "number": len(s["versions"]), "startup_time_ms": 1,
               "metadata": {"created_on": now(), "source": "wrangler"},
               "resources": {"script": {"etag": s["etag"], "handlers": ["fetch"]},
                             "bindings": public_bindings(s["bindings"])}})


def script_summary(s):
    return {"id": s["id"], "tag": s["tag"], "etag": s.get("etag"), "created_on": s["created_on"],
            "modified_on": s.get("modified_on"), "migration_tag": s["migration_tag"],
            "handlers": ["fetch"], "last_deployed_from": "wrangler", "tags": s["tags"]}


def paged(r, items):
    """Honour ?page=&per_page= (wrangler loops while a full page comes back)."""
    page = int((r.query.get("page") or ["1"])[0])
    per = int((r.query.get("per_page") or ["100"])[0])
    chunk = items[(page - 1) * per: page * per]
    return ok(chunk, {"page": page, "per_page": per, "count": len(chunk), "total_count": len(items)})


# ------------------------------------------------------------ routing -----
ROUTES = []


def route(method, pattern):
    def deco(fn):
        ROUTES.append((method, re.compile("^" + pattern + "$"), fn))
        return fn
    return deco


A = r"/accounts/(?P<acct>[^/]+)"
S = A + r"/workers/scripts/(?P<name>[^/]+)"


@route("GET", r"/user/tokens/verify")
def _(r, **k): return ok({"id": hexid(), "status": "active"})


@route("GET", A + r"/tokens/verify")
def _(r, **k): return ok({"id": hexid(), "status": "active"})


@route("GET", r"/user")
def _(r, **k): return ok({"id": hexid(), "email": "fake@example.com"})


@route("GET", r"/memberships")
def _(r, **k):
    return ok([{"id": hexid(), "account": {"id": ARGS.account, "name": "Fake Account"}, "status": "accepted"}],
              {"page": 1, "per_page": 20, "count": 1, "total_count": 1})


@route("GET", r"/accounts")
def _(r, **k):
    return ok([{"id": ARGS.account, "name": "Fake Account"}],
              {"page": 1, "per_page": 20, "count": 1, "total_count": 1})


@route("GET", A + r"/workers/subdomain")
def _(r, **k): return ok({"subdomain": ARGS.subdomain})


@route("GET", A + r"/workers/services/(?P<name>[^/]+)")
def _(r, acct, name):
    s = STATE["scripts"].get(name)
    if not s:
        return worker_not_found()
    return ok({"id": name, "default_environment": {"environment": "production", "created_on": s["created_on"],
                                                   "modified_on": s.get("modified_on"), "script": script_summary(s)},
               "created_on": s["created_on"], "modified_on": s.get("modified_on")})


@route("DELETE", A + r"/workers/services/(?P<name>[^/]+)")
def _(r, acct, name):
    if STATE["scripts"].pop(name, None) is None:
        return worker_not_found()
    for q in STATE["queues"].values():
        q["consumers"] = [c for c in q["consumers"] if c.get("script") != name]
    return ok(None)


@route("DELETE", S)
def _(r, acct, name):
    if STATE["scripts"].pop(name, None) is None:
        return worker_not_found()
    return ok(None)


@route("GET", A + r"/workers/scripts")
def _(r, acct):
    return ok([script_summary(s) for s in STATE["scripts"].values()])


@route("PUT", S)
def _(r, acct, name):
    return upload_script(acct, name, r.headers.get("Content-Type", ""), r.body)


@route("POST", S + r"/versions")
def _(r, acct, name):
    if name not in STATE["scripts"]:
        return worker_not_found()
    return upload_script(acct, name, r.headers.get("Content-Type", ""), r.body, as_version=True)


@route("GET", S + r"/versions")
def _(r, acct, name):
    s = STATE["scripts"].get(name)
    if not s:
        return worker_not_found()
    return ok({"items": [dict(v, metadata={"created_on": v["created_on"]}) for v in reversed(s["versions"])]})


@route("GET", S + r"/versions/(?P<vid>[^/]+)")
def _(r, acct, name, vid):
    s = STATE["scripts"].get(name)
    if not s:
        return worker_not_found()
    return ok({"id": vid, "number": 1, "metadata": {"created_on": now(), "source": "wrangler"},
               "annotations": {}, "resources": {"bindings": public_bindings(s["bindings"]),
                                                "script": {"etag": s.get("etag"), "handlers": ["fetch"]},
                                                "script_runtime": {"compatibility_date":
                                                                   s.get("metadata", {}).get("compatibility_date")}}})


@route("GET", S + r"/deployments")
def _(r, acct, name):
    s = STATE["scripts"].get(name)
    if not s:
        return worker_not_found()
    return ok({"deployments": s["deployments"]})


@route("POST", S + r"/deployments")
def _(r, acct, name):
    s = STATE["scripts"].get(name)
    if not s:
        return worker_not_found()
    b = r.json()
    d = {"id": str(uuid.uuid4()), "source": "wrangler", "strategy": b.get("strategy", "percentage"),
         "versions": b.get("versions", []), "annotations": b.get("annotations", {}), "created_on": now()}
    s["deployments"].insert(0, d)
    return ok(d)


@route("PATCH", S + r"/script-settings")
def _(r, acct, name):
    s = STATE["scripts"].get(name)
    if not s:
        return worker_not_found()
    b = r.json()
    s["settings"].update(b)
    if "tags" in b:
        s["tags"] = b["tags"] or []
    return ok(s["settings"])


@route("GET", S + r"/script-settings")
def _(r, acct, name):
    s = STATE["scripts"].get(name)
    return ok(s["settings"]) if s else worker_not_found()


@route("GET", S + r"/settings")
def _(r, acct, name):
    s = STATE["scripts"].get(name)
    if not s:
        return worker_not_found()
    md = s.get("metadata", {})
    return ok({"bindings": public_bindings(s["bindings"]), "compatibility_date": md.get("compatibility_date"),
               "compatibility_flags": md.get("compatibility_flags", []), "logpush": False,
               "observability": md.get("observability"), "placement": {}, "tail_consumers": None,
               "usage_model": "standard", "tags": s["tags"]})


@route("PATCH", S + r"/settings")
def _(r, acct, name):
    s = STATE["scripts"].get(name)
    if not s:
        return worker_not_found()
    parts = parse_multipart(r.headers.get("Content-Type", ""), r.body)
    settings = json.loads(parts["settings"]["data"])
    if "bindings" in settings:
        s["bindings"] = apply_bindings(s["bindings"], settings["bindings"])
    return ok({"bindings": public_bindings(s["bindings"])})


@route("GET", S + r"/secrets")
def _(r, acct, name):
    s = STATE["scripts"].get(name)
    if not s:
        return worker_not_found()
    return ok([{"name": b["name"], "type": "secret_text"} for b in s["bindings"] if b["type"] == "secret_text"])


@route("PUT", S + r"/secrets")
def _(r, acct, name):
    s = STATE["scripts"].get(name)
    if not s:
        return worker_not_found()
    b = r.json()
    s["bindings"] = [x for x in s["bindings"] if x["name"] != b["name"]] + [
        {"type": "secret_text", "name": b["name"], "text": b.get("text")}]
    return ok({"name": b["name"], "type": "secret_text"})


@route("GET", S + r"/subdomain")
def _(r, acct, name):
    s = STATE["scripts"].get(name)
    return ok(s["subdomain"]) if s else worker_not_found()


@route("POST", S + r"/subdomain")
def _(r, acct, name):
    s = STATE["scripts"].get(name)
    if not s:
        return worker_not_found()
    b = r.json()
    en = bool(b.get("enabled"))
    pv = b.get("previews_enabled")
    s["subdomain"] = {"enabled": en, "previews_enabled": en if pv is None else bool(pv)}
    return ok(s["subdomain"])


@route("GET", S + r"/schedules")
def _(r, acct, name):
    s = STATE["scripts"].get(name)
    return ok({"schedules": s["schedules"]}) if s else worker_not_found()


@route("PUT", S + r"/schedules")
def _(r, acct, name):
    s = STATE["scripts"].get(name)
    if not s:
        return worker_not_found()
    s["schedules"] = [{"cron": x["cron"], "created_on": now(), "modified_on": now()} for x in r.json()]
    return ok({"schedules": s["schedules"]})


@route("GET", S + r"/references")
def _(r, acct, name):
    if name not in STATE["scripts"]:
        return worker_not_found()
    return ok({"services": {"incoming": [], "outgoing": [], "pages_function": False},
               "durable_objects": [], "dispatch_outbounds": []})


@route("GET", A + r"/workers/tails/by-consumer/(?P<name>[^/]+)")
def _(r, acct, name): return ok([])


# queues
@route("GET", A + r"/queues")
def _(r, acct):
    names = r.query.get("name", [])
    qs = [q for q in (queue_get(n) for n in names) if q] if names else list(STATE["queues"].values())
    return ok(qs, {"page": 1, "per_page": 100, "count": len(qs), "total_count": len(qs)})


@route("POST", A + r"/queues")
def _(r, acct):
    n = r.json()["queue_name"]
    if n in STATE["queues"]:
        return err(409, 11009, "A queue with this name already exists")
    return ok(queue_get(n, create=True))


@route("DELETE", A + r"/queues/(?P<qid>[^/]+)")
def _(r, acct, qid):
    for n, q in list(STATE["queues"].items()):
        if q["queue_id"] == qid:
            del STATE["queues"][n]
            return ok({})
    return err(404, 11000, "Queue not found")


@route("GET", A + r"/queues/(?P<qid>[^/]+)")
def _(r, acct, qid):
    for q in STATE["queues"].values():
        if q["queue_id"] == qid:
            return ok(q)
    return err(404, 11000, "Queue not found")


@route("POST", A + r"/queues/(?P<qid>[^/]+)/consumers")
def _(r, acct, qid):
    for q in STATE["queues"].values():
        if q["queue_id"] == qid:
            b = r.json()
            c = {"consumer_id": hexid(), "type": b.get("type", "worker"), "script": b.get("script_name"),
                 "dead_letter_queue": b.get("dead_letter_queue"), "settings": b.get("settings", {}),
                 "queue_name": q["queue_name"], "created_on": now()}
            q["consumers"].append(c)
            q["consumers_total_count"] = len(q["consumers"])
            return ok(c)
    return err(404, 11000, "Queue not found")


@route("PUT", A + r"/queues/(?P<qid>[^/]+)/consumers/(?P<cid>[^/]+)")
def _(r, acct, qid, cid):
    for q in STATE["queues"].values():
        for c in q["consumers"]:
            if q["queue_id"] == qid and c["consumer_id"] == cid:
                b = r.json()
                c.update({"script": b.get("script_name", c["script"]), "dead_letter_queue": b.get("dead_letter_queue"),
                          "settings": b.get("settings", {})})
                return ok(c)
    return err(404, 11000, "Consumer not found")


@route("DELETE", A + r"/queues/(?P<qid>[^/]+)/consumers/(?P<cid>[^/]+)")
def _(r, acct, qid, cid):
    for q in STATE["queues"].values():
        if q["queue_id"] == qid:
            q["consumers"] = [c for c in q["consumers"] if c["consumer_id"] != cid]
    return ok(None)


# KV / R2
@route("GET", A + r"/storage/kv/namespaces")
def _(r, acct): return paged(r, list(STATE["kv"].values()))


@route("POST", A + r"/storage/kv/namespaces")
def _(r, acct):
    ns = {"id": hexid(), "title": r.json()["title"]}
    STATE["kv"][ns["id"]] = ns
    return ok(ns)


@route("DELETE", A + r"/storage/kv/namespaces/(?P<nid>[^/]+)")
def _(r, acct, nid):
    STATE["kv"].pop(nid, None)
    return ok(None)


@route("GET", A + r"/r2/buckets/(?P<b>[^/]+)")
def _(r, acct, b):
    if b not in STATE["r2"]:
        return err(404, 10006, "The specified bucket does not exist.")
    return ok(STATE["r2"][b])


@route("GET", A + r"/r2/buckets")
def _(r, acct):
    return ok({"buckets": list(STATE["r2"].values())})


@route("POST", A + r"/r2/buckets")
def _(r, acct):
    n = r.json()["name"]
    if n in STATE["r2"]:
        return err(409, 10004, "The bucket you tried to create already exists, and you own it.")
    STATE["r2"][n] = {"name": n, "creation_date": now(), "location": "WEUR", "storage_class": "Standard"}
    return ok(STATE["r2"][n])


@route("DELETE", A + r"/r2/buckets/(?P<b>[^/]+)")
def _(r, acct, b):
    if STATE["r2"].pop(b, None) is None:
        return err(404, 10006, "The specified bucket does not exist.")
    return ok({})


# D1
@route("GET", A + r"/d1/database")
def _(r, acct):
    name = (r.query.get("name") or [None])[0]
    return paged(r, [d1_public(d) for d in STATE["d1"].values() if name in (None, d["name"])])


@route("POST", A + r"/d1/database")
def _(r, acct):
    b = r.json()
    if d1_get(b["name"]):
        return err(400, 7502, "A database with that name already exists")
    return ok(d1_public(d1_create(b["name"])))


@route("GET", A + r"/d1/database/(?P<db>[^/]+)")
def _(r, acct, db):
    d = d1_get(db)
    return ok(d1_public(d)) if d else err(404, 7404, f"The database {db} could not be found")


@route("DELETE", A + r"/d1/database/(?P<db>[^/]+)")
def _(r, acct, db):
    d = d1_get(db)
    if not d:
        return err(404, 7404, f"The database {db} could not be found")
    del STATE["d1"][d["uuid"]]
    return ok(None)


@route("POST", A + r"/d1/database/(?P<db>[^/]+)/(?P<kind>query|raw)")
def _(r, acct, db, kind):
    d = d1_get(db) or (d1_create("auto-" + db[:8], db) if ARGS.auto_d1 else None)
    if not d:
        return err(404, 7404, f"The database {db} could not be found")
    b = r.json()
    return d1_query(d, b["sql"], b.get("params"), raw=(kind == "raw"))


# ------------------------------------------- a deployed agency, Telegram ------
def deployed(name):
    s = STATE["scripts"].get(name)
    return s if s and s.get("metadata") else None


@route("GET", r"/workers/(?P<name>[^/]+)/health")
def _(r, name):
    if not deployed(name):
        return 404, {"error": {"code": "not_found", "message": f"no Worker {name}"}}
    return 200, {"status": "ok", "parts": {}}


@route("PUT", r"/workers/(?P<name>[^/]+)/api/graph")
def _(r, name):
    if not deployed(name):
        return 404, {"error": {"code": "not_found", "message": f"no Worker {name}"}}
    if not (r.headers.get("Authorization") or "").startswith("Bearer "):
        return 401, {"error": {"code": "unauthorized", "message": "a bearer token is needed"}}
    graph = r.json()
    STATE["graphs"][name] = graph
    return 200, {"version": "stored", "skills": len(graph.get("skills", []))}


@route("POST", r"/telegram/bot(?P<token>[^/]+)/setWebhook")
def _(r, token):
    b = r.json()
    STATE["telegram"][token] = {"url": b.get("url"), "secret_token": b.get("secret_token")}
    return 200, {"ok": True, "result": True, "description": "Webhook was set"}


@route("PATCH", r"/discord/api/v10/applications/@me")
def _(r):
    if not (r.headers.get("Authorization") or "").startswith("Bot "):
        return 401, {"message": "401: Unauthorized", "code": 0}
    b = r.json()
    STATE["discord"].setdefault("app", {})["interactions_endpoint_url"] = b.get("interactions_endpoint_url")
    return 200, {"id": "app", "interactions_endpoint_url": b.get("interactions_endpoint_url")}


@route("POST", r"/discord/api/v10/applications/(?P<app>[^/]+)/guilds/(?P<guild>[^/]+)/commands")
def _(r, app, guild):
    """Creates the command, or updates the one of the same name (Discord's upsert)."""
    if not (r.headers.get("Authorization") or "").startswith("Bot "):
        return 401, {"message": "401: Unauthorized", "code": 0}
    cmd = r.json()
    names = STATE["discord"].setdefault(f"{app}/{guild}", [])
    created = cmd["name"] not in names
    if created:
        names.append(cmd["name"])
    return (201 if created else 200), dict(cmd, id="1", application_id=app, guild_id=guild)


@route("GET", r"/state")
def _(r):
    return 200, {
        "workers": sorted(STATE["scripts"]),
        "secrets": {n: sorted(b["name"] for b in s["bindings"] if b["type"] == "secret_text")
                    for n, s in STATE["scripts"].items()},
        "d1": sorted(d["name"] for d in STATE["d1"].values()),
        "kv": sorted(n["title"] for n in STATE["kv"].values()),
        "queues": sorted(STATE["queues"]),
        "r2": sorted(STATE["r2"]),
        "graphs": sorted(STATE["graphs"]),
        "telegram": {t[:4]: v for t, v in STATE["telegram"].items()},
        "discord": STATE["discord"],
        "consumers": {n: sorted(c["script"] for c in q["consumers"]) for n, q in STATE["queues"].items()},
    }


# ----------------------------------------------------------- handler ------
class Req:
    pass


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def handle_any(self):
        u = urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        path = u.path[len(PREFIX):] if u.path.startswith(PREFIX) else u.path
        r = Req()
        r.headers, r.body, r.query = self.headers, body, parse_qs(u.query)
        r.json = lambda: json.loads(body or b"null")
        status, resp = err(404, 7003, f"Could not route to {path}, perhaps your object identifier is invalid?")
        handled = False
        with LOCK:
            for m, rx, fn in ROUTES:
                mm = rx.match(path)
                if m == self.command and mm:
                    handled = True
                    try:
                        status, resp = fn(r, **mm.groupdict())
                    except Exception as e:  # noqa
                        status, resp = err(500, 10000, f"fake server error: {e!r}")
                    break
        entry = {"t": time.time(), "method": self.command, "path": path, "query": u.query,
                 "content_type": self.headers.get("Content-Type"), "status": status, "handled": handled}
        ct = self.headers.get("Content-Type") or ""
        if ct.startswith("multipart/form-data"):
            try:
                parts = parse_multipart(ct, body)
                entry["multipart"] = {k: ({"json": json.loads(v["data"])} if k in ("metadata", "settings")
                                          else {"filename": v["filename"], "content_type": v["content_type"],
                                                "size": len(v["data"])}) for k, v in parts.items()}
            except Exception as e:  # noqa
                entry["multipart_error"] = repr(e)
        elif body:
            try:
                entry["body"] = json.loads(body)
            except Exception:
                entry["body_raw"] = body[:500].decode("utf-8", "replace")
        line = json.dumps(entry, default=str)
        if LOGF:
            with LOCK:
                LOGF.write(line + "\n")
                LOGF.flush()
        print(("" if handled else "UNHANDLED ") + f"{self.command} {path}?{u.query} -> {status}", file=sys.stderr,
              flush=True)
        data = json.dumps(resp).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


def main():
    global ARGS, LOGF
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--log")
    p.add_argument("--account", default="0123456789abcdef0123456789abcdef")
    p.add_argument("--subdomain", default="fake-sub")
    p.add_argument("--queue", action="append", default=[], help="pre-create queue")
    p.add_argument("--lenient-queues", dest="strict_queues", action="store_false",
                   help="a queue looked up by an unknown name is created (the real API says it does not exist)")
    p.add_argument("--d1", action="append", default=[], help="NAME=UUID pre-create D1 db")
    p.add_argument("--auto-d1", action="store_true", help="a query to an unknown database creates it")
    ARGS = p.parse_args()
    for qn in ARGS.queue:
        queue_get(qn, create=True)
    for spec in ARGS.d1:
        n, _, i = spec.partition("=")
        d1_create(n, i or None)
    if ARGS.log:
        LOGF = open(ARGS.log, "a")
    srv = ThreadingHTTPServer(("127.0.0.1", ARGS.port), H)
    port = srv.server_address[1]
    if ARGS.port_file:
        with open(ARGS.port_file, "w") as f:
            f.write(str(port))
    print(f"fake CF API on http://127.0.0.1:{port}{PREFIX}", file=sys.stderr, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()

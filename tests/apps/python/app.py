"""End-to-end test app: a Spin HTTP component written with the Python spin-sdk 3.4.1
(componentize-py 0.17.2, world `spin-http`, like the `http-py-p2` template for Spin 3).
The Rust and JS apps next to this one answer the same paths with the same bodies."""

from urllib.parse import parse_qs, urlsplit

from spin_sdk import http, key_value, mqtt, redis, variables
from spin_sdk.http import Request, Response

# `from spin_sdk import sqlite` does not build with spin-sdk 3.4.1 + componentize-py
# 0.17.2: the bindings generated at build time name fermyon:spin/sqlite@2.0.0
# `fermyon_spin_sqlite` (to keep it apart from spin:sqlite@3.0.0) while spin_sdk.sqlite
# imports `spin_sdk.wit.imports.sqlite`. So the generated module is used directly.
from spin_sdk.wit.imports.fermyon_spin_sqlite import Connection, Value_Text

SDK = "python"
DENIED_URL = "http://denied.example.invalid/"


def text(body: str, status: int = 200) -> Response:
    return Response(status, {"content-type": "text/plain"}, body.encode("utf-8"))


def describe(err: Exception) -> str:
    # A failed host call raises spin_sdk.wit.types.Err, whose repr names the WIT error,
    # e.g. "Err(value=Error_AccessDenied())".
    return repr(err)


def count_hit() -> str:
    with key_value.open("default") as store:
        raw = store.get("hits")
        hits = (int(raw.decode("utf-8")) if raw is not None else 0) + 1
        store.set("hits", str(hits).encode("utf-8"))
    return f"hits={hits}"


def outbound() -> Response:
    url = variables.get("upstream_url")
    try:
        resp = http.send(Request("GET", url, {}, None))
    except Exception as err:
        return text(f"upstream error: {describe(err)}", 502)
    body = (resp.body or b"").decode("utf-8", errors="replace")
    return text(f"upstream {resp.status} {body}")


def denied_host() -> str:
    try:
        http.send(Request("GET", DENIED_URL, {}, None))
    except Exception as err:
        return f"denied: {describe(err)}"
    return "not denied"


def denied_store() -> str:
    try:
        store = key_value.open("forbidden")
    except Exception as err:
        return f"denied: {describe(err)}"
    store.__exit__(None, None, None)
    return "not denied"


def sqlite() -> str:
    with Connection.open("default") as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS visits (id INTEGER PRIMARY KEY AUTOINCREMENT, note TEXT)",
            [],
        )
        db.execute("INSERT INTO visits (note) VALUES (?)", [Value_Text("visit")])
        result = db.execute("SELECT COUNT(*) AS n, MAX(note) AS last FROM visits", [])
    row = dict(zip(result.columns, result.rows[0].values))
    last = row["last"]
    return f"rows={row['n'].value} last={last.value if isinstance(last, Value_Text) else ''}"


def redis_calls(address: str) -> Response:
    """Outbound Redis (fermyon:spin/redis@2.0.0): one line per call, what came back."""
    try:
        with redis.open(address) as conn:
            conn.set("py:text", "héllo".encode("utf-8"))
            lines = [f"get={conn.get('py:text').decode('utf-8')}"]
            conn.set("py:count", b"41")
            lines.append(f"incr={conn.incr('py:count')}")
            lines.append(f"sadd={conn.sadd('py:set', ['a', 'b', 'c'])}")
            lines.append(f"srem={conn.srem('py:set', ['b'])}")
            lines.append(f"smembers={','.join(sorted(conn.smembers('py:set')))}")
            lines.append(f"del={conn.del_(['py:count', 'py:missing'])}")
            conn.publish("py:channel", b"published")
            lines.append("publish=ok")
    except Exception as err:
        return text(f"error: {describe(err)}", 500)
    return text("\n".join(lines))


def mqtt_publish(query: dict) -> Response:
    """Outbound MQTT (fermyon:spin/mqtt@2.0.0): publish one message at QoS 1."""
    arg = lambda name: query.get(name, [""])[0]
    try:
        with mqtt.open(arg("address"), arg("user"), arg("password"), 30) as conn:
            conn.publish(arg("topic"), arg("message").encode("utf-8"), mqtt.Qos.AT_LEAST_ONCE)
    except Exception as err:
        return text(f"error: {describe(err)}", 500)
    return text("published")


def spin_headers(request: Request) -> str:
    headers = {name.lower(): value for name, value in request.headers.items()}
    return "".join(
        f"{name}: {headers.get(name, '')}\n"
        for name in ("spin-full-url", "spin-path-info", "spin-matched-route")
    )


class IncomingHandler(http.IncomingHandler):
    def handle_request(self, request: Request) -> Response:
        url = urlsplit(request.uri)
        path = url.path
        query = parse_qs(url.query)
        if path == "/":
            return text(f"hello from {SDK}")
        if path == "/kv":
            return text(count_hit())
        if path == "/variable":
            return text(variables.get("greeting"))
        if path == "/outbound":
            return outbound()
        if path == "/denied-host":
            return text(denied_host())
        if path == "/denied-store":
            return text(denied_store())
        if path == "/sqlite":
            return text(sqlite())
        if path == "/headers":
            return text(spin_headers(request))
        if path == "/redis":
            return redis_calls(query.get("address", [""])[0])
        if path == "/mqtt":
            return mqtt_publish(query)
        return text("not found", 404)

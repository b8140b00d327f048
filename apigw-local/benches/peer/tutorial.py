"""The tutorial's reference handler (its Node.js function) in Python, for the invocation benchmark's peer: AWS's
Python Runtime Interface Client (awslambdaric) runs it as `python -m awslambdaric tutorial.handler`.

Same logic as the Node.js original, line for line: defaults "you", "World", "day" and no wish; `name` and `city` from
the query string, `day` from the header `day` as sent in lower case, `time` from the JSON body; the request and the
response logged; the same proxy response with its custom header. No validation: bad input raises, as the original
crashed into a 502.
"""
import json

print("Loading hello world function")


def handler(event, context):
    name = "you"
    city = "World"
    time = "day"
    day = ""
    response_code = 200
    print("request: " + json.dumps(event))

    query = event.get("queryStringParameters")
    if query and query.get("name"):
        print("Received name: " + query["name"])
        name = query["name"]

    if query and query.get("city"):
        print("Received city: " + query["city"])
        city = query["city"]

    headers = event.get("headers")
    if headers and headers.get("day"):
        print("Received day: " + headers["day"])
        day = headers["day"]

    if event.get("body"):
        body = json.loads(event["body"])
        if body.get("time"):
            time = body["time"]

    greeting = f"Good {time}, {name} of {city}."
    if day:
        greeting += f" Happy {day}!"

    response = {
        "statusCode": response_code,
        "headers": {"x-custom-header": "my custom header value"},
        "body": json.dumps({"greeting": greeting}),
    }
    print("response: " + json.dumps(response))
    return response

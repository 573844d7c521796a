#!/bin/sh
# One HTTP exchange of an unhealthy lab broker (run by `nc -ll -e` per connection): read the
# request, answer 500 like the real server does when it cannot serve (GET /status included).
read -r _method _path _proto
while read -r _line; do
    _line="${_line%$(printf '\r')}"
    [ -z "$_line" ] && break
done
printf 'HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'
